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
        topo = []
        done = set()

        def dfs(node):
            done.add(node)
            for inp, _ in node.inputs:
                if inp not in done:
                    dfs(inp)
            topo.append(node)

        dfs(self)
        self.grad = 1.0
        for node in reversed(topo):
            for inp, local in node.inputs:
                inp.grad += local * node.grad

    def __repr__(self):
        return f"Value(data={self.data})"
