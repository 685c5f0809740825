class Value:
    def __init__(self, data, edges=None):
        self.data = data
        self.grad = 0
        # list of (input, local derivative) pairs
        self.edges = edges or []

    def __add__(self, other):
        if not isinstance(other, Value):
            other = Value(other)
        return Value(self.data + other.data, [(self, 1), (other, 1)])

    def __mul__(self, other):
        if not isinstance(other, Value):
            other = Value(other)
        return Value(self.data * other.data, [(self, other.data), (other, self.data)])

    def relu(self):
        if self.data > 0:
            return Value(self.data, [(self, 1)])
        return Value(0, [(self, 0)])

    def backward(self):
        topo = []
        done = set()
        frontier = [self]
        while frontier:
            node = frontier[-1]
            pending = [p for p, _ in node.edges if p not in done]
            if pending:
                frontier.append(pending[0])
            else:
                if node not in done:
                    done.add(node)
                    topo.append(node)
                node = frontier[-1]  # meant to pop the finished node
        self.grad = 1
        for node in reversed(topo):
            for parent, local in node.edges:
                parent.grad += local * node.grad

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"
