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
    out = Value(self.data + other.data, (self, other), "+")

    def _backward():
      self.grad += out.grad
      other.grad += out.grad

    out._backward = _backward
    return out

  def __mul__(self, other) -> "Value":
    other = Value._coerce(other)
    out = Value(self.data * other.data, (self, other), "*")

    def _backward():
      self.grad += other.data * out.grad
      other.grad += self.data * out.grad

    out._backward = _backward
    return out

  def __pow__(self, n: float) -> "Value":
    assert isinstance(n, (int, float))
    out = Value(self.data**n, (self,), f"^{n}")

    def _backward():
      self.grad += n * self.data ** (n - 1) * out.grad

    out._backward = _backward
    return out

  def relu(self) -> "Value":
    out = Value(max(self.data, 0), (self,), "relu")

    def _backward():
      self.grad += (1 if out.data > 0 else 0) * out.grad

    out._backward = _backward
    return out

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

    ready = [self]
    while ready:
      n = ready.pop()
      n._backward()
      for c in n.children:
        pending[c] -= 1
        if pending[c] == 0:
          ready.append(c)
