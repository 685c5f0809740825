# -*- coding: utf-8 -*-

from dataclasses import dataclass, field
import itertools

_clock = itertools.count()


@dataclass(eq=False)
class Value:
    data: float
    prev: tuple = ()
    grad: float = 0
    backward_step: object = field(default=None, repr=False)
    born: int = field(default_factory=lambda: next(_clock), repr=False)

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        res = Value(self.data + other.data, (self, other))

        def step():
            self.grad += res.grad
            other.grad += res.grad
        res.backward_step = step
        return res

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        res = Value(self.data * other.data, (self, other))

        def step():
            self.grad += other.data * res.grad
            other.grad += self.data * res.grad
        res.backward_step = step
        return res

    def relu(self):
        res = Value(self.data if self.data > 0 else 0, (self,))

        def step():
            self.grad += res.grad * (res.data > 0)
        res.backward_step = step
        return res

    def backward(self):
        # nodes are always born after their inputs, so "newest first" is a
        # valid reverse topological order
        found = {id(self): self}
        frontier = [self]
        while frontier:
            node = frontier.pop()
            for p in node.prev:
                if id(p) not in found:
                    found[id(p)] = p
                    frontier.append(p)
        self.grad = 1
        for node in sorted(found.values(), key=lambda n: n.born):
            if node.backward_step is not None:
                node.backward_step()
