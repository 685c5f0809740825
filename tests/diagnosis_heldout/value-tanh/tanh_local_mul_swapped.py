"""Value: a scalar that tracks its own gradient."""

"""Neuron-sized autograd: Value nodes with stored local derivatives."""
import math


class Value:
    def __init__(self, data, label='', _parents=(), _derivs=()):
        self.data = data
        self.label = label
        self.grad = 0
        self._parents = _parents
        self._derivs = _derivs

    def __repr__(self):
        return "Value(data=%s)" % (self.data,)

    def __add__(self, other):
        return Value(self.data + other.data, _parents=(self, other), _derivs=(1, 1))

    def __mul__(self, other):
        return Value(self.data * other.data, _parents=(self, other),
                     _derivs=(self.data, other.data))

    def tanh(self):
        t = math.tanh(self.data)
        return Value(t, _parents=(self,), _derivs=(1 - t * t,))

    def backward(self):
        order = []
        marked = set()

        def dfs(v):
            if id(v) in marked:
                return
            marked.add(id(v))
            for p in v._parents:
                dfs(p)
            order.append(v)

        dfs(self)
        self.grad = 1
        for v in reversed(order):
            for p, d in zip(v._parents, v._derivs):
                p.grad += d * v.grad
