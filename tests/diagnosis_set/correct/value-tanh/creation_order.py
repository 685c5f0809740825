import math
import itertools

_ids = itertools.count()


class Value:
    def __init__(self, data, _inputs=(), _grad_fn=None, label=''):
        self.data = data
        self.grad = 0.0
        self.label = label
        self._inputs = _inputs
        self._grad_fn = _grad_fn
        self._n = next(_ids)  # creation order

    def __repr__(self):
        return 'Value(data=' + str(self.data) + ')'

    def __add__(self, other):
        return Value(self.data + other.data, (self, other), lambda g: (g, g))

    def __mul__(self, other):
        return Value(self.data * other.data, (self, other),
                     lambda g: (g * other.data, g * self.data))

    def tanh(self):
        t = math.tanh(self.data)
        return Value(t, (self,), lambda g: ((1.0 - t * t) * g,))

    def backward(self):
        reach, todo = {}, [self]
        while todo:
            v = todo.pop()
            if v._n not in reach:
                reach[v._n] = v
                todo.extend(v._inputs)
        self.grad = 1.0
        for n in sorted(reach, reverse=True):
            v = reach[n]
            if v._grad_fn:
                for inp, g in zip(v._inputs, v._grad_fn(v.grad)):
                    inp.grad += g
