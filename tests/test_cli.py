"""The command line as users and their scripts rely on it: output, files, exit codes.

The tests that use ``grader`` start a real ``python -m grader``; the others call the same
``main(argv)`` in this process (``grader_in_process``), which proves the same output and exit
code without paying for a new Python each time."""

import argparse
import ast
import csv
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader import cli
from grader.spec import find_course
from tests.conftest import PROBLEM_IDS, REPO

SEED_001_PRINTED = (
    "Value(data=2, grad=0) Value(data=-3, grad=10) Value(data=10, grad=-3) Value(data=-28, grad=1) Value(data=0, grad=1)"
)


def grader(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "grader", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_problems_lists_all_five():
    result = grader("problems")
    assert result.returncode == 0
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == sorted(PROBLEM_IDS)


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


def test_validate_passes_all_five_problems():
    result = grader("validate")
    assert result.returncode == 0, result.stdout
    assert result.stdout.count(": ok") == len(PROBLEM_IDS) == 5
    basic = find_course(REPO).load("value-basic")
    assert f"reference: {basic.max_score:g}/{basic.max_score:g} through the sandbox" in result.stdout
    assert result.stdout.count("killed (100%)") == 5
    assert result.stdout.count("clauses are caught by a test") == 5


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


def _module_rows() -> dict[str, int]:
    """The README's module map ("How it works"): each module named there, and its row."""
    readme = (REPO / "README.md").read_text()
    table = readme[readme.index("| stage | modules |"):].split("\n\n")[0]
    rows = table.splitlines()[2:]
    assert rows and len(rows) < 10, "the module map is a table of stages"
    found: dict[str, int] = {}
    for row, line in enumerate(rows):
        for name in re.findall(r"`([a-z_]+(?:/[a-z_]+)?)/?`", line.split("|")[2]):
            found.setdefault(name.split("/")[-1], row)
    return found


def _grader_modules() -> dict[str, ast.Module]:
    package = REPO / "grader"
    found = {}
    for path in package.rglob("*.py"):
        name = path.stem if path.stem != "__init__" or path.parent == package else path.parent.name
        found[name] = ast.parse(path.read_text())
    return found


def _runtime_nodes(tree: ast.AST):
    """Every node but what ``if TYPE_CHECKING:`` holds (imports for annotations only)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            continue
        yield node
        yield from _runtime_nodes(node)


def test_the_readmes_module_map_names_every_module_and_no_stage_imports_a_later_one():
    rows, modules = _module_rows(), _grader_modules()
    assert sorted(set(modules) - {"__init__"} - set(rows)) == []
    for name, tree in modules.items():
        for node in _runtime_nodes(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("grader."):
                imported = node.module.split(".")[-1]
                if name in rows and imported in rows:
                    assert rows[imported] <= rows[name], f"{name} (a stage of row {rows[name]}) imports {imported}"


def _commands(parser: argparse.ArgumentParser, prefix: str = "grader") -> list[str]:
    """Every command the parser accepts, subcommands spelled out (``grader gradescope build``)."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, subparser in action.choices.items():
                found += _commands(subparser, f"{prefix} {name}") or [f"{prefix} {name}"]
    return found


def test_every_cli_command_is_documented_in_the_readme():
    readme = (REPO / "README.md").read_text()
    commands = _commands(cli._parser())
    assert "grader check" in commands and "grader gradescope build" in commands, commands
    for command in commands:
        assert command in readme, command
