# My Value class. Built it step by step following the video.

# Lab 4: backpropagation by hand, then in code.
# Value holds a number plus the grad of the final output w.r.t. it.


class Value:

  def __init__(self, data, _children=(), _op=''):
    self.data = data
    self.grad = 0
    # internal variables used for autograd graph construction
    self._backward = lambda: None
    self._prev = set(_children)
    self._op = _op  # the op that produced this node, for debugging

  def __add__(self, other):
    other = other if isinstance(other, Value) else Value(other)
    res = Value(self.data + other.data, (self, other), '+')

    def _backward():
      self.grad += res.grad
      other.grad += res.grad
    res._backward = _backward

    return res

  def __mul__(self, other):
    other = other if isinstance(other, Value) else Value(other)
    res = Value(self.data * other.data, (self, other), '*')

    def _backward():
      self.grad += other.data * res.grad
      other.grad += self.data * res.grad
    res._backward = _backward

    return res

  def relu(self):
    res = Value(0 if self.data < 0 else self.data, (self,), 'ReLU')

    def _backward():
      self.grad += (res.data > 0) * res.grad
    res._backward = _backward

    return res

  def backward(self):
    # topological order all of the children in the graph
    topo = []
    visited = set()

    def visit(v):
      if v not in visited:
        visited.add(v)
        for child in v._prev:
          visit(child)
        topo.append(v)
    visit(self)

    # go one variable at a time and apply the chain rule to get its gradient
    for v in reversed(topo):
      v._backward()

  def __repr__(self):
    return f"Value(data={self.data}, grad={self.grad})"
