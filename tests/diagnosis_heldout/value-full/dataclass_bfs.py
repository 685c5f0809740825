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

    def __add__(self, other) -> "Value":
        other = Value._coerce(other)
        result = Value(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += result.grad
            other.grad += result.grad

        result._backward = _backward
        return result

    def __mul__(self, other) -> "Value":
        other = Value._coerce(other)
        result = Value(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad += other.data * result.grad
            other.grad += self.data * result.grad

        result._backward = _backward
        return result

    def __pow__(self, n: float) -> "Value":
        assert isinstance(n, (int, float))
        result = Value(self.data**n, (self,), f"^{n}")

        def _backward():
            self.grad += n * self.data ** (n - 1) * result.grad

        result._backward = _backward
        return result

    def relu(self) -> "Value":
        result = Value(max(self.data, 0), (self,), "relu")

        def _backward():
            self.grad += (1 if result.data > 0 else 0) * result.grad

        result._backward = _backward
        return result

    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + (-other)

    def __truediv__(self, other):
        return self * other**-1

    def __radd__(self, other):
        return self + other

    def __rmul__(self, other):
        return self * other

    def __rsub__(self, other):
        return (-self) + other

    def __rtruediv__(self, other):
        return self**-1 * other

    def backward(self) -> None:
        # breadth-first from the output: closer nodes are handled first
        from collections import deque

        self.grad = 1
        seen = {self}
        queue = deque([self])
        while queue:
            n = queue.popleft()
            n._backward()
            for c in n.children:
                if c not in seen:
                    seen.add(c)
                    queue.append(c)
