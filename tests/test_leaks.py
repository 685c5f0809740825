"""Hidden tests never leak into what a student sees: one case per student-facing format.

The report is carol's real one (several hidden tests fail), with one test made
after-due-date, plus bait a careless renderer would print: a hidden test's graph, a
distinctive expected value in a hidden verdict and in that graph, and output printed
while hidden programs ran.
"""

import dataclasses
import json
import re
from html import unescape

import pytest

from grader.check import Mismatch
from grader.classroom import render_classroom
from grader.formats import render_gradescope, render_junit, render_markdown
from grader.graph import build_graph
from grader.html import render_html
from grader.observations import Reading
from grader.spec import Visibility
from grader.terminal import Style, render_check
from tests.conftest import REPO, _problem_and_expected, grade

BAIT_VALUES = {Visibility.HIDDEN: "271828.182846", Visibility.AFTER_DUE_DATE: "161803.398875"}
BAIT_OUTPUT = "printed while a hidden program ran: 314159.26"
AFTER_DUE = "shared intermediate node"

WITHHELD = {
    "html": (Visibility.HIDDEN, Visibility.AFTER_DUE_DATE),
    "gradescope": (Visibility.HIDDEN, Visibility.AFTER_DUE_DATE),
    "markdown": (Visibility.HIDDEN, Visibility.AFTER_DUE_DATE),
    "terminal": (Visibility.HIDDEN, Visibility.AFTER_DUE_DATE),
    "junit": (Visibility.HIDDEN, Visibility.AFTER_DUE_DATE),
    "classroom": (Visibility.HIDDEN, Visibility.AFTER_DUE_DATE),
    "report.json": (Visibility.HIDDEN, Visibility.AFTER_DUE_DATE),
}
RENDERERS = {
    "html": lambda report: unescape(render_html(report)),  # as a person reads it, entities decoded
    "gradescope": render_gradescope,
    "markdown": render_markdown,
    "terminal": lambda report: render_check(report_view(report, Audience.STUDENT), Style(colour=False)),
    "junit": render_junit,
    "classroom": render_classroom,
    # report.json's tests[].output is "what the student may see" (DESIGN.md); only the
    # captured output, an instructor's field, may hold anything the submission printed
    "report.json": lambda report: json.dumps({**report.to_json(), "captured": None}),
}


def baited(test_result):
    """A failing withheld test carrying a bait expected value in its verdict."""
    value = BAIT_VALUES[test_result.visibility]
    bait = Mismatch("a", "grad", value, "1")
    verdict = dataclasses.replace(test_result.verdict, mismatches=(bait, *test_result.verdict.mismatches),
                                  summary=f"grad of a: expected {value}, got 1")
    return dataclasses.replace(test_result, verdict=verdict)


@pytest.fixture(scope="module")
def report():
    graded = grade("value-basic", REPO / "submissions" / "carol.py")
    problem, expected = _problem_and_expected("value-basic")
    tests, graphs = [], dict(graded.graphs)
    for test in graded.tests:
        if test.name == AFTER_DUE:
            test = dataclasses.replace(test, visibility=Visibility.AFTER_DUE_DATE)
        if test.visibility is not Visibility.VISIBLE and test.status.value == "failed":
            spec_test = problem.test(test.name)
            observation = expected[test.name]
            last = spec_test.program.nodes[-1].name
            nodes = dict(observation.nodes)
            nodes[last] = dataclasses.replace(nodes[last], grad=Reading(number=-1.0))
            graph = build_graph(spec_test, observation, dataclasses.replace(observation, nodes=nodes))
            value = BAIT_VALUES[test.visibility]
            bait = {node.name: dataclasses.replace(node, grad_expected=value) for node in graph.wrong_nodes}
            graphs[test.name] = dataclasses.replace(graph, nodes=tuple(bait.get(n.name, n) for n in graph.nodes))
            test = baited(test)
        tests.append(test)
    return dataclasses.replace(graded, tests=tuple(tests), graphs=graphs, stdout=BAIT_OUTPUT + "\n")


def shown_elsewhere(report, withheld) -> str:
    """Programs and outputs of the tests a student may see: a hidden one can share a line."""
    shown = [t for t in report.tests if t.visibility not in withheld]
    return "\n".join([report.problem.test(t.name).program.source for t in shown] + [t.student_output for t in shown])


def secrets(report, withheld) -> set[str]:
    """What must not appear: withheld programs' step texts and lines, and expected values."""
    problem = report.problem
    elsewhere = shown_elsewhere(report, withheld)
    found = {BAIT_VALUES[visibility] for visibility in withheld}
    for test in report.tests:
        if test.visibility not in withheld:
            continue
        program = problem.test(test.name).program
        for step in program.steps:
            if re.search(r"[-+*/]", step.text) and step.text not in elsewhere:
                found.add(step.text)
        found.update(line.strip() for line in program.source.splitlines() if line.strip() and line.strip() not in elsewhere)
        for mismatch in test.verdict.mismatches if test.verdict else ():
            phrase = f"expected {mismatch.expected}, got {mismatch.got}"
            if phrase not in elsewhere:
                found.add(phrase)
    return found


@pytest.mark.parametrize("name", list(RENDERERS))
def test_no_withheld_program_or_expected_value_in_student_output(report, name):
    withheld = WITHHELD[name]
    failing = [t for t in report.tests if t.visibility in withheld and t.status.value == "failed"]
    assert len({t.visibility for t in failing}) == len(withheld), "every withheld visibility needs a failing test"
    output = RENDERERS[name](report)
    assert output.strip()
    leaked = sorted(secret for secret in secrets(report, withheld) if secret in output)
    assert leaked == []
    assert "314159.26" not in output  # what the code printed while hidden programs ran
    # the visible failure is still explained: nothing passes by showing nothing
    assert "a node added to itself" in output and "expected 2, got 1" in output
