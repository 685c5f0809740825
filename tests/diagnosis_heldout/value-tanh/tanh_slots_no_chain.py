# -*- coding: utf-8 -*-

from math import exp


class Value:
    __slots__ = ("data", "grad", "label", "_inputs", "_bw")

    def __init__(self, data, label=None, _inputs=()):
        self.data = data
        self.grad = 0
        self.label = label
        self._inputs = _inputs
        self._bw = None

    def __repr__(self):
        return "Value(data={})".format(self.data)

    def __add__(self, other):
        out = Value(self.data + other.data, _inputs=(self, other))

        def bw():
            self.grad += out.grad
            other.grad += out.grad
        out._bw = bw
        return out

    def __mul__(self, other):
        out = Value(self.data * other.data, _inputs=(self, other))

        def bw():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._bw = bw
        return out

    def tanh(self):
        e_pos, e_neg = exp(self.data), exp(-self.data)
        out = Value((e_pos - e_neg) / (e_pos + e_neg), _inputs=(self,))

        def bw():
            self.grad += 1 - out.data ** 2
        out._bw = bw
        return out

    def backward(self):
        order, seen = [], set()
        stack = [(self, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
            elif node not in seen:
                seen.add(node)
                stack.append((node, True))
                stack.extend((p, False) for p in node._inputs if p not in seen)
        self.grad = 1
        for node in reversed(order):
            if node._bw:
                node._bw()
