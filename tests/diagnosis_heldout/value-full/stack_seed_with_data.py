"""Value: a scalar that tracks its own gradient."""

class Value:
    def __init__(self, data, _children=(), _op=''):
        self.data = data
        self.grad = 0
        self._prev = _children
        self._op = _op
        self._backward = lambda: None

    def __repr__(self):
        return f'Value(data={self.data!r}, grad={self.grad!r})'

    def __add__(self, o):
        if isinstance(o, (int, float)):
            o = Value(o)
        out = Value(self.data + o.data, (self, o), '+')

        def _backward():
            self.grad += 1.0 * out.grad
            o.grad += 1.0 * out.grad
        out._backward = _backward
        return out

    def __mul__(self, o):
        if isinstance(o, (int, float)):
            o = Value(o)
        out = Value(self.data * o.data, (self, o), '*')

        def _backward():
            self.grad += o.data * out.grad
            o.grad += self.data * out.grad
        out._backward = _backward
        return out

    def __pow__(self, o):
        if not isinstance(o, (int, float)):
            return NotImplemented
        x = self.data
        out = Value(x ** o, (self,), '**')

        def _backward():
            self.grad += (o * x ** (o - 1)) * out.grad
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

    def __sub__(self, o):
        return self + (-o)

    def __rsub__(self, o):
        return (-self) + o

    def __radd__(self, o):
        return self.__add__(o)

    def __rmul__(self, o):
        return self.__mul__(o)

    def __truediv__(self, o):
        return self * (o ** -1)

    def __rtruediv__(self, o):
        return (self ** -1) * o

    def backward(self):
        # build the order with an explicit stack: emit a node only after all its inputs
        topo = []
        visited = set()
        todo = [self]
        while todo:
            node = todo[-1]
            if node in visited:
                todo.pop()
                if node not in topo:
                    topo.append(node)
                continue
            visited.add(node)
            for child in node._prev:
                if child not in visited:
                    todo.append(child)
        self.grad = self.data
        for node in topo[::-1]:
            node._backward()
