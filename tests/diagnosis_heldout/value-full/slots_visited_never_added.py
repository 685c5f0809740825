# Assignment: micrograd-style Value
# (all tests in the handout pass locally)

# autograd.py  --  CS assignment, part 2 (full operator set)
# I used __slots__ because we make a LOT of these objects in the MLP part.


class Value:
    __slots__ = ("data", "grad", "_prev", "_backward", "_op")

    def __init__(self, data, _prev=(), _op=""):
        self.data = data
        self.grad = 0
        self._prev = tuple(_prev)
        self._backward = None
        self._op = _op

    @staticmethod
    def _wrap(x):
        try:
            x.data
        except AttributeError:
            x = Value(x)
        return x

    def __add__(self, that):
        that = self._wrap(that)
        out = Value(self.data + that.data, (self, that), "+")

        def backward_add():
            self.grad += out.grad
            that.grad += out.grad

        out._backward = backward_add
        return out

    def __mul__(self, that):
        that = self._wrap(that)
        out = Value(self.data * that.data, (self, that), "*")

        def backward_mul():
            self.grad += that.data * out.grad
            that.grad += self.data * out.grad

        out._backward = backward_mul
        return out

    def __pow__(self, k):
        out = Value(self.data ** k, (self,), "pow")

        def backward_pow():
            self.grad += k * (self.data ** (k - 1)) * out.grad

        out._backward = backward_pow
        return out

    def __neg__(self):
        return self * -1

    def __sub__(self, that):
        return self + (-self._wrap(that))

    def __truediv__(self, that):
        return self * self._wrap(that) ** -1

    __radd__ = __add__
    __rmul__ = __mul__

    def __rsub__(self, that):
        return self._wrap(that) - self

    def __rtruediv__(self, that):
        return self._wrap(that) / self

    def relu(self):
        out = Value(self.data if self.data > 0 else 0, (self,), "relu")

        def backward_relu():
            if out.data > 0:
                self.grad += out.grad

        out._backward = backward_relu
        return out

    def backward(self):
        # iterative post-order DFS (recursion blew up on deep graphs)
        topo = []
        visited = set()
        stack = [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                topo.append(node)
                continue
            if node in visited:
                continue
            stack.append((node, True))
            for child in node._prev:
                if child not in visited:
                    stack.append((child, False))

        self.grad = 1
        for node in reversed(topo):
            if node._backward is not None:
                node._backward()

    def __repr__(self):
        return "Value(data=%s, grad=%s)" % (self.data, self.grad)
