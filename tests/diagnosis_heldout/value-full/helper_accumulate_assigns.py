# -*- coding: utf-8 -*-

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
        self.grad = g

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        res = Value(self.data + other.data, (self, other), "+")
        res._backward = lambda: (self._accumulate(res.grad),
                                 other._accumulate(res.grad))
        return res

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        res = Value(self.data * other.data, (self, other), "*")
        res._backward = lambda: (self._accumulate(other.data * res.grad),
                                 other._accumulate(self.data * res.grad))
        return res

    def __pow__(self, other):
        assert isinstance(other, (int, float)), "exponent must be a constant"
        res = Value(math.pow(self.data, other) if isinstance(other, float) else self.data ** other,
                    (self,), "**")
        res._backward = lambda: self._accumulate(
            other * self.data ** (other - 1) * res.grad)
        return res

    def relu(self):
        res = Value(0 if self.data <= 0 else self.data, (self,), "relu")
        res._backward = lambda: self._accumulate(
            res.grad if res.data > 0 else 0)
        return res

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
        marked = {id(self)}
        stack = [(self, iter(self._prev))]
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                topo.append(node)
            elif id(nxt) not in marked:
                marked.add(id(nxt))
                stack.append((nxt, iter(nxt._prev)))
        self.grad = 1
        for node in reversed(topo):
            node._backward()
