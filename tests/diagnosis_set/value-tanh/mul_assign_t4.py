import math
from collections import deque
from dataclasses import dataclass, field


@dataclass(eq=False)
class Value:
    data: float
    _prev: tuple = ()
    _op: str = ''
    label: str = ''
    grad: float = 0.0
    _backward: object = field(default=None, repr=False)

    def __add__(self, other):
        out = Value(self.data + other.data, (self, other), '+')

        def _bw():
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _bw
        return out

    def __mul__(self, other):
        out = Value(self.data * other.data, (self, other), '*')

        def _bw():
            self.grad = other.data * out.grad
            other.grad = self.data * out.grad
        out._backward = _bw
        return out

    def tanh(self):
        e = math.exp(2 * self.data)
        out = Value((e - 1) / (e + 1), (self,), 'tanh')

        def _bw():
            self.grad += (1 - out.data ** 2) * out.grad
        out._backward = _bw
        return out

    def backward(self):
        indegree = {}
        nodes = {id(self): self}
        q = deque([self])
        while q:
            v = q.popleft()
            for p in v._prev:
                indegree[id(p)] = indegree.get(id(p), 0) + 1
                if id(p) not in nodes:
                    nodes[id(p)] = p
                    q.append(p)
        self.grad = 1.0
        q = deque([self])
        while q:
            v = q.popleft()
            if v._backward is not None:
                v._backward()
            for p in v._prev:
                indegree[id(p)] -= 1
                if indegree[id(p)] == 0:
                    q.append(p)

    def __repr__(self):
        return f"Value(data={self.data})"
