"""Withheld tests never leak into what a student sees: every visibility level in every format.

The report is carol's real one (several hidden tests fail), with one failing test made
after-due-date and one after-published, so that every level has a failing test, plus bait a
careless renderer would print: for each withheld test, a distinctive expected value in its
verdict and graph, a repr that spells out its program, and output printed while the hidden
programs ran. What a student may learn of a withheld test is its name, status and points.

Gradescope enforces visibility itself, so only there may after-published tests show their
details (it holds them back until grades are published).
"""

import base64
import dataclasses
import json
import re
from html import unescape

import pytest

from grader.check import Mismatch
from grader.ci import annotation_commands
from grader.classroom import render_classroom, runner_output
from grader.formats import render_gradescope, render_junit, render_markdown
from grader.graph import build_graph
from grader.html import render_html
from grader.observations import Reading
from grader.spec import Visibility
from grader.terminal import Style, render_check
from grader.view import Audience, report_view
from tests.conftest import REPO, _problem_and_expected, grade

BAIT_VALUES = {Visibility.HIDDEN: "271828.182846", Visibility.AFTER_DUE_DATE: "161803.398875",
               Visibility.AFTER_PUBLISHED: "141421.356237"}
AFTER_DUE = "shared intermediate node"
WITHHELD_FROM_STUDENTS = (Visibility.HIDDEN, Visibility.AFTER_DUE_DATE, Visibility.AFTER_PUBLISHED)

RENDERERS = {
    "report.html": lambda report: unescape(render_html(report)),  # as a person reads it, entities decoded
    "summary.md": render_markdown,
    "junit.xml": render_junit,
    "classroom.json": render_classroom,
    "ci result output": lambda report: base64.b64decode(runner_output([report])).decode(),
    "ci annotations": lambda report: "\n".join(annotation_commands(report, "submissions/carol.py")),
    "terminal": lambda report: render_check(report_view(report, Audience.STUDENT), Style(colour=False)),
    # report.json's tests[].output is "what the student may see" (DESIGN.md); only the
    # captured output, an instructor's field, may hold anything the submission printed
    "report.json": lambda report: json.dumps({**report.to_json(), "captured": None}),
    "results.json (Gradescope)": render_gradescope,
}
WITHHELD = {name: WITHHELD_FROM_STUDENTS for name in RENDERERS}
WITHHELD["results.json (Gradescope)"] = (Visibility.HIDDEN, Visibility.AFTER_DUE_DATE)


def baited(test_result, program_source: str):
    """A failing withheld test carrying a bait expected value, and a repr spelling its program."""
    value = BAIT_VALUES[test_result.visibility]
    bait = (Mismatch("a", "grad", value, "1"), Mismatch("a", "repr", "'Value(data=1)'", repr(program_source)))
    verdict = dataclasses.replace(test_result.verdict, mismatches=(*bait, *test_result.verdict.mismatches),
                                  summary=f"grad of a: expected {value}, got 1", hint=f"hint {value}")
    return dataclasses.replace(test_result, verdict=verdict)


@pytest.fixture(scope="module")
def report():
    graded = grade("value-basic", REPO / "submissions" / "carol.py")
    problem, expected = _problem_and_expected("value-basic")
    failing_hidden = [t.name for t in graded.tests if t.visibility is Visibility.HIDDEN and t.status.value == "failed"]
    after_published = next(name for name in failing_hidden if name != AFTER_DUE)
    tests, graphs = [], dict(graded.graphs)
    for test in graded.tests:
        if test.name == AFTER_DUE:
            test = dataclasses.replace(test, visibility=Visibility.AFTER_DUE_DATE)
        if test.name == after_published:
            test = dataclasses.replace(test, visibility=Visibility.AFTER_PUBLISHED)
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
            test = baited(test, spec_test.program.source)
        tests.append(test)
    return dataclasses.replace(graded, tests=tuple(tests), graphs=graphs)


def shown_elsewhere(report, withheld) -> str:
    """Programs and outputs of the tests a student may see: a hidden one can share a line."""
    shown = [t for t in report.tests if t.visibility not in withheld]
    return "\n".join([report.problem.test(t.name).program.source for t in shown] + [t.details for t in shown])


def secrets(report, withheld) -> set[str]:
    """What must not appear: withheld programs' step texts and lines, expected values, hints."""
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
def test_no_withheld_program_expected_value_or_print_in_student_output(report, name):
    withheld = WITHHELD[name]
    failing = [t for t in report.tests if t.visibility in withheld and t.status.value == "failed"]
    assert {t.visibility for t in failing} == set(withheld), "every withheld visibility needs a failing test"
    output = RENDERERS[name](report)
    assert output.strip()
    leaked = sorted(secret for secret in secrets(report, withheld) if secret in output)
    assert leaked == []
    assert "314159.26" not in output  # what the code printed while hidden programs ran
    # the visible failure is still explained: nothing passes by showing nothing
    assert "a node added to itself" in output or name in ("ci annotations", "terminal")
    assert "expected 2, got 1" in output.replace("\\", "")


@pytest.mark.parametrize("name", [name for name in RENDERERS if name not in ("summary.md", "classroom.json", "ci result output",
                                                                           "ci annotations", "terminal", "report.html")])
def test_a_withheld_test_still_shows_its_name_status_and_points(report, name):
    """What a student may learn of a withheld test: that it exists and how it went."""
    output = RENDERERS[name](report)
    for test in report.tests:
        if test.visibility is Visibility.AFTER_DUE_DATE:
            assert test.name in output and "failed" in output


def test_report_html_names_after_due_date_and_after_published_tests_with_their_points(report):
    page = unescape(render_html(report))
    for test in report.tests:
        if test.visibility in (Visibility.AFTER_DUE_DATE, Visibility.AFTER_PUBLISHED):
            assert test.name in page and f"{test.score:g} / {test.max_score:g}" in page


def test_gradescope_shows_after_published_details_which_it_holds_back_itself(report):
    results = json.loads(render_gradescope(report))
    published = [t for t in results["tests"] if t["visibility"] == "after_published"]
    assert published and all(BAIT_VALUES[Visibility.AFTER_PUBLISHED] in t["output"] for t in published)
