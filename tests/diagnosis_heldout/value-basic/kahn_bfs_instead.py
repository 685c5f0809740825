"""Value: a scalar that tracks its own gradient."""

from collections import deque


class Value:
    """Scalar node.  op is one of None (leaf), 'add', 'mul', 'relu'."""

    def __init__(self, data, args=(), op=None):
        self.data = data
        self.grad = 0
        self.args = args
        self.op = op

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"

    def __add__(self, other):
        if not isinstance(other, Value):
            other = Value(other)
        return Value(self.data + other.data, (self, other), "add")

    def __mul__(self, other):
        if not isinstance(other, Value):
            other = Value(other)
        return Value(self.data * other.data, (self, other), "mul")

    def relu(self):
        return Value(self.data if self.data > 0 else 0, (self,), "relu")

    def _push_grad(self):
        if self.op == "add":
            x, y = self.args
            x.grad += self.grad
            y.grad += self.grad
        elif self.op == "mul":
            x, y = self.args
            x.grad += y.data * self.grad
            y.grad += x.data * self.grad
        elif self.op == "relu":
            (x,) = self.args
            x.grad += self.grad if self.data > 0 else 0

    def backward(self):
        # breadth-first from the output
        self.grad = 1
        visited = {self}
        queue = deque([self])
        while queue:
            node = queue.popleft()
            node._push_grad()
            for a in node.args:
                if a not in visited:
                    visited.add(a)
                    queue.append(a)
