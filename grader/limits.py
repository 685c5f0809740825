"""What a submission may use: read from problem.yaml (``grader.spec``), enforced by the
sandbox, shown in reports. A module of its own, below every stage that needs it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    test_seconds: float = 5.0
    """Wall time one test program may take."""
    submission_seconds: float = 60.0
    """Wall time for the whole submission, all tests together."""
    cpu_seconds: int = 30
    memory_mb: int = 1024
    processes: int = 32
    file_size_mb: int = 8
    open_files: int = 64
    output_kb: int = 256
    """Captured stdout and stderr kept, each."""
