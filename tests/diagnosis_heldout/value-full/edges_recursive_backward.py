# week 5 exercise

# Each node keeps a list of edges (parent, fn) where fn maps this node's
# gradient to the contribution for that parent.  Lazy, so the local
# derivative is only computed when backward() runs.


class Value:
    def __init__(self, data):
        self.data = data
        self.grad = 0
        self.edges = []

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"

    @classmethod
    def of(cls, x):
        return x if isinstance(x, cls) else cls(x)

    def __add__(self, other):
        other = Value.of(other)
        out = Value(self.data + other.data)
        out.edges = [(self, lambda g: g), (other, lambda g: g)]
        return out

    def __mul__(self, other):
        other = Value.of(other)
        out = Value(self.data * other.data)
        out.edges = [(self, lambda g: g * other.data),
                     (other, lambda g: g * self.data)]
        return out

    def __pow__(self, p):
        if isinstance(p, Value):
            raise TypeError("Value ** Value is not supported")
        out = Value(self.data ** p)
        out.edges = [(self, lambda g: g * p * self.data ** (p - 1))]
        return out

    def relu(self):
        out = Value(self.data if self.data > 0 else 0)
        out.edges = [(self, lambda g: g if out.data > 0 else 0)]
        return out

    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + (-Value.of(other))

    def __truediv__(self, other):
        return self * Value.of(other) ** -1

    def __radd__(self, other):
        return Value.of(other) + self

    def __rmul__(self, other):
        return Value.of(other) * self

    def __rsub__(self, other):
        return Value.of(other) - self

    def __rtruediv__(self, other):
        return Value.of(other) / self

    def backward(self, _root=True):
        if _root:
            self.grad = 1
        # chain rule, recursively: give each parent its share, then recurse
        for parent, fn in self.edges:
            parent.grad += fn(self.grad)
            parent.backward(_root=False)
