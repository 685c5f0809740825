# Assignment: micrograd-style Value
# (all tests in the handout pass locally)

# Value for the neuron exercise.  dataclass keeps the boilerplate down.
import math
from dataclasses import dataclass, field


@dataclass(repr=False)
class Value:
    data: float
    label: str = ""
    grad: float = 0.0
    _prev: tuple = field(default=(), repr=False)
    _backward: object = field(default=None, repr=False)

    def __repr__(self):
        return f"Value(data={self.data})"

    def __add__(self, that):
        out = Value(self.data + that.data, _prev=(self, that))

        def _backward():
            self.grad += out.grad
            that.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, that):
        out = Value(self.data * that.data, _prev=(self, that))

        def _backward():
            self.grad += that.data * out.grad
            that.grad += self.data * out.grad

        out._backward = _backward
        return out

    def tanh(self):
        t = math.tanh(self.data)
        out = Value(t, _prev=(self,))

        def _backward():
            self.grad += (1 - t ** 2) * out.grad

        out._backward = _backward
        return out

    def backward(self):
        order = []
        visited = set()

        def walk(node):
            if node in visited:
                return
            visited.add(node)
            for p in node._prev:
                walk(p)
            order.append(node)

        walk(self)
        self.grad = 1.0
        for node in reversed(order):
            if node._backward is not None:
                node._backward()
