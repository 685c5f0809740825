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
ZOE_COMPOSED, ZOE_DECOMPOSED = "zo\u00eb", "zoe\u0308"  # one ë, or e and a combining diaeresis (macOS, some zips)
BACKSLASHED = "back\\slash"  # a name safe_file_name renames: its reports go to another folder
ROSTER = f"""submission,Student,ID,SIS User ID,SIS Login ID,Section,First name,Last name,ID number,Email address
alice,"Liddell, Alice",101,S-101,alice,Sec 1,Alice,Liddell,A101,alice@example.edu
{ZOE_COMPOSED},"O'Neil, Zoë",102,S-102,zoe,Sec 1,Zoë,O'Neil,A102,zoe@example.edu
two/,"Two, Files",103,S-103,two,Sec 2,Files,Two,A103,two@example.edu
=cmd.py,"+evil, @name",104,S-104,evil,Sec 2,-evil,=name,A104,evil@example.edu
mallory,"Never, Mallory",105,S-105,mallory,Sec 2,Mallory,Never,A105,mallory@example.edu
{BACKSLASHED},"Slash, Back",106,S-106,slash,Sec 2,Back,Slash,A106,slash@example.edu
dave,"Twice, Dave",107,S-107,dave,Sec 2,Dave,Twice,A107,
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
    """A class folder with a correct file, zoë's folder (its name decomposed, the roster's
    composed), a folder of two files, a file named like a formula, a text file, a name with a
    backslash, and dave.py beside dave/v.py; graded once with the roster in Canvas's layout."""
    root = tmp_path_factory.mktemp("gradebook")
    folder = root / "class"
    for name in (ZOE_DECOMPOSED, "two", "dave"):
        (folder / name).mkdir(parents=True)
    shutil.copy(SAMPLES / "alice.py", folder / "alice.py")
    shutil.copy(SAMPLES / "carol.py", folder / ZOE_DECOMPOSED / "value.py")
    shutil.copy(SAMPLES / "bob.py", folder / "two" / "a.py")
    shutil.copy(SAMPLES / "bob.py", folder / "two" / "b.py")
    shutil.copy(SAMPLES / "dave.py", folder / "=cmd.py")
    (folder / "notes.txt").write_text("not a submission\n")
    shutil.copy(SAMPLES / "alice.py", folder / f"{BACKSLASHED}.py")
    shutil.copy(SAMPLES / "alice.py", folder / "dave.py")
    shutil.copy(SAMPLES / "bob.py", folder / "dave" / "v.py")
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
    assert set(by_student) == {"alice", ZOE_COMPOSED, "two", "=cmd", "notes.txt", "mallory", BACKSLASHED, "dave"}
    assert by_student["two"]["status"] == "not_graded" and "a folder with 2 .py files" in by_student["two"]["reason"]
    assert by_student["notes.txt"] == {**by_student["notes.txt"], "status": "not_graded", "reason": "not a .py file",
                                       "score": None, "roster": {}, "folder": None}
    assert by_student["mallory"]["reason"] == "no submission in the class folder"
    assert by_student["mallory"]["roster"]["Email address"] == "mallory@example.edu"
    assert summary["submissions"] == 4 and summary["not_graded"] == 4
    assert summary["statuses"]["not_graded"] == 4
    assert "1 on the roster with no submission (a not_graded row each): mallory" in result.stdout


def test_a_decomposed_file_name_matches_the_roster_s_composed_one(graded_class):
    _, _, out, _ = graded_class
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    zoe = next(entry for entry in summary["students"] if entry["roster"].get("SIS Login ID") == "zoe")
    assert zoe["student"] == ZOE_COMPOSED and zoe["status"] == "graded" and zoe["roster"]["Student"] == "O'Neil, Zoë"
    assert "no submission" not in str(zoe["reason"])  # one row, not a graded stranger and a missing student


def test_a_name_renamed_for_its_reports_still_matches_the_roster(graded_class):
    _, _, out, _ = graded_class
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    rows = [entry for entry in summary["students"] if entry["roster"].get("SIS Login ID") == "slash"]
    assert len(rows) == 1 and rows[0]["student"] == BACKSLASHED and rows[0]["status"] == "graded"
    folder = next(path for path in out.iterdir() if path.name.startswith("back_slash-"))  # renamed by safe_file_name
    assert (folder / "report.json").is_file() and rows[0]["folder"] == folder.name
    index = (out / "index.html").read_text(encoding="utf-8")
    assert f'href="{folder.name}/report.html">{BACKSLASHED}</a>' in index  # shown as it is, linked where it is


def test_a_file_beside_a_folder_of_one_name_is_one_student_s_row(graded_class):
    _, _, out, _ = graded_class
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    names = [entry["student"] for entry in summary["students"]]
    assert names.count("dave") == 1 and "v" not in names  # named after the entry, no phantom student
    dave = next(entry for entry in summary["students"] if entry["student"] == "dave")
    assert dave["status"] == "not_graded" and dave["roster"]["ID"] == "107"
    assert dave["reason"] == "2 entries stand for the student 'dave' (dave/, dave.py): rename or remove all but one"
    assert not (out / "dave").exists()


def test_grades_csv_is_canvas_s_import_layout_with_the_roster_s_ids(graded_class):
    _, _, out, result = graded_class
    rows = read_csv(out / "grades.csv")
    assert rows[0] == [*CANVAS_IDENTITY, "value-basic"]
    assert rows[1][0] == "Points Possible" and float(rows[1][-1]) > 0
    by_login = {row[3]: row for row in rows[2:]}
    assert len(rows) == 2 + 7  # every row but notes.txt, which is on no roster
    assert by_login["zoe"][:5] == ["O'Neil, Zoë", "102", "S-102", "zoe", "Sec 1"]  # zoë round-trips
    assert by_login["alice"][-1] == rows[1][-1] == by_login["slash"][-1]  # full marks
    assert by_login["two"][-1] == "" and by_login["mallory"][-1] == ""  # not graded: no score
    assert by_login["evil"][0] == "'+evil, @name"  # a roster cell is never a formula either
    assert by_login["dave"][:2] == ["Twice, Dave", "107"]  # no e-mail: Canvas needs none
    assert not any(row[0] == "notes.txt" or not any(row[1:4]) for row in rows[2:])
    assert_no_formula(rows)
    left_out = [line for line in result.stderr.splitlines() if line.startswith("grader: not in grades.csv")]
    assert left_out == ["grader: not in grades.csv (canvas): notes.txt: not on the roster "
                        "(Canvas would list it as an unknown student)"]


def test_the_class_page_says_which_rows_are_not_in_the_lms_file_and_why(graded_class):
    _, _, out, _ = graded_class
    index = (out / "index.html").read_text(encoding="utf-8")
    section = index[index.index('id="left-out"'):]
    section = section[: section.index("</section>")]
    assert "Not in grades.csv: 1 row Canvas cannot import" in section
    assert "<li>notes.txt: not on the roster (Canvas would list it as an unknown student)</li>" in section


def test_the_same_class_in_moodle_s_layout_and_plain(graded_class, grader_module):
    folder, roster, out, _ = graded_class
    for layout in ("moodle", "plain"):
        result = grader_module("batch", str(folder), "--problem", "value-basic", "--out", str(out), "--roster",
                               str(roster), "--csv", layout)
        assert result.returncode == 0 and "4 unchanged since the last run" in result.stdout, result.stderr
        rows = read_csv(out / "grades.csv")
        assert_no_formula(rows)
        left_out = [line for line in result.stderr.splitlines() if line.startswith("grader: not in grades.csv")]
        if layout == "moodle":
            assert rows[0] == ["Submission", "First name", "Last name", "ID number", "Email address",
                               "value-basic (Real)", "value-basic (Feedback)"]
            zoe = next(row for row in rows if row[4] == "zoe@example.edu")
            assert zoe[:4] == [ZOE_COMPOSED, "Zoë", "O'Neil", "A102"] and float(zoe[5]) > 0 and zoe[6] == "graded"
            two = next(row for row in rows if row[0] == "two")
            assert two[5] == "" and two[6].startswith("not_graded: a folder with 2 .py files")
            evil = next(row for row in rows if row[4] == "evil@example.edu")
            assert evil[0] == "'=cmd" and evil[1:3] == ["'-evil", "'=name"]
            # Moodle maps one user column and stops its whole import at a row where it is blank
            assert len(rows) == 1 + 6 and all(row[4] for row in rows[1:])
            assert left_out == [
                "grader: not in grades.csv (moodle): dave: no Email address in the roster "
                "(a row without a user stops Moodle's whole import)",
                "grader: not in grades.csv (moodle): notes.txt: not on the roster "
                "(a row without a user stops Moodle's whole import)",
            ]
        else:
            header, *body = rows
            assert header[:6] == ["student", "score", "max_score", "percent", "status", "reason"] and "SIS Login ID" in header
            by_student = {row[0]: dict(zip(header, row, strict=False)) for row in body}
            assert by_student[ZOE_COMPOSED]["Student"] == "O'Neil, Zoë" and by_student["mallory"]["status"] == "not_graded"
            assert by_student["'=cmd"]["status"] == "graded"
            assert len(body) == 8 and by_student["notes.txt"]["status"] == "not_graded"  # plain keeps every row
            assert left_out == []


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
    assert [key for key, _ in roster.people] == ["alice", ZOE_COMPOSED, "two", "=cmd", "mallory", BACKSLASHED, "dave"]


CANVAS_ROSTER = "submission,Student,ID,SIS User ID,SIS Login ID,Section\nalice,\"Liddell, Alice\",101,S-101,alice,Sec 1\n"
MOODLE_ROSTER = "submission,First name,Last name,ID number,Email address\nalice,Alice,Liddell,A101,alice@example.edu\n"


@pytest.mark.parametrize(
    ("layout", "roster", "words"),
    [
        ("moodle", CANVAS_ROSTER, "--csv moodle needs a column Moodle finds students by (Email address or ID number); "
                                  "this roster has Student, ID, SIS User ID, SIS Login ID, Section"),
        ("canvas", MOODLE_ROSTER, "--csv canvas needs a column Canvas finds students by "
                                  "(ID, SIS User ID, SIS Login ID or Student)"),
        ("canvas", None, "--csv canvas needs --roster FILE"),
        ("moodle", None, "--csv moodle needs --roster FILE"),
    ],
)
def test_an_lms_layout_its_lms_could_match_no_one_in_is_refused_before_grading(tmp_path, grader_in_process, layout,
                                                                              roster, words):
    args = ["batch", "submissions", "--problem", "value-basic", "--out", str(tmp_path / "out"), "--csv", layout]
    if roster is not None:
        (tmp_path / "roster.csv").write_text(roster)
        args += ["--roster", str(tmp_path / "roster.csv")]
    result = grader_in_process(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_each_lms_layout_takes_its_own_lms_s_roster(tmp_path):
    """The refusal above is not a refusal of everything: each LMS's own export is accepted."""
    from grader.gradebook import ensure_layout_fits

    for layout, text in (("canvas", CANVAS_ROSTER), ("moodle", MOODLE_ROSTER), ("plain", MOODLE_ROSTER)):
        path = tmp_path / f"{layout}.csv"
        path.write_text(text)
        ensure_layout_fits(CsvLayout(layout), read_roster(path))
    ensure_layout_fits(CsvLayout.PLAIN, None)
