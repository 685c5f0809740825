"""
autograd engine for the exercise.
Run the tests with: python -m pytest
"""

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
    res = Value(self.data + other.data, _prev=(self, other))

    def _backward():
      self.grad += res.grad
      other.grad += res.grad

    res._backward = _backward
    return res

  def __mul__(self, other):
    res = Value(self.data * other.data, _prev=(self, other))

    def _backward():
      self.grad += other.data * res.grad
      other.grad += self.data * res.grad

    res._backward = _backward
    return res

  def tanh(self):
    t = math.tanh(self.data)
    res = Value(t, _prev=(self,))

    def _backward():
      self.grad += (1 - t ** 2) * res.grad

    res._backward = _backward
    return res

  def backward(self):
    self.grad = 1.0
    self._backprop()

  def _backprop(self):
    if self._backward is not None:
      self._backward()
    for p in self._prev:
      p._backprop()
