from collections import deque


def _as_value(x):
    return x if isinstance(x, Value) else Value(x)


class Value:
    def __init__(self, data, children=(), op=''):
        self.data = data
        self.grad = 0
        self.children = list(children)
        self.op = op
        self._backward = lambda: None

    def _accumulate(self, amount):
        self.grad += amount

    def __add__(self, other):
        other = _as_value(other)
        out = Value(self.data + other.data, [self, other], '+')
        out._backward = lambda: (self._accumulate(out.grad), other._accumulate(out.grad))
        return out

    def __mul__(self, other):
        other = _as_value(other)
        out = Value(self.data * other.data, [self, other], '*')
        out._backward = lambda: (self._accumulate(other.data * out.grad),
                                 other._accumulate(self.data * out.grad))
        return out

    def relu(self):
        out = Value(max(0, self.data), [self], 'relu')
        out._backward = lambda: self._accumulate(out.grad if out.data > 0 else 0)
        return out

    def backward(self):
        # Kahn's algorithm: count consumers of every node, then release
        # a node once all of its consumers have pushed their gradient.
        pending = {}
        seen = [self]
        todo = deque([self])
        while todo:
            n = todo.popleft()
            for c in n.children:
                pending[id(c)] = pending.get(id(c), 0) + 1
                if c not in seen:
                    seen.append(c)
                    todo.append(c)
        self.grad = 1
        ready = deque([self])
        while ready:
            n = ready.popleft()
            n._backward()
            for c in n.children:
                pending[id(c)] -= 1
                if pending[id(c)] == 0:
                    ready.append(c)

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"
