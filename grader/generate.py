"""Seeded random test graphs, written in the test language and parsed like any program.

Every generator uses only the problem's whitelisted operations and keeps every value in the
reference's domain: fractional powers of positive bases only, no division by (near) zero,
tanh inputs small enough that the seed's ``exp(2x)`` formula cannot overflow, and depths a
correct recursive solution survives (Python stops recursion near 1,000 frames).

The same (shape, seed, index) always gives the same program, on any machine. Every program,
whatever the seed, ends with the edge cases of the problem's operations (``_Writer.with_edge_cases``):
randomness only adds to them.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Callable

from grader.programs import TestProgram, Whitelist, parse_program

MAX_CHAIN_DEPTH = 300
"""Nodes in a deep chain: far enough for slow code to show, well under the recursion limit."""
MAX_TANH_INPUT = 3.0
SHAPES = ("shared", "self_ops", "constants", "relu_edges", "powers", "tanh", "deep_chain", "wide_sum", "mixed")


@dataclass
class _Writer:
    """Writes one program, tracking each node's value so every operation stays in domain."""

    whitelist: Whitelist
    rng: random.Random
    lines: list[str] = field(default_factory=list)
    values: dict[str, float] = field(default_factory=dict)

    def can(self, operation: str) -> bool:
        return operation in self.whitelist.operations

    @property
    def numbers_allowed(self) -> bool:
        return self.whitelist.numbers_as_operands

    def name(self) -> str:
        return f"n{len(self.values)}"

    def emit(self, expression: str, value: float) -> str:
        name = self.name()
        self.lines.append(f"{name} = {expression}")
        self.values[name] = value
        return name

    def leaf(self, value: float | None = None) -> str:
        if value is None:
            value = self.number()
        return self.emit(f"Value({value!r})", value)

    def number(self) -> float:
        """A small number, exact in binary, never 0 or ±1 (which would hide bugs)."""
        while True:
            value = self.rng.choice([-1, 1]) * self.rng.randint(2, 16) / self.rng.choice([1, 2, 4])
            if abs(value) != 1:
                return value

    def add(self, a: str, b: str) -> str:
        return self.emit(f"{a} + {b}", self.values[a] + self.values[b])

    def mul(self, a: str, b: str) -> str:
        return self.emit(f"{a} * {b}", self.values[a] * self.values[b])

    def relu(self, a: str) -> str:
        return self.emit(f"{a}.relu()", max(0.0, self.values[a]))

    def tanh(self, a: str) -> str:
        return self.emit(f"{a}.tanh()", math.tanh(self.values[a]))

    def constant_op(self, a: str) -> str:
        """An operation with a plain number, on whichever side the problem allows."""
        k = self.number()
        options = [("add", f"{a} + {k!r}", self.values[a] + k), ("mul", f"{a} * {k!r}", self.values[a] * k)]
        options += [
            ("radd", f"{k!r} + {a}", k + self.values[a]),
            ("rmul", f"{k!r} * {a}", k * self.values[a]),
            ("sub", f"{a} - {k!r}", self.values[a] - k),
            ("rsub", f"{k!r} - {a}", k - self.values[a]),
            ("truediv", f"{a} / {k!r}", self.values[a] / k),
        ]
        if abs(self.values[a]) > 0.25:
            options.append(("rtruediv", f"{k!r} / {a}", k / self.values[a]))
        op, expression, value = self.rng.choice([option for option in options if self.can(option[0])])
        return self.emit(expression, value)

    def binary(self, a: str, b: str) -> str:
        """A binary operation between two nodes, chosen among those allowed and in domain."""
        choices: list[Callable[[], str]] = [lambda: self.add(a, b), lambda: self.mul(a, b)]
        if self.can("sub"):
            choices.append(lambda: self.emit(f"{a} - {b}", self.values[a] - self.values[b]))
        if self.can("truediv") and abs(self.values[b]) > 0.25:
            choices.append(lambda: self.emit(f"{a} / {b}", self.values[a] / self.values[b]))
        return self.rng.choice(choices)()

    def unary(self, a: str) -> str:
        choices: list[Callable[[], str]] = []
        if self.can("relu"):
            choices.append(lambda: self.relu(a))
        if self.can("tanh"):
            choices.append(lambda: self.tanh(self.squash(a)))
        if self.can("neg"):
            choices.append(lambda: self.emit(f"-{a}", -self.values[a]))
        if self.can("pow"):
            choices.append(lambda: self.power(a))
        if self.numbers_allowed:
            choices.append(lambda: self.constant_op(a))
        return self.rng.choice(choices)() if choices else self.binary(a, self.leaf())

    def power(self, a: str) -> str:
        base = self.values[a]
        exponents = [2, 3]
        if abs(base) > 0.25:  # 0 ** -1 has no value, and 0 ** 0 has no derivative here
            exponents += [0, -1, -2]
        if base > 0.25:
            exponents += [0.5, -0.5, 1.5]
        exponent = self.rng.choice(exponents)
        return self.emit(f"{a} ** {exponent!r}", base**exponent)

    def squash(self, a: str) -> str:
        """Keep values small before a tanh, with operations the problem has."""
        size = abs(self.values[a])
        if size <= MAX_TANH_INPUT:
            return a
        scale = 2.0 ** -math.ceil(math.log2(size))  # exact in binary; brings it under 1
        return self.mul(a, self.leaf(self.rng.choice([scale, -scale])))

    def finish(self, root: str) -> str:
        """End the program: the edge cases folded into ``root``, then ``root.backward()``."""
        root = self.with_edge_cases(root)
        self.lines.append(f"{root}.backward()")
        return "\n".join(self.lines) + "\n"

    def with_edge_cases(self, root: str) -> str:
        """``root`` plus, in every program whatever the seed, the edge cases the problem's
        operations have: a zero operand and a node used on both sides of an operation (on the
        program's first node), relu at exactly 0, a zero base, tanh of 0. Each is
        added to the root, so its gradient is 1 and a wrong rule shows."""
        anchor = next(iter(self.values))
        zero = self.leaf(0.0) if not self.numbers_allowed or self.can("pow") or self.can("tanh") else ""
        terms = [self.emit(f"{anchor} * 0", 0.0) if self.numbers_allowed else self.mul(anchor, zero)]
        terms.append(self.mul(anchor, anchor))
        if self.can("relu"):
            other = self.leaf()  # its own leaves: moving the anchor must not move this kink
            terms.append(self.relu(self.add(other, self.leaf(-self.values[other]))))
        if self.can("pow"):
            terms.append(self.emit(f"{zero} ** 2", 0.0))
        if self.can("tanh"):
            terms.append(self.tanh(zero))
        for term in terms:
            root = self.add(root, term)
        return root


def _shared(w: _Writer) -> str:
    """A shared intermediate node feeding two paths that meet again (a diamond)."""
    a, b = w.leaf(), w.leaf()
    x = w.binary(a, b)
    left, right = w.unary(x), w.binary(x, w.leaf())
    return w.finish(w.binary(left, right))


def _self_ops(w: _Writer) -> str:
    """A node combined with itself: a + a, a * a, and a product of a shared result with itself."""
    a = w.leaf()
    doubled, squared = w.add(a, a), w.mul(a, a)
    both = w.add(doubled, squared)
    return w.finish(w.mul(both, a) if w.rng.random() < 0.5 else w.add(both, both))


def _constants(w: _Writer) -> str:
    if not w.numbers_allowed:
        return _mixed(w)
    a, b = w.leaf(), w.leaf()
    x = w.constant_op(a)
    y = w.constant_op(w.binary(x, b))
    return w.finish(w.constant_op(y))


def _relu_edges(w: _Writer) -> str:
    """relu at exactly 0, on a positive and on a negative input."""
    if not w.can("relu"):
        return _mixed(w)
    a = w.leaf()
    minus_a = w.leaf(-w.values[a])
    zero = w.add(a, minus_a)
    positive = w.leaf(abs(w.number()))
    negative = w.leaf(-abs(w.number()))
    gated = [w.relu(zero), w.relu(positive), w.relu(negative)]
    weights = [w.leaf() for _ in gated]
    terms = [w.mul(g, k) for g, k in zip(gated, weights)]
    total = w.add(w.add(terms[0], terms[1]), terms[2])
    return w.finish(w.add(total, w.mul(a, positive)))


def _powers(w: _Writer) -> str:
    if not w.can("pow"):
        return _mixed(w)
    a = w.leaf(abs(w.number()))
    b = w.leaf()
    terms = [w.power(a), w.power(b), w.power(a)]
    return w.finish(w.binary(w.add(terms[0], terms[1]), terms[2]))


def _tanh(w: _Writer) -> str:
    if not w.can("tanh"):
        return _mixed(w)
    xs = [w.leaf(w.rng.choice([-1.5, -0.75, -0.5, 0.25, 0.5, 1.25])) for _ in range(2)]
    ws = [w.leaf(w.rng.choice([-2.0, -0.5, 0.75, 1.5])) for _ in range(2)]
    n = w.add(w.mul(xs[0], ws[0]), w.mul(xs[1], ws[1]))
    h = w.tanh(w.squash(n))
    out = w.tanh(w.squash(w.add(w.mul(h, ws[0]), xs[1])))
    return w.finish(w.mul(out, h))


def _deep_chain(w: _Writer) -> str:
    """A long chain that keeps values bounded, so depth (not overflow) is what is tested."""
    depth = w.rng.randint(MAX_CHAIN_DEPTH // 2, MAX_CHAIN_DEPTH)
    x = w.leaf(0.5)
    half = w.leaf(0.5)
    for step in range(depth):
        if step % 3 == 2 and w.can("tanh"):
            x = w.tanh(x)
        elif step % 2:
            x = w.mul(x, half)
        else:
            x = w.add(x, half)
    return w.finish(x)


def _wide_sum(w: _Writer) -> str:
    """Many terms summed; one leaf shared by every term."""
    shared = w.leaf()
    total = w.mul(shared, w.leaf())
    for _ in range(w.rng.randint(40, 120)):
        total = w.add(total, w.mul(w.leaf(), shared))
    return w.finish(total)


def _mixed(w: _Writer) -> str:
    """A random graph: each new node combines earlier ones, so sharing happens naturally."""
    nodes = [w.leaf() for _ in range(w.rng.randint(2, 4))]
    for _ in range(w.rng.randint(4, 12)):
        if w.rng.random() < 0.35:
            nodes.append(w.unary(w.rng.choice(nodes)))
        else:
            a, b = w.rng.choice(nodes), w.rng.choice(nodes)
            if w.can("tanh"):
                a, b = w.squash(a), w.squash(b)
            nodes.append(w.binary(a, b))
        if abs(w.values[nodes[-1]]) > 1e6:
            nodes.append(w.mul(nodes[-1], w.leaf(0.0625)))
    return w.finish(nodes[-1])


GENERATORS: dict[str, Callable[[_Writer], str]] = {
    "shared": _shared,
    "self_ops": _self_ops,
    "constants": _constants,
    "relu_edges": _relu_edges,
    "powers": _powers,
    "tanh": _tanh,
    "deep_chain": _deep_chain,
    "wide_sum": _wide_sum,
    "mixed": _mixed,
}


def generate_program(shape: str, whitelist: Whitelist, seed: int, index: int) -> TestProgram:
    """The ``index``-th program of ``shape`` for ``seed``: deterministic, whitelisted."""
    rng = random.Random(f"{seed}:{shape}:{index}")
    source = GENERATORS[shape](_Writer(whitelist, rng))
    return parse_program(source, whitelist)
