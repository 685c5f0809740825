# autograd.py  --  CS assignment, part 2 (full operator set)
# I used __slots__ because we make a LOT of these objects in the MLP part.


class Value:
  __slots__ = ("data", "grad", "_prev", "_backward", "_op")

  def __init__(self, data, _prev=(), _op=""):
    self.data = data
    self.grad = 0
    self._prev = tuple(_prev)
    self._backward = None
    self._op = _op

  @staticmethod
  def _wrap(x):
    try:
      x.data
    except AttributeError:
      x = Value(x)
    return x

  def __add__(self, other):
    other = self._wrap(other)
    out = Value(self.data + other.data, (self, other), "+")

    def backward_add():
      self.grad += out.grad
      other.grad += out.grad

    out._backward = backward_add
    return out

  def __mul__(self, other):
    other = self._wrap(other)
    out = Value(self.data * other.data, (self, other), "*")

    def backward_mul():
      self.grad += other.data * out.grad
      other.grad += self.data * out.grad

    out._backward = backward_mul
    return out

  def __pow__(self, k):
    out = Value(self.data ** k, (self,), "pow")

    def backward_pow():
      self.grad += k * (self.data ** (k - 1)) * out.grad

    out._backward = backward_pow
    return out

  def __neg__(self):
    return self * -1

  def __sub__(self, other):
    return self + (-self._wrap(other))

  def __truediv__(self, other):
    return self * self._wrap(other) ** -1

  __radd__ = __add__
  __rmul__ = __mul__

  def __rsub__(self, other):
    return self._wrap(other) - self

  def __rtruediv__(self, other):
    return self._wrap(other) / self

  def relu(self):
    out = Value(self.data if self.data > 0 else 0, (self,), "relu")

    def backward_relu():
      if out.data > 0:
        self.grad += 1

    out._backward = backward_relu
    return out

  def backward(self):
    # iterative post-order DFS (recursion blew up on deep graphs)
    topo = []
    visited = set()
    stack = [(self, False)]
    while stack:
      node, expanded = stack.pop()
      if expanded:
        topo.append(node)
        continue
      if node in visited:
        continue
      visited.add(node)
      stack.append((node, True))
      for child in node._prev:
        if child not in visited:
          stack.append((child, False))

    self.grad = 1
    for node in reversed(topo):
      if node._backward is not None:
        node._backward()

  def __repr__(self):
    return "Value(data=%s, grad=%s)" % (self.data, self.grad)
