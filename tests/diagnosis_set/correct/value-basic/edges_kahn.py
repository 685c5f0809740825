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
        from collections import Counter, deque
        consumers = Counter()
        seen = {self}
        frontier = [self]
        while frontier:
            node = frontier.pop()
            for parent, _ in node.edges:
                consumers[parent] += 1
                if parent not in seen:
                    seen.add(parent)
                    frontier.append(parent)
        self.grad = 1
        ready = deque([self])
        while ready:
            node = ready.popleft()
            for parent, local in node.edges:
                parent.grad += local * node.grad
                consumers[parent] -= 1
                if consumers[parent] == 0:
                    ready.append(parent)

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"
