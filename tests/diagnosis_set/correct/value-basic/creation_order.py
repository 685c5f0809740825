import itertools

_counter = itertools.count()


class Value:
    """Scalar autograd node. Every node gets a creation index; since an op's
    output is always created after its inputs, sorting by that index (newest
    first) is a valid reverse topological order."""

    def __init__(self, data, inputs=(), backward_fn=None):
        self.data = data
        self.grad = 0
        self._inputs = inputs
        self._backward_fn = backward_fn
        self._index = next(_counter)

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data + other.data, (self, other),
                     lambda g: ((self, g), (other, g)))

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data * other.data, (self, other),
                     lambda g: ((self, g * other.data), (other, g * self.data)))

    def relu(self):
        out_data = self.data if self.data > 0 else 0
        return Value(out_data, (self,),
                     lambda g: ((self, g if out_data > 0 else 0),))

    def _collect(self):
        seen = {}
        stack = [self]
        while stack:
            n = stack.pop()
            if id(n) not in seen:
                seen[id(n)] = n
                stack.extend(n._inputs)
        return sorted(seen.values(), key=lambda n: n._index, reverse=True)

    def backward(self):
        nodes = self._collect()
        self.grad = 1
        for n in nodes:
            if n._backward_fn is not None:
                for inp, contribution in n._backward_fn(n.grad):
                    inp.grad += contribution

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"
