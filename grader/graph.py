"""The computation graph of a failing visible test, as data a renderer can draw.

Built in the grader's process from the test's program (names, operations, edges), the
reference's observations and the submission's, compared with ``check``'s own rule, so the
picture marks exactly the values the verdict calls wrong. Only visible tests get one: a
hidden test's graph would show its program and its expected values.

The layout is plain arithmetic: layers by depth from the leaves (top to bottom), nodes in a
layer ordered by where their parents are, so a renderer only places boxes and curves.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from grader.check import readings_equal
from grader.observations import NodeObservation, ProgramObservation
from grader.programs import Node, StepKind
from grader.spec import ProblemTest, Visibility

MAX_SHOWN_NODES = 30
"""A bigger graph shows only the wrong nodes and their neighbours (deep chains have 300)."""
GRAPH_FIELDS = ("data", "grad")
"""Fields every node shows, checked or not; repr appears only where it is wrong."""

OPERATOR_SYMBOLS = {"-": "−", "*": "×", "/": "÷"}
"""Python's operators as a picture writes them; a method shows its name, ``sum()`` "sum"."""

# geometry of the picture, in SVG user units (CSS pixels at 100%): decided here, drawn by
# templates/_graph.html.j2
NODE_WIDTH, LINE_HEIGHT, PADDING = 172, 17, 8
TEXT_INSET, BASELINE, CORNER_RADIUS = 9, 13, 7
"""A box's text starts TEXT_INSET in from its sides, BASELINE below the top of its line."""
NAME_CHARS, VALUE_CHARS, EXPECTED_CHARS = 14, 12, 11
"""What fits on a box's line: its name, an observed value, an expected one (then "…")."""
H_GAP, V_GAP, MARGIN = 24, 40, 10
DUMMY_WIDTH = 12
"""Width of the slot an operand from further up takes in each layer it passes."""


@dataclass(frozen=True, slots=True)
class GraphNode:
    """One node: how the program computed it, and its values as expected and as observed."""

    name: str
    display: str
    """How the student knows it: its name in the program, or its expression."""
    op: str
    """The declared operation's name (``add``, ``relu``, ...; ``value`` for a leaf)."""
    expression: str
    """The source text that created it (``a + a``, ``Value(3)``)."""
    parents: tuple[str, ...]
    """Operand nodes in order, repeated where used twice (``a + a``)."""
    data_expected: str
    data_got: str
    grad_expected: str
    grad_got: str
    repr_expected: str = ""
    repr_got: str = ""
    label_expected: str = ""
    label_got: str = ""
    wrong_fields: tuple[str, ...] = ()
    """Checked fields whose values differ, in data, grad, repr order."""

    written: str = ""
    """Python's operator or the method's name (``programs.Node.symbol``)."""

    @property
    def symbol(self) -> str:
        if self.op == "value":
            return "leaf"
        return OPERATOR_SYMBOLS.get(self.written, self.written) or self.op

    @property
    def wrong(self) -> bool:
        return bool(self.wrong_fields)

    def values(self, field: str) -> tuple[str, str]:
        """(expected, got) of one field, as text."""
        return getattr(self, f"{field}_expected"), getattr(self, f"{field}_got")


@dataclass(frozen=True, slots=True)
class TestGraph:
    """The nodes of one test's program worth drawing, in creation order."""

    test_name: str
    checks: tuple[str, ...]
    nodes: tuple[GraphNode, ...]
    total_nodes: int
    """Nodes in the whole program; more than len(nodes) when only a neighbourhood is shown."""

    __test__ = False  # not a pytest test class

    @property
    def partial(self) -> bool:
        return len(self.nodes) < self.total_nodes

    @property
    def wrong_nodes(self) -> tuple[GraphNode, ...]:
        return tuple(node for node in self.nodes if node.wrong)


@dataclass(frozen=True, slots=True)
class BoxText:
    """One line of text in a box, placed: a renderer writes ``text`` at (x, y), its end there
    when ``end_anchored``."""

    x: float
    y: float
    text: str
    kind: str
    """Its CSS classes: name, op, value, value bad (a wrong observed value) or expected."""
    end_anchored: bool = False


@dataclass(frozen=True, slots=True)
class Box:
    node: GraphNode
    x: float
    y: float
    width: float
    height: float
    layer: int
    corner_radius: float = CORNER_RADIUS

    @property
    def texts(self) -> tuple[BoxText, ...]:
        """The node's name and operation, its data and grad as observed (marked where wrong),
        then what each wrong field should be: one line each, as ``_box_height`` counts them."""
        node, left, right = self.node, self.x + TEXT_INSET, self.x + self.width - TEXT_INSET
        texts = [BoxText(left, self._baseline(0), _fit(node.display, NAME_CHARS), "name"),
                 BoxText(right, self._baseline(0), node.symbol, "op", end_anchored=True)]
        for line, field in enumerate(GRAPH_FIELDS, start=1):
            got = f"{field} {_fit(node.values(field)[1], VALUE_CHARS)}"
            wrong = field in node.wrong_fields
            texts.append(BoxText(left, self._baseline(line), f"✗ {got}" if wrong else got, "value bad" if wrong else "value"))
        for line, field in enumerate(node.wrong_fields, start=1 + len(GRAPH_FIELDS)):
            should = "✗ repr differs" if field == "repr" else f"{field} should be {_fit(node.values(field)[0], EXPECTED_CHARS)}"
            texts.append(BoxText(left, self._baseline(line), should, "expected"))
        return tuple(texts)

    def _baseline(self, line: int) -> float:
        return self.y + PADDING + BASELINE + LINE_HEIGHT * line


@dataclass(frozen=True, slots=True)
class Edge:
    parent: str
    child: str
    path: str
    """SVG path data from the bottom of the parent's box to the top of the child's."""


@dataclass(frozen=True, slots=True)
class GraphLayout:
    width: float
    height: float
    boxes: tuple[Box, ...]
    edges: tuple[Edge, ...]


def failure_graphs(
    tests: Sequence[ProblemTest],
    expected: Mapping[str, ProgramObservation],
    observed: Sequence[ProgramObservation],
    wrong_values: Collection[str],
) -> dict[str, TestGraph]:
    """A graph for each visible test whose values the verdict calls wrong (``wrong_values``,
    test names), by test name; never one for a hidden test. ``observed`` is aligned with
    ``tests``."""
    return {
        test.name: build_graph(test, expected[test.name], seen)
        for test, seen in zip(tests, observed, strict=True)
        if test.visibility is Visibility.VISIBLE and test.name in wrong_values
    }


def build_graph(test: ProblemTest, expected: ProgramObservation, observed: ProgramObservation) -> TestGraph:
    """Every node of the test's program with expected and observed values; a big graph
    keeps only its wrong nodes' neighbourhood."""
    texts = {step.target: step.text for step in test.program.steps if step.kind is not StepKind.BACKWARD}
    nodes = tuple(
        _graph_node(test, node, texts.get(node.name, node.display), expected.nodes.get(node.name),
                    observed.nodes.get(node.name))
        for node in test.program.nodes
    )
    return TestGraph(test.name, test.checks, _worth_showing(nodes), len(nodes))


def _graph_node(test: ProblemTest, node: Node, expression: str, want: NodeObservation | None,
                have: NodeObservation | None) -> GraphNode:
    values: dict[str, str] = {}
    wrong = []
    for field in ("data", "grad", "repr", "label"):
        shown = field in GRAPH_FIELDS or field in test.checks
        values[f"{field}_expected"] = want.field(field).describe() if want and shown else ""
        values[f"{field}_got"] = (have.field(field).describe() if have else "not created") if shown else ""
        if field in test.checks and want is not None and (
            have is None or not readings_equal(want.field(field), have.field(field), field, test.exact_repr)
        ):
            wrong.append(field)
    return GraphNode(node.name, node.display, node.op, expression, node.parents, wrong_fields=tuple(wrong),
                     written=node.symbol, **values)


def _worth_showing(nodes: tuple[GraphNode, ...]) -> tuple[GraphNode, ...]:
    """All nodes of a small graph; of a big one, the wrong nodes with their parents and
    children, in creation order, up to MAX_SHOWN_NODES."""
    if len(nodes) <= MAX_SHOWN_NODES:
        return nodes
    children: dict[str, list[str]] = {}
    for node in nodes:
        for parent in node.parents:
            children.setdefault(parent, []).append(node.name)
    keep: dict[str, None] = {}  # an ordered set
    for node in nodes:
        if not node.wrong:
            continue
        for name in (node.name, *node.parents, *children.get(node.name, ())):
            if len(keep) >= MAX_SHOWN_NODES:
                break
            keep.setdefault(name, None)
    return tuple(node for node in nodes if node.name in keep)


def layout(graph: TestGraph) -> GraphLayout:
    """Boxes in layers by depth from the leaves, top to bottom, and one curve per operand use.

    An operand from more than one layer up gets a narrow slot in every layer between (the
    usual layered-drawing trick), so no curve runs behind a box."""
    layers = _layers(graph.nodes)
    links = [
        _Link(k, parent, node.name, layers[parent], layers[node.name])
        for k, (node, parent) in enumerate((n, p) for n in graph.nodes for p in n.parents if p in layers)
    ]
    rows = _rows(graph.nodes, links, layers)
    width = max(_row_width(row) for row in rows) + 2 * MARGIN
    centres: dict[str, float] = {}
    boxes: dict[str, Box] = {}
    tops: list[float] = []
    y: float = MARGIN
    for depth, row in enumerate(rows):
        row.sort(key=lambda item: _barycentre(item, centres, row))
        x = (width - _row_width(row)) / 2
        for item in row:
            centres[item.key] = x + item.width / 2
            if item.node is not None:
                boxes[item.key] = Box(item.node, x, y, NODE_WIDTH, _box_height(item.node), depth)
            x += item.width + H_GAP
        tops.append(y)
        y += max((_box_height(item.node) for item in row if item.node is not None), default=LINE_HEIGHT) + V_GAP
    bottoms = [top + max((b.height for b in boxes.values() if b.layer == i), default=LINE_HEIGHT)
               for i, top in enumerate(tops)]
    edges = _edges(links, boxes, centres, tops, bottoms)
    return GraphLayout(width, y - V_GAP + MARGIN, tuple(boxes[n.name] for n in graph.nodes), edges)



@dataclass(frozen=True, slots=True)
class _Link:
    """One use of a node as an operand: its place among all uses and the layers it spans."""

    index: int
    parent: str
    child: str
    top: int
    bottom: int

    def key(self, layer: int) -> str:
        """The key of what this link passes through in ``layer``."""
        if layer == self.top:
            return self.parent
        if layer == self.bottom:
            return self.child
        return f"~{self.index}@{layer}"


@dataclass(frozen=True, slots=True)
class _Item:
    """A node's box, or the slot of a link passing through a layer."""

    key: str
    node: GraphNode | None
    ups: tuple[str, ...]
    """Keys of what connects to it from the layer above."""
    order: int

    @property
    def width(self) -> float:
        return NODE_WIDTH if self.node is not None else DUMMY_WIDTH


def _layers(nodes: tuple[GraphNode, ...]) -> dict[str, int]:
    """Depth from the leaves; a node whose parents are not shown starts a layer 0."""
    depth: dict[str, int] = {}
    for node in nodes:  # creation order is a topological order
        depth[node.name] = 1 + max((depth[p] for p in node.parents if p in depth), default=-1)
    return depth


def _rows(nodes: tuple[GraphNode, ...], links: list[_Link], layers: dict[str, int]) -> list[list[_Item]]:
    rows: list[list[_Item]] = [[] for _ in range(max(layers.values()) + 1)]
    for order, node in enumerate(nodes):
        ups = tuple(link.key(link.bottom - 1) for link in links if link.child == node.name)
        rows[layers[node.name]].append(_Item(node.name, node, ups, order))
    for link in links:
        for layer in range(link.top + 1, link.bottom):
            rows[layer].append(_Item(link.key(layer), None, (link.key(layer - 1),), len(nodes) + link.index))
    return rows


def _row_width(row: list[_Item]) -> float:
    return sum(item.width for item in row) + H_GAP * (len(row) - 1)


def _barycentre(item: _Item, centres: dict[str, float], row: list[_Item]) -> tuple[float, int]:
    """Under the mean position of what feeds it (one sweep, ties in creation order)."""
    above = [centres[key] for key in item.ups if key in centres]
    return (sum(above) / len(above) if above else float(item.order), item.order)


def _box_height(node: GraphNode) -> float:
    """A title line, data, grad, and one line per wrong field saying what it should be."""
    return PADDING * 2 + LINE_HEIGHT * (1 + len(GRAPH_FIELDS) + len(node.wrong_fields))


def _fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, the last one "…" where it had to be cut."""
    return text if len(text) <= width else text[: width - 1] + "…"


def _edges(links: list[_Link], boxes: Mapping[str, Box], centres: Mapping[str, float],
           tops: list[float], bottoms: list[float]) -> tuple[Edge, ...]:
    """Each link as one path: down from its parent's box, straight through the slots it
    passes, into its child's box. Where a box has several links, they leave (or enter) it
    spread along its edge in the order of where they go (or come from), so ``a + a`` shows
    two curves and curves do not cross at the box."""
    leaving: dict[str, list[_Link]] = {}
    entering: dict[str, list[_Link]] = {}
    for link in links:
        leaving.setdefault(link.parent, []).append(link)
        entering.setdefault(link.child, []).append(link)
    for group in leaving.values():
        group.sort(key=lambda link: (centres[link.key(link.top + 1)], link.index))
    for group in entering.values():
        group.sort(key=lambda link: (centres[link.key(link.bottom - 1)], link.index))
    edges = []
    for link in links:
        source, target = boxes[link.parent], boxes[link.child]
        out, into = leaving[link.parent], entering[link.child]
        x = source.x + source.width * (out.index(link) + 1) / (len(out) + 1)
        moves = [("M", x, source.y + source.height), ("L", x, bottoms[link.top])]  # below a short box's row
        for layer in range(link.top + 1, link.bottom):
            x = centres[link.key(layer)]
            moves += [("C", x, tops[layer]), ("L", x, bottoms[layer])]
        moves.append(("C", target.x + target.width * (into.index(link) + 1) / (len(into) + 1), target.y - 1))
        edges.append(Edge(link.parent, link.child, _path(moves)))
    return tuple(edges)


def _path(moves: list[tuple[str, float, float]]) -> str:
    """SVG path data: straight lines down, and vertical S-curves across the gaps between layers."""
    parts = []
    x = y = 0.0
    for kind, nx, ny in moves:
        if kind == "C":
            bend = (ny - y) / 2
            parts.append(f"C{x:.1f},{y + bend:.1f} {nx:.1f},{ny - bend:.1f} {nx:.1f},{ny:.1f}")
        elif kind == "L" and ny == y:
            continue  # a box as tall as its row: nothing to draw
        else:
            parts.append(f"{kind}{nx:.1f},{ny:.1f}")
        x, y = nx, ny
    return " ".join(parts)
