class Value:
    """A scalar that remembers how it was produced."""

    def __init__(self, data, parents=(), op=None):
        self.data = data
        self.grad = 0
        self.parents = tuple(parents)
        self.op = op

    @staticmethod
    def _lift(x):
        try:
            x.data
        except AttributeError:
            return Value(x)
        return x

    def __add__(self, other):
        other = Value._lift(other)
        return Value(self.data + other.data, (self, other), 'add')

    def __mul__(self, other):
        other = Value._lift(other)
        return Value(self.data * other.data, (self, other), 'mul')

    def relu(self):
        return Value(self.data if self.data > 0 else 0, (self,), 'relu')

    def _push_grad(self):
        if self.op == 'add':
            a, b = self.parents
            a.grad += self.grad
            b.grad += self.grad
        elif self.op == 'mul':
            a, b = self.parents
            a.grad += b.grad * self.grad
            b.grad += a.grad * self.grad
        elif self.op == 'relu':
            (a,) = self.parents
            if self.data > 0:
                a.grad += self.grad

    def backward(self):
        order = []
        seen = set()
        stack = [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            for p in node.parents:
                if id(p) not in seen:
                    stack.append((p, False))
        self.grad = 1
        for node in reversed(order):
            node._push_grad()

    def __repr__(self):
        return "Value(data={}, grad={})".format(self.data, self.grad)
