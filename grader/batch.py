"""``grader batch``: every submission in a folder, each in its own sandbox, in parallel.

Each worker process loads the problem and the reference's expected values once, then
grades submissions one by one; every result is written as soon as it is ready.
"""

from __future__ import annotations

import csv
import io
import json
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from grader.files import write_atomically
from grader.html import write_html, write_index
from grader.report import Report, write_json
from grader.sandbox import Isolation
from grader.spec import Course
from grader.summary import StudentRow, error_row, student_row


@dataclass(frozen=True, slots=True)
class BatchEntry:
    student: str
    """The submission's stem, or the student's folder name."""
    path: Path


@dataclass(frozen=True, slots=True)
class BatchRow:
    student: str
    score: float
    max_score: float
    status: str
    summary: StudentRow | None = None
    """What index.html shows of it."""

    @property
    def percent(self) -> float:
        return round(100.0 * self.score / self.max_score, 2) if self.max_score else 0.0


def discover(folder: Path) -> list[BatchEntry]:
    """``*.py`` files, and folders holding exactly one ``.py`` file (``alice/value.py``)."""
    entries = []
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix == ".py":
            entries.append(BatchEntry(path.stem, path))
        elif path.is_dir() and not path.name.startswith("."):
            files = sorted(path.glob("*.py"))
            if len(files) == 1:
                entries.append(BatchEntry(path.name, files[0]))
    return entries


def grade_batch(
    course: Course,
    problem_id: str,
    entries: list[BatchEntry],
    out: Path,
    *,
    jobs: int,
    isolation: Isolation,
    on_result: Callable[[BatchRow], None] = lambda row: None,
) -> list[BatchRow]:
    rows = []
    with ProcessPoolExecutor(
        max_workers=max(1, jobs), initializer=_worker_start, initargs=(course, problem_id, isolation)
    ) as pool:
        futures = [pool.submit(_worker_grade, entry, out) for entry in entries]
        for future in as_completed(futures):
            row = future.result()
            rows.append(row)
            on_result(row)
    rows.sort(key=lambda row: row.student)
    write_class_files(rows, out, problem_id)
    return rows


def write_class_files(rows: list[BatchRow], out: Path, problem_id: str) -> None:
    summary = {
        "problem": problem_id,
        "submissions": len(rows),
        "graded": sum(row.status == "graded" for row in rows),
        "mean_percent": round(sum(row.percent for row in rows) / len(rows), 2) if rows else 0.0,
        "students": [
            {"student": r.student, "score": r.score, "max_score": r.max_score, "percent": r.percent, "status": r.status}
            for r in rows
        ],
    }
    write_atomically(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["student", "score", "max_score", "percent", "status"])
    for row in rows:
        writer.writerow([row.student, f"{row.score:g}", f"{row.max_score:g}", f"{row.percent:g}", row.status])
    write_atomically(out / "grades.csv", buffer.getvalue())
    write_index(out, problem_id, [row.summary or error_row(row.student, row.max_score, "") for row in rows])


# ------------------------------------------------------------------ worker processes
# A worker holds its problem and expected values for its whole life: that is the point
# of a worker, so they live in this one per-process slot rather than being recomputed.
_worker: dict = {}


def _worker_start(course: Course, problem_id: str, isolation: Isolation) -> None:
    from grader.reference import expected_observations

    from grader.diagnose import MisconceptionLibrary, default_cache_dir

    problem = course.load(problem_id)
    library = MisconceptionLibrary(problem, default_cache_dir())
    _worker.update(problem=problem, expected=expected_observations(problem), isolation=isolation, library=library)


def _worker_grade(entry: BatchEntry, out: Path) -> BatchRow:
    """Grade one entry; a failure of the grader itself is recorded for that entry alone."""
    from grader.grading import grade_submission

    try:
        report: Report = grade_submission(
            _worker["problem"], entry.path, isolation=_worker["isolation"], expected=_worker["expected"],
            library=_worker["library"],
        )
    except Exception as error:  # noqa: BLE001 - one broken grading must not stop the class
        problem = _worker["problem"]
        failure = {"status": "grader_error", "output": f"the grader failed on this file: {error!r}",
                   "submission": {"path": str(entry.path)}, "problem": {"id": problem.id, "version": problem.version},
                   "score": 0.0, "max_score": problem.max_score, "tests": []}
        write_atomically(out / entry.student / "report.json", json.dumps(failure, indent=2) + "\n")
        return BatchRow(entry.student, 0.0, problem.max_score, "grader_error",
                        error_row(entry.student, problem.max_score, failure["output"]))
    write_json(report, out / entry.student / "report.json")
    write_html(report, out / entry.student / "report.html")
    return BatchRow(entry.student, report.score, report.max_score, report.status, student_row(entry.student, report))


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

