# Assignment: micrograd-style Value
# (all tests in the handout pass locally)

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
        return f"Value(data={self.data})"

    def __add__(self, o):
        o = _v(o)
        out = Value(self.data + o.data, (self, o), "+")

        def grad_fn(g):
            self.grad += g
            o.grad += g

        out._grad_fn = grad_fn
        return out

    def __mul__(self, o):
        o = _v(o)
        out = Value(self.data * o.data, (self, o), "*")

        def grad_fn(g):
            self.grad += g * o.data
            o.grad += g * self.data

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

    def __sub__(self, o):
        return self + -_v(o)

    def __truediv__(self, o):
        return self * _v(o) ** -1

    def __radd__(self, o):
        return _v(o) + self

    def __rsub__(self, o):
        return _v(o) + -self

    def __rmul__(self, o):
        return _v(o) * self

    def __rtruediv__(self, o):
        return _v(o) * self ** -1

    def backward(self):
        nodes = {}
        stack = [self]
        while stack:
            n = stack.pop()
            if id(n) not in nodes:
                nodes[id(n)] = n
                stack.extend(n.inputs)
        self.grad = 1
        for n in sorted(nodes.values(), key=lambda v: v._stamp, reverse=True):
            if n._grad_fn is not None:
                n._grad_fn(n.grad)
