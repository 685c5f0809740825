"""Seeded random test graphs, written in the test language and parsed like any program.

The generator knows no operation by name: it draws among the problem's declared operations
(``api.operations``, in declaration order) by their kind, and keeps every input where the
declaration says the operation is defined (its ``domain``: a magnitude bound is met by
scaling the input by a power of two, a sign by adding a leaf; a binary form whose operand is
out of its domain is not drawn), with the numbers its ``draws`` list where it takes only a
number (``**``'s exponents). Every node's value is the reference's own, computed as the
program is written (by the one interpreter), so no formula of any operation lives here.
Depths stay where a correct recursive solution survives (Python stops recursion near 1,000
frames). Programs need ``+`` and ``*`` between two Values, which every shape combines with.

The same (shape, seed, index) always gives the same program, on any machine. Every program,
whatever the seed, ends with the edge cases of the problem's operations (``_Writer.with_edge_cases``):
randomness only adds to them.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from grader.interpreter import execute_step
from grader.programs import (
    Domain,
    Operation,
    OperationKind,
    Step,
    StepKind,
    TestProgram,
    Whitelist,
    parse_program,
)

MAX_CHAIN_DEPTH = 300
"""Nodes in a deep chain: far enough for slow code to show, well under the recursion limit."""
SHAPES = ("shared", "self_ops", "constants", "relu_edges", "powers", "tanh", "neuron", "deep_chain", "wide_sum", "mixed")
"""``neuron`` is ``tanh`` by a name that fits any activation."""
SIGN_TARGETS = (0.5, 1.0, 1.5)
"""Where an input that must be positive or nonzero is moved (by adding a leaf)."""
_STEP_KINDS = {OperationKind.BINARY: StepKind.BINARY, OperationKind.UNARY: StepKind.UNARY,
               OperationKind.METHOD: StepKind.METHOD, OperationKind.SUM: StepKind.SUM}


class GenerationError(ValueError):
    """The declaration does not let the generator write a program, or the reference failed on
    one it wrote (an operation used outside the domain it declares)."""


Term = str | int | float
"""An operand as the writer passes it: a node's name, or a number."""


@dataclass
class _Writer:
    """Writes one program, running each step on the reference as it goes, so that every
    operation is applied where it is defined."""

    whitelist: Whitelist
    rng: random.Random
    value_class: type
    lines: list[str] = field(default_factory=list)
    values: dict[str, float] = field(default_factory=dict)
    nodes: dict[str, object] = field(default_factory=dict)
    """The reference's node objects, by name."""

    def __post_init__(self) -> None:
        plus, times = self.whitelist.binary("+", "ref", "ref"), self.whitelist.binary("*", "ref", "ref")
        if plus is None or times is None:
            raise GenerationError("generated tests need `+` and `*` between two Values: declare them")
        self.plus, self.times = plus, times
        methods = self.whitelist.of_kind(OperationKind.METHOD)
        self.activation = next((op for op in methods if not op.arguments and op.domain().max_abs is not None), None)
        """The method a neuron or a chain goes through: the first one with a bounded input."""
        bounds = [op.domain().max_abs for op in self.whitelist.operations
                  if op.kind in (OperationKind.METHOD, OperationKind.UNARY) and op.domain().max_abs is not None]
        self.smallest_bound = min(bounds) if bounds else None  # type: ignore[type-var]

    @property
    def numbers_allowed(self) -> bool:
        return any(op.takes_numbers and not op.draws for op in self.whitelist.operations)

    def name(self) -> str:
        return f"n{len(self.values)}"

    def apply(self, operation: Operation, operands: list[Term]) -> str:
        """A new node: ``operation`` on ``operands`` (node names, or numbers)."""
        wired = tuple(("ref", o) if isinstance(o, str) else ("const", o) for o in operands)
        texts = [o if isinstance(o, str) else repr(o) for o in operands]
        if operation.kind is OperationKind.BINARY:
            expression = f"{texts[0]} {operation.operator} {texts[1]}"
        elif operation.kind is OperationKind.UNARY:
            expression = f"{operation.operator}{texts[0]}"
        elif operation.kind is OperationKind.SUM:
            expression = f"sum([{', '.join(texts)}])"
        else:
            expression = f"{texts[0]}.{operation.name}({', '.join(texts[1:])})"
        name = self.name()
        step = Step(_STEP_KINDS[operation.kind], name, operation.name, wired, expression, 0, None, operation)
        return self._run(name, expression, step.to_wire())

    def leaf(self, value: float | None = None) -> str:
        if value is None:
            value = self.number()
        name = self.name()
        return self._run(name, f"Value({value!r})", {"kind": "leaf", "target": name, "op": "value", "operands": [["const", value]]})

    def _run(self, name: str, expression: str, step: dict[str, Any]) -> str:
        try:
            execute_step(self.value_class, step, self.nodes)
            value = self.nodes[name].data  # type: ignore[attr-defined]
        except Exception as error:  # noqa: BLE001 - the reference's, reported to the instructor
            raise GenerationError(f"the reference raised {type(error).__name__}: {error} on `{name} = {expression}` "
                                  "(is the operation's domain declared?)") from None
        self.lines.append(f"{name} = {expression}")
        self.values[name] = value
        return name

    def number(self) -> float:
        """A small number, exact in binary, never 0 or ±1 (which would hide bugs)."""
        while True:
            value = self.rng.choice([-1, 1]) * self.rng.randint(2, 16) / self.rng.choice([1, 2, 4])
            if abs(value) != 1:
                return value

    def add(self, a: str, b: str) -> str:
        return self.apply(self.plus, [a, b])

    def mul(self, a: str, b: str) -> str:
        return self.apply(self.times, [a, b])

    def holds(self, operation: Operation, operands: list[Term]) -> bool:
        """Every operand in the domain the operation declares for its side."""
        return all(operation.domain(i).holds(o if not isinstance(o, str) else self.values[o])
                   for i, o in enumerate(operands))

    def constant_op(self, a: str) -> str:
        """An operation with a plain number, on whichever side the problem allows."""
        k = self.number()
        options: list[tuple[Operation, list[Term]]] = []
        for op in self.whitelist.of_kind(OperationKind.BINARY):
            if op.draws:
                continue  # its numbers are drawn from its declaration (``power``)
            if op.operands[0].takes("ref") and op.operands[1].takes("const"):
                options.append((op, [a, k]))
            if op.operands[0].takes("const") and op.operands[1].takes("ref"):
                options.append((op, [k, a]))
        op, operands = self.rng.choice([option for option in options if self.holds(*option)])
        return self.apply(op, operands)

    def binary(self, a: str, b: str) -> str:
        """A binary operation between two nodes, chosen among those allowed and in domain."""
        choices = [op for op in self.whitelist.of_kind(OperationKind.BINARY)
                   if op.operands[0].takes("ref") and op.operands[1].takes("ref") and self.holds(op, [a, b])]
        return self.apply(self.rng.choice(choices), [a, b])

    def apply_in_domain(self, op: Operation, a: str) -> str:
        """``op`` on ``a``, brought into the operation's domain first."""
        return self.apply(op, [self.into_domain(a, op.domain())])

    def unary(self, a: str) -> str:
        """One declared operation on one node, in its domain."""
        choices: list[Callable[[], str]] = []
        for op in self.whitelist.operations:
            if op.kind is OperationKind.UNARY or (op.kind is OperationKind.METHOD and not op.arguments):
                choices.append(functools.partial(self.apply_in_domain, op, a))
            elif op.draws and self.drawn(op, a):
                choices.append(functools.partial(self.power, op, a))
        if self.numbers_allowed:
            choices.append(lambda: self.constant_op(a))
        return self.rng.choice(choices)() if choices else self.binary(a, self.leaf())

    def drawn(self, operation: Operation, a: str) -> list[int | float]:
        """The numbers ``operation`` may take with the node ``a`` (its ``draws``)."""
        return [n for draw in operation.draws if draw.domain.holds(self.values[a]) for n in draw.numbers]

    def power(self, operation: Operation, a: str) -> str:
        """``a`` with one of the numbers the operation draws (``a ** 2``, ``a.pow(3)``)."""
        return self.apply(operation, [a, self.rng.choice(self.drawn(operation, a))])

    def into_domain(self, a: str, domain: Domain) -> str:
        """``a``, or a node computed from it that is in ``domain``."""
        if domain.max_abs is not None:
            a = self.squash(a, domain.max_abs)
        if domain.holds(self.values[a]):
            return a
        target = min(self.rng.choice(SIGN_TARGETS), domain.max_abs or math.inf)
        return self.add(a, self.leaf(target - self.values[a]))

    def squash(self, a: str, bound: float) -> str:
        """Keep a value within ``bound``, with operations every problem has."""
        size = abs(self.values[a])
        if size <= bound:
            return a
        scale = 2.0 ** -math.ceil(math.log2(size))  # exact in binary; brings it under 1
        return self.mul(a, self.leaf(self.rng.choice([scale, -scale])))

    def finish(self, root: str) -> str:
        """End the program: the edge cases folded into ``root``, then ``root.backward()``."""
        root = self.with_edge_cases(root)
        backward = self.whitelist.backward
        if backward is not None:
            self.lines.append(f"{root}.{backward.name}()")
        return "\n".join(self.lines) + "\n"

    def with_edge_cases(self, root: str) -> str:
        """``root`` plus, in every program whatever the seed, the edge cases the problem's
        operations have: a zero operand and a node used on both sides of an operation (on the
        program's first node), each kink (relu at exactly 0, built from leaves of its own), a
        zero base where a number is drawn (``0 ** 2``) and each declared edge (tanh of 0).
        Each is added to the root, so its gradient is 1 and a wrong rule shows."""
        anchor = next(iter(self.values))
        times_number = self.whitelist.binary("*", "ref", "const")
        drawing = [op for op in self.whitelist.operations if op.draws and self.zero_draw(op) is not None]
        edged = [op for op in self.whitelist.operations if op.edges]
        needs_zero = times_number is None or drawing or any(0 in op.edges for op in edged)
        zero = self.leaf(0.0) if needs_zero else ""
        terms = [self.apply(times_number, [anchor, 0]) if times_number is not None else self.mul(anchor, zero)]
        terms.append(self.mul(anchor, anchor))
        for op in self.whitelist.operations:
            for kink in op.kinks:
                other = self.leaf()  # its own leaves: moving the anchor must not move this kink
                terms.append(self.apply(op, [self.add(other, self.leaf(kink - self.values[other]))]))
        for op in drawing:
            terms.append(self.apply(op, [zero, self.zero_draw(op)]))  # type: ignore[list-item]
        for op in edged:
            for edge in op.edges:
                terms.append(self.apply(op, [zero if edge == 0 else self.leaf(edge)]))
        for term in terms:
            root = self.add(root, term)
        return root

    @staticmethod
    def zero_draw(operation: Operation) -> int | float | None:
        """The first number ``operation`` draws for a zero base, if any."""
        return next((draw.numbers[0] for draw in operation.draws if draw.domain.holds(0.0)), None)


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
    """The first operation with a kink (relu), at exactly the kink and on both sides of it."""
    kinked = next((op for op in w.whitelist.operations if op.kinks), None)
    if kinked is None:
        return _mixed(w)
    kink = kinked.kinks[0]
    a = w.leaf()
    minus_a = w.leaf(kink - w.values[a])
    at_kink = w.add(a, minus_a)
    above = w.leaf(kink + abs(w.number()))
    below = w.leaf(kink - abs(w.number()))
    gated = [w.apply(kinked, [at_kink]), w.apply(kinked, [above]), w.apply(kinked, [below])]
    weights = [w.leaf() for _ in gated]
    terms = [w.mul(g, k) for g, k in zip(gated, weights)]
    total = w.add(w.add(terms[0], terms[1]), terms[2])
    return w.finish(w.add(total, w.mul(a, above)))


def _powers(w: _Writer) -> str:
    """The first operation that draws its numbers (``**``), on a positive and on any base."""
    drawing = next((op for op in w.whitelist.operations if op.draws), None)
    if drawing is None:
        return _mixed(w)
    a = w.leaf(abs(w.number()))
    b = w.leaf()
    terms = [w.power(drawing, a), w.power(drawing, b), w.power(drawing, a)]
    return w.finish(w.binary(w.add(terms[0], terms[1]), terms[2]))


def _tanh(w: _Writer) -> str:
    """A two-layer neuron through the problem's activation (its first method with a bounded
    input: tanh)."""
    act = w.activation
    if act is None:
        return _mixed(w)
    xs = [w.leaf(w.rng.choice([-1.5, -0.75, -0.5, 0.25, 0.5, 1.25])) for _ in range(2)]
    ws = [w.leaf(w.rng.choice([-2.0, -0.5, 0.75, 1.5])) for _ in range(2)]
    n = w.add(w.mul(xs[0], ws[0]), w.mul(xs[1], ws[1]))
    h = w.apply(act, [w.into_domain(n, act.domain())])
    out = w.apply(act, [w.into_domain(w.add(w.mul(h, ws[0]), xs[1]), act.domain())])
    return w.finish(w.mul(out, h))


def _deep_chain(w: _Writer) -> str:
    """A long chain that keeps values bounded, so depth (not overflow) is what is tested."""
    depth = w.rng.randint(MAX_CHAIN_DEPTH // 2, MAX_CHAIN_DEPTH)
    x = w.leaf(0.5)
    half = w.leaf(0.5)
    act = w.activation
    step = 0
    while len(w.values) < depth + 2:  # nodes, those that bring an input into its domain included
        if step % 3 == 2 and act is not None:
            x = w.apply(act, [w.into_domain(x, act.domain())])
        elif step % 2:
            x = w.mul(x, half)
        else:
            x = w.add(x, half)
        step += 1
    return w.finish(x)


def _wide_sum(w: _Writer) -> str:
    """Many terms summed (with ``sum()`` where the problem has it); one leaf shared by every term."""
    shared = w.leaf()
    total = w.mul(shared, w.leaf())
    count = w.rng.randint(40, 120)
    if w.whitelist.sum is not None:
        terms = [total] + [w.mul(w.leaf(), shared) for _ in range(count)]
        return w.finish(w.apply(w.whitelist.sum, list[Term](terms)))
    for _ in range(count):
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
            if w.smallest_bound is not None:
                a, b = w.squash(a, w.smallest_bound), w.squash(b, w.smallest_bound)
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
    "neuron": _tanh,
    "deep_chain": _deep_chain,
    "wide_sum": _wide_sum,
    "mixed": _mixed,
}


def generate_program(shape: str, whitelist: Whitelist, seed: int, index: int, value_class: type) -> TestProgram:
    """The ``index``-th program of ``shape`` for ``seed``: deterministic, whitelisted, its
    values computed by ``value_class`` (the reference's) as it is written."""
    rng = random.Random(f"{seed}:{shape}:{index}")
    source = GENERATORS[shape](_Writer(whitelist, rng, value_class))
    return parse_program(source, whitelist)

