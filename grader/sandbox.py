"""Run a submission's test programs in a separate, contained process.

The submission never enters the grader's process. A child Python runs ``interpreter.py``
(copied alone into an empty folder) on a copy of the submission; it receives only the
programs' steps and sends observations back, one JSON line per message, on a pipe of its
own. Its stdout and stderr are captured and capped; nothing it prints is trusted.

Containment, per submission:
- resource limits (CPU, address space, processes, file size, open files) set before exec;
- a wall-clock deadline per test and per submission, enforced from outside: a hung test
  is killed with its whole process group and the remaining tests run in a fresh process;
- a scrubbed environment and an empty working directory;
- on Linux with bubblewrap: new user, PID, network, IPC, UTS and mount namespaces, with only
  Python's own files and the sandbox folder mounted (``Isolation.NAMESPACE``); elsewhere,
  the process-level limits alone (``Isolation.PROCESS``), said so in the report.
"""

from __future__ import annotations

import json
import os
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Sequence

from grader.cgroups import PidsCgroup, create_pids_cgroup
from grader.observations import ProgramObservation, RaisedError, RunStatus, parse_error, parse_program
from grader.spec import Limits

MAX_MESSAGE_BYTES = 8 * 1024 * 1024
"""The longest result line accepted: far above a real program's (a few hundred KB)."""
OUTPUT_DRAIN_SECONDS = 0.5
TOKEN_VARIABLE = "GRADER_SANDBOX_RUN"
WORK_TMPFS_BYTES = 32 * 1024 * 1024
SANDBOX_DIR = "/sandbox"


class Isolation(str, Enum):
    NAMESPACE = "namespace"
    PROCESS = "process"


class IsolationUnavailable(RuntimeError):
    """Strict isolation was asked for and this machine cannot provide it."""


class LoadFailureKind(str, Enum):
    SYNTAX_ERROR = "syntax_error"
    IMPORT_ERROR = "import_error"
    MISSING_CLASS = "missing_class"
    FORBIDDEN_IMPORT = "forbidden_import"
    TIMED_OUT = "timed_out"
    CRASHED = "crashed"


@dataclass(frozen=True, slots=True)
class LoadFailure:
    kind: LoadFailureKind
    error: RaisedError | None
    detail: str


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
    stderr: str
    output_truncated: bool
    isolation: Isolation
    duration_s: float


def detect_isolation(mode: str = "auto") -> Isolation:
    """The strongest isolation this machine offers: "auto" falls back to process limits,
    "strict" refuses to, "process" asks for the fallback on purpose."""
    if mode == "process":
        return Isolation.PROCESS
    if _bwrap_works():
        return Isolation.NAMESPACE
    if mode == "strict":
        raise IsolationUnavailable(
            "--isolation strict: bubblewrap (bwrap) with user namespaces is not available here"
        )
    return Isolation.PROCESS


def _bwrap_works() -> bool:
    if not sys.platform.startswith("linux") or shutil.which("bwrap") is None:
        return False
    with tempfile.TemporaryDirectory(prefix="grader-probe-") as folder:
        box = _Box(Path(folder))
        box.code.mkdir()
        box.work.mkdir()
        probe = _bwrap_prefix(box.root) + [sys.executable, "-I", "-c", "pass"]
        try:
            return subprocess.run(probe, capture_output=True, timeout=20).returncode == 0
        except (OSError, subprocess.SubprocessError):
            return False


def run_submission(
    submission: Path, programs: Sequence[list[dict]], policy: SandboxPolicy
) -> SubmissionRun:
    """Run every program against the submission; never raises for anything it does."""
    started = time.monotonic()
    if submission.is_symlink():
        # a link could point at the reference or another student's file: grade only what was submitted
        failure = LoadFailure(LoadFailureKind.IMPORT_ERROR, None,
                              "the submission is a symbolic link, not a file: submit the file itself")
        return SubmissionRun(failure, (), tuple(ProgramObservation(RunStatus.NOT_RUN, detail=failure.detail)
                                                for _ in programs), "", "", False, policy.isolation, 0.0)
    with tempfile.TemporaryDirectory(prefix="grader-box-") as folder:
        box = _prepare_box(Path(folder), submission)
        session = _Session(box, programs, policy, started + policy.limits.submission_seconds)
        session.cgroup = create_pids_cgroup(policy.limits.processes)
        try:
            session.run()
        finally:
            if session.cgroup is not None:
                session.cgroup.remove()
    return SubmissionRun(
        load_failure=session.load_failure,
        missing_attributes=session.missing,
        programs=tuple(session.results[i] for i in range(len(programs))),
        stdout=session.stdout.text(),
        stderr=session.stderr.text(),
        output_truncated=session.stdout.truncated or session.stderr.truncated,
        isolation=policy.isolation,
        duration_s=round(time.monotonic() - started, 4),
    )


@dataclass(slots=True)
class _Box:
    """The sandbox folder: code/ (read-only inside) and work/ (the empty working directory)."""

    root: Path

    @property
    def code(self) -> Path:
        return self.root / "code"

    @property
    def work(self) -> Path:
        return self.root / "work"


def _prepare_box(root: Path, submission: Path) -> _Box:
    box = _Box(root)
    box.code.mkdir()
    box.work.mkdir()
    shutil.copyfile(submission, box.code / "submission.py")
    interpreter = resources.files("grader").joinpath("interpreter.py").read_bytes()
    (box.code / "interpreter.py").write_bytes(interpreter)
    return box


@dataclass(slots=True)
class _CappedBuffer:
    limit: int
    data: bytearray = field(default_factory=bytearray)
    truncated: bool = False

    def add(self, chunk: bytes) -> None:
        room = self.limit - len(self.data)
        if room > 0:
            self.data += chunk[:room]
        if len(chunk) > room:
            self.truncated = True

    def text(self) -> str:
        text = self.data.decode("utf-8", errors="replace")
        return text + ("\n[output truncated]" if self.truncated else "")


class _Session:
    """One submission's run: as many child processes as crashes and timeouts require."""

    def __init__(self, box: _Box, programs: Sequence[list[dict]], policy: SandboxPolicy, deadline: float):
        self.box, self.programs, self.policy, self.deadline = box, programs, policy, deadline
        self.results: dict[int, ProgramObservation] = {}
        self.load_failure: LoadFailure | None = None
        self.missing: tuple[str, ...] = ()
        cap = policy.limits.output_kb * 1024
        self.stdout, self.stderr = _CappedBuffer(cap), _CappedBuffer(cap)
        self.cgroup: PidsCgroup | None = None

    def run(self) -> None:
        while self.load_failure is None and self.pending():
            if time.monotonic() >= self.deadline:
                self.fill_pending(self.out_of_time())
                return
            progressed = self.attempt(self.pending())
            if not progressed and self.pending():
                # a process that dies between tests must not loop forever
                first = self.pending()[0]
                self.results[first] = ProgramObservation(
                    RunStatus.CRASHED, detail="the submission's process died before this test could run"
                )
        if self.load_failure is not None:
            self.fill_pending(ProgramObservation(RunStatus.NOT_RUN, detail=self.load_failure.detail))

    def pending(self) -> list[int]:
        return [i for i in range(len(self.programs)) if i not in self.results]

    def fill_pending(self, observation: ProgramObservation) -> None:
        for index in self.pending():
            self.results[index] = observation

    def out_of_time(self) -> ProgramObservation:
        seconds = self.policy.limits.submission_seconds
        return ProgramObservation(
            RunStatus.NOT_RUN, detail=f"not run: the submission used up its {seconds:g} s in total"
        )

    def attempt(self, pending: list[int]) -> bool:
        """One child process over the pending programs. Returns whether anything was decided."""
        before = len(self.results)
        read_end, write_end = os.pipe()
        self.write_config(pending, write_end)
        token = uuid.uuid4().hex
        # only the process level without a cgroup must hunt for detached children itself
        hunt_escapees = self.policy.isolation is Isolation.PROCESS and self.cgroup is None
        known_children = _children_of(os.getpid()) if hunt_escapees else set()
        if hunt_escapees:
            _become_subreaper()
        try:
            child = subprocess.Popen(
                self.command(),
                cwd=self.box.work,
                env=_scrubbed_environment(self.box.work, token),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(write_end,),
                start_new_session=True,
                preexec_fn=_limit_resources(self.policy.limits, self.cgroup),
            )
        finally:
            os.close(write_end)
        try:
            self.follow(child, read_end)
        finally:
            _kill_group(child)
            os.close(read_end)
            if self.cgroup is not None:
                self.cgroup.kill_all()
            elif hunt_escapees:
                _kill_escaped_descendants(known_children, token)
        return len(self.results) > before or self.load_failure is not None

    def write_config(self, pending: list[int], channel_fd: int) -> None:
        config = {
            "submission": f"{self.code_dir()}/submission.py",
            "class_name": self.policy.class_name,
            "required_attributes": list(self.policy.required_attributes),
            "forbidden_imports": list(self.policy.forbidden_imports),
            "programs": [[i, self.programs[i]] for i in pending],
            "channel_fd": channel_fd,
        }
        (self.box.code / "config.json").write_text(json.dumps(config))

    def code_dir(self) -> str:
        return f"{SANDBOX_DIR}/code" if self.policy.isolation is Isolation.NAMESPACE else str(self.box.code)

    def command(self) -> list[str]:
        python = [sys.executable, "-I", "-B", f"{self.code_dir()}/interpreter.py", f"{self.code_dir()}/config.json"]
        if self.policy.isolation is Isolation.NAMESPACE:
            return _bwrap_prefix(self.box.root) + python
        return python

    def follow(self, child: subprocess.Popen, channel: int) -> None:
        """Read the child's messages and output until it is done, dies, or runs out of time."""
        state = _AttemptState(test_deadline=time.monotonic() + self.policy.limits.test_seconds)
        selector = selectors.DefaultSelector()
        selector.register(channel, selectors.EVENT_READ, "channel")
        selector.register(child.stdout, selectors.EVENT_READ, self.stdout)
        selector.register(child.stderr, selectors.EVENT_READ, self.stderr)
        reader = _LineReader()
        while selector.get_map():
            deadline = state.drain_deadline or min(state.test_deadline, self.deadline)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if state.drain_deadline is None:
                    self.on_timeout(state.loaded, state.current, state.test_deadline <= self.deadline)
                return
            for key, _ in selector.select(timeout=remaining):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                    if key.data == "channel" and state.drain_deadline is None:
                        self.on_exit(child, state.loaded, state.current)
                        return
                elif key.data == "channel":
                    for line in reader.feed(chunk):
                        self.handle(_parse_message(line), state)
                    if state.finished:
                        # what the submission printed last is still in the pipes: read it briefly
                        state.drain_deadline = state.drain_deadline or time.monotonic() + OUTPUT_DRAIN_SECONDS
                else:
                    key.data.add(chunk)

    def handle(self, message: dict | None, state: "_AttemptState") -> None:
        """One message of the protocol; anything out of order is ignored."""
        if message is None or state.finished:
            return
        event = message["event"]
        if event == "loaded" and not state.loaded:
            state.loaded = True
            self.missing = _names(message.get("missing"))
        elif event == "load_error" and not state.loaded:
            self.load_failure = _load_failure(parse_error(message.get("error")))
            state.finished = True
        elif event == "start" and state.loaded:
            state.current = message.get("test")
            state.test_deadline = time.monotonic() + self.policy.limits.test_seconds
        elif event == "result" and state.loaded and message.get("test") == state.current:
            if state.current in self.pending():
                self.results[state.current] = parse_program(message.get("nodes"), message.get("error"))
            state.current = None
        elif event == "done" and state.loaded:
            state.finished = True

    def on_timeout(self, loaded: bool, current: int | None, test_limit: bool) -> None:
        limits = self.policy.limits
        if not loaded:
            seconds = min(limits.test_seconds, limits.submission_seconds)
            self.load_failure = LoadFailure(
                LoadFailureKind.TIMED_OUT, None,
                f"importing the submission did not finish within {seconds:g} s "
                "(is there a loop or a long computation at the top level?)",
            )
        elif current in self.pending():
            detail = (
                f"this test did not finish within {limits.test_seconds:g} s (an infinite loop?)"
                if test_limit
                else f"the submission used up its {limits.submission_seconds:g} s in total during this test"
            )
            self.results[current] = ProgramObservation(RunStatus.TIMED_OUT, detail=detail)

    def on_exit(self, child: subprocess.Popen, loaded: bool, current: int | None) -> None:
        try:
            code = child.wait(timeout=2)
        except subprocess.TimeoutExpired:
            code = None
        how = _describe_exit(code, through_bwrap=self.policy.isolation is Isolation.NAMESPACE)
        if not loaded:
            self.load_failure = LoadFailure(
                LoadFailureKind.CRASHED, None, f"the submission's process {how} while it was being imported"
            )
        elif current in self.pending():
            self.results[current] = ProgramObservation(
                RunStatus.CRASHED, detail=f"the submission's process {how} during this test"
            )


@dataclass(slots=True)
class _AttemptState:
    test_deadline: float
    loaded: bool = False
    current: int | None = None
    finished: bool = False
    drain_deadline: float | None = None


@dataclass(slots=True)
class _LineReader:
    """Splits the result channel into lines, scanning each byte once; a line longer than
    MAX_MESSAGE_BYTES is dropped whole, up to its newline."""

    partial: bytearray = field(default_factory=bytearray)
    discarding: bool = False

    def feed(self, chunk: bytes) -> list[bytes]:
        lines = []
        start = 0
        while (newline := chunk.find(b"\n", start)) != -1:
            if not self.discarding:
                self.partial += chunk[start:newline]
                lines.append(bytes(self.partial))
            self.partial.clear()
            self.discarding = False
            start = newline + 1
        if not self.discarding:
            self.partial += chunk[start:]
            if len(self.partial) > MAX_MESSAGE_BYTES:
                self.partial.clear()
                self.discarding = True
        return lines


def _parse_message(line: bytes) -> dict | None:
    try:
        message = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return message if isinstance(message, dict) and isinstance(message.get("event"), str) else None


def _names(raw: object) -> tuple[str, ...]:
    return tuple(str(name)[:100] for name in raw[:100]) if isinstance(raw, list) else ()


def _load_failure(error: RaisedError | None) -> LoadFailure:
    if error is None:
        return LoadFailure(LoadFailureKind.CRASHED, None, "the submission could not be loaded")
    if error.type in ("SyntaxError", "IndentationError", "TabError"):
        where = f" on line {error.line}" if error.line else ""
        detail = f"Python could not read the file: {error.type}{where}: {error.message}"
        if error.text:
            detail += f"\n    {error.text.strip()}"
        return LoadFailure(LoadFailureKind.SYNTAX_ERROR, error, detail)
    if error.type == "ImportError" and "is not allowed in this exercise" in error.message:
        return LoadFailure(LoadFailureKind.FORBIDDEN_IMPORT, error, f"{error.message}: write the autograd yourself")
    if error.type == "MissingClass":
        return LoadFailure(LoadFailureKind.MISSING_CLASS, error, error.message)
    return LoadFailure(
        LoadFailureKind.IMPORT_ERROR, error, f"the submission raised {error.describe()} while it was being imported"
    )


def _describe_exit(code: int | None, *, through_bwrap: bool = False) -> str:
    if code is None:
        return "stopped answering"
    if through_bwrap and 128 < code <= 128 + 64:
        code = -(code - 128)  # bwrap exits with 128 + N when its child is killed by signal N
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        reason = {
            "SIGKILL": " (often the memory limit)",
            "SIGXCPU": " (the CPU-time limit)",
            "SIGXFSZ": " (the file-size limit)",
            "SIGSEGV": " (a crash, often unbounded recursion)",
        }.get(name, "")
        return f"was killed by {name}{reason}"
    return f"exited with code {code}"


def _kill_group(child: subprocess.Popen) -> None:
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for stream in (child.stdout, child.stderr):
        if stream is not None:
            stream.close()
    try:
        child.wait(timeout=5)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


PR_SET_CHILD_SUBREAPER = 36


def _become_subreaper() -> None:
    """Process level, Linux: orphans of the sandbox (a double fork, a setsid child) are
    re-parented to the grader instead of init, so they can be found and killed."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _processes_of_user(uid: int) -> int:
    """How many processes the user runs now (Linux); 0 where /proc cannot tell."""
    count = 0
    for entry in Path("/proc").glob("[0-9]*") if sys.platform.startswith("linux") else ():
        try:
            count += entry.stat().st_uid == uid
        except OSError:
            continue
    return count


def _children_of(pid: int) -> set[int]:
    children = set()
    for entry in Path("/proc").glob("[0-9]*/stat") if sys.platform.startswith("linux") else ():
        try:
            stat = entry.read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            children.add(int(entry.parent.name))
    return children


def _kill_escaped_descendants(known: set[int], token: str) -> None:
    """Kill and reap the grader's new children that this run's submission detached: those
    carrying its token, or whose environment was wiped. Another grading thread's sandbox
    carries another token and is left alone."""
    for _ in range(200):
        escaped = {pid for pid in _children_of(os.getpid()) - known if _belongs_to_run(pid, token)}
        if not escaped:
            return
        for pid in escaped:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError, PermissionError):
                pass


def _belongs_to_run(pid: int, token: str) -> bool:
    try:
        environment = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return True  # unreadable: not one of ours to spare
    return token.encode() in environment or TOKEN_VARIABLE.encode() not in environment


def _scrubbed_environment(home: Path, token: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
        TOKEN_VARIABLE: token,
    }


def _limit_resources(limits: Limits, cgroup: PidsCgroup | None):
    """preexec_fn: the resource limits, set in the child just before it executes.

    The process count is capped by a pids cgroup where the grader can make one (root); else
    by RLIMIT_NPROC, which counts every process of the user, so it is set above what the
    user already runs (the kernel does not apply it to root)."""
    processes = None
    if cgroup is None and os.getuid() != 0:
        processes = _processes_of_user(os.getuid()) + limits.processes

    def apply() -> None:
        mb = 1024 * 1024
        if cgroup is not None:
            cgroup.enter()
        if processes is not None:
            resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
        for which, value in (
            (resource.RLIMIT_CPU, limits.cpu_seconds),
            (resource.RLIMIT_AS, limits.memory_mb * mb),
            (resource.RLIMIT_FSIZE, limits.file_size_mb * mb),
            (resource.RLIMIT_NOFILE, limits.open_files),
            (resource.RLIMIT_CORE, 0),
        ):
            resource.setrlimit(which, (value, value))

    return apply


def _bwrap_prefix(box_root: Path) -> list[str]:
    """bubblewrap with fresh namespaces, read-only system and Python, the box at /sandbox."""
    args = [
        "bwrap", "--unshare-all", "--die-with-parent", "--new-session",
        "--ro-bind", "/usr", "/usr", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
    ]
    for top in ("/bin", "/lib", "/lib64", "/lib32", "/sbin"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for prefix in sorted({sys.base_prefix, sys.prefix, sys.exec_prefix, str(Path(sys.executable).resolve().parent.parent)}):
        if not prefix.startswith("/usr"):
            args += ["--ro-bind", prefix, prefix]
    if os.path.exists("/etc/ld.so.cache"):
        args += ["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    args += [
        "--ro-bind", str(box_root / "code"), f"{SANDBOX_DIR}/code",
        # the working directory lives in memory, capped: a submission cannot fill the disk
        "--size", str(WORK_TMPFS_BYTES), "--tmpfs", f"{SANDBOX_DIR}/work",
        "--chdir", f"{SANDBOX_DIR}/work",
        "--setenv", "HOME", f"{SANDBOX_DIR}/work",
    ]
    return args
