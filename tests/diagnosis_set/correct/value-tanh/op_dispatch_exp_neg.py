import math


class Value:
    def __init__(self, data, parents=(), op='', label=''):
        self.data = data
        self.grad = 0
        self.parents = parents
        self.op = op
        self.label = label

    def __repr__(self):
        return "Value(data=%r)" % (self.data,)

    def __add__(self, other):
        return Value(self.data + other.data, (self, other), '+')

    def __mul__(self, other):
        return Value(self.data * other.data, (self, other), '*')

    def tanh(self):
        e = math.exp(-2 * self.data)
        return Value((1 - e) / (1 + e), (self,), 'tanh')

    def _propagate(self):
        if self.op == '+':
            for p in self.parents:
                p.grad += self.grad
        elif self.op == '*':
            a, b = self.parents
            a.grad += b.data * self.grad
            b.grad += a.data * self.grad
        elif self.op == 'tanh':
            (x,) = self.parents
            x.grad += (1 - self.data ** 2) * self.grad

    def backward(self):
        order = []
        seen = set()
        stack = [(self, 0)]
        while stack:
            node, state = stack.pop()
            if state == 1:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, 1))
                for p in node.parents:
                    stack.append((p, 0))
        self.grad = 1
        for node in reversed(order):
            node._propagate()
