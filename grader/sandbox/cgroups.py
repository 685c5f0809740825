"""Caps that hold for all of a sandbox's processes together: a cgroup with ``pids.max`` and,
where the grader may set them, a memory limit and a CPU quota of one core.

RLIMIT_NPROC is not applied by the kernel to root, and RLIMIT_AS is per process, so where
the grader may create cgroups (root on Linux: cgroup v1 ``pids`` and ``memory`` hierarchies,
or cgroup v2 with those controllers delegated), each sandbox gets a cgroup of its own that
its server, its template and the one run under way share; one run at a time, so the run gets
what the limit leaves after the server's small share. The cgroup also lists every process of
the sandbox, however detached, so all of them can be killed. Elsewhere this module offers
nothing and the sandbox relies on rlimits (see ``limits.py``).
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CONTROLLERS = ("pids", "memory", "cpu")
CPU_PERIOD_US = 100_000


@dataclass(frozen=True, slots=True)
class SandboxCgroup:
    """One folder per hierarchy (v1 has one for pids and one for memory; v2 one for both)."""

    folders: tuple[Path, ...]
    limits_memory: bool

    def enter(self) -> None:
        """Called in the server's process before it executes: move it into every folder."""
        for folder in self.folders:
            with open(folder / "cgroup.procs", "w") as handle:
                handle.write(str(os.getpid()))

    def members(self) -> list[int]:
        found: set[int] = set()
        for folder in self.folders:
            try:
                found.update(int(pid) for pid in (folder / "cgroup.procs").read_text().split())
            except (OSError, ValueError):
                continue
        return sorted(found)

    def kill_all(self) -> None:
        for _ in range(100):
            members = self.members()
            if not members:
                return
            for pid in members:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.002)

    def remove(self) -> None:
        self.kill_all()
        for folder in self.folders:
            for _ in range(50):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # still has members for a moment after SIGKILL
                    time.sleep(0.01)


def create_sandbox_cgroup(processes: int, memory_bytes: int) -> SandboxCgroup | None:
    """A fresh cgroup capped at ``processes`` tasks and, where possible, ``memory_bytes`` and
    one core; None where no pids cgroup can be made."""
    name = f"grader-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    setters = {
        "pids": lambda folder, _version: (folder / "pids.max").write_text(str(processes)),
        "memory": lambda folder, version: _limit_memory(folder, version, memory_bytes),
        "cpu": _one_core,
    }
    made: list[Path] = []
    done: set[str] = set()
    for mount_point, version, controllers in _hierarchies():
        wanted = [c for c in controllers if c not in done]
        folder = mount_point / name
        try:
            if not wanted:
                continue
            folder.mkdir()
        except OSError:
            continue
        applied = [c for c in wanted if _applied(setters[c], folder, version)]
        if not applied:
            folder.rmdir()
            continue
        done.update(applied)
        made.append(folder)
    if "pids" not in done:
        for folder in made:
            folder.rmdir()
        return None
    return SandboxCgroup(tuple(made), "memory" in done)


def _applied(setter: Callable[[Path, int], object], folder: Path, version: int) -> bool:
    try:
        setter(folder, version)
        return True
    except OSError:
        return False


def _limit_memory(folder: Path, version: int, memory_bytes: int) -> None:
    if version == 2:
        (folder / "memory.max").write_text(str(memory_bytes))
        swap = folder / "memory.swap.max"
        if swap.exists():
            swap.write_text("0")
    else:
        (folder / "memory.limit_in_bytes").write_text(str(memory_bytes))
        swap = folder / "memory.memsw.limit_in_bytes"
        if swap.exists():
            swap.write_text(str(memory_bytes))


def _one_core(folder: Path, version: int) -> None:
    """At most one core for the whole sandbox: a run that spreads over many processes (each
    in a scheduling group of its own) takes no time from the runs of other workers."""
    if version == 2:
        (folder / "cpu.max").write_text(f"{CPU_PERIOD_US} {CPU_PERIOD_US}")
    else:
        (folder / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
        (folder / "cpu.cfs_quota_us").write_text(str(CPU_PERIOD_US))


def _hierarchies() -> list[tuple[Path, int, tuple[str, ...]]]:
    """Mount points where a child cgroup gets the pids or memory controller, with the cgroup
    version and the controllers it offers there."""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in mounts:
        fields = line.split()
        if len(fields) < 4:
            continue
        mount_point, fstype, options = Path(fields[1]), fields[2], fields[3].split(",")
        if fstype == "cgroup":
            controllers = tuple(c for c in CONTROLLERS if c in options)
            if controllers:
                found.append((mount_point, 1, controllers))
        elif fstype == "cgroup2":
            controllers = _delegated(mount_point)
            if controllers:
                found.append((mount_point, 2, controllers))
    return found


def _delegated(mount_point: Path) -> tuple[str, ...]:
    try:
        offered = (mount_point / "cgroup.subtree_control").read_text().split()
    except OSError:
        return ()
    return tuple(c for c in CONTROLLERS if c in offered)
