"""backward() recurses from the output into the inputs, calling each node's _backward on the way, with no topological order: a node reached along two paths runs its rule on each, the first time before all of its grad has arrived.

hint: backward() must call each node's _backward once, after every node that uses it has added to its grad: build a topological order (children before parents, with a visited set) and walk it in reverse, instead of recursing into the inputs right away.
cause: backward_without_topological_order
"""

import math


class Value:
    def __init__(self, data, _children=(), _op="", label=""):
        self.data = data
        self.grad = 0.0
        self._backward = lambda: None
        self._prev = set(_children)
        self._op = _op
        self.label = label

    def __repr__(self):
        return f"Value(data={self.data})"

    def __add__(self, other):
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += 1 * out.grad
            other.grad += 1 * out.grad

        out._backward = _backward
        return out

    def __mul__(self, other):
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def tanh(self):
        x = self.data
        t = (math.exp(2 * x) - 1) / (math.exp(2 * x) + 1)
        out = Value(t, (self,), "tanh")

        def _backward():
            self.grad += (1 - t**2) * out.grad

        out._backward = _backward
        return out

    def backward(self):
        def propagate(v):
            v._backward()
            for child in v._prev:
                propagate(child)

        self.grad = 1
        propagate(self)
