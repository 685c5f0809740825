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
            self.grad += g * other.data
            other.grad += g * self.data
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
        order, visited_list = [], []

        def visit(node):
            if node in visited_list:
                return
            visited_list.append(node)
            for parent in node._prev:
                visit(parent)
            order.insert(0, node)

        visit(self)
        self.grad = 1.0
        for node in order:
            if node._grad_fn is not None:
                node._grad_fn(node.grad)

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"
