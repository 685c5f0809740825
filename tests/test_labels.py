"""What `label=` stored, read back: observed only where a test checks it and only on nodes a
program labelled, judged as exact text, and shown in every report like any other value."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from grader import interpreter
from grader.formats import render_formats
from grader.observations import NOT_OBSERVED, ResultLayout, from_wire, parse_program, to_wire
from grader.spec import Course, SpecError
from tests.conftest import REPO, _problem_and_expected, grade

READ_BACK = "labels read back"


class Labelled:
    def __init__(self, data, label=""):
        self.data, self.grad, self.label = data, 0, label

    def __mul__(self, other):
        return Labelled(self.data * other.data)


class Forgetful(Labelled):
    def __init__(self, data, label=""):
        self.data, self.grad = data, 0


def _observe(value_class, with_label=True):
    problem = _problem_and_expected("value-tanh")[0]
    program = problem.test(READ_BACK).to_wire() if with_label else problem.test("a neuron").to_wire()
    wire = {**program, "steps": [s for s in program["steps"] if s["kind"] == "leaf"]}
    values, error = interpreter.run_program(value_class, wire)
    return parse_program(values, error, ResultLayout.of(wire)), wire


def test_labels_are_read_back_only_from_the_nodes_a_program_labelled():
    observed, wire = _observe(Labelled)
    assert wire["label"] is True
    assert {name: node.label.text for name, node in observed.nodes.items()} == {"x1": "x1", "w1": "w1", "b": "bias"}
    forgotten, _ = _observe(Forgetful)
    assert all(node.label.error is not None and node.label.error.type == "AttributeError" for node in forgotten.nodes.values())


def test_a_program_that_checks_no_label_sends_and_observes_none():
    observed, wire = _observe(Labelled, with_label=False)
    assert "label" not in wire
    assert all(node.label is NOT_OBSERVED for node in observed.nodes.values())


def test_labels_survive_the_cache_of_observations():
    observed, _ = _observe(Labelled)
    assert from_wire(to_wire(observed)).nodes == observed.nodes


def test_a_file_that_forgets_labels_fails_the_read_back_and_is_told_where_in_every_format():
    report = grade("value-tanh", REPO / "problems/value-tanh/clauses/label_not_kept.py")
    failed = [t for t in report.tests if t.score < t.max_score]
    assert [t.name for t in failed] == [READ_BACK]
    verdict = failed[0].verdict
    assert verdict is not None and (verdict.mismatches[0].node, verdict.mismatches[0].field) == ("x1", "label")
    assert verdict.mismatches[0].expected == "'x1'" and "AttributeError" in verdict.mismatches[0].got
    assert "keep what label= was given" in verdict.hint
    graph = report.graphs[READ_BACK]
    assert {node.name for node in graph.wrong_nodes} == {"x1", "w1", "b"}
    assert graph.wrong_nodes[0].wrong_fields == ("label",)
    rendered = render_formats(dataclasses.replace(report, duration_s=1.0), ("json", "md", "html", "junit", "gradescope"))
    assert "label of x1: expected &#39;x1&#39;" in rendered["report.html"]
    assert "label should be" in rendered["report.html"]  # the picture says what it should be
    assert "label of x1" in rendered["summary.md"] and "label of x1" in rendered["results.json"]


@pytest.mark.parametrize("correct", ["correct_slots.py", "correct_seed.py"])
def test_correct_files_keep_their_labels(correct):
    report = grade("value-tanh", REPO / "tests/fixtures/submissions/value-tanh" / correct)
    assert report.score == report.max_score


def test_checking_a_label_in_a_program_that_labels_nothing_is_a_spec_error(tmp_path):
    shutil.copytree(REPO / "problems", tmp_path / "problems")
    shutil.copytree(REPO / "reference", tmp_path / "reference")
    spec = tmp_path / "problems/value-tanh/problem.yaml"
    spec.write_text(spec.read_text().replace("x1 = Value(2.0, label='x1')\n      w1 = Value(-3.0, label='w1')\n      b = Value(6.5, label='bias')",
                             "x1 = Value(2.0)\n      w1 = Value(-3.0)\n      b = Value(6.5)", 1))
    with pytest.raises(SpecError) as caught:
        Course(tmp_path).load("value-tanh")
    assert caught.value.field.endswith(".check") and "gives no node a label" in caught.value.message
