"""The grader's handle on one running fork server: start it (inside bubblewrap, or as a plain
process), talk to it over its control socket, stop it with everything it ever started."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.limits import Limits
from grader.sandbox import forkserver
from grader.sandbox.cgroups import SandboxCgroup, create_sandbox_cgroup
from grader.sandbox.launch import (
    OWN_PROCESSES,
    PYTHON_FLAGS,
    SANDBOX_DIR,
    Isolation,
    SandboxUser,
    bwrap_command,
    caps_for,
    claim_sandbox_user,
    containment_of,
    python_executable,
    server_config,
)

SERVER_START_SECONDS = 20.0
ADDR_NO_RANDOMIZE = 0x0040000
PR_SET_CHILD_SUBREAPER = 36


class SandboxUnavailable(RuntimeError):
    """The sandbox's server could not be started at all (a broken installation, not a submission)."""


@dataclass(frozen=True, slots=True)
class ServerSpec:
    """What one fork server is started with."""

    isolation: Isolation
    limits: Limits
    code: Path
    """The folder with interpreter.py and forkserver.py (read-only inside)."""
    work: Path
    """The working directory at the process level (at the namespace level each run has its own)."""
    programs: tuple[tuple[int, object], ...]
    """The only programs this server, and every run forked from it, ever holds: by test index."""
    submission: dict[str, Any]


def scrubbed_environment(home: str) -> dict[str, str]:
    """All the sandbox's processes see. The hash seed is fixed so that a submission iterating
    a set of strings does so in the same order in every run (a regrade must give the same
    grade); randomised hashing defends servers against crafted input, not against code that
    can already loop forever."""
    return {
        "PATH": "/usr/bin:/bin",
        "PYTHONHASHSEED": "0",
        "HOME": home,
        "LANG": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
    }


class Server:
    """A running fork server: its process, its control socket, its cgroup and its user."""

    def __init__(self, process: subprocess.Popen[bytes], control: socket.socket, cgroup: SandboxCgroup | None,
                 user: SandboxUser | None, known_children: frozenset[int] | None, containment: dict[str, Any]) -> None:
        self.process, self.control, self.cgroup, self.user = process, control, cgroup, user
        self.known_children = known_children
        self.containment = containment
        """How the limits hold (``launch.containment_of``), for the report."""
        self.buffer = b""

    @classmethod
    def start(cls, spec: ServerSpec) -> Server:
        namespace = spec.isolation is Isolation.NAMESPACE
        user = claim_sandbox_user()
        cgroup = create_sandbox_cgroup(spec.limits.processes + OWN_PROCESSES[spec.isolation],
                                       spec.limits.memory_mb << 20)
        caps = caps_for(spec.limits, cgroup is not None and cgroup.limits_memory)
        if not namespace:
            _hand_work_to(spec.work, user)
        home = f"{SANDBOX_DIR}/work" if namespace else str(spec.work)
        config = server_config(
            spec.isolation, spec.code, spec.work, spec.limits, caps, user, cgroup,
            [list(pair) for pair in spec.programs], spec.submission, scrubbed_environment(home),
        )
        code = f"{SANDBOX_DIR}/code" if namespace else str(spec.code)
        ours, theirs = socket.socketpair()
        # fixed-width arguments: the server's argv is part of the heap every run is forked from,
        # and its size must not depend on which descriptor number the socket got here
        drop_to = user.uid if namespace and user is not None else 0  # the uid it drops to first
        command = [python_executable(), *PYTHON_FLAGS, f"{code}/forkserver.py", f"{theirs.fileno():05d}",
                   f"{drop_to:010d}"]
        if namespace:
            command = bwrap_command(spec.code, as_root=os.getuid() == 0) + command
        known = frozenset(forkserver.children_of(os.getpid())) if not namespace and user is None else None
        if known is not None:
            _become_subreaper()  # orphans of a server that dies come here, to be killed
        log = spec.code.parent / f"server-{spec.work.name}.log"  # one per compartment
        with open(log, "wb") as log_file, _released_on_failure(user, cgroup):
            process = subprocess.Popen(
                command,
                cwd="/" if namespace else spec.work,
                env=scrubbed_environment(home),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log_file,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
                preexec_fn=_server_preexec(cgroup),
            )
        theirs.close()
        LIVE_SERVERS.add(process.pid)
        server = cls(process, ours, cgroup, user, known, containment_of(spec.isolation, caps, user, cgroup is not None))
        try:
            body = json.dumps(config).encode()
            ours.sendall(len(body).to_bytes(8, "big") + body)  # see forkserver._receive_config
        except OSError:
            pass
        if server.reply(SERVER_START_SECONDS) != {"ready": True}:
            log_text = log.read_text(errors="replace")[-2000:]
            server.stop()
            raise SandboxUnavailable(f"the sandbox did not start ({spec.isolation.value} isolation):\n{log_text}")
        return server

    def request(self, message: dict[str, Any], timeout: float, fds: Sequence[int] = ()) -> dict[str, Any] | None:
        """One request and its reply; None when the server is gone or does not answer in time."""
        try:
            socket.send_fds(self.control, [(json.dumps(message) + "\n").encode()], list(fds))
        except OSError:
            return None
        return self.reply(timeout)

    def reply(self, timeout: float) -> dict[str, Any] | None:
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
        """End the server and everything it ever started: its process group, its cgroup, and
        at the process level every process of its uid (or, as the grader's own user, every
        process that came to the grader as an orphan)."""
        self.control.close()
        _kill_group(self.process)
        LIVE_SERVERS.discard(self.process.pid)
        if self.cgroup is not None:
            self.cgroup.remove()
        if self.user is not None:
            _kill_every_process_of(self.user.uid)
            self.user.release()
        elif self.known_children is not None:
            _kill_orphans_of_servers(self.known_children)


@contextlib.contextmanager
def _released_on_failure(user: SandboxUser | None, cgroup: SandboxCgroup | None) -> Iterator[None]:
    """The uid and cgroup claimed for a server that could not even be started are let go."""
    try:
        yield
    except BaseException:
        if cgroup is not None:
            cgroup.remove()
        if user is not None:
            user.release()
        raise


def _hand_work_to(work: Path, user: SandboxUser | None) -> None:
    """Process level: the working directory belongs to the uid the runs take."""
    work.mkdir(exist_ok=True)
    if user is not None:
        os.chown(work, user.uid, user.uid)
        os.chmod(work, 0o700)


def _server_preexec(cgroup: SandboxCgroup | None) -> Callable[[], None]:
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


def _kill_group(child: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        child.wait(timeout=5)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def _become_subreaper() -> None:
    """Process level as the grader's own user, Linux: orphans of a server that died (a run
    that killed it) are re-parented to the grader instead of init, so they can be killed."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _kill_every_process_of(uid: int) -> None:
    """As root: every process of a sandbox's own uid (see forkserver._kill_every_process_of)."""
    forkserver._kill_every_process_of(uid)


LIVE_SERVERS: set[int] = set()
"""The fork servers this process runs now (pids). Process-wide on purpose: being a child
subreaper is a property of the process, and so is the set of its children."""


def _kill_orphans_of_servers(known: frozenset[int]) -> None:
    """Process level as the grader's own user: the grader's children that were not its
    children when the server started and are no live server came from a sandbox (orphans
    re-parented to the grader, a subreaper, after their server was killed)."""
    if not sys.platform.startswith("linux"):
        return
    for _ in range(200):
        strays = [pid for pid in forkserver.children_of(os.getpid()) if pid not in known and pid not in LIVE_SERVERS]
        if not strays:
            return
        for pid in strays:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError, PermissionError):
                pass
