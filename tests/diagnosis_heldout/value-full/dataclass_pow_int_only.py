from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


def _noop():
    pass


@dataclass(eq=False)
class Value:
    """One scalar in a computation graph."""

    data: float
    children: tuple = ()
    op: str = ""
    grad: float = 0
    _backward: Callable[[], None] = field(default=_noop, repr=False)

    def __repr__(self) -> str:
        return f"Value(data={self.data}, grad={self.grad})"

    @staticmethod
    def _coerce(x) -> "Value":
        return x if isinstance(x, Value) else Value(x)

    def __add__(self, o) -> "Value":
        o = Value._coerce(o)
        res = Value(self.data + o.data, (self, o), "+")

        def _backward():
            self.grad += res.grad
            o.grad += res.grad

        res._backward = _backward
        return res

    def __mul__(self, o) -> "Value":
        o = Value._coerce(o)
        res = Value(self.data * o.data, (self, o), "*")

        def _backward():
            self.grad += o.data * res.grad
            o.grad += self.data * res.grad

        res._backward = _backward
        return res

    def __pow__(self, n: float) -> "Value":
        assert isinstance(n, int), "only integer powers"
        res = Value(self.data**n, (self,), f"^{n}")

        def _backward():
            self.grad += n * self.data ** (n - 1) * res.grad

        res._backward = _backward
        return res

    def relu(self) -> "Value":
        res = Value(max(self.data, 0), (self,), "relu")

        def _backward():
            self.grad += (1 if res.data > 0 else 0) * res.grad

        res._backward = _backward
        return res

    def __neg__(self):
        return self * -1

    def __sub__(self, o):
        return self + (-o)

    def __truediv__(self, o):
        return self * o**-1

    def __radd__(self, o):
        return self + o

    def __rmul__(self, o):
        return self * o

    def __rsub__(self, o):
        return (-self) + o

    def __rtruediv__(self, o):
        return self**-1 * o

    def backward(self) -> None:
        # Kahn's algorithm: a node may only send gradient to its children once
        # every node that uses it has already sent gradient to it.
        nodes = set()
        stack = [self]
        while stack:
            n = stack.pop()
            if n in nodes:
                continue
            nodes.add(n)
            stack.extend(n.children)

        pending = {n: 0 for n in nodes}
        for n in nodes:
            for c in n.children:
                pending[c] += 1

        self.grad = 1
        ready = [self]
        while ready:
            n = ready.pop()
            n._backward()
            for c in n.children:
                pending[c] -= 1
                if pending[c] == 0:
                    ready.append(c)
