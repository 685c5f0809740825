"""The command line as users and their scripts rely on it: output, files, exit codes.

The tests that use ``grader`` start a real ``python -m grader``; the others call the same
``main(argv)`` in this process (``grader_in_process``), which proves the same output and exit
code without paying for a new Python each time."""

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.spec import find_course
from tests.conftest import REPO

SEED_001_PRINTED = (
    "Value(data=2, grad=0) Value(data=-3, grad=10) Value(data=10, grad=-3) Value(data=-28, grad=1) Value(data=0, grad=1)"
)


def grader(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "grader", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_problems_lists_all_three():
    result = grader("problems")
    assert result.returncode == 0
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == ["value-basic", "value-full", "value-tanh"]


def test_check_tells_a_student_which_node_is_wrong_and_hides_hidden_tests():
    result = grader("check", "submissions/carol.py")
    assert result.returncode == 0
    assert "✗ a node added to itself" in result.stdout
    assert "grad of a  expected 2, got 1" in result.stdout
    assert "hint: a node used twice gets the gradient of both uses" in result.stdout  # the test's own hint
    assert "likely cause: a node used more than once gets the gradient of every use" in result.stdout  # beside it
    assert "shared intermediate node" not in result.stdout  # a hidden test's name
    assert "more tests are hidden" in result.stdout
    assert "\033[" not in result.stdout  # piped: no colours


def test_check_on_a_file_that_does_not_import_is_kind_and_exits_0(grader_in_process):
    result = grader_in_process("check", "submissions/grace.py")
    assert result.returncode == 0
    assert "SyntaxError on line 34" in result.stdout and "Traceback" not in result.stdout + result.stderr


def test_check_guesses_the_problem_from_the_file(grader_in_process):
    path = REPO / "tests/fixtures/submissions/value-tanh/correct_seed.py"
    result = grader_in_process("check", str(path))
    assert result.returncode == 0 and "(value-tanh)" in result.stdout


def test_grade_writes_report_json_per_the_contract(tmp_path):
    result = grader("grade", "submissions/dave.py", "--problem", "value-basic", "--out", str(tmp_path), "--format", "json,md")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert {"schema_version", "grader_version", "problem", "submission", "status", "score", "max_score", "tests",
            "isolation", "duration_s"} <= set(report)
    assert report["status"] == "graded" and 0 < report["score"] < report["max_score"]
    assert report["score"] == sum(test["score"] for test in report["tests"])
    assert {t["visibility"] for t in report["tests"]} == {"visible", "hidden"}
    assert report["isolation"]["level"] in {"namespace", "process"}
    assert report["submission"]["sha256"] and report["problem"] == {**report["problem"], "id": "value-basic", "version": "1.0"}
    for test in report["tests"]:
        assert set(test) >= {"name", "score", "max_score", "status", "visibility", "output", "hint"}
        if test["visibility"] == "hidden":
            assert "expected" not in test["output"] and test["hint"] == ""
    markdown = (tmp_path / "summary.md").read_text()
    assert "relu at exactly zero" in markdown and "shared intermediate node" not in markdown


def test_grade_without_out_prints_the_report_json(grader_in_process):
    result = grader_in_process("grade", "reference/value_tanh.py", "--problem", "value-tanh")
    report = json.loads(result.stdout)
    assert result.returncode == 0 and report["score"] == report["max_score"] > 0


@pytest.mark.parametrize(("submission", "code"), [("submissions/alice.py", 0), ("submissions/carol.py", 1)])
def test_fail_under_sets_the_exit_code(submission, code):
    result = grader("grade", submission, "--problem", "value-basic", "--fail-under", "100")
    assert result.returncode == code
    assert ("under --fail-under" in result.stderr) is (code == 1)


def test_a_broken_submission_is_graded_not_an_error_of_the_grader(grader_in_process):
    result = grader_in_process("grade", "submissions/grace.py", "--problem", "value-basic")
    assert result.returncode == 0
    assert json.loads(result.stdout)["status"] == "failed_to_load"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("grade", "nope.py", "--problem", "value-basic"), "no such file: nope.py"),
        (("grade", "submissions/alice.py", "--problem", "value-nope"), "no such problem 'value-nope'"),
        (("grade", "submissions/alice.py", "--problem", "value-basic", "--format", "pdf"), "unknown --format pdf"),
        (("batch", "nowhere", "--problem", "value-basic"), "no such folder: nowhere"),
    ],
)
def test_unusable_input_exits_2_with_one_line(grader_in_process, args, words):
    result = grader_in_process(*args)
    assert result.returncode == 2
    assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1


def scratch_course(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "problems", tmp_path / "problems")
    shutil.copytree(REPO / "reference", tmp_path / "reference")
    return tmp_path


def test_validate_passes_all_three_problems():
    result = grader("validate")
    assert result.returncode == 0, result.stdout
    assert result.stdout.count(": ok") == 3
    basic = find_course(REPO).load("value-basic")
    assert f"reference: {basic.max_score:g}/{basic.max_score:g} through the sandbox" in result.stdout
    assert result.stdout.count("killed (100%)") == 3
    assert result.stdout.count("clauses are caught by a test") == 3


def test_validate_rejects_the_seed_001_printed_example_showing_both_outputs(grader_in_process, tmp_path):
    course = scratch_course(tmp_path)
    spec = course / "problems/value-basic/problem.yaml"
    text = spec.read_text()
    start = text.index('  output: "') + len('  output: "')
    spec.write_text(text[:start] + SEED_001_PRINTED + text[text.index('"', start):])
    result = grader_in_process("--course", str(course), "validate", "value-basic")
    assert result.returncode == 1
    assert "value-basic: INVALID" in result.stdout
    assert f"the spec says:       {SEED_001_PRINTED}" in result.stdout
    assert "the reference prints: Value(data=2, grad=0) Value(data=-3, grad=0)" in result.stdout


def test_a_bad_spec_is_a_usage_error_naming_file_and_line(grader_in_process, tmp_path):
    course = scratch_course(tmp_path)
    spec = course / "problems/value-tanh/problem.yaml"
    spec.write_text(spec.read_text().replace("      t = x.tanh()\n", "      t = x.relu()\n"))
    result = grader_in_process("--course", str(course), "grade", "reference/value_tanh.py", "--problem", "value-tanh")
    assert result.returncode == 2
    assert f"{spec}:" in result.stderr and "tests[1].program" in result.stderr and "`relu`" in result.stderr


@pytest.mark.slow
def test_batch_grades_a_class_into_reports_a_gradebook_and_a_summary(tmp_path):
    out = tmp_path / "out"
    result = grader("batch", "submissions", "--problem", "value-basic", "--out", str(out), "--jobs", "2")
    assert result.returncode == 0, result.stderr
    students = sorted(path.stem for path in (REPO / "submissions").glob("*.py"))
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == students
    rows = list(csv.DictReader((out / "grades.csv").read_text(encoding="utf-8-sig").splitlines()))
    assert [row["student"] for row in rows] == students
    by_student = {row["student"]: row for row in rows}
    assert by_student["alice"]["percent"] == "100" and by_student["grace"]["status"] == "failed_to_load"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["submissions"] == len(students)
    for student in students:
        report = json.loads((out / student / "report.json").read_text())
        assert report["score"] == float(by_student[student]["score"])


def test_every_cli_command_is_documented_in_the_readme():
    readme = (REPO / "README.md").read_text()
    for command in ("check", "kit", "grade", "batch", "validate", "problems", "ci", "gradescope build", "gradescope run"):
        assert f"grader {command}" in readme, command
