"""Where a batch's grading happens: worker processes on this machine, or a Dask cluster.

Either way a worker grades a chunk of submissions through one ``GradingSession`` (so one
pytest session judges the whole chunk) and sends back, per submission, the text of every
file asked for and the report.json content; the batch writes them. Workers hold their
session in a local variable for as long as they live: no module state.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import multiprocessing.queues
import os
import queue
import signal
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.context import ForkContext, SpawnContext
from pathlib import Path
from typing import Any

from grader.budgets import reference_costs
from grader.diagnose import MisconceptionLibrary, default_cache_dir
from grader.formats import FILE_NAMES, render_formats
from grader.grading import GradingSession
from grader.observations import ProgramObservation
from grader.reference import expected_observations
from grader.report import Report, grader_failure_report
from grader.sandbox import Isolation
from grader.spec import Problem
from grader.text import clean_name

PR_SET_PDEATHSIG = 1


@dataclass(frozen=True, slots=True)
class BatchEntry:
    student: str
    """The folder of its reports under --out: the submission's stem, or the student's folder
    name, renamed where it is not a safe file name (``files.safe_file_name``)."""
    path: Path
    name: str = ""
    """The entry's name in the class folder as it is there (the stem, or the folder's name):
    what a roster names the student by. Empty: ``student``."""


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """Everything a worker needs, picklable: the problem (with its seed already drawn), the
    isolation and the formats to render."""

    problem: Problem
    isolation: Isolation
    formats: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Preloaded:
    """What every worker would otherwise compute alike, loaded once by the batch: the
    reference's expected values and the misconception library. Workers forked on Linux
    inherit it; Dask workers read the library's cache instead."""

    expected: Mapping[str, ProgramObservation]
    library: MisconceptionLibrary
    costs: Mapping[str, float]
    """What each test costs the reference (``budgets.reference_costs``): every worker gives a
    test the same budget."""


def preload(problem: Problem) -> Preloaded:
    """Run the reference and load (or compute and cache) the library, then set it all aside
    from the collector, so forked workers share these pages instead of copying them."""
    expected = expected_observations(problem)
    library = MisconceptionLibrary(problem, default_cache_dir())
    library.load(problem.tests, expected)
    costs = reference_costs(problem)
    _set_aside_what_lives_on()
    return Preloaded(expected, library, costs)


@dataclass(frozen=True, slots=True)
class GradedSubmission:
    student: str
    files: dict[str, str]
    """File name -> text, for every format asked for."""
    report: dict[str, Any]
    """The report.json content (also among ``files``)."""


def grade_chunk(session: GradingSession, entries: Sequence[BatchEntry], formats: tuple[str, ...]) -> list[GradedSubmission]:
    """Grade a chunk in one go; if the grader itself fails on it, grade its entries one by one,
    so a failure is recorded against the one submission that caused it."""
    try:
        reports = session.grade([entry.path for entry in entries])
    except Exception as error:  # noqa: BLE001 - one broken grading must not stop the class
        if len(entries) > 1:
            return [graded for entry in entries for graded in grade_chunk(session, [entry], formats)]
        return [grader_error(session.problem, entries[0], error, formats, session.sandbox.policy.isolation)]
    return [_graded(entry, report, formats) for entry, report in zip(entries, reports, strict=True)]


def grader_error(
    problem: Problem, entry: BatchEntry, error: BaseException, formats: tuple[str, ...], isolation: Isolation
) -> GradedSubmission:
    """What is recorded when the grader, not the submission, failed: a report saying so, built
    like every other (scripts reading a gradebook need not special-case it)."""
    message = f"the grader failed on this file (not the student's fault): {error!r}"
    return _graded(entry, grader_failure_report(problem, entry.path, message, isolation.value), formats)


def _graded(entry: BatchEntry, report: Report, formats: tuple[str, ...]) -> GradedSubmission:
    files = render_formats(report, formats)
    return GradedSubmission(entry.student, files, json.loads(files[FILE_NAMES["json"]]))


def chunked(entries: Sequence[BatchEntry], size: int) -> list[list[BatchEntry]]:
    return [list(entries[i : i + size]) for i in range(0, len(entries), size)]


# ------------------------------------------------------------------ this machine


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    tasks: multiprocessing.queues.Queue[tuple[int, list[BatchEntry]] | None]
    """This worker's own queue: the pool always knows which chunk each worker holds."""
    holding: int | None = None


class LocalPool:
    """``jobs`` worker processes, each holding one GradingSession (and so one warm sandbox)
    for its whole life and one chunk at a time. A worker that dies has its chunk graded again
    by a new worker once; a chunk that kills a second worker is split, one submission per
    worker, so that only the submission that kills its worker (twice more) is recorded as a
    grader error, naming it; every other submission of the chunk is graded."""

    def __init__(self, spec: WorkerSpec, jobs: int, preloaded: Preloaded | None = None) -> None:
        self.spec, self.jobs = spec, max(1, jobs)
        forking = sys.platform.startswith("linux")
        self.context: ForkContext | SpawnContext = (
            multiprocessing.get_context("fork") if forking else multiprocessing.get_context("spawn"))
        self.preloaded = preloaded if forking else None  # inherited, never pickled
        self.results: multiprocessing.queues.Queue[tuple[int | None, int, list[GradedSubmission]]] = self.context.Queue()
        self.issued = 0

    def _start_worker(self) -> _Worker:
        tasks = self.context.Queue()
        process = self.context.Process(target=_local_worker, args=(self.spec, tasks, self.results, self.preloaded),
                                       daemon=True)
        process.start()
        return _Worker(process, tasks)

    def map(self, chunks: Iterable[list[BatchEntry]]) -> Iterator[list[GradedSubmission]]:
        """Grade every chunk; yield each chunk's results as soon as it is done."""
        pending = dict(enumerate(chunks))
        self.issued = len(pending)
        waiting = list(pending)
        retried: set[int] = set()
        workers = [self._start_worker() for _ in range(min(self.jobs, len(pending)) or 1)]
        for worker in workers:
            self._assign(worker, waiting, pending)
        try:
            while pending:
                try:
                    pid, key, payload = self.results.get(timeout=1.0)
                except queue.Empty:
                    workers = [self._replace_if_dead(w, waiting, pending, retried) for w in workers]
                    continue
                for worker in workers:
                    if worker.process.pid == pid and worker.holding == key:
                        worker.holding = None
                        self._assign(worker, waiting, pending)
                if key in pending:
                    del pending[key]
                    yield payload
        finally:
            for worker in workers:
                worker.tasks.put(None)
            for worker in workers:
                worker.process.join(timeout=10)
                if worker.process.is_alive():
                    worker.process.kill()

    def _split(self, key: int, waiting: list[int], pending: dict[int, list[BatchEntry]], retried: set[int]) -> None:
        """One chunk becomes one chunk per submission, each already tried once (new keys: a
        late message about a finished chunk must not match one of them)."""
        entries = pending.pop(key)
        keys = list(range(self.issued, self.issued + len(entries)))
        self.issued += len(entries)
        for new_key, entry in zip(keys, entries, strict=True):
            pending[new_key] = [entry]
            retried.add(new_key)
        waiting[:0] = keys

    @staticmethod
    def _assign(worker: _Worker, waiting: list[int], pending: dict[int, list[BatchEntry]]) -> None:
        while waiting:
            key = waiting.pop(0)
            if key in pending:
                worker.holding = key
                worker.tasks.put((key, pending[key]))
                return

    def _replace_if_dead(self, worker: _Worker, waiting: list[int], pending: dict[int, list[BatchEntry]], retried: set[int]) -> _Worker:
        if worker.process.is_alive():
            return worker
        key = worker.holding
        if key is not None and key in pending:
            if key not in retried:
                retried.add(key)
                waiting.insert(0, key)
            elif len(pending[key]) > 1:
                self._split(key, waiting, pending, retried)
            else:
                entry = pending[key][0]
                name = clean_name(entry.path.name)  # the student's own file name: cleaned where it enters
                error = RuntimeError(f"grading {name} killed a grading worker (exit code "
                                     f"{worker.process.exitcode}) twice; the other submissions were graded")
                self.results.put((None, key, [grader_error(self.spec.problem, entry, error, self.spec.formats,
                                                           self.spec.isolation)]))
        replacement = self._start_worker()
        self._assign(replacement, waiting, pending)
        return replacement


def _local_worker(
    spec: WorkerSpec,
    tasks: multiprocessing.queues.Queue[tuple[int, list[BatchEntry]] | None],
    results: multiprocessing.queues.Queue[tuple[int | None, int, list[GradedSubmission]]],
    preloaded: Preloaded | None,
) -> None:
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    with GradingSession(spec.problem, isolation=spec.isolation,
                        expected=preloaded.expected if preloaded else None,
                        library=preloaded.library if preloaded else None,
                        costs=preloaded.costs if preloaded else None) as session:
        session.load_library()
        _set_aside_what_lives_on()
        while (task := tasks.get()) is not None:
            key, chunk = task
            results.put((os.getpid(), key, grade_chunk(session, chunk, spec.formats)))
            # a pytest session leaves cycles behind; collected now, not whenever the collector
            # gets round to them, the worker's memory stays flat (measured: its peak grew 14%
            # from 48 to 496 submissions, and 5% with this)
            gc.collect()


def _set_aside_what_lives_on() -> None:
    """What is alive now lives as long as the process: the problem, the expected values and
    the misconception library, some 100,000 objects. Frozen, they are never traversed again
    by the collector's full passes, which the observations of a chunk set off every few
    submissions (measured: 8 ms of collection per submission before, 3 ms after), and a
    forked worker does not copy their pages by touching them."""
    gc.collect()
    gc.freeze()


def _die_with_parent() -> None:
    """Linux: a worker whose batch was killed (even with SIGKILL) goes with it."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
