# week 5 exercise

import math


class Value:
    def __init__(self, data, _children=(), _op="", label=""):
        self.data = data
        self.grad = 1
        self._prev = list(_children)
        self._op = _op
        self.label = label
        self._backward = lambda: None

    def __repr__(self):
        return "Value(data={}, grad={})".format(self.data, self.grad)

    def _accumulate(self, g):
        self.grad += g

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        y = Value(self.data + other.data, (self, other), "+")
        y._backward = lambda: (self._accumulate(y.grad),
                                 other._accumulate(y.grad))
        return y

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        y = Value(self.data * other.data, (self, other), "*")
        y._backward = lambda: (self._accumulate(other.data * y.grad),
                                 other._accumulate(self.data * y.grad))
        return y

    def __pow__(self, other):
        assert isinstance(other, (int, float)), "exponent must be a constant"
        y = Value(math.pow(self.data, other) if isinstance(other, float) else self.data ** other,
                    (self,), "**")
        y._backward = lambda: self._accumulate(
            other * self.data ** (other - 1) * y.grad)
        return y

    def relu(self):
        y = Value(0 if self.data <= 0 else self.data, (self,), "relu")
        y._backward = lambda: self._accumulate(
            y.grad if y.data > 0 else 0)
        return y

    def __neg__(self):
        return -1 * self

    def __radd__(self, other):
        return self + other

    def __sub__(self, other):
        return self + (-1) * other

    def __rsub__(self, other):
        return (-1) * self + other

    def __rmul__(self, other):
        return self * other

    def __truediv__(self, other):
        return self * other ** -1

    def __rtruediv__(self, other):
        return self ** -1 * other

    def backward(self):
        # iterative topological sort with an explicit stack of iterators
        topo = []
        visited = {id(self)}
        stack = [(self, iter(self._prev))]
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                topo.append(node)
            elif id(nxt) not in visited:
                visited.add(id(nxt))
                stack.append((nxt, iter(nxt._prev)))
        self.grad = 1
        for node in reversed(topo):
            node._backward()
