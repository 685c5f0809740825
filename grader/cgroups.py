"""A process-count cap that holds for root too: a cgroup with the ``pids`` controller.

RLIMIT_NPROC is not applied by the kernel to root, even inside a user namespace, so where
the grader may create cgroups (root on Linux, cgroup v1 ``pids`` or cgroup v2 with ``pids``
delegated), each submission gets a cgroup with ``pids.max``; it also lists every process
the submission started, however it detached, so all of them can be killed. Elsewhere this
module offers nothing and the sandbox relies on RLIMIT_NPROC.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class PidsCgroup:
    path: Path

    @property
    def procs(self) -> Path:
        return self.path / "cgroup.procs"

    def enter(self) -> None:
        """Called in the child before exec: move this process into the cgroup."""
        with open(self.procs, "w") as handle:
            handle.write(str(os.getpid()))

    def members(self) -> list[int]:
        try:
            return [int(pid) for pid in self.procs.read_text().split()]
        except (OSError, ValueError):
            return []

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
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:  # still has members for a moment after SIGKILL
                time.sleep(0.01)


def create_pids_cgroup(limit: int) -> PidsCgroup | None:
    """A fresh cgroup capped at ``limit`` tasks, or None where none can be made."""
    for root in _pids_hierarchies():
        path = root / f"grader-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        try:
            path.mkdir()
        except OSError:
            continue
        try:
            (path / "pids.max").write_text(str(limit))
            return PidsCgroup(path)
        except OSError:
            path.rmdir()
    return None


def _pids_hierarchies() -> list[Path]:
    """Mount points where a child cgroup gets the pids controller."""
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
        if fstype == "cgroup" and "pids" in options:
            found.append(mount_point)
        elif fstype == "cgroup2" and _delegates_pids(mount_point):
            found.append(mount_point)
    return found


def _delegates_pids(mount_point: Path) -> bool:
    try:
        return "pids" in (mount_point / "cgroup.subtree_control").read_text().split()
    except OSError:
        return False
