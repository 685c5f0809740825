"""How a sandbox's fork server is started: which isolation this machine offers, as which user,
with which caps, inside which file system.

Two levels (``Isolation``):
- namespace: bubblewrap gives the server new PID, IPC, network and UTS namespaces and a file
  system of read-only binds (the system, Python's own installation, the sandbox's code)
  whose writable places are mount points only; each run then enters namespaces of its own
  (see ``forkserver.py``). Started as root, bubblewrap keeps only what the server needs to
  drop to an unprivileged uid of this sandbox's own; started as a user, it maps that user to
  an unprivileged uid inside and keeps no capability at all.
- process: the server runs as the grader's user. Where that is root, each run switches to
  the sandbox's own unprivileged uid; where the kernel offers Landlock, each run can read only
  the system, Python and its code, and write only its working directory.

The sandbox never runs the grader's virtual environment: its Python is the base installation
with ``-S`` (no site-packages, no ``.pth`` files), so nothing a run could plant there, and no
path of the grader's checkout, matters.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import zlib
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from grader.limits import Limits
from grader.sandbox import forkserver
from grader.sandbox.cgroups import SandboxCgroup

SANDBOX_DIR = "/sandbox"
TMPFS_BYTES = {"/tmp": 24 << 20, "/dev/shm": 8 << 20, f"{SANDBOX_DIR}/work": 32 << 20}
"""Each run's own tmpfs at the namespace level: 64 MiB in all, counted in its memory."""
MIN_PROCESS_MB = 256
"""Without a memory cgroup, the address space each process gets at the least: the process
cap is lowered until processes x address space fits the memory limit."""
SANDBOX_UID_BASE = 1_600_000_000
SANDBOX_UID_SLOTS = 1 << 24
UID_LOCKS = Path("/run/grader-sandbox-uids") if os.path.isdir("/run") else Path(tempfile.gettempdir()) / "grader-sandbox-uids"
PYTHON_FLAGS = ("-S", "-s", "-B", *(("-P",) if sys.version_info >= (3, 11) else ()))
"""No site module (no site-packages, no .pth file runs), no user site-packages, no bytecode
written, no script folder on sys.path (3.11+). Not -I or -E: that would also ignore
PYTHONHASHSEED, which the sandbox fixes (its environment is scrubbed, so no other PYTHON*
variable reaches it)."""
PRELOADED = ("typing", "dataclasses", "collections", "functools", "itertools", "random", "enum", "abc",
             "numbers", "copy", "weakref", "heapq", "bisect", "contextlib", "__future__")
"""Standard modules a Value class commonly imports, loaded once by the server (see
``forkserver._preload``)."""
LANDLOCK_READABLE = ("/usr", "/lib", "/lib32", "/lib64", "/bin", "/sbin", "/etc", "/proc/self", "/dev/null", "/dev/zero",
                     "/dev/urandom", "/dev/random")


class Isolation(str, Enum):
    NAMESPACE = "namespace"
    PROCESS = "process"


class IsolationUnavailable(RuntimeError):
    """Strict isolation was asked for and this machine cannot provide it."""


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
    """bubblewrap starts, and a process inside it can make the namespaces each run needs."""
    if not sys.platform.startswith("linux") or shutil.which("bwrap") is None:
        return False
    with tempfile.TemporaryDirectory(prefix="grader-probe-") as folder:
        code = Path(folder) / "code"
        code.mkdir()
        os.chmod(folder, 0o755)
        # what the server and each run will do: leave root (bubblewrap started as root) and
        # make a run's namespaces as that unprivileged uid (a kernel may allow root's
        # bubblewrap and refuse unprivileged user namespaces)
        flags = forkserver.CLONE_NEWUSER | forkserver.CLONE_NEWNS | forkserver.CLONE_NEWPID | forkserver.CLONE_NEWIPC
        probe = ("import ctypes, os\n"
                 "if os.getuid() == 0: os.setgroups([]); os.setgid(65534); os.setuid(65534)\n"
                 f"raise SystemExit(ctypes.CDLL(None).unshare({flags}) != 0)")
        command = [*bwrap_command(code, as_root=os.getuid() == 0), python_executable(), *PYTHON_FLAGS, "-c", probe]
        try:
            return subprocess.run(command, capture_output=True, timeout=20).returncode == 0
        except (OSError, subprocess.SubprocessError):
            return False


def python_executable() -> str:
    """The base installation's interpreter, never a virtual environment's."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    return str(Path(base).resolve())


def python_prefixes() -> list[str]:
    executable = Path(python_executable())
    found = {sys.base_prefix, sys.base_exec_prefix, str(executable.parent.parent)}
    return sorted(prefix for prefix in found if prefix)


@dataclass(frozen=True, slots=True)
class SandboxUser:
    """The unprivileged uid (and gid of the same number) a sandbox started by root gives its
    processes: its own, so that caps per user count this sandbox only and everything of that
    uid is this sandbox's. Held, for the sandbox's life, by a lock no other sandbox can take."""

    uid: int
    lock_fd: int
    lock_path: Path

    def release(self) -> None:
        """Remove the lock file while still holding it, then let go (see ``claim_sandbox_user``)."""
        try:
            self.lock_path.unlink()
        except OSError:
            pass
        try:
            os.close(self.lock_fd)
        except OSError:
            pass


def claim_sandbox_user() -> SandboxUser | None:
    """A uid no live sandbox holds (root only; None for any other user)."""
    if os.getuid() != 0:
        return None
    UID_LOCKS.mkdir(mode=0o700, exist_ok=True)
    start = zlib.crc32(f"{os.getpid()}-{os.urandom(8).hex()}".encode()) % SANDBOX_UID_SLOTS
    for step in range(SANDBOX_UID_SLOTS):
        uid = SANDBOX_UID_BASE + (start + step) % SANDBOX_UID_SLOTS
        path = UID_LOCKS / str(uid)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # a holder removes its file before it lets go: a lock on a file no longer at the
            # path is no claim (the next opener made a new one)
            if os.fstat(fd).st_ino != os.stat(path).st_ino:
                raise FileNotFoundError(path)
        except OSError:
            os.close(fd)
            continue
        return SandboxUser(uid, fd, path)
    raise RuntimeError("no free sandbox uid")  # 16 million sandboxes at once


@dataclass(frozen=True, slots=True)
class Caps:
    """The limits as this machine can enforce them: what a run may take, all processes together."""

    processes: int
    """Processes of the run (without the sandbox's own server, template and helper)."""
    address_space_mb: int
    """Per process."""
    memory_cgroup: bool
    """Whether one cap holds for the memory of all processes together (else processes x
    address space does, plus the tmpfs at the namespace level)."""

    def worst_case_memory_mb(self, isolation: Isolation) -> int:
        """The most a run can take from the machine: with a memory cgroup, its cap (tmpfs
        included); else every process's address space, plus the run's tmpfs (namespace level)."""
        if self.memory_cgroup:
            return self.address_space_mb
        tmpfs = sum(TMPFS_BYTES.values()) >> 20 if isolation is Isolation.NAMESPACE else 0
        return self.processes * self.address_space_mb + tmpfs


def containment_of(isolation: Isolation, caps: Caps, user: SandboxUser | None, pids_cgroup: bool) -> dict[str, Any]:
    """How the limits hold on this machine, as report.json's ``isolation.enforced`` says it."""
    return {
        "runs_as": "a uid of the sandbox's own" if user is not None else "the grader's user",
        "processes": caps.processes,
        "processes_capped_by": "cgroup" if pids_cgroup else "RLIMIT_NPROC",
        "memory_capped_by": "cgroup, all processes together" if caps.memory_cgroup else "address space per process",
        "address_space_mb": caps.address_space_mb,
        "worst_case_memory_mb": caps.worst_case_memory_mb(isolation),
        "landlock_abi": forkserver.landlock_abi() if isolation is Isolation.PROCESS else None,
        "seccomp": os.uname().machine in forkserver.ARCHITECTURES,
    }


def caps_for(limits: Limits, memory_cgroup: bool) -> Caps:
    if memory_cgroup:
        return Caps(limits.processes, limits.memory_mb, True)
    processes = max(1, min(limits.processes, limits.memory_mb // MIN_PROCESS_MB))
    return Caps(processes, limits.memory_mb // processes, False)


OWN_PROCESSES = {Isolation.NAMESPACE: 4, Isolation.PROCESS: 3}
"""The sandbox's own processes beside a run's: bubblewrap, the server, the template and a
run's first process outside its PID namespace; at the process level the server, the
template and the helper that clears a uid."""


def server_config(
    isolation: Isolation, code: Path, work: Path, limits: Limits, caps: Caps, user: SandboxUser | None,
    cgroup: SandboxCgroup | None, programs: list[Any], submission: dict[str, Any], environment: dict[str, str],
) -> dict[str, Any]:
    """Everything the fork server is told, sent over its control socket (never a file)."""
    namespace = isolation is Isolation.NAMESPACE
    return {
        "programs": programs,
        "interpreter": f"{SANDBOX_DIR}/code/interpreter.py" if namespace else str(code / "interpreter.py"),
        "submission": submission,
        "limits": {
            "cpu_seconds": limits.cpu_seconds,
            "address_space_mb": caps.address_space_mb,
            "file_size_mb": limits.file_size_mb,
            "open_files": limits.open_files,
            "nproc": _nproc(isolation, caps, user, cgroup),
        },
        "work": f"{SANDBOX_DIR}/work" if namespace else str(work),
        "environment": environment,
        "preload": list(PRELOADED),
        "world": _world(isolation, code, work, user),
    }


def _world(isolation: Isolation, code: Path, work: Path, user: SandboxUser | None) -> dict[str, Any]:
    if isolation is Isolation.NAMESPACE:
        return {"kind": "namespace", "tmpfs": [[path, size] for path, size in TMPFS_BYTES.items()]}
    landlock = forkserver.landlock_abi() > 0
    return {
        "kind": "process",
        "run_as": [user.uid, user.uid] if user is not None else None,
        "wipe": [str(work)],
        "shared_temporary": ["/tmp", "/var/tmp", "/dev/shm"],
        "clean_ipc": "new" if user is None else "owned",
        "landlock": {"read": [*LANDLOCK_READABLE, *python_prefixes(), str(code)], "write": [str(work), "/dev/null"]}
        if landlock else None,
    }


def _nproc(isolation: Isolation, caps: Caps, user: SandboxUser | None, cgroup: SandboxCgroup | None) -> int | None:
    """RLIMIT_NPROC: not needed under a pids cgroup. It counts every process of the uid, so
    with a sandbox uid of its own it is exact; as the grader's user it is set above what
    that user already runs."""
    if cgroup is not None:
        return None
    if isolation is Isolation.NAMESPACE:
        # counted in the run's own user namespace: its processes and the one that made it
        return caps.processes + 1
    if user is not None:
        return caps.processes
    return len(forkserver.processes_of(os.getuid())) + caps.processes + OWN_PROCESSES[isolation]


def bwrap_command(code: Path, *, as_root: bool) -> list[str]:
    """bubblewrap with fresh namespaces and a read-only file system: the system, Python's base
    installation, the sandbox's code at /sandbox/code; /tmp, /dev/shm and /sandbox/work are
    mount points for each run's own tmpfs. The command runs as pid 1 of its PID namespace:
    no process inside can signal it, and orphans of a run come to it."""
    args = [
        "bwrap", "--unshare-pid", "--unshare-ipc", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
        "--die-with-parent", "--new-session", "--as-pid-1",
    ]
    if as_root:
        # root keeps only what the server needs to become the sandbox's own uid, which it
        # does before anything else (forkserver.drop_server_privileges)
        args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"]
    else:
        args += ["--unshare-user", "--uid", "65534", "--gid", "65534", "--cap-drop", "ALL"]
    args += ["--ro-bind", "/usr", "/usr", "--proc", "/proc", "--dev", "/dev"]
    for top in ("/bin", "/lib", "/lib64", "/lib32", "/sbin"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    if os.path.exists("/etc/ld.so.cache"):
        args += ["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    for prefix in python_prefixes():
        if not prefix.startswith("/usr/"):
            args += [*_folders_leading_to(prefix), "--ro-bind", prefix, prefix]
    args += [
        "--perms", "0755", "--dir", "/tmp",
        "--perms", "0755", "--dir", SANDBOX_DIR,
        "--ro-bind", str(code), f"{SANDBOX_DIR}/code",
        "--perms", "0755", "--dir", f"{SANDBOX_DIR}/work",
        "--remount-ro", "/dev", "--remount-ro", "/",
        "--chdir", "/",
        "--setenv", "HOME", f"{SANDBOX_DIR}/work",
    ]
    return args


def _folders_leading_to(path: str) -> list[str]:
    """Every folder above ``path``, made readable: bubblewrap, run as root, would make them
    private to root, out of reach of the unprivileged uid."""
    args: list[str] = []
    parts = Path(path).parts[1:-1]
    for depth in range(1, len(parts) + 1):
        args += ["--perms", "0755", "--dir", "/" + "/".join(parts[:depth])]
    return args
