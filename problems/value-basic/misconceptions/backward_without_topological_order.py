"""backward() recurses from the output into the inputs, calling each node's _backward on the way, with no topological order: a node reached along two paths runs its rule on each, the first time before all of its grad has arrived.

hint: backward() must call each node's _backward once, after every node that uses it has added to its grad: build a topological order (children before parents, with a visited set) and walk it in reverse, instead of recursing into the inputs right away.
cause: backward_without_topological_order
"""


class Value:
    def __init__(self, data, _children=(), _op=""):
        self.data = data
        self.grad = 0
        self._backward = lambda: None
        self._prev = set(_children)
        self._op = _op

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def relu(self):
        out = Value(0 if self.data < 0 else self.data, (self,), "ReLU")

        def _backward():
            # gate on the output: at exactly 0 no gradient passes
            self.grad += (out.data > 0) * out.grad

        out._backward = _backward
        return out

    def backward(self):
        def propagate(v):
            v._backward()
            for child in v._prev:
                propagate(child)

        self.grad = 1
        propagate(self)

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"

