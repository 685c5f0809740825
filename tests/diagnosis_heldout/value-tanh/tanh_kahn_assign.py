# week 5 exercise

import math
from collections import defaultdict


class Value:
    def __init__(self, data, label="", _args=(), _op=None):
        self.data = data
        self.label = label
        self.grad = 0
        self._args = _args
        self._op = _op

    def __repr__(self):
        return f"Value(data={self.data})"

    def __add__(self, other):
        return Value(self.data + other.data, _args=(self, other), _op="+")

    def __mul__(self, other):
        return Value(self.data * other.data, _args=(self, other), _op="*")

    def tanh(self):
        return Value(math.tanh(self.data), _args=(self,), _op="tanh")

    def _step(self):
        if self._op == "+":
            a, b = self._args
            a.grad += self.grad
            b.grad += self.grad
        elif self._op == "*":
            a, b = self._args
            a.grad += b.data * self.grad
            b.grad += a.data * self.grad
        elif self._op == "tanh":
            (a,) = self._args
            a.grad = (1 - self.data ** 2) * self.grad

    def backward(self):
        # Kahn's algorithm on the reversed graph
        indeg = defaultdict(int)
        seen = {self}
        todo = [self]
        while todo:
            n = todo.pop()
            for a in n._args:
                indeg[a] += 1
                if a not in seen:
                    seen.add(a)
                    todo.append(a)
        self.grad = 1
        ready = [self]
        while ready:
            n = ready.pop()
            n._step()
            for a in n._args:
                indeg[a] -= 1
                if indeg[a] == 0:
                    ready.append(a)
