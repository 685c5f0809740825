# ---- autograd homework ----

class Value:
    __slots__ = ("data", "grad", "parents", "backward_fn")

    def __init__(self, data, parents=()):
        self.data = data
        self.grad = 0
        self.parents = parents
        self.backward_fn = None

    def __repr__(self):
        return "Value(data=" + str(self.data) + ", grad=" + str(self.grad) + ")"

    def __add__(self, that):
        if not isinstance(that, Value):
            that = Value(that)
        result = Value(self.data + that.data, (self, that))

        def backward_fn():
            self.grad += result.grad
            that.grad += result.grad

        result.backward_fn = backward_fn
        return result

    def __mul__(self, that):
        if not isinstance(that, Value):
            that = Value(that)
        result = Value(self.data * that.data, (self, that))

        def backward_fn():
            self.grad += that.data * result.grad
            that.grad += self.data * result.grad

        result.backward_fn = backward_fn
        return result

    def relu(self):
        result = Value(max(self.data, 0), (self,))

        def backward_fn():
            if result.data > 0:
                self.grad += result.grad

        result.backward_fn = backward_fn
        return result

    def backward(self):
        # post-order DFS without recursion
        order = []
        seen = set()
        stack = [(self, 0)]
        while stack:
            node, i = stack.pop()
            if i == 0:
                if node in seen:
                    continue
            if i < len(node.parents):
                stack.append((node, i + 1))
                nxt = node.parents[i]
                if nxt not in seen:
                    stack.append((nxt, 0))
            else:
                order.append(node)

        self.grad = 1
        for node in reversed(order):
            if node.backward_fn:
                node.backward_fn()
