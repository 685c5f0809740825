# My Value class. Built it step by step following the video.

"""Scalar reverse-mode autodiff.

Instead of storing a closure per node, each node stores its parents and the
local derivative of itself with respect to each parent.  backward() then just
walks the graph and applies the chain rule: parent.grad += local * node.grad
"""


class Value:
    def __init__(self, data, parents=(), local_grads=(), op=""):
        self.data = data
        self.grad = 0
        self.parents = tuple(parents)          # the Values this one was made from
        self.local_grads = tuple(local_grads)  # d(self)/d(parent), same order
        self.op = op

    @staticmethod
    def lift(x):
        """Turn a plain number into a constant Value."""
        return x if isinstance(x, Value) else Value(x)

    # --- primitive operations -------------------------------------------
    def __add__(self, other):
        other = Value.lift(other)
        return Value(self.data + other.data, (self, other), (1, 1), "+")

    def __mul__(self, other):
        other = Value.lift(other)
        return Value(self.data * other.data, (self, other), (other.data, self.data), "*")

    def __pow__(self, n):
        if not isinstance(n, (int, float)):
            raise TypeError("exponent must be an int or a float")
        return Value(self.data ** n, (self,), (n * self.data ** (n - 1),), f"**{n}")

    def relu(self):
        if self.data > 0:
            return Value(self.data, (self,), (1,), "relu")
        return Value(0, (self,), (0,), "relu")

    # --- everything else is built out of the primitives -------------------
    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + (-other)

    def __truediv__(self, other):
        return self * other ** -1

    def __radd__(self, other):
        return self + other

    def __rmul__(self, other):
        return self * other

    def __rsub__(self, other):
        return Value.lift(other) - self

    def __rtruediv__(self, other):
        return Value.lift(other) / self

    # --- backprop -----------------------------------------------------------
    def backward(self):
        order = []
        seen = set()

        def visit(node):
            if id(node) in seen:
                return
            seen.add(id(node))
            for p in node.parents:
                visit(p)
            order.append(node)

        visit(self)
        self.grad = 1
        for node in reversed(order):
            for parent, local in zip(node.parents, node.local_grads):
                parent.grad += local

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"
