"""The result channel: what comes out of a run, read defensively.

A run writes one JSON line per message on a pipe of its own; its stdout and stderr are
captured and capped. Nothing here trusts what it reads: lines too long are dropped, anything
that is not a message is ignored, and a load failure is classified by the kind the
interpreter sent (never by matching the text of a message).
"""

from __future__ import annotations

import json
import signal
from dataclasses import dataclass, field
from typing import Any

from grader.observations import LoadFailure, LoadFailureKind, RaisedError
from grader.text import clean

MAX_MESSAGE_BYTES = 8 * 1024 * 1024
"""The longest result line accepted: far above a real program's (a few hundred KB)."""


@dataclass(slots=True)
class CappedBuffer:
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




@dataclass(slots=True)
class LineReader:
    """Splits the result channel into lines, scanning each byte once. A line longer than
    ``limit`` is not kept: it comes out as None, once, where it ends."""

    limit: int = MAX_MESSAGE_BYTES
    partial: bytearray = field(default_factory=bytearray)
    discarding: bool = False

    def feed(self, chunk: bytes) -> list[bytes | None]:
        lines: list[bytes | None] = []
        start = 0
        while (newline := chunk.find(b"\n", start)) != -1:
            if self.discarding or len(self.partial) + newline - start > self.limit:
                lines.append(None)
            else:
                self.partial += chunk[start:newline]
                lines.append(bytes(self.partial))
            self.partial.clear()
            self.discarding = False
            start = newline + 1
        if not self.discarding:
            self.partial += chunk[start:]
            if len(self.partial) > self.limit:
                self.partial.clear()
                self.discarding = True
        return lines


def parse_message(line: bytes) -> dict[str, Any] | None:
    try:
        message = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return message if isinstance(message, dict) and isinstance(message.get("event"), str) else None


def names_from(raw: object) -> tuple[str, ...]:
    return tuple(str(name)[:100] for name in raw[:100]) if isinstance(raw, list) else ()


def load_failure_from(error: RaisedError | None) -> LoadFailure:
    if error is None:
        return LoadFailure(LoadFailureKind.CRASHED, None, "the submission could not be loaded")
    if error.type in ("SyntaxError", "IndentationError", "TabError"):
        where = f" on line {error.line}" if error.line else ""
        detail = f"Python could not read the file: {error.type}{where}: {error.message}"
        if error.text:
            detail += f"\n    {error.text.strip()}"
        return LoadFailure(LoadFailureKind.SYNTAX_ERROR, error, detail)
    if error.type == "ForbiddenImport":
        return LoadFailure(LoadFailureKind.FORBIDDEN_IMPORT, error, f"{error.message}: write the autograd yourself")
    if error.type == "MissingClass":
        return LoadFailure(LoadFailureKind.MISSING_CLASS, error, error.message)
    return LoadFailure(
        LoadFailureKind.IMPORT_ERROR, error, f"the submission raised {error.describe()} while it was being imported"
    )


def describe_exit(code: int | None) -> str:
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


