"""Caps that hold for all of a sandbox's processes together: a cgroup with ``pids.max`` and,
where the grader may set it, a memory limit.

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
from dataclasses import dataclass
from pathlib import Path


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
    """A fresh cgroup capped at ``processes`` tasks and, where possible, ``memory_bytes``;
    None where no pids cgroup can be made."""
    name = f"grader-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    made: list[Path] = []
    pids_done = memory_done = False
    for mount_point, version, controllers in _hierarchies():
        wanted = [c for c in controllers if (c == "pids" and not pids_done) or (c == "memory" and not memory_done)]
        if not wanted:
            continue
        folder = mount_point / name
        try:
            folder.mkdir()
        except OSError:
            continue
        if "pids" in wanted:
            try:
                (folder / "pids.max").write_text(str(processes))
                pids_done = True
            except OSError:
                folder.rmdir()
                continue
        if "memory" in wanted:
            try:
                _limit_memory(folder, version, memory_bytes)
                memory_done = True
            except OSError:
                if "pids" not in wanted:
                    folder.rmdir()
                    continue
        made.append(folder)
    if not pids_done:
        for folder in made:
            folder.rmdir()
        return None
    return SandboxCgroup(tuple(made), memory_done)


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
            controllers = tuple(c for c in ("pids", "memory") if c in options)
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
    return tuple(c for c in ("pids", "memory") if c in offered)
