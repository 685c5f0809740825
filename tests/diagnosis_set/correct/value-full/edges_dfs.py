from collections import deque


class Value:
    def __init__(self, data, edges=()):
        self.data = data
        self.grad = 0
        self.edges = list(edges)  # (input, d out / d input)

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"

    @staticmethod
    def _v(x):
        return x if isinstance(x, Value) else Value(x)

    def __add__(self, other):
        other = self._v(other)
        return Value(self.data + other.data, [(self, 1), (other, 1)])

    def __radd__(self, other):
        return self + other

    def __mul__(self, other):
        other = self._v(other)
        return Value(self.data * other.data, [(self, other.data), (other, self.data)])

    def __rmul__(self, other):
        return self * other

    def __pow__(self, n):
        assert isinstance(n, (int, float))
        return Value(self.data ** n, [(self, n * self.data ** (n - 1))])

    def __neg__(self):
        return Value(-self.data, [(self, -1)])

    def __sub__(self, other):
        other = self._v(other)
        return Value(self.data - other.data, [(self, 1), (other, -1)])

    def __rsub__(self, other):
        return self._v(other) - self

    def __truediv__(self, other):
        return self * self._v(other) ** -1

    def __rtruediv__(self, other):
        return self._v(other) / self

    def relu(self):
        if self.data > 0:
            return Value(self.data, [(self, 1)])
        return Value(0, [(self, 0)])

    def backward(self):
        # how many times is each node used as an input?
        topo, seen = [], set()

        def dfs(n):
            seen.add(id(n))
            for inp, _ in n.edges:
                if id(inp) not in seen:
                    dfs(inp)
            topo.append(n)

        dfs(self)
        self.grad = 1
        for n in reversed(topo):
            for inp, local in n.edges:
                inp.grad += local * n.grad
