"""
autograd engine for the exercise.
Run the tests with: python -m pytest
"""

# Value class with its own backward for every operation.
# (I know the handout says sub/div can be built from + * ** but I wanted to
# derive each rule myself.)


def as_value(x):
    if isinstance(x, Value):
        return x
    return Value(x)


class Value:
    def __init__(self, data, prev=(), op=""):
        self.data = data
        self.grad = 0
        self._prev = prev
        self._op = op
        self._backward = lambda: None

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"

    def __add__(self, other):
        other = as_value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __sub__(self, other):
        other = as_value(other)
        out = Value(self.data - other.data, (self, other), "-")

        def _backward():
            self.grad += out.grad
            other.grad -= out.grad

        out._backward = _backward
        return out

    def __neg__(self):
        # flip the sign and hand back the same node
        self.data = -self.data
        return self

    def __mul__(self, other):
        other = as_value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __truediv__(self, other):
        other = as_value(other)
        out = Value(self.data / other.data, (self, other), "/")

        def _backward():
            # d(a/b)/da = 1/b,  d(a/b)/db = -a/b^2
            self.grad += out.grad / other.data
            other.grad += -self.data / other.data ** 2 * out.grad

        out._backward = _backward
        return out

    def __pow__(self, n):
        out = Value(self.data ** n, (self,), f"**{n}")

        def _backward():
            self.grad += n * self.data ** (n - 1) * out.grad

        out._backward = _backward
        return out

    def __radd__(self, other):
        return as_value(other) + self

    def __rsub__(self, other):
        return as_value(other) - self

    def __rmul__(self, other):
        return as_value(other) * self

    def __rtruediv__(self, other):
        return as_value(other) / self

    def relu(self):
        out = Value(self.data if self.data > 0 else 0, (self,), "relu")

        def _backward():
            self.grad += out.grad if out.data > 0 else 0

        out._backward = _backward
        return out

    def backward(self):
        order, seen = [], set()

        def build(v):
            if v in seen:
                return
            seen.add(v)
            for p in v._prev:
                build(p)
            order.append(v)

        build(self)
        self.grad = 1
        for v in reversed(order):
            v._backward()
