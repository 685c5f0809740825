"""Files in and out: a submission read once, as submitted; reports written so that a reader,
or a rerun after a crash, never sees half of one."""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from pathlib import Path

from grader.text import clean_name


def write_atomically(path: Path, text: str) -> None:
    """Write through a temporary file and rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def read_submission(path: Path) -> bytes | None:
    """A submission's bytes, read once and without following a symbolic link: None for a link
    (it could point at the reference or another student's file). Everything the grader does
    with a submission (run it, hash it, read it for findings) uses these same bytes."""
    try:
        handle = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as error:
        if error.errno == errno.ELOOP:
            return None
        raise
    with os.fdopen(handle, "rb") as stream:
        return stream.read()


def content_digest(source: bytes | None) -> str:
    """What a report records of the content it graded (empty for a refused link)."""
    return hashlib.sha256(source).hexdigest() if source is not None else ""


CLASS_FILE_NAMES = frozenset({"summary.json", "grades.csv", "index.html", "report.json", "report.html",
                              "summary.md", "junit.xml", "results.json", "classroom.json"})
"""Names the grader writes itself under ``--out``: a student named so (``summary.json.py``)
gets another, so no student's folder stands where the class files go."""


UNPORTABLE = str.maketrans({character: "_" for character in '/\\\0":<>|*?'})
"""Characters no folder name may hold wherever reports travel: a separator, NUL, and what
Windows and actions/upload-artifact refuse (a workflow's artifact upload fails on them)."""


def safe_file_name(name: str) -> str:
    """A name the grader may use for a file or folder it writes under ``--out``: the name
    itself when it is printable and an ordinary name; otherwise a cleaned one with a digest of
    the original, so that distinct names stay distinct, the same name always maps alike, and
    ``..``, ``.``, a slash or a NUL never leave the folder, no name is one of the class
    files, and none holds a character another system refuses (``UNPORTABLE``)."""
    cleaned = clean_name(name).translate(UNPORTABLE)
    ordinary = name not in ("", ".", "..") and not name.startswith(".") and name.lower() not in CLASS_FILE_NAMES
    if cleaned == name and ordinary:
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()
    return f"{cleaned.lstrip('.') or 'file'}-{digest[:10]}"
