"""Text a submission controls, made safe to carry: cleaned once, where it enters the grader.

Whatever a submission prints, raises or returns as a repr, and whatever its file and folder
are called, passes through ``clean`` where it leaves the sandbox's channel (or where a file
name is first read). Afterwards it is valid Unicode with no control character but newline
and tab, and of bounded length, so every renderer only has to escape it for its own syntax
(HTML, Markdown, CSV, XML, workflow commands) and none of them can be broken by it.
"""

from __future__ import annotations

import re

MAX_CHARS = 20_000
"""The default cap: more than any report shows of one message, far less than a flood."""
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""C0 (but tab and newline), DEL and C1: ESC starts every terminal escape sequence (CSI, OSC),
and C1 has single-character forms of them (0x9b is CSI, 0x9d OSC); CR rewrites a line in place."""
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
"""Bidirectional overrides and isolates: they reorder how the text around them is shown
("Trojan Source"), so a message could display a score it does not say."""
_SURROGATE = re.compile(r"[\ud800-\udfff]")
"""Lone surrogates: text Python holds but cannot encode (an exception message built from
``'\\udc80'``, a file name that is not UTF-8, read with ``surrogateescape``)."""
REPLACEMENT = "\ufffd"


def clean(text: str | bytes, limit: int = MAX_CHARS) -> str:
    """Valid Unicode with newline and tab the only control characters and no bidirectional
    override, at most ``limit`` characters plus a note of how many were cut. Bytes are read
    as UTF-8, invalid sequences replaced. Idempotent for text within the limit."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    text = text.replace("\r\n", "\n").replace("\u2028", "\n").replace("\u2029", "\n")  # one kind of line break
    text = _BIDI.sub(REPLACEMENT, _SURROGATE.sub(REPLACEMENT, text))
    text = _CONTROL.sub(_visible_control, text)
    if len(text) > limit:
        cut = len(text) - limit
        text = f"{text[:limit]}… [{cut} more characters]"
    return text


def clean_name(name: str, limit: int = 200) -> str:
    """A file or folder name as the grader shows it: cleaned, on one line."""
    return clean(name, limit).replace("\n", "\u2424").replace("\t", " ")


def _visible_control(match: re.Match[str]) -> str:
    """A C0 control as its Unicode picture (ESC as "␛"), so a reader sees that it was there;
    DEL and C1 have none and become the replacement character."""
    code = ord(match.group())
    return chr(0x2400 + code) if code < 0x20 else REPLACEMENT
