# -*- coding: utf-8 -*-

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

    def __add__(self, o):
        o = _const(o)
        out = Value(self.data + o.data)
        out.edges.append((self, lambda g: g))
        out.edges.append((o, lambda g: g))
        return out

    def __mul__(self, o):
        o = _const(o)
        out = Value(self.data * o.data)
        out.edges.append((self, lambda g: g * o.data))
        out.edges.append((o, lambda g: g * self.data))
        return out

    def relu(self):
        out = Value(self.data if self.data > 0 else 0)
        out.edges.append((self, lambda g: g if out.data > 0 else 0))
        return out

    def backward(self):
        topo = []
        visited = set()

        def go(v):
            if v in visited:
                return
            visited.add(v)
            for u, _ in v.edges:
                go(u)
            topo.append(v)

        go(self)
        self.grad = 1
        for v in reversed(topo):
            for u, share in v.edges:
                u.grad = share(v.grad)
