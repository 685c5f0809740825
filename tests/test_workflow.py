"""The course repository's workflow: it lints clean, it never grades with anything from the
student's checkout, and its Grade step works as written in a simulated run."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from grader.ci import COMMENT_MARKER
from grader.spec import find_course
from tests.conftest import REPO, UNDER_CI, namespace_isolation_or_skip
from tests.test_ci import (  # noqa: F401 - fixtures
    PUSH_EVENT,
    classroom_repo,
    event_environment,
    github_environment,
    read_outputs,
    student_repo,
)

WORKFLOW = REPO / ".github" / "workflows" / "autograde.yml"


def tool_or_skip(name: str) -> str:
    """An OS or test tool: next to this Python (pip's scripts) or on PATH; a skip on a
    laptop without it, a failure under CI, whose install files must provide it."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found:
        return found
    if UNDER_CI:
        pytest.fail(f"{name} is missing under CI: pyproject's [test] extra or .ci/install-os-packages should install it")
    pytest.skip(f"{name} is not installed here")


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def steps() -> list[dict]:
    return workflow()["jobs"]["grade"]["steps"]


def step(step_id: str) -> dict:
    return next(s for s in steps() if s.get("id") == step_id)


def test_the_workflow_passes_actionlint_with_shellcheck():
    actionlint = tool_or_skip("actionlint")
    tool_or_skip("shellcheck")  # actionlint checks every run: script with it when it is on PATH
    result = subprocess.run([actionlint, "-no-color", str(WORKFLOW)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_workflow_grades_pull_requests_without_trusting_the_checkout():
    triggers = workflow()[True]  # YAML 1.1 reads the key `on` as true
    # GitHub Classroom's push, pull requests, by hand; never pull_request_target: the PR's code must not get its powers
    assert set(triggers) == {"push", "pull_request", "workflow_dispatch"}
    assert workflow()["jobs"]["grade"]["if"] == "github.actor != 'github-classroom[bot]'"
    assert workflow()["permissions"] == {"contents": "read", "checks": "write", "actions": "read", "pull-requests": "write"}
    checkouts = [s for s in steps() if str(s.get("uses", "")).startswith("actions/checkout@")]
    student, course = checkouts
    assert student["with"]["path"] == "student" and student["with"]["fetch-depth"] == 0
    assert "ref" not in student["with"]  # the event's own merge commit, nothing chosen by the PR
    assert course["with"]["path"] == "course" and "secrets.GRADER_COURSE_TOKEN" in course["with"]["token"]
    assert all(s["with"]["persist-credentials"] is False for s in checkouts)
    grade = step("grader")
    assert grade["working-directory"] == "student"
    assert "--course ../course" in grade["run"] and "--isolation strict" in grade["run"]
    assert grade["env"]["GRADER_SEED"] == "${{ secrets.GRADER_SEED }}"
    comment = next(s for s in steps() if str(s.get("uses", "")).startswith("actions/github-script@"))
    assert f"const marker = '{COMMENT_MARKER}';" in comment["with"]["script"]
    assert "github.event_name == 'pull_request'" in comment["if"]  # a push has no pull request to comment on
    assert grade["env"]["GRADER_PROBLEM"] == "${{ vars.GRADER_PROBLEM }}"
    assert "grader-out/summary.md" in comment["with"]["script"]
    reporter = next(s for s in steps() if "autograding-grading-reporter" in str(s.get("uses", "")))
    assert reporter["env"] == {"GRADER_RESULTS": "${{ steps.grader.outputs.result }}"} and reporter["with"]["runners"] == "grader"


@pytest.mark.slow
def test_the_grade_step_as_written_grades_with_the_private_course_only(student_repo, tmp_path):  # noqa: F811
    namespace_isolation_or_skip()  # the step asks for --isolation strict
    repo, base, head = student_repo  # its PR also rewrites the student's own reference/ copy
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    repo.rename(workspace / "student")
    for part in ("problems", "reference"):
        shutil.copytree(REPO / part, workspace / "course" / part)
    grade = step("grader")
    environment = {**github_environment(tmp_path, base, head), "GRADER_SEED": "course secret", "FAIL_UNDER": "0",
                   "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    result = subprocess.run(["bash", "-e", "-c", grade["run"]], cwd=workspace / grade["working-directory"],
                            env=environment, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "::warning" not in result.stdout  # the seed was given
    points = f"{find_course(REPO).load('value-basic').max_score:g}"
    assert f"submissions/bob.py (value-basic): {points}/{points} graded" in result.stdout  # the course's reference, not the PR's
    summary = (workspace / "grader-out" / "summary.md").read_text()  # what the comment step posts
    assert summary.startswith(COMMENT_MARKER)
    assert read_outputs(Path(environment["GITHUB_OUTPUT"]))["result"]  # what the reporter step needs
    assert not list((workspace / "grader-out").rglob("report.json"))  # the artifact carries no seed


@pytest.mark.slow
def test_the_grade_step_as_written_grades_a_classroom_push(classroom_repo, tmp_path):  # noqa: F811
    namespace_isolation_or_skip()  # the step asks for --isolation strict
    repo, _, first, head = classroom_repo
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    repo.rename(workspace / "student")
    for part in ("problems", "reference"):
        shutil.copytree(REPO / part, workspace / "course" / part)
    grade = step("grader")
    environment = {**event_environment(tmp_path, "push", PUSH_EVENT, before=first, head=head),
                   "GRADER_SEED": "course secret", "FAIL_UNDER": "0", "GRADER_PROBLEM": "value-basic",
                   "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    result = subprocess.run(["bash", "-e", "-c", grade["run"]], cwd=workspace / grade["working-directory"],
                            env=environment, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    points = f"{find_course(REPO).load('value-basic').max_score:g}"
    assert f"submissions/value.py (value-basic): {points}/{points} graded" in result.stdout
    assert "submissions/extra/second.py (value-basic)" in result.stdout
    outputs = read_outputs(Path(environment["GITHUB_OUTPUT"]))
    assert outputs["submissions"] == "2" and outputs["result"]  # what the reporter step reads
