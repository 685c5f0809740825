import itertools

_counter = itertools.count()


def _val(x):
    return x if isinstance(x, Value) else Value(x)


class Value:
    """Nodes are numbered on creation; newest-first is a reverse topological order."""

    def __init__(self, data, inputs=(), backward_fn=None):
        self.data = data
        self.grad = 0
        self._inputs = inputs
        self._backward_fn = backward_fn
        self._index = next(_counter)

    def __add__(self, other):
        other = _val(other)
        return Value(self.data + other.data, (self, other),
                     lambda g: ((self, g), (other, g)))

    def __mul__(self, other):
        other = _val(other)
        return Value(self.data * other.data, (self, other),
                     lambda g: ((self, g * other.data), (other, g * self.data)))

    def __pow__(self, k):
        k = float(k) if not isinstance(k, int) else k
        return Value(self.data ** k, (self,),
                     lambda g: ((self, g * k * self.data ** (k - 1)),))

    def relu(self):
        out_data = self.data if self.data > 0 else 0
        return Value(out_data, (self,), lambda g: ((self, g if out_data > 0 else 0),))

    __radd__ = __add__
    __rmul__ = __mul__

    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + (-_val(other))

    def __rsub__(self, other):
        return _val(other) + (-self)

    def __truediv__(self, other):
        return self * _val(other) ** -1

    def __rtruediv__(self, other):
        return _val(other) * self ** -1

    def backward(self):
        seen = {}
        stack = [self]
        while stack:
            n = stack.pop()
            if id(n) not in seen:
                seen[id(n)] = n
                stack.extend(n._inputs)
        self.grad = 1
        for n in sorted(seen.values(), key=lambda n: n._index, reverse=True):
            if n._backward_fn is not None:
                for inp, c in n._backward_fn(n.grad):
                    inp.grad += c

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"
