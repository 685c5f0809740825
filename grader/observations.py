"""What a run of a test program shows: typed values, parsed defensively from plain JSON.

The same parser reads what the trusted reference produced in the grader's process and what
an untrusted submission sent over its result channel, so both sides are judged alike.
Anything malformed becomes an explicit "unreadable" reading, never an exception.
"""

from __future__ import annotations

import collections.abc
import math
import re
from collections.abc import ItemsView, Iterator, KeysView, Mapping, ValuesView
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, overload

from grader.text import clean

MAX_TEXT = 2000
MEMORY_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
"""As in ``<submission.Value object at 0x7f3a...>``, Python's default repr: where objects land in
memory differs from process to process, so it is left out of what the grader keeps."""


class RunStatus(str, Enum):
    COMPLETED = "completed"  # every step ran
    RAISED = "raised"  # a step raised; nodes created before it were observed
    TIMED_OUT = "timed_out"  # the program did not finish within its time
    CRASHED = "crashed"  # the process died while running it
    NOT_RUN = "not_run"  # the submission never got to it (did not load, ran out of time)


@dataclass(frozen=True, slots=True)
class RaisedError:
    type: str
    message: str
    line: int | None = None
    """Line in the submission where it was raised, when known."""
    step: int | None = None
    """Index of the program step that raised, when known."""
    text: str | None = None
    """For a syntax error: the offending source line."""

    def describe(self) -> str:
        where = f" (line {self.line})" if self.line else ""
        return f"{self.type}: {self.message}{where}" if self.message else f"{self.type}{where}"


class LoadFailureKind(str, Enum):
    SYNTAX_ERROR = "syntax_error"
    IMPORT_ERROR = "import_error"
    MISSING_CLASS = "missing_class"
    FORBIDDEN_IMPORT = "forbidden_import"
    TIMED_OUT = "timed_out"
    CRASHED = "crashed"


@dataclass(frozen=True, slots=True)
class LoadFailure:
    """Why the submission never got to its tests (read from the run by ``grader.sandbox``)."""

    kind: LoadFailureKind
    error: RaisedError | None
    detail: str


@dataclass(frozen=True, slots=True)
class Reading:
    """One field (data, grad or repr) of one node, as observed."""

    number: int | float | None = None
    text: str | None = None
    """The repr text, or for a non-number the repr of what was there."""
    other_type: str | None = None
    """Type name when a numeric field held something that is not a number."""
    error: RaisedError | None = None

    @property
    def is_number(self) -> bool:
        return self.number is not None

    def describe(self) -> str:
        if self.error is not None:
            return f"raised {self.error.describe()}"
        if self.number is not None:
            return format_number(self.number)
        if self.other_type is not None:
            return f"a {self.other_type} ({self.text})"
        return repr(self.text) if self.text is not None else "nothing"


@dataclass(frozen=True, slots=True)
class NodeObservation:
    data: Reading
    grad: Reading
    repr: Reading
    label: Reading = Reading()
    """What ``label=`` stored, read back (not observed unless a test checks it, and never for a
    node created without one)."""

    def field(self, name: str) -> Reading:
        reading: Reading = getattr(self, name)
        return reading


@dataclass(frozen=True, slots=True)
class ProgramObservation:
    status: RunStatus
    nodes: Mapping[str, NodeObservation] = field(default_factory=dict)
    error: RaisedError | None = None
    detail: str = ""
    """For timeouts and crashes: what happened, in words."""


@dataclass(frozen=True, slots=True)
class ResultLayout:
    """How a program's result lists its nodes (see ``interpreter.run_program``): their names,
    in the order the program creates them, and whether each comes with its repr."""

    names: tuple[str, ...]
    with_repr: bool
    with_label: bool = False

    @classmethod
    def of(cls, program: Mapping[str, Any]) -> ResultLayout:
        """The layout of what the interpreter sends for ``program`` (``ProblemTest.to_wire()``)."""
        steps = program["steps"]
        names = tuple(step["target"] for step in steps if step["kind"] != "backward")
        return cls(names, bool(program.get("repr", True)), bool(program.get("label")))

    @property
    def stride(self) -> int:
        return 2 + self.with_repr + self.with_label

    @property
    def most_bytes(self) -> int:
        """The longest line a result of this layout can take on the channel (with room for its
        error); a longer one did not come from the interpreter."""
        return len(self.names) * self.stride * RESULT_FIELD_BYTES + 65536


class _NodesOnDemand(collections.abc.Mapping[str, NodeObservation]):
    """A result's nodes, read from the wire (the flat list of values as it arrived) the first
    time anyone looks. The wire is kept: two equal wires are the same nodes, which tells most
    right answers apart without reading a node, and most answers are right."""

    __slots__ = ("_nodes", "wire")

    def __init__(self, layout: ResultLayout, values: Any) -> None:
        self.wire = (layout, values)
        self._nodes: dict[str, NodeObservation] | None = None

    def _read(self) -> dict[str, NodeObservation]:
        if self._nodes is None:
            self._nodes = _parse_nodes(*self.wire)
        return self._nodes

    def __getitem__(self, name: str) -> NodeObservation:
        return self._read()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._read())

    def __len__(self) -> int:
        return len(self._read())

    def keys(self) -> KeysView[str]:
        return self._read().keys()

    def items(self) -> ItemsView[str, NodeObservation]:
        return self._read().items()

    def values(self) -> ValuesView[NodeObservation]:
        return self._read().values()

    def get(self, name: str, default: Any = None) -> Any:
        return self._read().get(name, default)

    def __eq__(self, other: object) -> bool:
        return self._read() == (other._read() if isinstance(other, _NodesOnDemand) else other)

    def __repr__(self) -> str:
        return repr(self._read())


UNREADABLE = Reading(error=RaisedError("Unreadable", "the submission sent something unreadable"))
NOT_OBSERVED = Reading()
"""A repr the grader did not ask for: only tests that check repr observe it."""


def format_number(number: int | float) -> str:
    return repr(number)


def parse_error(raw: Any) -> RaisedError | None:
    if not isinstance(raw, dict):
        return None
    return RaisedError(
        type=_text(raw.get("type"), "Error", 100),
        message=_text(raw.get("message"), "", MAX_TEXT),
        line=_int(raw.get("line")),
        step=_int(raw.get("step")),
        text=_text(raw.get("text"), None, MAX_TEXT),
    )


@dataclass(frozen=True, slots=True)
class Budget:
    """The CPU time a program may take in a submission's process (``grader.budgets``), and
    what it cost the reference; carried on the program's wire as ``budget`` and
    ``reference_cpu``, which the interpreter's watch reads."""

    seconds: float
    reference_seconds: float

    def to_wire(self) -> dict[str, Any]:
        return {"budget": self.seconds, "reference_cpu": self.reference_seconds}

    @classmethod
    def of(cls, program: Any) -> Budget | None:
        if not isinstance(program, Mapping):
            return None
        seconds, reference = program.get("budget"), program.get("reference_cpu")
        if not isinstance(seconds, (int, float)) or not isinstance(reference, (int, float)):
            return None
        return cls(float(seconds), float(reference))

    def describe(self) -> str:
        times = self.seconds / self.reference_seconds if self.reference_seconds > 0 else 0
        more = (f", more than {min(times, 1000):,.0f} times what the reference needs" if times >= 2 else "")
        return f"too slow: stopped after {self.seconds:.2g} s of CPU time{more}"


def parse_program(values: Any, raw_error: Any, layout: ResultLayout, budget: Budget | None = None) -> ProgramObservation:
    """A program's result (see ``interpreter.run_program``), laid out as ``layout`` says ->
    ProgramObservation. The nodes are read when first looked at; the wire is kept for
    comparisons. Whatever the list holds beyond the layout's nodes is ignored. A program its
    watch stopped (over its ``budget``, or a number without bound) is a timeout or a crash,
    said in the grader's own words; the nodes it computed before are kept."""
    nodes = _NodesOnDemand(layout, _compact_wire(values, layout))
    stopped = raw_error.get("stopped") if isinstance(raw_error, dict) else None
    if isinstance(stopped, dict):
        if stopped.get("why") == "budget" and budget is not None:
            return ProgramObservation(RunStatus.TIMED_OUT, nodes, detail=budget.describe())
        unbounded = _unbounded(stopped, layout)
        if unbounded:
            return ProgramObservation(RunStatus.CRASHED, nodes, detail=unbounded)
    error = parse_error(raw_error)
    status = RunStatus.RAISED if error is not None else RunStatus.COMPLETED
    return ProgramObservation(status=status, nodes=nodes, error=error)


RESULT_FIELD_BYTES = 8192
"""The most one field of one node takes on the wire: a repr or a text of ``interpreter.MAX_TEXT``
characters, each escaped to up to twelve bytes, and a type's name."""
_ERROR_KEYS = ("type", "message", "line", "step", "text")


def _compact_wire(values: Any, layout: ResultLayout) -> list[Any]:
    """What is kept of a result's values, however the submission's process made them: the
    layout's fields and no more, each no larger than a reading of it needs. The grader keeps
    every result of every run it judges, in its own process: a result padded with anything
    else must not hold its memory (the channel also caps each line, see
    ``ResultLayout.most_bytes``)."""
    if type(values) is not list:
        return []
    kept: list[Any] = values[: len(layout.names) * layout.stride]
    if all(type(value) is int or type(value) is float for value in kept):
        return kept
    return [value if type(value) is int or type(value) is float else _compact_field(value) for value in kept]


def _compact_field(value: Any) -> Any:
    if type(value) is str:
        return value[: MAX_TEXT + 1]
    if type(value) is dict and "other" in value:
        return {"other": _short(value.get("other"), 100), "text": _short(value.get("text"), MAX_TEXT)}
    if type(value) is dict and type(value.get("error")) is dict:
        error = value["error"]
        return {"error": {key: _short(error[key], MAX_TEXT) if type(error[key]) is str else error[key]
                          for key in _ERROR_KEYS if type(error.get(key)) in (str, int)}}
    return None  # unreadable, as it was


def _short(raw: Any, limit: int) -> Any:
    return raw[:limit] if type(raw) is str else None


def _unbounded(stopped: Mapping[str, Any], layout: ResultLayout) -> str:
    """The words for a number that grew without bound, built from the program's own names
    (never from text the submission's process sent)."""
    node, which, digits = stopped.get("node"), stopped.get("field"), stopped.get("digits")
    if stopped.get("why") != "unbounded" or node not in layout.names or which not in ("data", "grad"):
        return ""
    if type(digits) is not int or digits <= 0:
        return ""
    return f"{which} of {node} grows without bound: about 10^{digits} (stopped at once)"


def _parse_nodes(layout: ResultLayout, values: Any) -> dict[str, NodeObservation]:
    nodes: dict[str, NodeObservation] = {}
    if type(values) is not list:
        return nodes
    stride = layout.stride
    for index, name in enumerate(layout.names[: len(values) // stride]):
        at = index * stride
        nodes[name] = NodeObservation(
            data=_number_reading(values[at]),
            grad=_number_reading(values[at + 1]),
            repr=_text_reading(values[at + 2]) if layout.with_repr else NOT_OBSERVED,
            label=_label_reading(values[at + stride - 1]) if layout.with_label else NOT_OBSERVED,
        )
    return nodes


def readable(nodes: Mapping[str, NodeObservation]) -> Mapping[str, NodeObservation]:
    """The nodes as a plain mapping, read now: for loops that look up every node."""
    return nodes._read() if isinstance(nodes, _NodesOnDemand) else nodes


def nodes_wire(nodes: Mapping[str, NodeObservation]) -> Any:
    """The nodes as they arrived, or None for nodes made any other way."""
    return nodes.wire if isinstance(nodes, _NodesOnDemand) else None


def same_wire(a: ProgramObservation, b: ProgramObservation) -> bool:
    """Both arrived as the very same result (so they are the same observation)."""
    wire = nodes_wire(a.nodes)
    return wire is not None and a.status is b.status and a.error == b.error and wire == nodes_wire(b.nodes)


_SPECIAL_FLOATS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _number_reading(raw: Any) -> Reading:
    kind = type(raw)
    if kind is int or kind is float:
        return Reading(number=raw)
    if kind is bool:  # never sent (observe sends ints), but equal to 0 and 1 on the wire
        return Reading(number=int(raw))
    if kind is str:
        return Reading(number=_SPECIAL_FLOATS[raw]) if raw in _SPECIAL_FLOATS else UNREADABLE
    if kind is dict and "other" in raw:
        return Reading(other_type=_text(raw["other"], "object", 100), text=_text(raw.get("text"), "", 200))
    return _error_reading(raw)


def _label_reading(raw: Any) -> Reading:
    if raw is None:
        return NOT_OBSERVED  # a node created without label=
    if type(raw) is dict and "other" in raw:
        return Reading(other_type=_text(raw["other"], "object", 100), text=_text(raw.get("text"), "", 200))
    return _text_reading(raw)


def _text_reading(raw: Any) -> Reading:
    return Reading(text=_text(raw, None, MAX_TEXT)) if type(raw) is str else _error_reading(raw)


def _error_reading(raw: Any) -> Reading:
    if type(raw) is dict and "error" in raw:
        return Reading(error=parse_error(raw["error"]) or UNREADABLE.error)
    return UNREADABLE


@overload
def _text(raw: Any, default: str, limit: int) -> str: ...
@overload
def _text(raw: Any, default: None, limit: int) -> str | None: ...
def _text(raw: Any, default: str | None, limit: int) -> str | None:
    """Every text the channel carries passes here: cleaned once, for every report after it."""
    return clean(_without_addresses(raw), limit) if isinstance(raw, str) else default


def _without_addresses(text: str) -> str:
    """The same observation gives the same text in every run (and so the same report.json,
    and no false "nondeterministic" on the second pass over a hidden test)."""
    return MEMORY_ADDRESS.sub(" at 0x…", text)


def _int(raw: Any) -> int | None:
    return raw if type(raw) is int else None


def to_wire(observation: ProgramObservation) -> dict[str, Any]:
    """The inverse of parse_program, with the layout, status and detail: for caches."""

    def number(r: Reading) -> Any:
        if r.error is not None:
            return {"error": _error_wire(r.error)}
        if r.number is not None:
            value = r.number
            if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
                return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
            return value
        if r.other_type is not None:
            return {"other": r.other_type, "text": r.text}
        return None

    def text(r: Reading) -> Any:
        if r.error is not None:
            return {"error": _error_wire(r.error)}
        return {"other": r.other_type, "text": r.text} if r.other_type is not None else r.text

    nodes = readable(observation.nodes)
    with_repr = any(n.repr is not NOT_OBSERVED for n in nodes.values())
    with_label = any(n.label != NOT_OBSERVED for n in nodes.values())
    values: list[Any] = []
    for n in nodes.values():
        values += [number(n.data), number(n.grad)]
        if with_repr:
            values.append(text(n.repr))
        if with_label:
            values.append(text(n.label))
    return {
        "status": observation.status.value,
        "detail": observation.detail,
        "error": _error_wire(observation.error) if observation.error else None,
        "names": list(nodes),
        "repr": with_repr,
        **({"label": True} if with_label else {}),
        "values": values,
    }


def from_wire(raw: dict[str, Any]) -> ProgramObservation:
    layout = ResultLayout(tuple(raw["names"]), bool(raw["repr"]), bool(raw.get("label")))
    parsed = parse_program(raw["values"], raw.get("error"), layout)
    return replace(parsed, status=RunStatus(raw["status"]), detail=raw.get("detail", ""))


def _error_wire(error: RaisedError) -> dict[str, Any]:
    return {"type": error.type, "message": error.message, "line": error.line, "step": error.step, "text": error.text}
