# Value for the neuron exercise.  dataclass keeps the boilerplate down.
import math
from dataclasses import dataclass, field


@dataclass(eq=False, repr=False)
class Value:
    data: float
    label: str = ""
    grad: float = 0.0
    _prev: tuple = field(default=(), repr=False)
    _backward: object = field(default=None, repr=False)

    def __repr__(self):
        return f"Value(data={self.data})"

    def __add__(self, other):
        out = Value(self.data + other.data, _prev=(self, other))

        def _backward():
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other):
        out = Value(self.data * other.data, _prev=(self, other))

        def _backward():
            self.grad += other.data
            other.grad += self.data

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
        seen = set()

        def walk(node):
            if node in seen:
                return
            seen.add(node)
            for p in node._prev:
                walk(p)
            order.append(node)

        walk(self)
        self.grad = 1.0
        for node in reversed(order):
            if node._backward is not None:
                node._backward()
