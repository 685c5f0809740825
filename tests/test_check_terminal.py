"""`grader check` as a student reads it in a terminal, and as their tools read it: programs of
failing tests, a line saying what runs, colours only where wanted, text that fits the width,
marks every font has, --json and --strict. Through the command line: ``main`` in this process
(``grader_in_process``), or a real ``python -m grader`` on a pseudo-terminal where a TTY matters."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, REPO, grade

COLOUR = re.compile(r"\x1b\[[0-9;]*m")
ANY_ESCAPE = re.compile(r"\x1b")
BUGGY = REPO / "submissions" / "carol.py"  # grads overwritten: fails five visible tests
CORRECT = REPO / "submissions" / "alice.py"
BROKEN = REPO / "submissions" / "grace.py"  # a syntax error
HANGING = FIXTURES / "hostile" / "backward_loop_swallows_everything.py"  # past its time budget too
TEST_SECONDS, SUBMISSION_SECONDS = 1, 3


@pytest.fixture(scope="module")
def quick_course(tmp_path_factory) -> Path:
    """The course with value-basic's limits cut down, so a hanging file ends soon."""
    root = tmp_path_factory.mktemp("quick-course")
    for folder in ("problems", "reference"):
        shutil.copytree(REPO / folder, root / folder)
    spec = root / "problems" / "value-basic" / "problem.yaml"
    text = spec.read_text()
    assert "  test_seconds: 5\n  submission_seconds: 60\n" in text
    spec.write_text(text.replace("  test_seconds: 5\n  submission_seconds: 60\n",
                                 f"  test_seconds: {TEST_SECONDS}\n  submission_seconds: {SUBMISSION_SECONDS}\n"))
    return root


def on_a_terminal(*args: str, env: dict[str, str] | None = None, columns: int = 100,
                  timeout: float = 120) -> tuple[int, str, float]:
    """``python -m grader ARGS`` with stdout and stderr on a pseudo-terminal: its exit code,
    everything it wrote there (line ends as "\\n"), and how long it took."""
    master, slave = pty.openpty()
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "grader", *args], cwd=REPO, stdin=slave, stdout=slave, stderr=slave,
        env={**os.environ, "COLUMNS": str(columns), "TERM": "xterm", **(env or {})},
    )
    os.close(slave)
    chunks = []
    try:
        while time.monotonic() - started < timeout:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the terminal's other side closed
                break
            if not chunk:
                break
            chunks.append(chunk)
        code = process.wait(timeout=30)
    finally:
        process.kill() if process.poll() is None else None
        os.close(master)
    return code, b"".join(chunks).decode().replace("\r\n", "\n"), time.monotonic() - started


def test_a_failing_visible_test_shows_its_program_before_what_went_wrong(grader_in_process):
    out = grader_in_process("check", str(BUGGY)).stdout
    block = out[out.index("✗ a node added to itself"):]
    assert block.index("program:") < block.index("a = Value(3)") < block.index("b = a + a") \
        < block.index("b.backward()") < block.index("grad of a  expected 2, got 1")
    passing = out[out.index("✓ the task's example"):out.index("✓ add and mul gradients")]
    assert "program:" not in passing  # only failing tests show theirs


def test_hints_are_wrapped_to_the_terminal_width(grader_in_process):
    wide = grader_in_process("check", str(BUGGY), env={"COLUMNS": "400"}).stdout
    narrow = grader_in_process("check", str(BUGGY), env={"COLUMNS": "50"}).stdout
    hint = "a node used twice gets the gradient of both uses; accumulate with += in _backward."
    assert f"hint: {hint}" in wide
    lines = narrow.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("hint: a node used twice"))
    wrapped = [lines[start]] + [line for line in lines[start + 1:start + 4] if line.startswith(" " * 12)]
    assert len(wrapped) > 1 and all(len(line) <= 50 for line in wrapped)
    assert " ".join(line.strip() for line in wrapped).startswith(f"hint: {hint}")
    assert all(len(line) <= 50 for line in lines if line.lstrip().startswith(("hint:", "likely cause:")))


def test_colours_follow_the_terminal_no_color_and_force_color(grader_in_process):
    assert not COLOUR.search(grader_in_process("check", str(BUGGY)).stdout)  # piped
    forced = grader_in_process("check", str(BUGGY), env={"FORCE_COLOR": "1"}).stdout
    assert COLOUR.search(forced) and "\x1b[31m✗\x1b[0m a node added to itself" in forced
    both = grader_in_process("check", str(BUGGY), env={"FORCE_COLOR": "1", "NO_COLOR": "1"}).stdout
    assert COLOUR.search(both)  # force-color.org: FORCE_COLOR wins
    empty = grader_in_process("check", str(BUGGY), env={"FORCE_COLOR": ""}).stdout
    assert not COLOUR.search(empty)  # set but empty counts as not set

    code, screen, _ = on_a_terminal("check", str(BUGGY))
    assert code == 0 and COLOUR.search(screen)
    code, screen, _ = on_a_terminal("check", str(BUGGY), env={"NO_COLOR": "1"})
    assert code == 0 and not COLOUR.search(screen) and "✗ a node added to itself" in screen


def test_marks_are_ones_every_font_has_and_ascii_where_the_terminal_has_no_other(quick_course, grader_in_process):
    out = grader_in_process("--course", str(quick_course), "check", str(HANGING), "--problem", "value-basic").stdout
    assert "⏱" not in out and "timed out" in out
    marks = {line.split()[0] for line in out.splitlines() if re.match(r"  \S ", line)}
    assert marks and marks <= {"✓", "✗", "!"}
    ascii_only = subprocess.run([sys.executable, "-m", "grader", "check", str(BUGGY)], cwd=REPO, capture_output=True,
                                env={**os.environ, "PYTHONIOENCODING": "ascii"}, timeout=300)
    assert ascii_only.returncode == 0 and b"Traceback" not in ascii_only.stderr
    assert b"  x a node added to itself" in ascii_only.stdout and b"  + the task's example" in ascii_only.stdout


def test_json_is_report_json_of_the_visible_tests(grader_in_process):
    result = grader_in_process("check", str(BUGGY), "--json")
    assert result.returncode == 0
    checked = json.loads(result.stdout)
    graded = grade("value-basic", BUGGY).to_json()
    assert set(checked) == set(graded)
    visible = [test for test in graded["tests"] if test["visibility"] == "visible"]
    assert checked["tests"] == visible
    assert checked["withheld_tests"] == len(graded["tests"]) - len(visible)
    assert checked["score"] == sum(test["score"] for test in visible)
    assert checked["diagnosis"]["misconception"] == graded["diagnosis"]["misconception"]
    assert checked["problem"]["seed"] is None
    forced = grader_in_process("check", str(BUGGY), "--json", env={"FORCE_COLOR": "1"}).stdout
    assert not ANY_ESCAPE.search(forced) and json.loads(forced)["tests"] == checked["tests"]  # JSON is never painted


@pytest.mark.parametrize(("path", "strict", "code"), [
    (CORRECT, True, 0),
    (BUGGY, True, 1),
    (BROKEN, True, 1),  # nothing passes in a file that does not load
    (BUGGY, False, 0),
    (BROKEN, False, 0),
    (REPO / "submissions" / "nobody.py", True, 2),  # cannot be graded: as without --strict
])
def test_strict_exits_1_unless_every_visible_test_passes(path, strict, code, grader_in_process):
    result = grader_in_process("check", str(path), *(["--strict"] if strict else []))
    assert result.returncode == code, result.stderr
    if code == 2:
        assert len(result.stderr.splitlines()) == 1
    else:
        assert "visible tests pass" in result.stdout or "could not be graded" in result.stdout


def test_a_hanging_file_says_what_runs_and_check_ends_within_the_limits(quick_course):
    budget = SUBMISSION_SECONDS + 2 + 20  # the file's time, its twins' grace, starting Python and the sandbox
    piped = subprocess.run([sys.executable, "-m", "grader", "--course", str(quick_course), "check", str(HANGING),
                            "--problem", "value-basic"], cwd=REPO, capture_output=True, text=True, timeout=budget)
    assert piped.returncode == 0
    running = [line for line in piped.stderr.splitlines() if line.startswith("running test ")]
    assert running and all(re.fullmatch(r"running test \d+ of 11( once more)?: .+ \(\d+ s so far\)", line)
                           for line in running)
    assert not ANY_ESCAPE.search(piped.stderr + piped.stdout)  # a log gets plain lines
    assert "timed out" in piped.stdout and "did not finish within 1 s" in piped.stdout

    code, screen, seconds = on_a_terminal("--course", str(quick_course), "check", str(HANGING),
                                          "--problem", "value-basic", timeout=budget)
    assert code == 0 and seconds < budget
    assert "\r\x1b[Krunning test 1 of 11: the task's example" in screen  # drawn in place while it hangs
    assert screen.count("\r\x1b[K") >= 2
    report = screen[screen.rindex("\r\x1b[K") + len("\r\x1b[K"):]
    assert "running test" not in report and report.startswith("\x1b[1mBasic autograd operations")  # erased first


def test_wrapping_never_starts_a_line_with_an_escape_or_a_workflow_command():
    """Text is wrapped before it is made safe: a line that wrapping starts is guarded too."""
    import dataclasses

    from grader.terminal import Style, render_check
    from grader.view import Audience, report_view

    view = report_view(grade("value-basic", BUGGY), Audience.STUDENT)
    hostile = "word " * 7 + "::error file=x::forged ##[group]y \x1b]0;title\x07 \x1b[2J\x9b31m"
    tests = tuple(dataclasses.replace(t, hint=hostile, diagnosis=hostile, output=hostile) if not t.passed else t
                  for t in view.tests)
    for width in (40, 41, 42, 43, 44, 45):
        text = render_check(dataclasses.replace(view, tests=tests), Style(colour=False, width=width))
        assert not ANY_ESCAPE.search(text) and "\x9b" not in text
        assert not [line for line in text.splitlines() if line.lstrip().startswith(("::", "##["))]
        assert "forged" in text
