"""How far a batch has got, for the person waiting: a bar on a terminal, plain lines in a log."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TextIO

from grader.summary import RowStatus

PLAIN_EVERY_SECONDS = 5.0
BAR_WIDTH = 24


@dataclass
class Progress:
    """Counts submissions as their results arrive. On a TTY one line is redrawn in place;
    otherwise a plain line is printed every few seconds and at the end."""

    total: int
    stream: TextIO
    tty: bool
    skipped: int = 0
    """Submissions whose earlier reports were reused (not graded again)."""
    counts: dict[RowStatus, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    last_plain: float = field(default_factory=time.monotonic)

    @property
    def done(self) -> int:
        return self.skipped + sum(self.counts.values())

    def add(self, status: RowStatus) -> None:
        self.counts[status] = self.counts.get(status, 0) + 1
        now = time.monotonic()
        if self.tty:
            self.stream.write("\r\033[K" + self.line(now))
            self.stream.flush()
        elif now - self.last_plain >= PLAIN_EVERY_SECONDS and self.done < self.total:  # finish() says the last
            self.last_plain = now
            self.stream.write(self.line(now) + "\n")
            self.stream.flush()

    def finish(self) -> None:
        now = time.monotonic()
        self.stream.write(("\r\033[K" if self.tty else "") + self.line(now) + "\n")
        self.stream.flush()

    def line(self, now: float) -> str:
        graded = sum(self.counts.values())
        elapsed = max(now - self.started, 1e-9)
        rate = graded / elapsed
        left = self.total - self.done
        eta = f"ETA {left / rate:.0f} s" if rate > 0 and left else f"{elapsed:.1f} s"
        parts = [f"{self.done}/{self.total}"]
        if self.tty:
            filled = round(BAR_WIDTH * self.done / self.total) if self.total else BAR_WIDTH
            parts.insert(0, "[" + "#" * filled + "-" * (BAR_WIDTH - filled) + "]")
        parts.append(f"graded {self.counts.get(RowStatus.GRADED, 0)}")
        for status in (RowStatus.FAILED_TO_LOAD, RowStatus.TIMED_OUT, RowStatus.GRADER_ERROR):
            if self.counts.get(status):
                parts.append(f"{status.value.replace('_', ' ')} {self.counts[status]}")
        if self.skipped:
            parts.append(f"unchanged {self.skipped}")
        parts += [f"{rate:.1f}/s", eta]
        return "  ".join(parts)
