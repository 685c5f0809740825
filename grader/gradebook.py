"""The class files of ``grader batch``: ``summary.json``, ``grades.csv`` (in the layout an LMS
imports) and ``index.html``, from one row per student of the class folder.

Nobody is lost: an entry that was not graded (a folder with two ``.py`` files, a file that is
not Python, entries that are one student's, which share one row) has a row with status
``not_graded`` and the reason, and with ``--roster`` every student of the roster has one, a
row ``not_graded`` ("no submission in the class folder") when nothing of theirs is there.

A roster is a CSV file with a header; its ``submission`` column names each student's entry
in the class folder (``alice``, ``alice.py`` or ``alice/``), every other column (an LMS
export's own: ``ID``, ``SIS Login ID``, ``Email address``...) is carried into the class files
as it is. A roster's name and an entry's match exactly once both are in composed Unicode
(``student_key``, ``roster_key``): the entry's name as it is in the class folder, not as its
reports' folder was renamed.

An LMS imports a row only if it can tell whose it is, so the Canvas and Moodle layouts hold
only the rows with an identity from the roster; ``ClassFiles.left_out`` says which rows they
leave out, and why. ``plain`` holds every row.

Every text cell of a CSV file is made a spreadsheet's text, never a formula (``csv_text``);
each CSV file starts with a UTF-8 byte order mark, which Excel needs to read ``zoë`` as
UTF-8 and both LMS importers skip.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from grader.files import write_atomically
from grader.html import write_index
from grader.spec import Problem
from grader.summary import RowStatus, StudentRow, not_graded_row
from grader.text import clean_name

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
"""Characters a spreadsheet may read a formula from, full-width forms included."""
SKIPPED_BEFORE_A_FORMULA = " \u00a0\u200b\u2060\ufeff\u3000"
"""What an import may trim (or a spreadsheet skip) before a cell's first character."""
BOM = "\ufeff"
ROSTER_KEY = "submission"
NO_SUBMISSION = "no submission in the class folder"

# Canvas, Grades > Import: the layout of Canvas's own gradebook export (Grades > Export), which
# its importer reads back: "Student", "ID", "SIS User ID", "SIS Login ID", "Section", then one
# column per assignment; a second row "Points Possible" gives each assignment's points. A
# column whose name is not an existing assignment's ("Name (123)") makes a new assignment.
# (Canvas Instructor Guide, "How do I import grades in the Gradebook?"; the export's layout in
# "How do I export grades in the Gradebook?"; read through the search tool.)
CANVAS_IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_POINTS_ROW = "Points Possible"
# How Canvas finds a row's student (canvas-lms lib/gradebook_importer.rb, process_student, read
# through the search tool): by ID, else by SIS User ID, else by SIS Login ID, else by a name
# equal to the student's name or sortable name; a row it cannot place becomes a new, unknown
# user that the instructor is asked about on the import's confirmation page. So a row is
# Canvas's only when the roster gives it one of these.
CANVAS_MATCHED_BY = ("ID", "SIS User ID", "SIS Login ID", "Student")
# Moodle, Grades > Import > CSV file: any header; at import one column is mapped to a user
# field ("Map from" a column "Map to" useremail, useridnumber, username or userid) and the
# others to grade items and their feedback. The import's format is the export's (Moodle Docs,
# "Grade import"; gradeexport_txt writes the profile fields "First name", "Last name",
# "ID number", "Institution", "Department", "Email address", then "<item> (Real)" and, with
# feedback, "<item> (Feedback)"). Moodle's csv_import_reader removes a leading BOM
# (lib/csvlib.class.php, load_csv_content: trim_utf8_bom).
MOODLE_IDENTITY = ("First name", "Last name", "ID number", "Email address")
# The user field a Moodle import maps from: one column for the whole file. A row whose mapped
# cell is blank is not skipped: the row takes the user of the row before it, and on a first row
# "User not found, abort whole import" (grade/import/csv/classes/load_data.php,
# prepare_import_grade_data and map_user_data_with_value); a value no user has aborts the
# import too (check_user_exists). So every row of the file must carry the mapped column: the
# first of these the roster has, which the README says to map.
MOODLE_USER_FIELDS = ("Email address", "ID number")


class CsvLayout(str, Enum):
    PLAIN = "plain"
    CANVAS = "canvas"
    MOODLE = "moodle"

    @property
    def lms(self) -> str:
        """The LMS that imports this layout, as people write it; empty for plain."""
        return {CsvLayout.CANVAS: "Canvas", CsvLayout.MOODLE: "Moodle"}.get(self, "")


class RosterError(Exception):
    """A roster that cannot be used; the message names the file (and line) and says why."""


@dataclass(frozen=True, slots=True)
class Roster:
    path: Path
    columns: tuple[str, ...]
    """The roster's header, its ``submission`` column aside, as written."""
    people: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]
    """(submission name as matched, that person's columns) in the roster's order."""


@dataclass(frozen=True, slots=True)
class ClassFiles:
    """What the class files hold."""

    rows: tuple[StudentRow, ...]
    """Every row, by student."""
    left_out: tuple[tuple[StudentRow, str], ...] = ()
    """Rows grades.csv's LMS layout leaves out (the LMS could not tell whose they are), and why."""


@dataclass(frozen=True, slots=True)
class Gradebook:
    """How the class files are written, beyond the rows of the graded submissions."""

    not_graded: tuple[tuple[str, str], ...] = ()
    """(entry name, reason) for every entry of the class folder that was not graded."""
    roster: Roster | None = None
    layout: CsvLayout = CsvLayout.PLAIN


def student_key(name: str) -> str:
    """Which student a name of the class folder stands for (two entries with one key are one
    student's, and a roster's name matches the entries of its key): ``alice``, ``alice.py`` and
    ``alice/`` alike, in composed Unicode, so ``zoë`` is one student however a file system or a
    spreadsheet spelled it; otherwise exactly (case and spaces count)."""
    name = unicodedata.normalize("NFC", name.rstrip("/"))
    return name[:-3] if name.endswith(".py") else name


def roster_key(cell: str) -> str:
    """A roster's ``submission`` cell as a ``student_key``, without the spaces a spreadsheet
    leaves around a cell."""
    return student_key(cell.strip())


def ensure_layout_fits(layout: CsvLayout, roster: Roster | None) -> None:
    """Refuse an LMS layout whose LMS could find no student in the file: without a roster, or
    with a roster that has none of the columns that LMS finds students by (another LMS's)."""
    wanted = _matched_by(layout)
    if not wanted:
        return
    names = " or ".join([", ".join(wanted[:-1]), wanted[-1]] if len(wanted) > 1 else wanted)
    if roster is None:
        raise RosterError(f"--csv {layout.value} needs --roster FILE: {layout.lms} finds each student by {names}, "
                          "which only a roster gives")
    if not _user_columns(layout, roster):
        has = ", ".join(roster.columns) or f"only '{ROSTER_KEY}'"
        raise RosterError(f"{clean_name(str(roster.path))}: --csv {layout.value} needs a column {layout.lms} finds "
                          f"students by ({names}); this roster has {has}")


def _matched_by(layout: CsvLayout) -> tuple[str, ...]:
    return {CsvLayout.CANVAS: CANVAS_MATCHED_BY, CsvLayout.MOODLE: MOODLE_USER_FIELDS}.get(layout, ())


def _user_columns(layout: CsvLayout, roster: Roster) -> tuple[str, ...]:
    """The columns (lower case) a row of ``layout`` is found by: for Canvas any of them, row by
    row; for Moodle the one column its import maps, the first of MOODLE_USER_FIELDS the roster has."""
    held = {name.lower() for name in roster.columns}
    present = tuple(name.lower() for name in _matched_by(layout) if name.lower() in held)
    return present[:1] if layout is CsvLayout.MOODLE else present


def left_out_of_layout(rows: Sequence[StudentRow], layout: CsvLayout, roster: Roster | None) -> list[tuple[StudentRow, str]]:
    """The rows an LMS layout cannot hold, and why: not on the roster, or on it without a value
    in any column the LMS finds students by."""
    if roster is None or layout is CsvLayout.PLAIN:
        return []
    columns = _user_columns(layout, roster)
    shown = " or ".join(_original_names(roster, columns))
    consequence = ("a row without a user stops Moodle's whole import" if layout is CsvLayout.MOODLE
                   else "Canvas would list it as an unknown student")
    left_out = []
    for row in rows:
        identity = _lookup(row.identity)
        if not row.identity:
            left_out.append((row, f"not on the roster ({consequence})"))
        elif not any(identity.get(name, "").strip() for name in columns):
            left_out.append((row, f"no {shown} in the roster ({consequence})"))
    return left_out


def _original_names(roster: Roster, lowered: Sequence[str]) -> list[str]:
    """Columns as the roster spells them, in ``lowered``'s order."""
    spelled = {name.lower(): name for name in roster.columns}
    return [spelled[name] for name in lowered]


def read_roster(path: Path) -> Roster:
    """The roster at ``path`` (UTF-8, with or without a BOM, as Excel saves it)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise RosterError(f"cannot read the roster {path}: {getattr(error, 'strerror', None) or error}") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [cell.strip() for cell in next(reader, [])]
    keys = [i for i, name in enumerate(header) if name.lower() == ROSTER_KEY]
    if not keys:
        raise RosterError(f"{path}:1: no '{ROSTER_KEY}' column (the name of each student's file or folder in the class folder)")
    key_index = keys[0]
    columns = tuple(clean_name(name) for i, name in enumerate(header) if i != key_index)
    people: list[tuple[str, tuple[tuple[str, str], ...]]] = []
    seen: dict[str, int] = {}
    for line, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        cells = cells + [""] * (len(header) - len(cells))
        key = roster_key(cells[key_index])
        if not key:
            raise RosterError(f"{path}:{line}: no {ROSTER_KEY} name")
        if key in seen:
            raise RosterError(f"{path}:{line}: {clean_name(key)!r} is also on line {seen[key]}")
        seen[key] = line
        values = tuple(clean_name(cell.strip()) for i, cell in enumerate(cells[: len(header)]) if i != key_index)
        people.append((key, tuple(zip(columns, values, strict=False))))
    return Roster(path, columns, tuple(people))


def class_rows(rows: Sequence[StudentRow], gradebook: Gradebook, max_score: float) -> list[StudentRow]:
    """Every row of the class files: the graded entries, the entries not graded, and with a
    roster its people's columns on their rows, and a row for each person with none. An entry
    is matched by its name in the class folder (``StudentRow.entry``), never by the name its
    reports' folder was given."""
    every = list(rows) + [not_graded_row(name, reason, max_score) for name, reason in gradebook.not_graded]
    if gradebook.roster is None:
        return sorted(every, key=lambda row: row.student)
    people = dict(gradebook.roster.people)
    matched = [dataclasses.replace(row, identity=people.get(student_key(row.entry or row.student), ())) for row in every]
    present = {student_key(row.entry or row.student) for row in every}
    missing = [not_graded_row(key, NO_SUBMISSION, max_score, identity) for key, identity in gradebook.roster.people
               if key not in present]
    return sorted(matched + missing, key=lambda row: row.student)


def write_class_files(rows: Sequence[StudentRow], out: Path, problem: Problem, gradebook: Gradebook = Gradebook()) -> ClassFiles:
    """summary.json, grades.csv and index.html, from the rows alone; what they hold."""
    every = class_rows(rows, gradebook, problem.max_score)
    left_out = left_out_of_layout(every, gradebook.layout, gradebook.roster)
    dropped = {id(row) for row, _ in left_out}
    columns = gradebook.roster.columns if gradebook.roster else ()
    write_atomically(out / "summary.json", render_summary(every, problem, columns))
    in_csv = [row for row in every if id(row) not in dropped]
    write_atomically(out / "grades.csv", render_grades(in_csv, problem, gradebook.layout, columns))
    write_index(out, problem, every, columns, gradebook.layout.lms, left_out)
    return ClassFiles(tuple(every), tuple(left_out))


def render_summary(rows: Sequence[StudentRow], problem: Problem, columns: Sequence[str] = ()) -> str:
    submitted = [row for row in rows if row.status != RowStatus.NOT_GRADED]
    summary = {
        "problem": {"id": problem.id, "version": problem.version, "digest": problem.digest},
        "submissions": len(submitted),
        "graded": sum(row.status == RowStatus.GRADED for row in rows),
        "not_graded": len(rows) - len(submitted),
        "statuses": {status: sum(row.status == status for row in rows) for status in sorted({r.status for r in rows})},
        "mean_percent": round(sum(row.percent for row in submitted) / len(submitted), 2) if submitted else 0.0,
        "students": [_summary_entry(row, columns) for row in rows],
    }
    return json.dumps(summary, indent=2, ensure_ascii=False) + "\n"


def _summary_entry(row: StudentRow, columns: Sequence[str]) -> dict[str, Any]:
    graded = row.status != RowStatus.NOT_GRADED
    entry: dict[str, Any] = {
        "student": row.student,
        "folder": row.folder or None,
        "score": row.score if graded else None,
        "max_score": row.max_score,
        "percent": row.percent if graded else None,
        "status": row.status,
        "reason": row.note or None if row.status != RowStatus.GRADED else None,
        "misconception": row.misconception or None,
    }
    if columns:
        entry["roster"] = dict(row.identity)
    return entry


def render_grades(rows: Sequence[StudentRow], problem: Problem, layout: CsvLayout = CsvLayout.PLAIN,
                  columns: Sequence[str] = ()) -> str:
    """grades.csv in ``layout``, with a BOM."""
    table = {CsvLayout.PLAIN: _plain, CsvLayout.CANVAS: _canvas, CsvLayout.MOODLE: _moodle}[layout](rows, problem, columns)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for cells in table:
        writer.writerow([csv_text(cell) for cell in cells])  # numbers never start with a formula character
    return BOM + buffer.getvalue()


def _plain(rows: Sequence[StudentRow], problem: Problem, columns: Sequence[str]) -> list[list[str]]:
    own = ["student", "score", "max_score", "percent", "status", "reason"]
    extra = [f"roster {name}" if name in own else name for name in columns]
    table = [own + extra]
    for row in rows:
        graded = row.status != RowStatus.NOT_GRADED
        reason = row.note if row.status != RowStatus.GRADED else ""
        identity = dict(row.identity)
        table.append([row.student, _points(row.score) if graded else "", _points(row.max_score),
                      _points(row.percent) if graded else "", row.status, reason, *(identity.get(name, "") for name in columns)])
    return table


def _canvas(rows: Sequence[StudentRow], problem: Problem, columns: Sequence[str]) -> list[list[str]]:
    table = [[*CANVAS_IDENTITY, problem.id], [CANVAS_POINTS_ROW, *[""] * (len(CANVAS_IDENTITY) - 1), _points(problem.max_score)]]
    for row in rows:
        identity = _lookup(row.identity)
        cells = [identity.get(name.lower(), "") for name in CANVAS_IDENTITY]
        cells[0] = cells[0] or row.student  # Canvas matches by ID first; a name still says who it is
        table.append([*cells, _points(row.score) if row.status != RowStatus.NOT_GRADED else ""])
    return table


def _moodle(rows: Sequence[StudentRow], problem: Problem, columns: Sequence[str]) -> list[list[str]]:
    table = [["Submission", *MOODLE_IDENTITY, f"{problem.id} (Real)", f"{problem.id} (Feedback)"]]
    for row in rows:
        identity = _lookup(row.identity)
        graded = row.status != RowStatus.NOT_GRADED
        feedback = row.status if row.status == RowStatus.GRADED else f"{row.status}: {row.note}"
        table.append([row.student, *(identity.get(name.lower(), "") for name in MOODLE_IDENTITY),
                      _points(row.score) if graded else "", feedback])
    return table


def _lookup(identity: tuple[tuple[str, str], ...]) -> Mapping[str, str]:
    """A person's roster columns by lower-case name: an LMS export's headers, whatever case."""
    return {name.lower(): value for name, value in identity}


def _points(value: float) -> str:
    return f"{round(value, 4):g}"


def csv_text(text: str) -> str:
    """A text cell a spreadsheet shows as text: one starting with a formula character (or a
    tab or carriage return, which some spreadsheets skip before one; after spaces, which an
    import may trim, and in full width) gets a leading quote,
    as OWASP's advice on CSV injection has it; the csv module quotes the rest."""
    return f"'{text}" if text.lstrip(SKIPPED_BEFORE_A_FORMULA).startswith(FORMULA_STARTS) else text
