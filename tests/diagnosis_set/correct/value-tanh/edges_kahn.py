import math


class Value:
    def __init__(self, data, inputs=None, label=''):
        self.data = data
        self.grad = 0.0
        self.label = label
        # pairs (input node, local derivative)
        self.inputs = inputs if inputs is not None else []

    def __add__(self, other):
        return Value(self.data + other.data, [(self, 1.0), (other, 1.0)])

    def __mul__(self, other):
        return Value(self.data * other.data, [(self, other.data), (other, self.data)])

    def tanh(self):
        t = math.tanh(self.data)
        return Value(t, [(self, 1 - t ** 2)])

    def backward(self):
        indeg = {}
        stack, seen = [self], {id(self)}
        while stack:
            node = stack.pop()
            for inp, _ in node.inputs:
                indeg[id(inp)] = indeg.get(id(inp), 0) + 1
                if id(inp) not in seen:
                    seen.add(id(inp))
                    stack.append(inp)
        self.grad = 1.0
        ready = [self]
        while ready:
            node = ready.pop()
            for inp, local in node.inputs:
                inp.grad += local * node.grad
                indeg[id(inp)] -= 1
                if indeg[id(inp)] == 0:
                    ready.append(inp)

    def __repr__(self):
        return f"Value(data={self.data})"
