"""
autograd engine for the exercise.
Run the tests with: python -m pytest
"""

import math


class Value:

  def __init__(self, data, _children=(), _op='', label=''):
    self.data = data
    self.grad = 0.0
    self._backward = lambda: None
    self._prev = set(_children)
    self._op = _op
    self.label = label

  def __repr__(self):
    return f"Value(data={self.data}, grad={self.grad})"

  def __add__(self, other):
    result = Value(self.data + other.data, (self, other), '+')

    def _backward():
      self.grad += 1.0 * result.grad
      other.grad += 1.0 * result.grad
    result._backward = _backward
    return result

  def __mul__(self, other):
    result = Value(self.data * other.data, (self, other), '*')

    def _backward():
      self.grad += other.data * result.grad
      other.grad += self.data * result.grad
    result._backward = _backward
    return result

  def tanh(self):
    x = self.data
    t = (math.exp(2 * x) - 1) / (math.exp(2 * x) + 1)
    result = Value(t, (self,), 'tanh')

    def _backward():
      self.grad += (1 - t**2) * result.grad
    result._backward = _backward
    return result

  def backward(self):
    topo = []
    seen = set()

    def dfs(v):
      if v not in seen:
        seen.add(v)
        for kid in v._prev:
          dfs(kid)
        topo.append(v)
    dfs(self)

    self.grad = 1.0
    for node in reversed(topo):
      node._backward()
