"""Every bad path, in every command, is one line on stderr and exit 2, never a traceback: an
--out that is a file, that is under a file or that cannot be written (as root chmod stops
nothing, so /proc stands for the unwritable place), and inputs that are missing or not files.
Checked before any work: a batch grades nothing."""

import os
from pathlib import Path

import pytest

from tests.conftest import REPO

UNWRITABLE = Path("/proc/grader-cannot-write-here")


def bad_out(kind: str, tmp_path: Path, name: str = "out") -> tuple[Path, str]:
    """An --out of ``kind``, and the words its one line must hold."""
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder\n")
    if kind == "file":
        return a_file, f"{a_file} is a file, not a folder"
    if kind == "under_a_file":
        return a_file / name, f"is under {a_file}, which is a file"
    return UNWRITABLE / name, "cannot write to --out"


def assert_one_line_exit_2(result, words: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("grader: "), result.stderr
    assert words in lines[0], lines[0]
    assert "Traceback" not in result.stdout + result.stderr


KINDS = ("file", "under_a_file", "unwritable")


@pytest.mark.parametrize("kind", KINDS)
def test_grade_refuses_a_bad_out_before_grading(grader_in_process, tmp_path, kind):
    out, words = bad_out(kind, tmp_path)
    result = grader_in_process("grade", "submissions/alice.py", "--problem", "value-basic", "--out", str(out))
    assert_one_line_exit_2(result, words)
    assert result.stdout == ""  # nothing graded, nothing printed


@pytest.mark.parametrize("kind", KINDS)
def test_batch_refuses_a_bad_out_before_grading_anything(grader_in_process, tmp_path, kind):
    out, words = bad_out(kind, tmp_path)
    result = grader_in_process("batch", "submissions", "--problem", "value-basic", "--out", str(out))
    assert_one_line_exit_2(result, words)
    assert "grading" not in result.stderr and result.stdout == ""


@pytest.mark.parametrize("kind", KINDS)
def test_ci_refuses_a_bad_out_before_grading(grader_in_process, tmp_path, kind):
    out, words = bad_out(kind, tmp_path)
    result = grader_in_process("ci", "submissions/alice.py", "--problem", "value-basic", "--out", str(out))
    assert_one_line_exit_2(result, words)
    assert result.stdout == ""


@pytest.mark.parametrize("kind", ("folder", "under_a_file", "unwritable"))
def test_gradescope_build_refuses_a_bad_out(grader_in_process, tmp_path, kind):
    if kind == "folder":
        out, words = tmp_path, f"--out {tmp_path} is a folder; give the file's name"
    else:
        out, words = bad_out(kind, tmp_path, "autograder.zip")
        words = "which is a file" if kind == "under_a_file" else "cannot write to --out"
    result = grader_in_process("gradescope", "build", "--problem", "value-basic", "--out", str(out))
    assert_one_line_exit_2(result, words)


def test_ci_refuses_step_outputs_it_cannot_write_before_grading(grader_in_process, tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    result = grader_in_process("ci", "submissions/alice.py", "--problem", "value-basic",
                               env={"GITHUB_OUTPUT": str(a_file / "output.txt"), "GITHUB_STEP_SUMMARY": ""})
    assert_one_line_exit_2(result, f"cannot write $GITHUB_OUTPUT {a_file / 'output.txt'}")
    assert result.stdout == ""  # refused before grading


@pytest.mark.parametrize(
    ("command", "words"),
    [
        (("check", "no-such.py"), "no such file: no-such.py"),
        (("check", "submissions"), "not a file: submissions"),
        (("grade", "no-such.py", "--problem", "value-basic"), "no such file: no-such.py"),
        (("grade", "README.md/x.py", "--problem", "value-basic"), "no such file: README.md/x.py"),
        (("grade", "submissions", "--problem", "value-basic"), "not a file: submissions"),
        (("batch", "no-such-folder", "--problem", "value-basic"), "no such folder: no-such-folder"),
        (("batch", "README.md", "--problem", "value-basic"), "not a folder: README.md"),
        (("ci", "no-such.py", "--problem", "value-basic"), "no such file: no-such.py"),
        (("--course", "/proc/no-such-course", "problems"), "no problems/ folder in /proc/no-such-course"),
        (("batch", "submissions", "--problem", "value-basic", "--roster", "no-such.csv"), "cannot read the roster no-such.csv"),
    ],
    ids=lambda value: "-".join(value) if isinstance(value, tuple) else None,
)
def test_missing_or_wrong_inputs_are_one_line(grader_in_process, command, words):
    result = grader_in_process(*command)
    assert_one_line_exit_2(result, words)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file whatever its mode")
def test_an_unreadable_submission_is_one_line(grader_in_process, tmp_path):
    path = tmp_path / "locked.py"
    path.write_bytes((REPO / "submissions" / "alice.py").read_bytes())
    path.chmod(0)
    result = grader_in_process("grade", str(path), "--problem", "value-basic")
    assert_one_line_exit_2(result, f"cannot read {path}")
