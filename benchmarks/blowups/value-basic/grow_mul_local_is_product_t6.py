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
        return Value(self.data * other.data, [(self, self.data * other.data), (other, self.data * other.data)])

    def relu(self):
        if self.data > 0:
            return Value(self.data, [(self, 1)])
        return Value(0, [(self, 0)])

    def backward(self):
        topo = []
        done = set()

        def dfs(node):
            done.add(node)
            for parent, _ in node.edges:
                if parent not in done:
                    dfs(parent)
            topo.append(node)

        dfs(self)
        self.grad = 1
        for node in reversed(topo):
            for parent, local in node.edges:
                parent.grad += local * node.grad

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"
