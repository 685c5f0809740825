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

    def __add__(self, other):
        other = self._wrap(other)
        y = Value(self.data + other.data, (self, other), "+")

        def backward_add():
            self.grad += y.grad
            other.grad += y.grad

        y._backward = backward_add
        return y

    def __mul__(self, other):
        other = self._wrap(other)
        y = Value(self.data * other.data, (self, other), "*")

        def backward_mul():
            self.grad += other.data * y.grad
            other.grad += self.data * y.grad

        y._backward = backward_mul
        return y

    def __pow__(self, k):
        y = Value(self.data ** k, (self,), "pow")

        def backward_pow():
            self.grad += k * (self.data ** (k - 1)) * y.grad

        y._backward = backward_pow
        return y

    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + (-self._wrap(other))

    def __truediv__(self, other):
        return self * self._wrap(other) ** -1

    __radd__ = __add__
    __rmul__ = __mul__

    def __rsub__(self, other):
        return self._wrap(other) - self

    def __rtruediv__(self, other):
        return self._wrap(other) / self

    def relu(self):
        y = Value(self.data if self.data > 0 else 0, (self,), "relu")

        def backward_relu():
            if y.data > 0:
                self.grad += y.grad

        y._backward = backward_relu
        return y

    def backward(self):
        self.grad = 1
        if self._backward is not None:
            self._backward()
        # then let the inputs pass it on
        for child in self._prev:
            if child._backward is not None:
                child._backward()

    def __repr__(self):
        return "Value(data=%s, grad=%s)" % (self.data, self.grad)
