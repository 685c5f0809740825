"""Run a submission's test programs in separate, contained processes.

The submission never enters the grader's process. A sandbox holds warm fork servers
(``forkserver.py``, copied with ``interpreter.py`` into an otherwise empty folder) that fork a
fresh child for each run; the child receives only its programs' steps and sends observations
back, one JSON line per message, on a pipe of its own. Its stdout and stderr are captured and
capped; nothing it prints is trusted.

Compartments: programs are grouped by who may see them (the visible tests; tests shown after
the due date; hidden and generated tests), and each group is held by a fork server of its
own. A submission's run goes through group 0 (what a student sees now), ends, and only then
through the next: no process that holds a program of another group ever writes anything a
student sees with group 0; of the other groups only observations come out (their text shown,
if ever, by the rule for their tests), never the process's own output.

The modules, along the seams:
- ``launch``: which isolation, as which user, with which caps, inside which file system;
- ``cgroups``: caps on all of a sandbox's processes together;
- ``server``: starting, talking to and stopping one fork server;
- ``session`` and ``channel``: one run, and reading what comes out of it;
- ``forkserver`` (runs inside): one run, one world.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from grader.forbidden import find_forbidden_import
from grader.limits import Limits
from grader.observations import (
    Budget,
    LoadFailure,
    LoadFailureKind,
    ProgramObservation,
    ResultLayout,
    RunStatus,
)
from grader.sandbox.forkserver import empty_folder
from grader.sandbox.launch import SANDBOX_DIR, Isolation, IsolationUnavailable, detect_isolation
from grader.sandbox.server import SandboxUnavailable, Server, ServerSpec
from grader.sandbox.session import SKIPPED, Session

__all__ = [
    "Isolation", "IsolationUnavailable", "Sandbox", "SandboxPolicy",
    "SandboxUnavailable", "SubmissionRun", "detect_isolation",
]

SUBMISSION_FILE = "submission.py"
TWIN_GRACE_SECONDS = 2.0
"""How far past the submission's own time its forward-only twins may run (only after a hang
or crash; a twin that hangs too is stopped at the test's limit)."""
SECRET_LOAD_FAILURE = (
    "the submission did not load in the run of the hidden tests ({kind}); "
    "it loaded for the visible tests, so this depends on something outside the file's own code"
)
SECRET_ONLY_LOAD_FAILURE = "the submission did not load ({kind}): run `grader check` on it to see why"


@dataclass(frozen=True, slots=True)
class SandboxPolicy:
    limits: Limits
    isolation: Isolation
    class_name: str
    required_attributes: tuple[str, ...]
    forbidden_imports: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SubmissionRun:
    """Everything observed of one submission, as data."""

    load_failure: LoadFailure | None
    missing_attributes: tuple[str, ...]
    programs: tuple[ProgramObservation, ...]
    stdout: str
    """What the submission printed while it ran the programs a student may see (never while
    it held a secret one)."""
    stderr: str
    output_truncated: bool
    isolation: Isolation
    duration_s: float
    again: Mapping[int, ProgramObservation] = field(default_factory=dict)
    """The second pass (``Sandbox.run(again=...)``), by test index: what the programs run
    once more, with the submission's objects at other addresses, observed."""
    containment: Mapping[str, object] = field(default_factory=dict)
    """How the limits held on this machine (``launch.containment_of``); empty if nothing ran."""


class _Compartment:
    """Some of a sandbox's programs, with a fork server of their own (started when first
    needed, restarted when it stops answering)."""

    def __init__(self, group: int, indices: Sequence[int], sandbox: Sandbox) -> None:
        self.group = group
        self.indices = tuple(indices)
        self.limits = sandbox.policy.limits
        self.layouts = {i: sandbox.layouts[i] for i in self.indices}
        self.budgets = {i: Budget.of(sandbox.programs[i]) for i in self.indices}
        self.families = {i: sandbox.families[i] for i in self.indices if i < len(sandbox.families)}
        self.required_attributes = frozenset(sandbox.policy.required_attributes)
        self.work = sandbox.root / f"work-{group}"
        self.spec = ServerSpec(
            isolation=sandbox.policy.isolation,
            limits=sandbox.policy.limits,
            code=sandbox.code,
            work=self.work,
            programs=tuple((i, sandbox.programs[i]) for i in self.indices),
            submission={
                "shown_as": f"{SANDBOX_DIR}/code/{SUBMISSION_FILE}",
                "class_name": sandbox.policy.class_name,
                "required_attributes": list(sandbox.policy.required_attributes),
                "forbidden_imports": list(sandbox.policy.forbidden_imports),
            },
        )
        self._server: Server | None = None

    def server(self) -> Server:
        if self._server is None:
            self._server = Server.start(self.spec)
        return self._server

    def containment(self) -> Mapping[str, object]:
        return self._server.containment if self._server is not None else {}

    def discard_server(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


class Sandbox:
    """The warm fork servers of a grading session: they run many submissions, one at a time,
    each in fresh processes forked for it (see ``forkserver.py``). The programs are fixed for
    the sandbox's life; a run may ask for any subset of them. ``groups`` gives each program's
    compartment (see the module's docstring); by default all are in group 0."""

    def __init__(self, policy: SandboxPolicy, programs: Sequence[dict[str, Any]], groups: Sequence[int] = (),
                 families: Sequence[str] = ()) -> None:
        self.policy, self.count = policy, len(programs)
        self.families = tuple(families)
        """Each program's family (a generated shape), or ""; a family whose programs run over
        their time twice is given up (``session.SKIPPED``)."""
        # each program with a backward() step has a twin without it, run in a process of its
        # own after the program hung or crashed: what the file computed before backward()
        # still earns partial credit, and the program's own run is not disturbed
        forwards = {i: forward for i, program in enumerate(programs) if (forward := _forward(program)) is not None}
        self.twin_of = {i: len(programs) + k for k, i in enumerate(forwards)}
        self.programs = [*programs, *forwards.values()]
        self.layouts = [ResultLayout.of(program) for program in self.programs]
        self.root = Path(tempfile.mkdtemp(prefix="grader-box-"))
        os.chmod(self.root, 0o755)  # a sandbox's own uid reaches code/ (and nothing else here)
        self.code = _prepare_code(self.root)
        group_of = list(groups) if groups else [0] * self.count
        group_of += [group_of[i] for i in self.twin_of]
        self.compartments = tuple(
            _Compartment(group, [i for i, g in enumerate(group_of) if g == group], self) for group in sorted(set(group_of))
        )

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.discard_servers()
        # not TemporaryDirectory.cleanup: it recurses, and a run may have nested folders
        # thousands deep in its working directory
        empty_folder(str(self.root))
        try:
            os.rmdir(self.root)
        except OSError:
            pass

    def discard_servers(self) -> None:
        for compartment in self.compartments:
            compartment.discard_server()

    def run(
        self, source: bytes | None, tests: Sequence[int] | None = None, *, again: Sequence[int] = (),
        again_shift: int = 1, on_program: Callable[[int, bool], None] | None = None,
    ) -> SubmissionRun:
        """Run the programs ``tests`` (default: all) against a submission's bytes (as
        ``files.read_submission`` read them; None for a symbolic link, which is refused); never
        raises for anything the submission does.

        Then, in the same process as the first pass of the same compartment, a second pass
        runs the programs ``again`` once more, after moving where the submission's objects
        land by ``again_shift`` blocks of each size (``interpreter.shift_memory_layout``):
        results that depend on set order differ there.

        ``on_program`` is told each program as a run starts it: its index, and whether it runs
        once more (its second pass, or its forward-only twin after it hung or crashed); nothing
        the submission said."""
        started = time.monotonic()
        indices = list(range(self.count)) if tests is None else list(tests)
        if source is None:
            failure = LoadFailure(LoadFailureKind.IMPORT_ERROR, None,
                                  "the submission is a symbolic link, not a file: submit the file itself")
            observation = ProgramObservation(RunStatus.NOT_RUN, detail=failure.detail)
            return SubmissionRun(failure, (), tuple(observation for _ in indices), "", "", False,
                                 self.policy.isolation, 0.0)
        forbidden = find_forbidden_import(source, self.policy.forbidden_imports)
        if forbidden is not None:
            failure = LoadFailure(LoadFailureKind.FORBIDDEN_IMPORT, None, forbidden.describe())
            observation = ProgramObservation(RunStatus.NOT_RUN, detail=failure.detail)
            return SubmissionRun(failure, (), tuple(observation for _ in indices), "", "", False,
                                 self.policy.isolation, round(time.monotonic() - started, 4))
        submission = self.code / SUBMISSION_FILE
        submission.write_bytes(source)
        os.chmod(submission, 0o644)
        deadline = started + self.policy.limits.submission_seconds
        try:
            sessions = [(c.group, self._session(c, indices, again, again_shift, deadline, on_program))
                        for c in self.compartments]
            ran = [(group, session) for group, session in sessions if session is not None]
            results: dict[tuple[int, bool], ProgramObservation] = {}
            for _group, session in ran:
                results.update(session.results)
            self._run_twins(results, indices, deadline + TWIN_GRACE_SECONDS, on_program)
        finally:
            submission.unlink(missing_ok=True)
        shown = next((session for group, session in ran if group == 0), None)
        return SubmissionRun(
            load_failure=_load_failure(shown, [session for group, session in ran if group != 0]),
            missing_attributes=ran[0][1].missing if ran else (),
            programs=tuple(results[(i, False)] for i in indices),
            stdout=shown.stdout.text() if shown is not None else "",
            stderr=shown.stderr.text() if shown is not None else "",
            output_truncated=shown is not None and (shown.stdout.truncated or shown.stderr.truncated),
            isolation=self.policy.isolation,
            duration_s=round(time.monotonic() - started, 4),
            again={i: results[(i, True)] for i in again},
            containment=self.compartments[0].containment(),
        )

    def _run_twins(self, results: dict[tuple[int, bool], ProgramObservation], indices: list[int],
                   deadline: float, on_program: Callable[[int, bool], None] | None = None) -> None:
        """The twins of the programs that hung or crashed, in fresh processes of their
        compartments; the nodes they show are attached to the failed program's observation,
        whose status stays what it was."""
        broken = {self.twin_of[i]: i for i in indices
                  if i in self.twin_of and results[(i, False)].status in (RunStatus.TIMED_OUT, RunStatus.CRASHED)
                  and not results[(i, False)].nodes and results[(i, False)].detail != SKIPPED}
        if not broken:
            return
        told = (lambda twin, _again: on_program(broken[twin], True)) if on_program is not None else None
        for compartment in self.compartments:
            session = self._session(compartment, list(broken), (), 1, deadline, told)
            for (twin, _again), observation in (session.results.items() if session is not None else ()):
                if observation.status in (RunStatus.COMPLETED, RunStatus.RAISED):
                    original = (broken[twin], False)
                    results[original] = dataclasses.replace(results[original], nodes=observation.nodes)

    def _session(self, compartment: _Compartment, indices: list[int], again: Sequence[int], again_shift: int,
                 deadline: float, on_program: Callable[[int, bool], None] | None = None) -> Session | None:
        mine = set(compartment.indices)
        tests = [i for i in indices if i in mine]
        twice = [i for i in again if i in mine]
        if not tests and not twice:
            return None
        session = Session(compartment, self._submission_path(), tests, twice, again_shift, deadline,
                          self.policy.limits.output_kb, on_program)
        session.run()
        return session

    def _submission_path(self) -> str:
        if self.policy.isolation is Isolation.NAMESPACE:
            return f"{SANDBOX_DIR}/code/{SUBMISSION_FILE}"
        return str(self.code / SUBMISSION_FILE)


def _load_failure(shown: Session | None, others: list[Session]) -> LoadFailure | None:
    """Group 0's load failure as it is; another group's by its kind only: its text came from a
    process that held programs a student may not see now."""
    if shown is not None and shown.load_failure is not None:
        return shown.load_failure
    failed = next((session.load_failure for session in others if session.load_failure is not None), None)
    if failed is None:
        return None
    text = SECRET_LOAD_FAILURE if shown is not None else SECRET_ONLY_LOAD_FAILURE
    return LoadFailure(failed.kind, None, text.format(kind=failed.kind.value.replace("_", " ")))


def _forward(program: dict[str, Any]) -> dict[str, Any] | None:
    """The program up to its first backward() step; None if it has none, or starts with one."""
    steps = program["steps"]
    first = next((k for k, step in enumerate(steps) if step.get("kind") == "backward"), None)
    if not first:
        return None
    return {**program, "steps": steps[:first]}


def _prepare_code(root: Path) -> Path:
    code = root / "code"
    code.mkdir()
    os.chmod(code, 0o755)
    for package, name in (("grader", "interpreter.py"), ("grader.sandbox", "forkserver.py")):
        target = code / name
        target.write_bytes(resources.files(package).joinpath(name).read_bytes())
        os.chmod(target, 0o644)
    return code
