"""Graphs of failing tests: the right nodes marked wrong, only visible tests, and a picture
whose boxes and curves a person can follow."""

import dataclasses
import re

import pytest

from grader.check import judge
from grader.graph import MAX_SHOWN_NODES, build_graph, failure_graphs, layout
from grader.observations import ProgramObservation, Reading
from grader.spec import Visibility
from tests.conftest import PROBLEM_IDS, REPO, _problem_and_expected, grade


def with_grad(observation: ProgramObservation, node: str, grad: float) -> ProgramObservation:
    """The observation with one node's grad changed, as a buggy submission would show it."""
    nodes = dict(observation.nodes)
    nodes[node] = dataclasses.replace(nodes[node], grad=Reading(number=grad))
    return dataclasses.replace(observation, nodes=nodes)


def test_carol_gets_a_graph_of_a_node_added_to_itself_with_a_grad_marked_wrong():
    report = grade("value-basic", REPO / "submissions" / "carol.py")
    graph = report.graphs["a node added to itself"]
    by_name = {node.name: node for node in graph.nodes}
    assert set(by_name) == {"a", "b"}
    assert by_name["a"].wrong_fields == ("grad",)
    assert by_name["a"].values("grad") == ("2", "1")
    assert by_name["b"].parents == ("a", "a") and by_name["b"].symbol == "+" and not by_name["b"].wrong
    assert by_name["b"].expression == "a + a" and by_name["a"].expression == "Value(3)"
    visible = {t.name for t in report.tests if t.visibility is Visibility.VISIBLE}
    failing = {t.name for t in report.tests if t.status.value == "failed"}
    assert set(report.graphs) == visible & failing  # every failing visible test, and no hidden one


def test_a_wrong_value_is_judged_with_checks_tolerance():
    problem, expected = _problem_and_expected("value-basic")
    test = problem.test("a node multiplied by itself")
    right = expected[test.name]
    grad = right.nodes["a"].grad.number
    assert not build_graph(test, right, with_grad(right, "a", grad * (1 + 1e-12))).wrong_nodes
    wrong = build_graph(test, right, with_grad(right, "a", grad * (1 + 1e-6)))
    assert [node.name for node in wrong.wrong_nodes] == ["a"]


def test_no_graph_for_a_hidden_test_even_when_it_fails():
    problem, expected = _problem_and_expected("value-basic")
    observed = [with_grad(expected[t.name], t.program.nodes[0].name, 12345.0) for t in problem.tests]
    failing = {t.name for t, seen in zip(problem.tests, observed, strict=True) if judge(t, expected[t.name], seen).mismatches}
    hidden = {t.name for t in problem.tests if t.visibility is not Visibility.VISIBLE}
    assert failing & hidden, "the scenario needs failing hidden tests"
    assert set(failure_graphs(problem.tests, expected, observed, failing)) == failing - hidden


def test_a_deep_chain_shows_only_the_wrong_nodes_neighbourhood():
    problem, expected = _problem_and_expected("value-basic")
    test = next(t for t in problem.tests if "deep_chain" in t.name)
    assert len(test.program.nodes) > 100
    middle = test.program.nodes[len(test.program.nodes) // 2]
    observation = expected[test.name]
    graph = build_graph(test, observation, with_grad(observation, middle.name, 1e9))
    shown = {node.name for node in graph.nodes}
    assert graph.partial and graph.total_nodes == len(test.program.nodes)
    assert len(shown) <= MAX_SHOWN_NODES
    assert middle.name in shown and set(middle.parents) <= shown
    assert any(middle.name in node.parents for node in graph.nodes)  # a child is shown too
    layout(graph)  # nodes whose parents are left out still get a place


def path_points(path: str, steps: int = 24) -> list[tuple[float, float]]:
    """Points along an SVG path of M, L and C commands."""
    tokens = re.findall(r"([MLC])([^MLC]*)", path)
    points, here = [], (0.0, 0.0)
    for command, args in tokens:
        numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", args)]
        pairs = list(zip(numbers[::2], numbers[1::2], strict=False))
        if command == "C":
            (x1, y1), (x2, y2), (x3, y3) = pairs
            x0, y0 = here
            for i in range(steps + 1):
                t = i / steps
                a, b, c, d = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3
                points.append((a * x0 + b * x1 + c * x2 + d * x3, a * y0 + b * y1 + c * y2 + d * y3))
        else:
            points.append(pairs[0])
        here = pairs[-1]
    return points


def all_visible_tests_with_a_wrong_grad():
    for problem_id in PROBLEM_IDS:
        problem, expected = _problem_and_expected(problem_id)
        for test in problem.tests:
            if test.visibility is Visibility.VISIBLE and "grad" in test.checks:
                observation = expected[test.name]
                yield pytest.param(test, observation, with_grad(observation, test.program.nodes[0].name, 99.5),
                                   id=f"{problem_id}/{test.name}")


@pytest.mark.parametrize(("test", "expected", "observed"), list(all_visible_tests_with_a_wrong_grad()))
def test_layout_has_no_overlapping_boxes_and_no_curve_behind_a_box(test, expected, observed):
    graph = build_graph(test, expected, observed)
    drawing = layout(graph)
    boxes = drawing.boxes
    assert len(boxes) == len(graph.nodes) and graph.wrong_nodes
    for i, a in enumerate(boxes):
        assert a.x >= 0 and a.x + a.width <= drawing.width and a.y >= 0 and a.y + a.height <= drawing.height
        for b in boxes[i + 1:]:
            apart = a.x + a.width <= b.x or b.x + b.width <= a.x or a.y + a.height <= b.y or b.y + b.height <= a.y
            assert apart, f"{a.node.display} overlaps {b.node.display}"
    assert len(drawing.edges) == sum(len(node.parents) for node in graph.nodes)
    for edge in drawing.edges:
        for x, y in path_points(edge.path):
            for box in boxes:
                inside = box.x + 1 < x < box.x + box.width - 1 and box.y + 1 < y < box.y + box.height - 1
                assert not inside, f"the curve {edge.parent} -> {edge.child} runs behind {box.node.display}"
