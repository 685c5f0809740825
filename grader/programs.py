"""Test programs: a tiny language parsed with ``ast`` against a problem's whitelist.

A program is data, not code. ``d = a + b * c`` is flattened into steps
(``_1 = b * c``, ``d = a + _1``) so that the interpreter runs straight-line code with no
recursion, and so that every intermediate node can be observed and named in feedback by
its source text (``b * c``).

Steps travel to the submission's process as plain JSON (``Step.to_wire``); nothing else
about the test (points, expected values) goes with them.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from enum import Enum
from typing import Any


class ProgramError(ValueError):
    """A program that is not in the language or uses an operation the problem lacks."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class StepKind(str, Enum):
    LEAF = "leaf"  # x = Value(2)
    BINARY = "binary"  # x = a + b, x = 2 * a, x = a ** 2
    UNARY = "unary"  # x = -a
    METHOD = "method"  # x = a.exp(), x = a.pow(3)
    SUM = "sum"  # x = sum([a, b, c])
    BACKWARD = "backward"  # x.backward()


Operand = tuple[str, object]  # ("ref", "a") or ("const", 2.0)


# ------------------------------------------------------------------ declared operations
#
# A problem declares the operations its class must support (problem.yaml's ``api.operations``);
# what follows is the language they are declared in: Python's own operators and calls, each
# kind with what may stand where. Nothing here names an operation of any problem.

class OperationKind(str, Enum):
    BINARY = "binary"  # a + b, a + 2, 2 + a, a ** 2
    UNARY = "unary"  # -a
    METHOD = "method"  # a.exp(), a.pow(3)
    SUM = "sum"  # sum([a, b, c]): Python's built-in, which starts from 0 (so 0 + a)
    BACKWARD = "backward"  # a.backward(), a statement


class Side(str, Enum):
    """What may stand on one side of a binary operator."""

    VALUE = "value"
    NUMBER = "number"
    EITHER = "value_or_number"

    def takes(self, operand_kind: str) -> bool:
        """Whether an operand (``"ref"``: a node, ``"const"``: a number) may stand here."""
        return self is Side.EITHER or (self is Side.VALUE) == (operand_kind == "ref")


class Sign(str, Enum):
    ANY = "any"
    POSITIVE = "positive"
    NONZERO = "nonzero"


DOMAIN_MARGIN = 0.25
"""How far from 0 the generator keeps a positive or nonzero input (a division by 1e-9 is in
the domain, and useless for grading)."""


@dataclass(frozen=True, slots=True)
class Domain:
    """Where the generator may apply an operation (a test written by hand may go anywhere)."""

    sign: Sign = Sign.ANY
    max_abs: float | None = None

    def holds(self, x: float) -> bool:
        if self.sign is Sign.POSITIVE and not x > DOMAIN_MARGIN:
            return False
        if self.sign is Sign.NONZERO and not abs(x) > DOMAIN_MARGIN:
            return False
        return self.max_abs is None or abs(x) <= self.max_abs


ANYWHERE = Domain()


@dataclass(frozen=True, slots=True)
class Draw:
    """Numbers the generator may put where the operation takes only a number (``**``'s
    exponent, a method's argument), for node values in ``domain``."""

    numbers: tuple[int | float, ...]
    domain: Domain = ANYWHERE


# Python's operators: the syntax a binary or unary operation is declared with, and the stem
# of the special methods Python calls for it (``__add__``, ``__radd__``).
BINARY_SYMBOLS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**", ast.FloorDiv: "//", ast.Mod: "%"}
UNARY_SYMBOLS = {ast.USub: "-", ast.UAdd: "+"}
OPERATOR_STEMS = {"+": "add", "-": "sub", "*": "mul", "/": "truediv", "**": "pow", "//": "floordiv", "%": "mod"}
UNARY_STEMS = {"-": "neg", "+": "pos"}


@dataclass(frozen=True, slots=True)
class Operation:
    """One declared form of an operation: ``a + 2`` and ``2 + a`` are two forms of ``+``."""

    name: str
    """How programs, feedback and the generator call it; for a method, its name."""
    kind: OperationKind
    operator: str = ""
    """Binary and unary: Python's operator (``+``)."""
    operands: tuple[Side, Side] = (Side.VALUE, Side.VALUE)
    """Binary: what may stand on the left and on the right."""
    arguments: int = 0
    """Method: how many numbers it takes (``x.pow(3)``: 1)."""
    domains: tuple[Domain, ...] = ()
    """Where the generator may apply it: binary, (left, right); unary and method, (input,)."""
    draws: tuple[Draw, ...] = ()
    kinks: tuple[float, ...] = ()
    """Inputs where its derivative is a convention (relu at 0)."""
    edges: tuple[float, ...] = ()
    """Inputs every generated program applies it to (tanh of 0)."""

    def domain(self, index: int = 0) -> Domain:
        return self.domains[index] if index < len(self.domains) else ANYWHERE

    @property
    def attributes(self) -> tuple[str, ...]:
        """The attributes of the class it needs."""
        if self.kind is OperationKind.BINARY:
            stem = OPERATOR_STEMS[self.operator]
            left = self.operands[0]
            return tuple(name for name, needed in ((f"__{stem}__", left is not Side.NUMBER),
                                                   (f"__r{stem}__", left is not Side.VALUE)) if needed)
        if self.kind is OperationKind.UNARY:
            return (f"__{UNARY_STEMS[self.operator]}__",)
        if self.kind is OperationKind.SUM:
            return ("__add__", "__radd__")  # sum() starts from 0: 0 + a, then (0 + a) + b
        return (self.name,)

    @property
    def takes_numbers(self) -> bool:
        return self.kind is OperationKind.BINARY and any(side is not Side.VALUE for side in self.operands)


@dataclass(frozen=True, slots=True)
class Step:
    """One straight-line instruction of a test program."""

    kind: StepKind
    target: str
    """The node this step creates (for BACKWARD: the node it is called on)."""
    op: str
    """The declared operation's name, or "value" for a leaf."""
    operands: tuple[Operand, ...]
    text: str
    """Source text of the expression, used to name anonymous nodes in feedback."""
    line: int
    """1-based line in the program."""
    label: str | None = None
    operation: Operation | None = None
    """The declared operation it runs (None for a leaf)."""

    @property
    def call(self) -> str:
        """What the interpreter calls, in Python's own names: for an operator, the stem of the
        special method Python calls (``add``; ``radd`` with a number on the left, where Python
        calls ``__radd__``; ``neg``), else the method's name, ``sum``, or ``value`` for a leaf.
        (For the three problems that came before declarations these are their operations'
        names, so their programs travel as they always did.)"""
        operation = self.operation
        if operation is None:
            return "value"
        if operation.kind is OperationKind.BINARY:
            stem = OPERATOR_STEMS[operation.operator]
            return f"r{stem}" if self.operands[0][0] == "const" else stem
        if operation.kind is OperationKind.UNARY:
            return UNARY_STEMS[operation.operator]
        return "sum" if operation.kind is OperationKind.SUM else operation.name

    @property
    def symbol(self) -> str:
        """How a picture writes it: Python's operator, or the method's name (empty for a leaf)."""
        operation = self.operation
        if operation is None:
            return ""
        return operation.operator or ("sum" if operation.kind is OperationKind.SUM else operation.name)

    def to_wire(self) -> dict[str, Any]:
        """Plain JSON for the interpreter; nothing but what it must execute."""
        return {
            "kind": self.kind.value,
            "target": self.target,
            "op": self.call,
            "operands": [list(operand) for operand in self.operands],
            "label": self.label,
            "line": self.line,
        }


@dataclass(frozen=True, slots=True)
class Node:
    """A node a program creates: its internal name and how feedback should call it."""

    name: str
    display: str
    op: str
    parents: tuple[str, ...]
    symbol: str = ""
    """Python's operator or the method's name (``Step.symbol``): how a picture labels it."""
    label: str | None = None
    """What ``label=`` gave it, for a leaf created with one."""


@dataclass(frozen=True, slots=True)
class TestProgram:
    source: str
    steps: tuple[Step, ...]
    nodes: tuple[Node, ...]
    """Every node in creation order (a topological order of the graph)."""

    __test__ = False  # not a pytest test class

    def to_wire(self) -> list[dict[str, Any]]:
        return [step.to_wire() for step in self.steps]

    def node(self, name: str) -> Node:
        return next(node for node in self.nodes if node.name == name)

    @property
    def has_shared_nodes(self) -> bool:
        """Some node is an operand more than once (``a + a``, a diamond): only then can the
        order in which backward() visits nodes change any gradient."""
        uses = [parent for node in self.nodes for parent in node.parents]
        return len(uses) != len(set(uses))

    @property
    def operations(self) -> frozenset[str]:
        return frozenset(step.op for step in self.steps if step.kind is not StepKind.LEAF)


@dataclass(frozen=True, slots=True)
class Whitelist:
    """What a problem's programs may use: its declared operations, in declaration order."""

    operations: tuple[Operation, ...]
    constructor_keywords: frozenset[str] = frozenset()
    class_name: str = "Value"

    @property
    def names(self) -> frozenset[str]:
        return frozenset(operation.name for operation in self.operations)

    def of_kind(self, kind: OperationKind) -> tuple[Operation, ...]:
        return tuple(operation for operation in self.operations if operation.kind is kind)

    def binary(self, operator: str, left: str, right: str) -> Operation | None:
        """The form of ``operator`` that takes these operands (``"ref"`` or ``"const"``)."""
        return next((op for op in self.of_kind(OperationKind.BINARY) if op.operator == operator
                     and op.operands[0].takes(left) and op.operands[1].takes(right)), None)

    def unary(self, operator: str) -> Operation | None:
        return next((op for op in self.of_kind(OperationKind.UNARY) if op.operator == operator), None)

    def method(self, name: str) -> Operation | None:
        return next((op for op in self.of_kind(OperationKind.METHOD) if op.name == name), None)

    @property
    def backward(self) -> Operation | None:
        return next(iter(self.of_kind(OperationKind.BACKWARD)), None)

    @property
    def sum(self) -> Operation | None:
        return next(iter(self.of_kind(OperationKind.SUM)), None)

    @property
    def takes_numbers(self) -> bool:
        return any(operation.takes_numbers for operation in self.operations)


def parse_program(source: str, whitelist: Whitelist) -> TestProgram:
    """Parse ``source`` into a TestProgram; raise ProgramError naming the line."""
    try:
        module = ast.parse(source, mode="exec")
    except SyntaxError as error:
        raise ProgramError(f"not valid Python: {error.msg}", error.lineno or 1) from None
    builder = _ProgramBuilder(whitelist)
    for statement in module.body:
        builder.statement(statement)
    if not builder.steps:
        raise ProgramError("the program is empty", 1)
    return TestProgram(source=source, steps=tuple(builder.steps), nodes=tuple(builder.nodes))


class _ProgramBuilder:
    def __init__(self, whitelist: Whitelist) -> None:
        self.whitelist = whitelist
        self.steps: list[Step] = []
        self.nodes: list[Node] = []
        self.defined: set[str] = set()
        self.temporaries = 0

    def statement(self, statement: ast.stmt) -> None:
        line = statement.lineno
        if isinstance(statement, ast.Assign):
            if len(statement.targets) != 1 or not isinstance(statement.targets[0], ast.Name):
                raise ProgramError("assign to exactly one plain name, like `d = a + b`", line)
            name = statement.targets[0].id
            if name.startswith("_"):
                raise ProgramError(f"node names may not start with '_': {name}", line)
            if name in self.defined:
                raise ProgramError(f"{name} is assigned twice; give each node its own name", line)
            operand = self.expression(statement.value, target=name)
            if operand[0] != "ref" or operand[1] != name:
                raise ProgramError(
                    f"`{ast.unparse(statement)}` creates no new node; write an operation", line
                )
            return
        backward = self.whitelist.backward
        if isinstance(statement, ast.Expr) and backward is not None and _is_method_call(statement.value, backward.name):
            node = statement.value.func.value  # type: ignore[attr-defined]
            target = self.reference(node)
            self.steps.append(
                Step(StepKind.BACKWARD, target, backward.name, (), ast.unparse(statement), line, operation=backward)
            )
            return
        called = f"`x.{backward.name}()`" if backward is not None else "nothing else"
        raise ProgramError(
            f"`{ast.unparse(statement)}` is not a statement of the test language "
            f"(allowed: `x = {self.whitelist.class_name}(2)`, `x = <expression>`, {called})",
            line,
        )

    def expression(self, expr: ast.expr, target: str | None = None) -> Operand:
        """Flatten ``expr``; return the operand that holds its value."""
        constant = _constant(expr)
        if constant is not None:
            return ("const", constant)
        line = expr.lineno
        if isinstance(expr, ast.Name):
            return ("ref", self.reference(expr))
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name):
            if expr.func.id == "sum" and self.whitelist.sum is not None:
                return self.sum(expr, target)
            return self.leaf(expr, target)
        if isinstance(expr, ast.BinOp) and type(expr.op) in BINARY_SYMBOLS:
            return self.binary(expr, target)
        if isinstance(expr, ast.UnaryOp) and type(expr.op) in UNARY_SYMBOLS:
            symbol = UNARY_SYMBOLS[type(expr.op)]
            operand = self.expression(expr.operand)
            operation = self.whitelist.unary(symbol)
            if operation is None:
                raise ProgramError(f"`{ast.unparse(expr)}`: unary `{symbol}` is not part of this problem "
                                   f"({self.allowed()})", line)
            return self.emit(StepKind.UNARY, operation, (operand,), expr, target)
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
            return self.method(expr, target)
        raise ProgramError(f"`{ast.unparse(expr)}` is not an expression of the test language", line)

    def method(self, call: ast.Call, target: str | None) -> Operand:
        line = call.lineno
        name = call.func.attr  # type: ignore[attr-defined]
        operation = self.whitelist.method(name)
        if operation is None:
            backward = self.whitelist.backward
            if backward is not None and name == backward.name:
                raise ProgramError(f"`{ast.unparse(call)}` returns nothing: call it as a statement of its own", line)
            raise ProgramError(f"`{ast.unparse(call)}`: the method `{name}` is not part of this problem "
                               f"({self.allowed()})", line)
        arguments = [_constant(argument) for argument in call.args]
        if call.keywords or len(arguments) != operation.arguments or None in arguments:
            count = operation.arguments
            wanted = f"{count} number{'s' if count != 1 else ''}" if count else "no arguments"
            raise ProgramError(f"`{ast.unparse(call)}`: `{name}()` takes {wanted}", line)
        operand = self.expression(call.func.value)  # type: ignore[attr-defined]
        if operand[0] != "ref":
            raise ProgramError(f"`{name}()` must be called on a node", line)
        return self.emit(StepKind.METHOD, operation, (operand, *(("const", a) for a in arguments)), call, target)

    def sum(self, call: ast.Call, target: str | None) -> Operand:
        line = call.lineno
        listed = call.args[0] if len(call.args) == 1 and not call.keywords else None
        if not isinstance(listed, (ast.List, ast.Tuple)) or not listed.elts:
            raise ProgramError(f"`{ast.unparse(call)}`: sum() takes one list of nodes, like `sum([a, b, c])`", line)
        operands = tuple(self.expression(element) for element in listed.elts)
        if any(kind == "const" for kind, _ in operands):
            raise ProgramError(f"`{ast.unparse(call)}`: sum() here adds nodes only", line)
        return self.emit(StepKind.SUM, self.whitelist.sum, operands, call, target)

    def leaf(self, call: ast.Call, target: str | None) -> Operand:
        line = call.lineno
        if call.func.id != self.whitelist.class_name:  # type: ignore[attr-defined]
            raise ProgramError(f"only `{self.whitelist.class_name}(...)` may be called", line)
        if len(call.args) != 1 or _constant(call.args[0]) is None:
            raise ProgramError(f"`{ast.unparse(call)}` needs exactly one number", line)
        label = None
        for keyword in call.keywords:
            if keyword.arg not in self.whitelist.constructor_keywords:
                raise ProgramError(
                    f"the keyword `{keyword.arg}` is not part of this problem's constructor", line
                )
            if not isinstance(keyword.value, ast.Constant) or not isinstance(keyword.value.value, str):
                raise ProgramError(f"`{keyword.arg}=` takes a string", line)
            label = keyword.value.value
        value = ("const", _constant(call.args[0]))
        return self.emit(StepKind.LEAF, None, (value,), call, target, label=label)

    def binary(self, expr: ast.BinOp, target: str | None) -> Operand:
        line = expr.lineno
        symbol = BINARY_SYMBOLS[type(expr.op)]
        left, right = self.expression(expr.left), self.expression(expr.right)
        if left[0] == "const" and right[0] == "const":
            raise ProgramError(f"`{ast.unparse(expr)}` has no node in it", line)
        operation = self.whitelist.binary(symbol, left[0], right[0])
        if operation is None:
            forms = [op for op in self.whitelist.of_kind(OperationKind.BINARY) if op.operator == symbol]
            if not forms:
                raise ProgramError(f"`{ast.unparse(expr)}`: `{symbol}` is not part of this problem ({self.allowed()})", line)
            takes = "; ".join(f"{_side(op.operands[0])} {symbol} {_side(op.operands[1])} ({op.name})" for op in forms)
            raise ProgramError(f"`{ast.unparse(expr)}`: this problem has `{symbol}` only as {takes}", line)
        return self.emit(StepKind.BINARY, operation, (left, right), expr, target)

    def emit(
        self,
        kind: StepKind,
        operation: Operation | None,
        operands: tuple[Operand, ...],
        expr: ast.expr,
        target: str | None,
        label: str | None = None,
    ) -> Operand:
        text = ast.unparse(expr)
        if target is None:
            self.temporaries += 1
            name, display = f"_{self.temporaries}", text
        else:
            name, display = target, target
        op = operation.name if operation is not None else "value"
        parents = tuple(str(value) for kind_, value in operands if kind_ == "ref")
        step = Step(kind, name, op, operands, text, expr.lineno, label, operation)
        self.steps.append(step)
        self.nodes.append(Node(name, display, op, parents, step.symbol, label))
        self.defined.add(name)
        return ("ref", name)

    def reference(self, expr: ast.expr) -> str:
        if not isinstance(expr, ast.Name):
            raise ProgramError(f"`{ast.unparse(expr)}` must be a node name", expr.lineno)
        if expr.id not in self.defined:
            raise ProgramError(f"`{expr.id}` is used before it is assigned", expr.lineno)
        return expr.id

    def allowed(self) -> str:
        return f"allowed: {', '.join(sorted(self.whitelist.names))}"


def _side(side: Side) -> str:
    return {Side.VALUE: "Value", Side.NUMBER: "number", Side.EITHER: "(Value or number)"}[side]


def _is_method_call(expr: ast.expr, method: str) -> bool:
    return (
        isinstance(expr, ast.Call)
        and isinstance(expr.func, ast.Attribute)
        and expr.func.attr == method
        and not expr.args
        and not expr.keywords
    )


def _constant(expr: ast.expr) -> int | float | None:
    """A numeric literal, including a signed one like ``-3``; None otherwise."""
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, (ast.USub, ast.UAdd)):
        inner = _constant(expr.operand)
        if inner is None:
            return None
        return -inner if isinstance(expr.op, ast.USub) else inner
    if isinstance(expr, ast.Constant) and (type(expr.value) is int or type(expr.value) is float):
        return expr.value
    return None
