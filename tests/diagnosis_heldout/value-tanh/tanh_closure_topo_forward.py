# week 5 exercise

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
        return f"Value(data={self.data})"

    def __add__(self, o):
        y = Value(self.data + o.data, (self, o), '+')

        def _backward():
            self.grad += 1.0 * y.grad
            o.grad += 1.0 * y.grad
        y._backward = _backward
        return y

    def __mul__(self, o):
        y = Value(self.data * o.data, (self, o), '*')

        def _backward():
            self.grad += o.data * y.grad
            o.grad += self.data * y.grad
        y._backward = _backward
        return y

    def tanh(self):
        x = self.data
        t = (math.exp(2 * x) - 1) / (math.exp(2 * x) + 1)
        y = Value(t, (self,), 'tanh')

        def _backward():
            self.grad += (1 - t**2) * y.grad
        y._backward = _backward
        return y

    def backward(self):
        topo = []
        marked = set()

        def dfs(w):
            if w not in marked:
                marked.add(w)
                for kid in w._prev:
                    dfs(kid)
                topo.append(w)
        dfs(self)

        self.grad = 1.0
        for node in topo:
            node._backward()
