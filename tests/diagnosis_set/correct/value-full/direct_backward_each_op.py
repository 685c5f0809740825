def wrap(x):
    try:
        x.grad
        return x
    except AttributeError:
        return Value(x)


class Value:
    def __init__(self, data, prev=(), op=''):
        self.data = data
        self.grad = 0
        self._prev = prev
        self._op = op
        self._backward = lambda: None

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"

    # ---- core ops -------------------------------------------------------
    def __add__(self, other):
        other = wrap(other)
        out = Value(self.data + other.data, (self, other), '+')

        def back():
            self.grad += out.grad
            other.grad += out.grad
        out._backward = back
        return out

    def __mul__(self, other):
        other = wrap(other)
        out = Value(self.data * other.data, (self, other), '*')

        def back():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = back
        return out

    def __pow__(self, n):
        out = Value(self.data ** n, (self,), 'pow')

        def back():
            self.grad += n * self.data ** (n - 1) * out.grad
        out._backward = back
        return out

    def __neg__(self):
        out = Value(-self.data, (self,), 'neg')

        def back():
            self.grad -= out.grad
        out._backward = back
        return out

    def __sub__(self, other):
        other = wrap(other)
        out = Value(self.data - other.data, (self, other), '-')

        def back():
            self.grad += out.grad
            other.grad -= out.grad
        out._backward = back
        return out

    def __rsub__(self, other):
        out = Value(other - self.data, (self,), 'rsub')

        def back():
            self.grad += -out.grad
        out._backward = back
        return out

    def __truediv__(self, other):
        other = wrap(other)
        out = Value(self.data / other.data, (self, other), '/')

        def back():
            self.grad += out.grad / other.data
            other.grad += -self.data / other.data ** 2 * out.grad
        out._backward = back
        return out

    def __rtruediv__(self, other):
        out = Value(other / self.data, (self,), 'rdiv')

        def back():
            self.grad += -other / self.data ** 2 * out.grad
        out._backward = back
        return out

    def __radd__(self, other):
        return self + other

    def __rmul__(self, other):
        return self * other

    def relu(self):
        out = Value(self.data if self.data > 0 else 0, (self,), 'relu')

        def back():
            if out.data > 0:
                self.grad += out.grad
        out._backward = back
        return out

    # ---- backprop ---------------------------------------------------------
    def backward(self):
        topo, seen = [], set()

        def build(v):
            if id(v) not in seen:
                seen.add(id(v))
                for p in v._prev:
                    build(p)
                topo.append(v)

        build(self)
        self.grad = 1
        for v in reversed(topo):
            v._backward()
