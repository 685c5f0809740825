"""Every format from the same Report: scores agree, and hidden tests never show their details."""

import json
import xml.etree.ElementTree as ET

import pytest

from grader.formats import render_gradescope, render_junit, render_markdown
from grader.spec import Visibility
from tests.conftest import REPO, grade, with_test_visible_after_due_date

GRADESCOPE_TEST_FIELDS = {"score", "max_score", "status", "name", "name_format", "number", "output",
                          "output_format", "tags", "visibility", "extra_data"}
GRADESCOPE_TOP_FIELDS = {"score", "execution_time", "output", "output_format", "test_output_format",
                         "test_name_format", "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard"}


@pytest.fixture(scope="module")
def report():
    # one test becomes after_due_date, so that every visibility is exercised
    return with_test_visible_after_due_date(grade("value-basic", REPO / "submissions" / "carol.py"), "shared intermediate node")


def test_gradescope_results_use_only_documented_fields_and_values(report):
    results = json.loads(render_gradescope(report))
    assert set(results) <= GRADESCOPE_TOP_FIELDS
    assert results["score"] == report.score and isinstance(results["execution_time"], int)
    for entry in results["tests"]:
        assert set(entry) <= GRADESCOPE_TEST_FIELDS
        assert entry["status"] in {"passed", "failed"}
        assert entry["visibility"] in {"visible", "hidden", "after_due_date", "after_published"}
    assert sum(entry["score"] for entry in results["tests"]) == pytest.approx(report.score)


def test_junit_has_one_testcase_per_test_with_failures_a_ci_system_reads(report):
    suite = ET.fromstring(render_junit(report)).find("testsuite")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [t.name for t in report.tests]
    failed = [c for c in cases if c.find("failure") is not None]
    assert int(suite.get("failures")) == len(failed) == sum(t.status.value == "failed" for t in report.tests)
    by_name = {c.get("name"): c for c in cases}
    assert "expected 2, got 1" in by_name["a node added to itself"].find("failure").get("message")
    hidden_failure = by_name["backward called twice accumulates"].find("failure")
    assert hidden_failure is not None and "expected" not in (hidden_failure.text or "")


def test_markdown_names_no_hidden_test(report):
    markdown = render_markdown(report)
    assert "a node added to itself" in markdown
    for test in report.tests:
        if test.visibility is Visibility.HIDDEN:
            assert test.name not in markdown
