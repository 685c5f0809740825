class Value:
    __slots__ = ("data", "grad", "_prev", "_grad_fn")

    def __init__(self, data, _prev=()):
        self.data = float(data)
        self.grad = 0.0
        self._prev = _prev
        self._grad_fn = None

    def __add__(self, other):
        if not isinstance(other, Value):
            other = Value(other)
        out = Value(self.data + other.data, (self, other))

        def grad_fn(g):
            self.grad += g
            other.grad += g
        out._grad_fn = grad_fn
        return out

    def __mul__(self, other):
        if not isinstance(other, Value):
            other = Value(other)
        out = Value(self.data * other.data, (self, other))

        def grad_fn(g):
            self.grad += g * g * other.data
            other.grad += g * g * self.data
        out._grad_fn = grad_fn
        return out

    def relu(self):
        out = Value(self.data if self.data > 0 else 0.0, (self,))

        def grad_fn(g):
            if out.data > 0:
                self.grad += g
        out._grad_fn = grad_fn
        return out

    def backward(self):
        order, visited = [], set()

        def visit(node):
            if id(node) in visited:
                return
            visited.add(id(node))
            for parent in node._prev:
                visit(parent)
            order.append(node)

        visit(self)
        self.grad = 1.0
        for node in order[::-1]:
            if node._grad_fn is not None:
                node._grad_fn(node.grad)

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"
