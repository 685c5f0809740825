import numbers


class Value:
    def __init__(self, data, parents=(), op=None, arg=None):
        self.data = data
        self.grad = 0
        self.parents = tuple(parents)
        self.op = op
        self.arg = arg

    @classmethod
    def of(cls, x):
        return x if isinstance(x, cls) else cls(x)

    def __add__(self, other):
        other = Value.of(other)
        return Value(self.data + other.data, (self, other), 'add')

    def __mul__(self, other):
        other = Value.of(other)
        return Value(self.data * other.data, (self, other), 'mul')

    def __pow__(self, n):
        if not isinstance(n, numbers.Real):
            raise TypeError("exponent must be a number")
        return Value(self.data ** n, (self,), 'pow', n)

    def relu(self):
        return Value(max(self.data, 0), (self,), 'relu')

    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + (-Value.of(other))

    def __rsub__(self, other):
        return Value.of(other) + (-self)

    def __truediv__(self, other):
        return self * Value.of(other) ** -1

    def __rtruediv__(self, other):
        return Value.of(other) * self ** -1

    __radd__ = __add__
    __rmul__ = __mul__

    def _local_backward(self):
        g = self.grad
        if self.op == 'add':
            a, b = self.parents
            a.grad += g
            b.grad += g
        elif self.op == 'mul':
            a, b = self.parents
            a.grad += b.data * g
            b.grad += a.data * g
        elif self.op == 'pow':
            (a,) = self.parents
            n = self.arg
            a.grad += n * a.data ** (n - 1) * g
        elif self.op == 'relu':
            (a,) = self.parents
            a.grad += g if self.data > 0 else 0

    def backward(self):
        order = []
        marked = set()

        def visit(v):
            if id(v) not in marked:
                marked.add(id(v))
                for p in v.parents:
                    visit(p)
                order.append(v)

        visit(self)
        self.grad = 1
        for v in reversed(order):
            v._local_backward()

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"
