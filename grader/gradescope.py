"""Gradescope: the autograder bundle (``grader gradescope build``) and what runs inside it on
every submission (``grader gradescope run``, called by the bundle's ``run_autograder``).

The bundle is a zip with, at its root: ``setup.sh`` and ``run_autograder`` (Gradescope's
entry points), ``bundle.json`` (which problem), ``seed`` (the secret seed of the hidden
tests, when one was given: Gradescope bundles are private to the course staff),
``course/`` (that problem's folder and its reference, nothing else) and ``grader/`` (this
package's source, installed by setup.sh with its dependencies).

Inside the container: ``/autograder/submission/`` holds the student's files and
``/autograder/results/results.json`` must be written, whatever happens. The root is
``$GRADER_AUTOGRADER_ROOT`` when set, so the same code runs against a fake layout.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import jinja2

import grader
from grader.check import SubmissionStatus
from grader.files import write_atomically
from grader.formats import render_gradescope
from grader.report import Report
from grader.spec import Course, Problem, resolve_seed
from grader.text import clean_name

DEFAULT_ROOT = Path("/autograder")
VENV = "/autograder/grader-venv"
"""The unprivileged user setup.sh creates and run_autograder grades as."""
EXECUTABLE = 0o755
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
"""Every member's timestamp: the same inputs give the same zip, byte for byte."""


@dataclass(frozen=True, slots=True)
class BuildResult:
    path: Path
    problem_id: str
    seed_source: str
    """Where the bundled seed came from, or "" when the bundle uses the spec's public one."""
    members: tuple[str, ...]


# ------------------------------------------------------------------ build


def build_bundle(course: Course, problem: Problem, out: Path, seed: int | None = None) -> BuildResult:
    """Write the autograder zip for ``problem``; ``seed`` as resolve_seed() gives it."""
    secret_seed, seed_source = resolve_seed(seed)
    files: dict[str, tuple[bytes, int]] = {}
    values = _template_values(problem.id)
    files["setup.sh"] = (_render("gradescope_setup.sh.j2", values).encode(), EXECUTABLE)
    files["run_autograder"] = (_render("gradescope_run_autograder.j2", values).encode(), EXECUTABLE)
    bundle = {"problem": problem.id, "grader_version": grader.__version__, "seed_source": seed_source or "spec"}
    files["bundle.json"] = ((json.dumps(bundle, indent=2) + "\n").encode(), 0o644)
    if secret_seed is not None:
        files["seed"] = (f"{secret_seed}\n".encode(), 0o644)
    for path in _tree(problem.directory):
        files[f"course/problems/{problem.id}/{path.relative_to(problem.directory).as_posix()}"] = (path.read_bytes(), 0o644)
    files[f"course/reference/{problem.reference_path.relative_to(course.reference_dir.resolve()).as_posix()}"] = (
        problem.reference_path.read_bytes(), 0o644)
    package = Path(grader.__file__).resolve().parent
    for path in _tree(package):
        files[f"grader/grader/{path.relative_to(package).as_posix()}"] = (path.read_bytes(), 0o644)
    files["grader/pyproject.toml"] = (_render("gradescope_pyproject.toml.j2", values).encode(), 0o644)
    _write_zip(out, files)
    return BuildResult(out, problem.id, seed_source, tuple(sorted(files)))


def _template_values(problem_id: str) -> dict[str, Any]:
    requirements = [r for r in (metadata.requires("grader") or []) if "extra ==" not in r]
    return {
        "problem_id": problem_id,
        "grader_version": grader.__version__,
        "grader_version_toml": json.dumps(grader.__version__),
        "dependencies_toml": json.dumps(requirements),
        "venv": VENV,
    }


def _render(name: str, values: dict[str, Any]) -> str:
    # shell scripts and TOML, not HTML: nothing to escape, and every name must be given
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("grader", "templates"), autoescape=False,
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
    )
    return environment.get_template(name).render(values)


def _tree(folder: Path) -> list[Path]:
    """Every file under ``folder``, in a stable order, without caches or hidden files."""
    return sorted(
        path for path in folder.rglob("*")
        if path.is_file() and not any(part.startswith(".") or part == "__pycache__" for part in path.relative_to(folder).parts)
    )


def _write_zip(out: Path, files: dict[str, tuple[bytes, int]]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(f".{out.name}.partial")
    with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            data, mode = files[name]
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.external_attr = (0o100000 | mode) << 16  # a regular file with its permissions
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    os.replace(temporary, out)


# ------------------------------------------------------------------ run (inside Gradescope)


def autograder_root() -> Path:
    return Path(os.environ.get("GRADER_AUTOGRADER_ROOT") or DEFAULT_ROOT)


@dataclass(frozen=True, slots=True)
class AutograderRun:
    results: dict[str, Any]
    """What results.json holds."""
    grader_failed: bool
    """The grader, not the submission, failed: ``grader gradescope run`` exits non-zero."""


def run_autograder(root: Path, load_problem: Callable[[str], Problem], grade: Callable[[Problem, Path], Report]) -> AutograderRun:
    """Grade the one .py file in ``root/submission`` and write ``root/results/results.json``.
    Never raises: whatever goes wrong, the student gets results.json saying what. When the
    grader failed, the staff are told on stdout (which only they see) and in ``extra_data``."""
    results_path = root / "results" / "results.json"
    failure = ""
    try:
        bundle = json.loads((root / "source" / "bundle.json").read_text(encoding="utf-8"))
        problem = load_problem(bundle["problem"])
        submissions = find_submissions(root / "submission")
        if len(submissions) != 1:
            results = _not_graded(submission_problem(submissions, root / "submission"))
        else:
            report = grade(problem, submissions[0])
            # stdout reaches the staff only (stdout_visibility hidden): what held this run
            print(f"grader: {report.isolation} isolation, as uid {os.getuid()} (each run as an unprivileged uid of "
                  f"its own when that is root); status {report.status}, {report.score}/{report.max_score}")
            results = json.loads(render_gradescope(report))
            if report.status is SubmissionStatus.GRADER_ERROR:
                failure = f"the grader could not judge every test: {report.message}"
    except Exception as error:  # noqa: BLE001 - the one place a grader bug must become a message, not a crash
        traceback.print_exc(file=sys.stdout)  # stdout goes to the staff only (stdout_visibility hidden)
        failure = f"the autograder failed: {type(error).__name__}: {error}"
        results = {**_not_graded("The autograder failed while grading your submission. This is not a problem "
                                 "with your code: please tell your instructor."),
                   "extra_data": {"grader_error": clean_name(failure, 2000)}}
    if failure:
        print(f"GRADER FAILURE (staff only): {clean_name(failure, 2000)}; the student was told it is not their fault; "
              "regrade once it is fixed")
    write_atomically(results_path, json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return AutograderRun(results, bool(failure))


def find_submissions(folder: Path) -> list[Path]:
    """The student's Python files: every ``*.py`` under the folder, caches and hidden files aside."""
    if not folder.is_dir():
        return []
    return [path for path in _tree(folder) if path.suffix == ".py"]


def submission_problem(submissions: list[Path], folder: Path) -> str:
    if not submissions:
        return "Your submission has no .py file. Upload the one Python file with your Value class (for example value.py)."
    names = ", ".join(clean_name(path.relative_to(folder).as_posix()) for path in submissions)
    return (f"Your submission has {len(submissions)} Python files ({names}). Upload exactly one .py file: "
            "the one with your Value class.")


def _not_graded(message: str) -> dict[str, Any]:
    return {"score": 0, "output": message, "output_format": "text", "stdout_visibility": "hidden", "tests": []}

