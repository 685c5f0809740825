"""
autograd engine for the exercise.
Run the tests with: python -m pytest
"""

class Value:
    def __init__(self, data, _children=(), _op=''):
        self.data = data
        self.grad = 0
        self._prev = _children
        self._op = _op
        self._backward = lambda: None

    def __repr__(self):
        return f'Value(data={self.data!r}, grad={self.grad!r})'

    def __add__(self, other):
        if isinstance(other, (int, float)):
            other = Value(other)
        out = Value(self.data + other.data, (self, other), '+')

        def _backward():
            self.grad += 1.0 * out.grad
            other.grad += 1.0 * out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        if isinstance(other, (int, float)):
            other = Value(other)
        out = Value(self.data * other.data, (self, other), '*')

        def _backward():
            self.grad += other.data
            other.grad += self.data
        out._backward = _backward
        return out

    def __pow__(self, other):
        if not isinstance(other, (int, float)):
            return NotImplemented
        x = self.data
        out = Value(x ** other, (self,), '**')

        def _backward():
            self.grad += (other * x ** (other - 1)) * out.grad
        out._backward = _backward
        return out

    def relu(self):
        out = Value(self.data * (self.data > 0), (self,), 'relu')

        def _backward():
            self.grad += (out.data > 0) * out.grad
        out._backward = _backward
        return out

    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + (-other)

    def __rsub__(self, other):
        return (-self) + other

    def __radd__(self, other):
        return self.__add__(other)

    def __rmul__(self, other):
        return self.__mul__(other)

    def __truediv__(self, other):
        return self * (other ** -1)

    def __rtruediv__(self, other):
        return (self ** -1) * other

    def backward(self):
        # build the order with an explicit stack: emit a node only after all its inputs
        sorted_nodes = []
        marked = set()
        todo = [self]
        while todo:
            node = todo[-1]
            if node in marked:
                todo.pop()
                if node not in sorted_nodes:
                    sorted_nodes.append(node)
                continue
            marked.add(node)
            for child in node._prev:
                if child not in marked:
                    todo.append(child)
        self.grad = 1
        for node in sorted_nodes[::-1]:
            node._backward()
