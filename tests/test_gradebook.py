"""The class files lose no one: every entry of the class folder and every student of the
roster has a row in grades.csv, summary.json and index.html; grades.csv comes in the layout
Canvas or Moodle imports, with a BOM, and no cell is a formula."""

import csv
import io
import json
import shutil
from pathlib import Path

import pytest

from grader.gradebook import (
    BOM,
    CANVAS_IDENTITY,
    FORMULA_STARTS,
    CsvLayout,
    read_roster,
    render_grades,
)
from grader.summary import StudentRow
from tests.conftest import REPO

SAMPLES = REPO / "submissions"
ROSTER = """submission,Student,ID,SIS User ID,SIS Login ID,Section,First name,Last name,ID number,Email address
alice,"Liddell, Alice",101,S-101,alice,Sec 1,Alice,Liddell,A101,alice@example.edu
zoë,"O'Neil, Zoë",102,S-102,zoe,Sec 1,Zoë,O'Neil,A102,zoe@example.edu
two/,"Two, Files",103,S-103,two,Sec 2,Files,Two,A103,two@example.edu
=cmd.py,"+evil, @name",104,S-104,evil,Sec 2,-evil,=name,A104,evil@example.edu
mallory,"Never, Mallory",105,S-105,mallory,Sec 2,Mallory,Never,A105,mallory@example.edu
"""


def read_csv(path: Path) -> list[list[str]]:
    data = path.read_bytes()
    assert data.startswith(BOM.encode())  # Excel reads UTF-8 only with it
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def assert_no_formula(rows: list[list[str]]) -> None:
    for row in rows:
        for cell in row:
            assert not cell.startswith(FORMULA_STARTS), cell


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory, grader_module):
    """A class folder with a correct file, zoë's folder, a folder of two files, a file named like
    a formula and a text file; graded once with the roster in Canvas's layout."""
    root = tmp_path_factory.mktemp("gradebook")
    folder = root / "class"
    (folder / "zoë").mkdir(parents=True)
    (folder / "two").mkdir()
    shutil.copy(SAMPLES / "alice.py", folder / "alice.py")
    shutil.copy(SAMPLES / "carol.py", folder / "zoë" / "value.py")
    shutil.copy(SAMPLES / "bob.py", folder / "two" / "a.py")
    shutil.copy(SAMPLES / "bob.py", folder / "two" / "b.py")
    shutil.copy(SAMPLES / "dave.py", folder / "=cmd.py")
    (folder / "notes.txt").write_text("not a submission\n")
    roster = root / "roster.csv"
    roster.write_bytes(BOM.encode() + ROSTER.encode())  # as Excel saves it
    out = root / "out"
    result = grader_module("batch", str(folder), "--problem", "value-basic", "--out", str(out), "--jobs", "2",
                           "--roster", str(roster), "--csv", "canvas")
    assert result.returncode == 0, result.stderr
    return folder, roster, out, result


@pytest.fixture(scope="module")
def grader_module():
    import subprocess
    import sys

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "grader", *args], cwd=REPO, capture_output=True, text=True, timeout=300)

    return run


def test_every_entry_and_every_roster_student_has_a_row_in_the_summary(graded_class):
    _, _, out, result = graded_class
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    by_student = {entry["student"]: entry for entry in summary["students"]}
    assert set(by_student) == {"alice", "zoë", "two", "=cmd", "notes.txt", "mallory"}
    assert by_student["two"]["status"] == "not_graded" and "a folder with 2 .py files" in by_student["two"]["reason"]
    assert by_student["notes.txt"] == {**by_student["notes.txt"], "status": "not_graded", "reason": "not a .py file",
                                       "score": None, "roster": {}}
    assert by_student["mallory"]["reason"] == "no submission in the class folder"
    assert by_student["mallory"]["roster"]["Email address"] == "mallory@example.edu"
    assert by_student["zoë"]["roster"]["Student"] == "O'Neil, Zoë" and by_student["zoë"]["status"] == "graded"
    assert summary["submissions"] == 3 and summary["not_graded"] == 3
    assert summary["statuses"]["not_graded"] == 3
    assert "1 on the roster with no submission (a not_graded row each): mallory" in result.stdout


def test_grades_csv_is_canvas_s_import_layout_with_the_roster_s_ids(graded_class):
    _, _, out, _ = graded_class
    rows = read_csv(out / "grades.csv")
    assert rows[0] == [*CANVAS_IDENTITY, "value-basic"]
    assert rows[1][0] == "Points Possible" and float(rows[1][-1]) > 0
    by_login = {row[3]: row for row in rows[2:]}
    assert len(rows) == 2 + 6
    assert by_login["zoe"][:5] == ["O'Neil, Zoë", "102", "S-102", "zoe", "Sec 1"]  # zoë round-trips
    assert by_login["alice"][-1] == rows[1][-1]  # full marks
    assert by_login["two"][-1] == "" and by_login["mallory"][-1] == ""  # not graded: no score
    assert by_login["evil"][0] == "'+evil, @name"  # a roster cell is never a formula either
    assert next(row for row in rows[2:] if row[0] == "notes.txt")[1:] == ["", "", "", "", ""]
    assert_no_formula(rows)


def test_the_same_class_in_moodle_s_layout_and_plain(graded_class, grader_module):
    folder, roster, out, _ = graded_class
    for layout in ("moodle", "plain"):
        result = grader_module("batch", str(folder), "--problem", "value-basic", "--out", str(out), "--roster",
                               str(roster), "--csv", layout)
        assert result.returncode == 0 and "3 unchanged since the last run" in result.stdout, result.stderr
        rows = read_csv(out / "grades.csv")
        assert_no_formula(rows)
        if layout == "moodle":
            assert rows[0] == ["Submission", "First name", "Last name", "ID number", "Email address",
                               "value-basic (Real)", "value-basic (Feedback)"]
            zoe = next(row for row in rows if row[4] == "zoe@example.edu")
            assert zoe[:4] == ["zoë", "Zoë", "O'Neil", "A102"] and float(zoe[5]) > 0 and zoe[6] == "graded"
            two = next(row for row in rows if row[0] == "two")
            assert two[5] == "" and two[6].startswith("not_graded: a folder with 2 .py files")
            evil = next(row for row in rows if row[4] == "evil@example.edu")
            assert evil[0] == "'=cmd" and evil[1:3] == ["'-evil", "'=name"]
        else:
            header, *body = rows
            assert header[:6] == ["student", "score", "max_score", "percent", "status", "reason"] and "SIS Login ID" in header
            by_student = {row[0]: dict(zip(header, row, strict=False)) for row in body}
            assert by_student["zoë"]["Student"] == "O'Neil, Zoë" and by_student["mallory"]["status"] == "not_graded"
            assert by_student["'=cmd"]["status"] == "graded"


def test_the_class_page_lists_the_entries_not_graded_with_their_reason_and_the_roster(graded_class):
    _, _, out, _ = graded_class
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "<strong>not graded</strong>, a folder with 2 .py files" in index
    assert "<strong>not graded</strong>, no submission in the class folder" in index
    assert "<th scope=\"col\">SIS Login ID</th>" in index and "O&#39;Neil, Zoë" in index
    assert 'href="two/' not in index  # no report to link to


def test_render_grades_plain_without_a_roster_is_the_old_columns_and_a_reason():
    from grader.spec import find_course

    problem = find_course(REPO).load("value-basic")
    rows = [StudentRow("@sum", "graded", 3.0, 4.0), StudentRow("bob", "failed_to_load", 0.0, 4.0, note="SyntaxError")]
    table = list(csv.reader(io.StringIO(render_grades(rows, problem, CsvLayout.PLAIN).removeprefix(BOM), newline="")))
    assert table == [["student", "score", "max_score", "percent", "status", "reason"],
                     ["'@sum", "3", "4", "75", "graded", ""], ["bob", "0", "4", "0", "failed_to_load", "SyntaxError"]]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (None, "cannot read the roster"),
        ("Student,ID\nAlice,1\n", "roster.csv:1: no 'submission' column"),
        ("submission,ID\nalice,1\nalice.py,2\n", "roster.csv:3: 'alice' is also on line 2"),
        ("submission,ID\n,1\n", "roster.csv:2: no submission name"),
    ],
)
def test_an_unusable_roster_is_one_line_exit_2_before_grading(tmp_path, grader_in_process, text, words):
    roster = tmp_path / "roster.csv"
    if text is not None:
        roster.write_text(text)
    out = tmp_path / "out"
    result = grader_in_process("batch", "submissions", "--problem", "value-basic", "--out", str(out), "--roster", str(roster))
    assert result.returncode == 2
    assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()  # nothing graded


def test_read_roster_keeps_the_lms_columns_and_matches_files_and_folders(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text(ROSTER)
    roster = read_roster(path)
    assert roster.columns[:2] == ("Student", "ID")
    assert [key for key, _ in roster.people] == ["alice", "zoë", "two", "=cmd", "mallory"]
