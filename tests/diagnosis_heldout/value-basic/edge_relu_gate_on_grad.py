# ---- autograd homework ----

# micro autograd -- my version
# edges: list of (input_node, function from my grad to the input's share)


def _const(x):
    try:
        x.data
        return x
    except AttributeError:
        return Value(x)


class Value:
    def __init__(self, data):
        self.data = data
        self.grad = 0
        self.edges = []

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"

    def __add__(self, other):
        other = _const(other)
        out = Value(self.data + other.data)
        out.edges.append((self, lambda g: g))
        out.edges.append((other, lambda g: g))
        return out

    def __mul__(self, other):
        other = _const(other)
        out = Value(self.data * other.data)
        out.edges.append((self, lambda g: g * other.data))
        out.edges.append((other, lambda g: g * self.data))
        return out

    def relu(self):
        out = Value(self.data if self.data > 0 else 0)
        out.edges.append((self, lambda g: g if g > 0 else 0))
        return out

    def backward(self):
        order = []
        visited = set()

        def go(v):
            if v in visited:
                return
            visited.add(v)
            for u, _ in v.edges:
                go(u)
            order.append(v)

        go(self)
        self.grad = 1
        for v in reversed(order):
            for u, share in v.edges:
                u.grad += share(v.grad)
