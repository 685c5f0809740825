from dataclasses import dataclass, field
from typing import Callable, Tuple


@dataclass(eq=False)
class Value:
    data: float
    _prev: Tuple["Value", ...] = ()
    _op: str = ""
    grad: float = 0
    _backward: Callable[[], None] = field(default=lambda: None, repr=False)

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def backward_fn():
            self.grad += out.grad
            other.grad += out.grad

        out._backward = backward_fn
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def backward_fn():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = backward_fn
        return out

    def relu(self):
        out = Value(self.data if self.data > 0 else 0, (self,), "relu")

        def backward_fn():
            self.grad += (out.data > 0) * out.grad

        out._backward = backward_fn
        return out

    def backward(self):
        # iterative DFS: each stack entry is a node and an iterator over its inputs
        topo = []
        visited = {self}
        stack = [(self, iter(self._prev))]
        while stack:
            node, inputs = stack[-1]
            for child in inputs:
                stack.append((child, iter(child._prev)))
                break
            else:
                stack.pop()
                topo.append(node)
        self.grad = 1
        for node in reversed(topo):
            node._backward()

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"
