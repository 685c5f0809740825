"""Value: a scalar that tracks its own gradient."""

"""Tiny autograd.

Every Value gets a creation stamp.  Because a node can only be built from
nodes that already exist, sorting by stamp (newest first) is already a valid
reverse topological order -- no DFS needed.
"""
import itertools

_stamps = itertools.count()


def _v(x):
    return x if isinstance(x, Value) else Value(x)


class Value:
    def __init__(self, data, inputs=(), op=""):
        self.data = data
        self.grad = 0
        self.inputs = inputs
        self.op = op
        self._stamp = next(_stamps)
        self._grad_fn = None

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"

    def __add__(self, other):
        other = _v(other)
        out = Value(self.data + other.data, (self, other), "+")

        def grad_fn(g):
            self.grad += g
            other.grad += g

        out._grad_fn = grad_fn
        return out

    def __mul__(self, other):
        other = _v(other)
        out = Value(self.data * other.data, (self, other), "*")

        def grad_fn(g):
            self.grad += g * other.data
            other.grad += g * self.data

        out._grad_fn = grad_fn
        return out

    def __pow__(self, e):
        if not isinstance(e, (int, float)):
            raise TypeError(f"unsupported exponent {e!r}")
        out = Value(self.data ** e, (self,), "pow")

        def grad_fn(g):
            self.grad += g * e * self.data ** (e - 1)

        out._grad_fn = grad_fn
        return out

    def relu(self):
        out = Value(self.data if self.data > 0 else 0, (self,), "relu")

        def grad_fn(g):
            self.grad += g * (1 if self.data > 0 else 0)

        out._grad_fn = grad_fn
        return out

    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + -_v(other)

    def __truediv__(self, other):
        return self * Value(1 / _v(other).data)

    def __radd__(self, other):
        return _v(other) + self

    def __rsub__(self, other):
        return _v(other) + -self

    def __rmul__(self, other):
        return _v(other) * self

    def __rtruediv__(self, other):
        return _v(other) * self ** -1

    def backward(self):
        nodes = {}
        stack = [self]
        while stack:
            n = stack.pop()
            if id(n) not in nodes:
                nodes[id(n)] = n
                stack.extend(n.inputs)
        self.grad = 1
        for n in sorted(nodes.values(), key=lambda w: w._stamp, reverse=True):
            if n._grad_fn is not None:
                n._grad_fn(n.grad)
