import math
from collections import deque
from dataclasses import dataclass, field


@dataclass(eq=False)
class Value:
    data: float
    _prev: tuple = ()
    _op: str = ''
    label: str = ''
    grad: float = 0.0
    _backward: object = field(default=None, repr=False)

    def __add__(self, other):
        out = Value(self.data + other.data, (self, other), '+')

        def _bw():
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _bw
        return out

    def __mul__(self, other):
        out = Value(self.data * other.data, (self, other), '*')

        def _bw():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _bw
        return out

    def tanh(self):
        e = math.exp(2 * self.data)
        out = Value((e - 1) / (e + 1), (self,), 'tanh')

        def _bw():
            self.grad += (1 - out.data ** 2) * out.grad
        out._backward = _bw
        return out

    def backward(self):
        self.grad = 1.0
        if self._backward is not None:
            self._backward()

    def __repr__(self):
        return f"Value(data={self.data})"
