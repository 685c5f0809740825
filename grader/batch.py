"""``grader batch``: every submission in a folder, each in its own sandbox, in parallel.

Workers (``grader.workers``) grade chunks; this side writes each submission's files the
moment its chunk is judged (atomically: a reader, or a batch killed half-way, never sees half
a file), keeps one small row per student, and writes the class files at the end. A rerun
reuses every report.json whose submission content, problem digest (spec, reference, seed)
and grader version are unchanged, so a batch killed with SIGKILL resumes where it stopped.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grader import __version__
from grader.check import SubmissionStatus
from grader.files import content_digest, read_submission, safe_file_name, write_atomically
from grader.formats import FILE_NAMES
from grader.gradebook import ClassFiles, Gradebook, student_key, write_class_files
from grader.sandbox import Isolation
from grader.spec import Problem
from grader.summary import StudentRow, row_from_report, shown_name
from grader.text import clean_name
from grader.workers import (
    BatchEntry,
    GradedSubmission,
    LocalPool,
    Preloaded,
    WorkerSpec,
    chunked,
    preload,
)

if TYPE_CHECKING:  # dask is an optional extra: imported when --executor dask asks for it
    from grader.daskworker import DaskPool

MAX_CHUNK = 16
"""Submissions judged by one pytest session: large enough to spread its start-up cost, small
enough that results stream out and little is lost to a kill."""


@dataclass(frozen=True, slots=True)
class BatchResult:
    rows: list[StudentRow]
    """One per submission, in the order of the entries."""
    graded: int
    """Submissions graded in this run."""
    reused: int
    """Submissions whose earlier report was still valid."""
    class_files: ClassFiles
    """What summary.json, grades.csv and index.html hold: every row, and those grades.csv's
    LMS layout leaves out."""


@dataclass(frozen=True, slots=True)
class Skipped:
    """An entry of the class folder that is not graded, and why (the user is told)."""

    path: Path
    """The entry: a file or folder directly in the class folder."""
    reason: str
    name: str
    """The student it stands for: the stem of a ``.py`` file, else the entry's name."""


@dataclass(frozen=True, slots=True)
class Discovery:
    entries: list[BatchEntry]
    skipped: list[Skipped]

    @property
    def not_graded(self) -> tuple[tuple[str, str], ...]:
        """A row's name and reason per student whose entries were skipped: ``dave.py`` beside
        ``dave/`` is one student, ``dave``, with one row."""
        rows: dict[str, tuple[str, str]] = {}
        for item in self.skipped:
            rows.setdefault(student_key(item.name), (item.name, item.reason))
        return tuple(rows.values())


NOT_SUBMISSIONS = {"__pycache__"}
"""Left alone without a word, like hidden entries (``.git``)."""


def discover(folder: Path) -> Discovery:
    """``*.py`` files (a symbolic link too: grading it says why it is not graded), and folders
    holding exactly one ``.py`` file (``alice/value.py``); anything else is skipped, with a reason."""
    entries, skipped = [], []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.name in NOT_SUBMISSIONS:
            continue
        if path.suffix == ".py" and (path.is_symlink() or path.is_file()):
            entries.append(BatchEntry(safe_file_name(path.stem), path, path.stem))
        elif path.is_dir() and not path.is_symlink():
            files = sorted(p for p in path.iterdir() if p.suffix == ".py" and (p.is_symlink() or p.is_file()))
            if len(files) == 1:
                entries.append(BatchEntry(safe_file_name(path.name), files[0], path.name))
            else:
                skipped.append(Skipped(path, _why_not_a_submission_folder(files), path.name))
        else:
            skipped.append(Skipped(path, "a symbolic link to a folder" if path.is_dir() else "not a .py file", path.name))
    return _without_name_clashes(folder, entries, skipped)


def _without_name_clashes(folder: Path, entries: list[BatchEntry], skipped: list[Skipped]) -> Discovery:
    """Entries that are one student's (``alice.py`` beside ``alice/``, graded or not, or two
    spellings of ``zoë``) would share a row of the class files, and the graded ones ``OUT/alice/``:
    none of them is graded, and the student has one row saying why."""
    named = [(entry.name, _entry_path(folder, entry.path)) for entry in entries]
    named += [(item.name, item.path) for item in skipped]
    by_student: dict[str, list[tuple[str, Path]]] = {}
    for name, path in named:
        by_student.setdefault(student_key(name), []).append((name, path))
    clashing = {key: sorted(found, key=lambda pair: pair[1]) for key, found in by_student.items() if len(found) > 1}
    kept = [item for item in skipped if student_key(item.name) not in clashing]
    for found in clashing.values():
        listed = ", ".join(clean_name(path.name) + ("/" if path.is_dir() else "") for _, path in found)
        reason = f"{len(found)} entries stand for the student {shown_name(found[0][0])!r} ({listed}): rename or remove all but one"
        kept += [Skipped(path, reason, name) for name, path in found]
    unique = [entry for entry in entries if student_key(entry.name) not in clashing]
    return Discovery(unique, sorted(kept, key=lambda item: item.path))


def _entry_path(folder: Path, submission: Path) -> Path:
    """The class folder's entry a submission file stands for: itself, or its student's folder."""
    return submission if submission.parent == folder else submission.parent


def _why_not_a_submission_folder(files: list[Path]) -> str:
    if not files:
        return "a folder with no .py file"
    names = ", ".join(clean_name(path.name) for path in files[:5]) + (", ..." if len(files) > 5 else "")
    return f"a folder with {len(files)} .py files ({names}): a student's folder must hold exactly one"


def reusable_report(entry: BatchEntry, folder: Path, problem: Problem, formats: tuple[str, ...]) -> dict[str, Any] | None:
    """The earlier report of this entry, if it still holds: same content, same problem digest,
    same grader, and every file asked for present."""
    try:
        report = json.loads((folder / FILE_NAMES["json"]).read_text(encoding="utf-8"))
        content = content_digest(read_submission(entry.path))
    except (OSError, ValueError):
        return None
    if not isinstance(report, dict):
        return None
    same = (
        report.get("status") != SubmissionStatus.GRADER_ERROR.value
        and report.get("grader_version") == __version__
        and (report.get("problem") or {}).get("digest") == problem.digest
        and (report.get("submission") or {}).get("sha256") == content
    )
    if not same or not all((folder / FILE_NAMES[name]).is_file() for name in formats):
        return None
    return report


def _remove_partial_files(folder: Path) -> None:
    """Temporary files of writes a killed batch never finished."""
    for leftover in folder.glob(".*.*"):
        if leftover.is_file():
            leftover.unlink(missing_ok=True)


def grade_batch(
    problem: Problem,
    entries: list[BatchEntry],
    out: Path,
    *,
    jobs: int,
    isolation: Isolation,
    formats: tuple[str, ...] = ("json",),
    executor: str = "local",
    scheduler: str | None = None,
    reuse: bool = True,
    on_row: Callable[[StudentRow, bool], None] = lambda row, reused: None,
    gradebook: Gradebook = Gradebook(),
) -> BatchResult:
    """Grade every entry (or reuse its still-valid report), writing files as results arrive;
    then the class files, with ``gradebook``'s entries not graded and roster."""
    linked = FILE_NAMES["html"] if "html" in formats else FILE_NAMES["json"]
    rows: dict[str, StudentRow] = {}
    todo = []
    for entry in entries:
        folder = out / entry.student
        _remove_partial_files(folder)
        report = reusable_report(entry, folder, problem, formats) if reuse else None
        if report is None:
            todo.append(entry)
        else:
            rows[entry.student] = row_from_report(entry.name or entry.student, report, linked, entry.student)
            on_row(rows[entry.student], True)
    if todo:
        preloaded = preload(problem)  # once, here: workers inherit it, or read the cache it filled
        spec = WorkerSpec(problem, isolation, formats)
        names = {entry.student: entry.name or entry.student for entry in todo}
        for graded in _grade_in_chunks(spec, todo, jobs, executor, scheduler, preloaded):
            _write_submission(graded, out)
            rows[graded.student] = row_from_report(names[graded.student], graded.report, linked, graded.student)
            on_row(rows[graded.student], False)
    ordered = [rows[entry.student] for entry in entries]
    class_files = write_class_files(ordered, out, problem, gradebook)
    return BatchResult(ordered, graded=len(todo), reused=len(entries) - len(todo), class_files=class_files)


def _grade_in_chunks(spec: WorkerSpec, todo: list[BatchEntry], jobs: int, executor: str,
                     scheduler: str | None, preloaded: Preloaded) -> Iterator[GradedSubmission]:
    size = max(1, min(MAX_CHUNK, math.ceil(len(todo) / (max(1, jobs) * 4))))
    pool = _dask_pool(spec, jobs, scheduler) if executor == "dask" else LocalPool(spec, jobs, preloaded)
    for chunk_results in pool.map(chunked(todo, size)):
        yield from chunk_results


def _dask_pool(spec: WorkerSpec, jobs: int, scheduler: str | None) -> DaskPool:
    try:
        from grader.daskworker import DaskPool
    except ImportError:
        raise RuntimeError("--executor dask needs dask.distributed: pip install 'grader[dask]'") from None
    return DaskPool(spec, jobs, scheduler)


def _write_submission(graded: GradedSubmission, out: Path) -> None:
    folder = out / graded.student
    # report.json last: its presence is what lets a rerun trust the other files
    for name, text in sorted(graded.files.items(), key=lambda item: item[0] == FILE_NAMES["json"]):
        write_atomically(folder / name, text)


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
