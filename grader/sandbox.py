"""Run a submission's test programs in a separate, contained process.

The submission never enters the grader's process. A sandbox holds one warm fork server
(``forkserver.py``, copied with ``interpreter.py`` into an otherwise empty folder) that forks
a fresh child for each run; the child receives only the programs' steps and sends
observations back, one JSON line per message, on a pipe of its own. Its stdout and stderr are
captured and capped; nothing it prints is trusted.

Containment, per run:
- resource limits (CPU, address space, file size, open files) set in the child, and a process
  cap (a pids cgroup where the grader may make one, else RLIMIT_NPROC);
- a wall-clock deadline per test and per submission, enforced from outside: a hung test
  is killed with everything it started and the remaining tests run in a fresh child;
- a scrubbed environment and an empty working directory, wiped after every run;
- on Linux with bubblewrap: new user, PID, network, IPC, UTS and mount namespaces, with only
  Python's own files and the sandbox folder mounted (``Isolation.NAMESPACE``); elsewhere,
  the process-level limits alone (``Isolation.PROCESS``), said so in the report.
"""

from __future__ import annotations

import json
import os
import select
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Mapping, Sequence

from grader.cgroups import PidsCgroup, create_pids_cgroup
from grader.observations import ProgramObservation, RaisedError, ResultLayout, RunStatus, parse_error, parse_program
from grader.spec import Limits
from grader.text import clean

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
    again: Mapping[int, ProgramObservation] = field(default_factory=dict)
    """The second pass (``Sandbox.run(again=...)``), by test index: what the programs run
    once more, with the submission's objects at other addresses, observed."""


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


class SandboxUnavailable(RuntimeError):
    """The sandbox's server could not be started at all (a broken installation, not a submission)."""


class Sandbox:
    """One warm fork server in one box, for a grading session: it runs many submissions, one
    at a time, each in a fresh process forked for it (see ``forkserver.py``). The programs are
    fixed for the sandbox's life; a run may ask for any subset of them."""

    def __init__(self, policy: SandboxPolicy, programs: Sequence[dict]) -> None:
        self.policy, self.programs = policy, list(programs)
        self.layouts = [ResultLayout.of(program) for program in self.programs]
        self._folder = tempfile.TemporaryDirectory(prefix="grader-box-")
        self.box = _prepare_box(Path(self._folder.name))
        self._server: _Server | None = None

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self.discard_server()
        self._folder.cleanup()

    def server(self) -> "_Server":
        if self._server is None:
            self._server = _Server.start(self.box, self.policy, self.programs)
        return self._server

    def discard_server(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def run(
        self, source: bytes | None, tests: Sequence[int] | None = None, *, again: Sequence[int] = (),
        again_shift: int = 1,
    ) -> SubmissionRun:
        """Run the programs ``tests`` (default: all) against a submission's bytes (as
        ``files.read_submission`` read them; None for a symbolic link, which is refused); never
        raises for anything the submission does.

        Then, in the same process, a second pass runs the programs ``again`` once more, after
        moving where the submission's objects land by ``again_shift`` blocks of each size
        (``interpreter.shift_memory_layout``): results that depend on set order differ there."""
        started = time.monotonic()
        indices = list(range(len(self.programs))) if tests is None else list(tests)
        if source is None:
            failure = LoadFailure(LoadFailureKind.IMPORT_ERROR, None,
                                  "the submission is a symbolic link, not a file: submit the file itself")
            observation = ProgramObservation(RunStatus.NOT_RUN, detail=failure.detail)
            return SubmissionRun(failure, (), tuple(observation for _ in indices), "", "", False, self.policy.isolation, 0.0)
        (self.box.code / SUBMISSION_FILE).write_bytes(source)
        try:
            session = _Session(self, indices, list(again), again_shift, started + self.policy.limits.submission_seconds)
            session.run()
        finally:
            (self.box.code / SUBMISSION_FILE).unlink(missing_ok=True)
        return SubmissionRun(
            load_failure=session.load_failure,
            missing_attributes=session.missing,
            programs=tuple(session.results[(i, False)] for i in indices),
            stdout=session.stdout.text(),
            stderr=session.stderr.text(),
            output_truncated=session.stdout.truncated or session.stderr.truncated,
            isolation=self.policy.isolation,
            duration_s=round(time.monotonic() - started, 4),
            again={i: session.results[(i, True)] for i in again},
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


SUBMISSION_FILE = "submission.py"
PYTHON_FLAGS = ("-s", "-B", *(("-P",) if sys.version_info >= (3, 11) else ()))
"""No user site-packages, no bytecode written, no script folder on sys.path (3.11+). Not -I:
that would also ignore PYTHONHASHSEED, which the sandbox fixes (its environment is scrubbed,
so no other PYTHON* variable reaches it)."""
SERVER_START_SECONDS = 20.0
EXIT_GRACE_SECONDS = 2.0
"""How long a child whose result channel closed may take to exit before it is killed."""
REPLY_SLACK_SECONDS = 10.0


def _prepare_box(root: Path) -> _Box:
    box = _Box(root)
    box.code.mkdir()
    box.work.mkdir()
    for name in ("interpreter.py", "forkserver.py"):
        (box.code / name).write_bytes(resources.files("grader").joinpath(name).read_bytes())
    return box


class _Server:
    """The grader's handle on a running fork server: its process and its control socket."""

    def __init__(self, process: subprocess.Popen, control: socket.socket, cgroup: PidsCgroup | None,
                 token: str, known_children: set[int] | None) -> None:
        self.process, self.control, self.cgroup, self.token = process, control, cgroup, token
        self.known_children = known_children
        self.buffer = b""

    @classmethod
    def start(cls, box: _Box, policy: SandboxPolicy, programs: list[list[dict]]) -> "_Server":
        namespace = policy.isolation is Isolation.NAMESPACE
        code = f"{SANDBOX_DIR}/code" if namespace else str(box.code)
        work = f"{SANDBOX_DIR}/work" if namespace else str(box.work)
        token = uuid.uuid4().hex
        cgroup = create_pids_cgroup(policy.limits.processes + (2 if namespace else 1))  # + bwrap and the server
        config = {
            "programs": programs,
            "interpreter": f"{code}/interpreter.py",
            "submission": {
                "class_name": policy.class_name,
                "required_attributes": list(policy.required_attributes),
                "forbidden_imports": list(policy.forbidden_imports),
            },
            "limits": {**asdict(policy.limits), "nproc": _nproc_limit(policy.limits, cgroup)},
            "work": work,
            "wipe": [work, "/tmp", "/dev/shm"] if namespace else [work],
            "wipe_dev": namespace,
            "environment": _scrubbed_environment(Path(work), token),
        }
        (box.code / "server.json").write_text(json.dumps(config))
        ours, theirs = socket.socketpair()
        python = [sys.executable, *PYTHON_FLAGS, f"{code}/forkserver.py", f"{code}/server.json", str(theirs.fileno())]
        hunt = policy.isolation is Isolation.PROCESS and cgroup is None
        known = _children_of(os.getpid()) if hunt else None
        if hunt:
            _become_subreaper()
        with open(box.root / "server.log", "wb") as log:
            process = subprocess.Popen(
                (_bwrap_prefix(box.root) if namespace else []) + python,
                cwd=box.work,
                env=_scrubbed_environment(box.work, token),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
                preexec_fn=_server_preexec(cgroup),
            )
        theirs.close()
        server = cls(process, ours, cgroup, token, known)
        if server.reply(SERVER_START_SECONDS) != {"ready": True}:
            log_text = (box.root / "server.log").read_text(errors="replace")[-2000:]
            server.stop()
            raise SandboxUnavailable(f"the sandbox did not start ({policy.isolation.value} isolation):\n{log_text}")
        return server

    def request(self, message: dict, timeout: float, fds: Sequence[int] = ()) -> dict | None:
        """One request and its reply; None when the server is gone or does not answer in time."""
        try:
            socket.send_fds(self.control, [(json.dumps(message) + "\n").encode()], list(fds))
        except OSError:
            return None
        return self.reply(timeout)

    def reply(self, timeout: float) -> dict | None:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.control], [], [], remaining)[0]:
                return None
            try:
                data = self.control.recv(65536)
            except OSError:
                return None
            if not data:
                return None
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\n", 1)
        try:
            reply = json.loads(line)
        except ValueError:
            return None
        return reply if isinstance(reply, dict) else None

    def stop(self) -> None:
        """End the server and everything it ever started."""
        self.control.close()
        _kill_group(self.process)
        if self.cgroup is not None:
            self.cgroup.remove()
        elif self.known_children is not None:
            _kill_escaped_descendants(self.known_children, self.token)


ADDR_NO_RANDOMIZE = 0x0040000


def _server_preexec(cgroup: PidsCgroup | None):
    """In the server's process before it executes: join the cgroup, and turn address-space
    randomisation off, so that where a submission's objects land (and so the order in which
    it iterates a set of Values) is the same in every run of the same file. Randomisation
    defends against memory-corruption exploits, no defence against code that can already
    run anything Python can."""

    def apply() -> None:
        if cgroup is not None:
            cgroup.enter()
        if sys.platform.startswith("linux"):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.personality(libc.personality(0xFFFFFFFF) | ADDR_NO_RANDOMIZE)

    return apply


def _nproc_limit(limits: Limits, cgroup: PidsCgroup | None) -> int | None:
    """RLIMIT_NPROC counts every process of the user, so it is set above what the user already
    runs; not needed under a pids cgroup, and not applied by the kernel to root."""
    if cgroup is not None or os.getuid() == 0:
        return None
    return _processes_of_user(os.getuid()) + limits.processes + 1


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
        text = clean(bytes(self.data), self.limit)  # the one place captured output becomes text
        return text + ("\n[output truncated]" if self.truncated else "")


class _Child:
    """One forked run inside the server: ends exactly once, with its wait status."""

    def __init__(self, server: _Server, pid: int) -> None:
        self.server, self.pid = server, pid
        self.ended = False
        self.status: int | None = None

    def end(self, grace: float) -> int | None:
        """Let the run end on its own within ``grace`` seconds, else kill it; then the server
        kills its stragglers and wipes its traces. None if the server did not answer."""
        if not self.ended:
            self.ended = True
            reply = self.server.request({"op": "finish", "pid": self.pid, "grace": grace}, grace + REPLY_SLACK_SECONDS)
            self.status = reply.get("status") if reply else None
        return self.status


_Key = tuple[int, bool]
"""A program's place in a run: its test index, and whether it is the second pass's."""


class _Session:
    """One submission's run: as many child processes as crashes and timeouts require."""

    def __init__(self, sandbox: Sandbox, indices: list[int], again: list[int], again_shift: int, deadline: float):
        self.sandbox, self.deadline = sandbox, deadline
        self.keys: list[_Key] = [(i, False) for i in indices] + [(i, True) for i in again]
        self.wanted = set(self.keys)
        self.again_shift = again_shift
        self.policy = sandbox.policy
        self.results: dict[_Key, ProgramObservation] = {}
        self.load_failure: LoadFailure | None = None
        self.missing: tuple[str, ...] = ()
        cap = self.policy.limits.output_kb * 1024
        self.stdout, self.stderr = _CappedBuffer(cap), _CappedBuffer(cap)

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

    def pending(self) -> list[_Key]:
        return [key for key in self.keys if key not in self.results]

    def is_pending(self, key: object) -> bool:
        """Without building the list: a run reports on each of its programs."""
        return key in self.wanted and key not in self.results

    def fill_pending(self, observation: ProgramObservation) -> None:
        for key in self.pending():
            self.results[key] = observation

    def out_of_time(self) -> ProgramObservation:
        seconds = self.policy.limits.submission_seconds
        return ProgramObservation(
            RunStatus.NOT_RUN, detail=f"not run: the submission used up its {seconds:g} s in total"
        )

    def attempt(self, pending: list[_Key]) -> bool:
        """One forked child over the pending programs. Returns whether anything was decided."""
        before = len(self.results)
        server = self.sandbox.server()
        pipes = [os.pipe() for _ in range(3)]  # result channel, stdout, stderr
        try:
            reply = server.request(
                {"op": "spawn", "submission": f"{self.code_dir()}/{SUBMISSION_FILE}",
                 "tests": [i for i, again in pending if not again], "again": [i for i, again in pending if again],
                 "again_shift": self.again_shift},
                REPLY_SLACK_SECONDS,
                fds=[write for _read, write in pipes],
            )
        finally:
            for _read, write in pipes:
                os.close(write)
        if reply is None or not isinstance(reply.get("pid"), int):
            for read, _write in pipes:
                os.close(read)
            self.sandbox.discard_server()
            return False
        child = _Child(server, reply["pid"])
        try:
            self.follow(child, pending, *(read for read, _write in pipes))
        finally:
            for read, _write in pipes:
                os.close(read)
            child.end(grace=0)
        if child.status is None:
            self.sandbox.discard_server()  # it stopped answering: the next run gets a new one
        return len(self.results) > before or self.load_failure is not None

    def code_dir(self) -> str:
        return f"{SANDBOX_DIR}/code" if self.policy.isolation is Isolation.NAMESPACE else str(self.sandbox.box.code)

    def follow(self, child: _Child, order: list[_Key], channel: int, stdout: int, stderr: int) -> None:
        """Read the child's messages and output until it is done, dies, or runs out of time.
        The child runs the programs in ``order``, each once the one before it has reported."""
        state = _AttemptState(time.monotonic() + self.policy.limits.test_seconds, order)
        selector = selectors.DefaultSelector()
        selector.register(channel, selectors.EVENT_READ, "channel")
        selector.register(stdout, selectors.EVENT_READ, self.stdout)
        selector.register(stderr, selectors.EVENT_READ, self.stderr)
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
            self.next_program(state)
        elif event == "load_error" and not state.loaded:
            self.load_failure = _load_failure(parse_error(message.get("error")))
            state.finished = True
        elif event == "result" and state.loaded and (message.get("test"), message.get("again") is True) == state.current:
            if self.is_pending(state.current):
                self.record(state.current, message)
            self.next_program(state)
        elif event == "done" and state.loaded:
            state.finished = True

    def next_program(self, state: "_AttemptState") -> None:
        """The program the child runs now: it has its own time limit from this moment."""
        state.current = state.order[state.started] if state.started < len(state.order) else None
        state.started += 1
        state.test_deadline = time.monotonic() + self.policy.limits.test_seconds

    def record(self, key: _Key, message: dict) -> None:
        index, again = key
        if again and message.get("same") is True:
            # the child ran this program twice and saw the same both times; it can only claim
            # this about its own first pass, which this session then holds
            first = self.results.get((index, False))
            self.results[key] = first if first is not None else ProgramObservation(
                RunStatus.NOT_RUN, detail="the second pass had nothing to compare with")
            return
        self.results[key] = parse_program(message.get("values"), message.get("error"), self.sandbox.layouts[index])

    def on_timeout(self, loaded: bool, current: _Key | None, test_limit: bool) -> None:
        limits = self.policy.limits
        if not loaded:
            seconds = min(limits.test_seconds, limits.submission_seconds)
            self.load_failure = LoadFailure(
                LoadFailureKind.TIMED_OUT, None,
                f"importing the submission did not finish within {seconds:g} s "
                "(is there a loop or a long computation at the top level?)",
            )
        elif self.is_pending(current):
            detail = (
                f"this test did not finish within {limits.test_seconds:g} s (an infinite loop?)"
                if test_limit
                else f"the submission used up its {limits.submission_seconds:g} s in total during this test"
            )
            self.results[current] = ProgramObservation(RunStatus.TIMED_OUT, detail=detail)

    def on_exit(self, child: _Child, loaded: bool, current: _Key | None) -> None:
        status = child.end(grace=EXIT_GRACE_SECONDS)
        how = _describe_exit(None if status is None else os.waitstatus_to_exitcode(status))
        if not loaded:
            self.load_failure = LoadFailure(
                LoadFailureKind.CRASHED, None, f"the submission's process {how} while it was being imported"
            )
        elif self.is_pending(current):
            self.results[current] = ProgramObservation(
                RunStatus.CRASHED, detail=f"the submission's process {how} during this test"
            )


@dataclass(slots=True)
class _AttemptState:
    test_deadline: float
    order: list[_Key]
    """The programs the child runs, in its order."""
    started: int = 0
    loaded: bool = False
    current: _Key | None = None
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


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "stopped answering"
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
    """All the sandbox's processes see. The hash seed is fixed so that a submission iterating
    a set of strings does so in the same order in every run (a regrade must give the same
    grade); randomised hashing defends servers against crafted input, not against code that
    can already loop forever."""
    return {
        "PATH": "/usr/bin:/bin",
        "PYTHONHASHSEED": "0",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
        TOKEN_VARIABLE: token,
    }


def _bwrap_prefix(box_root: Path) -> list[str]:
    """bubblewrap with fresh namespaces, read-only system and Python, the box at /sandbox. The
    command runs as pid 1 of its PID namespace: no process inside can signal it, and orphans of
    a run come to it."""
    args = [
        "bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--as-pid-1",
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
