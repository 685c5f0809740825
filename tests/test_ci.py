"""`grader ci` as GitHub Actions runs it: a real pull_request payload in $GITHUB_EVENT_PATH,
$GITHUB_STEP_SUMMARY and $GITHUB_OUTPUT, on a git repository made here."""

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.ci import escape_data, escape_property, workflow_command
from grader.spec import find_course
from tests.conftest import FIXTURES, REPO

EVENT = FIXTURES / "github" / "pull_request_opened.json"
PUSH_EVENT = FIXTURES / "github" / "push.json"
DISPATCH_EVENT = FIXTURES / "github" / "workflow_dispatch.json"
HIDDEN_TEST_NAMES = ("shared intermediate node", "two relus, one active and one not", "long chain",
                     "backward called twice accumulates")


def git(repo: Path, *args: str) -> str:
    environment = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
                   "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    result = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, env=environment, check=True)
    return result.stdout.strip()


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def copy(name: str, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO / "submissions" / name, destination)


def github_environment(tmp_path: Path, base: str, head: str) -> dict[str, str]:
    event = tmp_path / "event.json"
    event.write_text(EVENT.read_text().replace("@BASE_SHA@", base).replace("@HEAD_SHA@", head))
    summary, output = tmp_path / "step_summary.md", tmp_path / "output.txt"
    summary.write_text("## an earlier step's summary\n")
    output.write_text("")
    return {**os.environ, "GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "pull_request",
            "GITHUB_EVENT_PATH": str(event), "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(output)}


def grader_ci(repo: Path, environment: dict[str, str], *args: str, course: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", "--course", str(course), "ci", *args],
                          cwd=repo, env=environment, capture_output=True, text=True, timeout=300)


def read_outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


@pytest.fixture
def student_repo(tmp_path):
    """A student's repository: main has bob.py (buggy) and a copy of reference/ the template
    shipped; the pull request's branch fixes bob.py, adds dave.py, edits the reference copy
    and a README; meanwhile main gained zed.py, which the pull request does not touch."""
    repo = tmp_path / "value-alice"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    copy("carol.py", repo / "submissions" / "bob.py")
    (repo / "README.md").write_text("# Value\n")
    shutil.copytree(REPO / "reference", repo / "reference")
    commit_all(repo, "template")
    git(repo, "checkout", "-q", "-b", "work")
    copy("alice.py", repo / "submissions" / "bob.py")
    copy("dave.py", repo / "submissions" / "dave.py")
    (repo / "submissions" / "notes.txt").write_text("not a submission\n")
    (repo / "README.md").write_text("# Value, done\n")
    (repo / "reference" / "value_basic.py").write_text("raise SystemExit('the student edited the reference')\n")
    head = commit_all(repo, "my work")
    git(repo, "checkout", "-q", "main")
    copy("erin.py", repo / "submissions" / "zed.py")
    base = commit_all(repo, "main moves on")
    git(repo, "checkout", "-q", "work")
    return repo, base, head


@pytest.mark.slow
def test_ci_grades_the_pull_requests_submissions_and_tells_github(student_repo, tmp_path):
    repo, base, head = student_repo
    environment = github_environment(tmp_path, base, head)
    result = grader_ci(repo, environment, "--out", str(tmp_path / "out"), "--fail-under", "100")

    outputs = read_outputs(Path(environment["GITHUB_OUTPUT"]))
    assert outputs["submissions"] == "2"  # bob.py and dave.py; not zed.py, which only main changed
    score, max_score = float(outputs["score"]), float(outputs["max_score"])
    assert 0 < score < max_score and float(outputs["percent"]) == pytest.approx(100 * score / max_score, abs=0.05)
    assert result.returncode == 1, "dave.py loses points: below --fail-under 100 (a full score passes it: see below)"
    classroom = json.loads(base64.b64decode(outputs["result"]))
    assert sum(test["score"] for test in classroom["tests"]) == pytest.approx(score)
    assert classroom["max_score"] == pytest.approx(max_score)

    summary = Path(environment["GITHUB_STEP_SUMMARY"]).read_text()
    assert summary.startswith("## an earlier step's summary\n")  # appended, as GitHub expects
    assert "`bob.py`" in summary and "`dave.py`" in summary and "zed.py" not in summary
    assert (tmp_path / "out" / "summary.md").read_text() in summary
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["bob", "dave", "summary.md"]
    assert not list((tmp_path / "out").rglob("report.json"))  # it records the hidden seed

    errors = [line for line in result.stdout.splitlines() if line.startswith("::error ")]
    assert errors and all(line.startswith("::error file=submissions/dave.py,line=") for line in errors)
    assert "title=value-basic%3A relu at exactly zero::" in "\n".join(errors)
    for name in HIDDEN_TEST_NAMES:
        assert name not in result.stdout and name not in summary


def test_a_course_inside_the_checkout_that_the_pull_request_edits_is_refused(tmp_path):
    repo = tmp_path / "course-and-work"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    shutil.copytree(REPO / "problems", repo / "problems")
    shutil.copytree(REPO / "reference", repo / "reference")
    base = commit_all(repo, "course")
    copy("carol.py", repo / "submissions" / "carol.py")
    spec = repo / "problems" / "value-basic" / "problem.yaml"
    spec.write_text(spec.read_text().replace("points: 1", "points: 0"))
    head = commit_all(repo, "submission, and free points")
    result = grader_ci(repo, github_environment(tmp_path, base, head), course=repo)
    assert result.returncode == 2
    assert "the pull request changes problems/value-basic/problem.yaml" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_pull_request_without_submissions_grades_nothing_and_says_so(student_repo, tmp_path):
    repo, base, _ = student_repo
    git(repo, "checkout", "-q", "-b", "docs", base)
    (repo / "README.md").write_text("# Value, typo fixed\n")
    head = commit_all(repo, "docs only")
    environment = github_environment(tmp_path, base, head)
    result = grader_ci(repo, environment)
    assert result.returncode == 0, result.stderr  # nothing asked of it: saying so is enough
    assert read_outputs(Path(environment["GITHUB_OUTPUT"]))["submissions"] == "0"
    assert "::notice title=Autograder%3A nothing graded::no submission changed in this pull request: nothing graded" \
        in result.stdout.splitlines()
    summary = Path(environment["GITHUB_STEP_SUMMARY"]).read_text()
    assert "**No submission changed in this pull request: nothing graded.**" in summary and "No submission to grade" in summary
    failing = grader_ci(repo, environment, "--fail-under", "0")
    assert failing.returncode == 1  # not a pass, whatever the threshold
    assert failing.stderr == ("grader: no submission changed in this pull request: nothing graded, "
                              "so --fail-under 0% is not met\n")


@pytest.mark.parametrize(
    ("setup", "words"),
    [
        ("no_event", "no files given and no GitHub event to read them from"),
        ("push_event", "is not a pull_request event"),
        ("shallow", "both commits must be in the clone (actions/checkout with fetch-depth: 0)"),
    ],
)
def test_unusable_pull_request_context_exits_2_with_one_line(student_repo, tmp_path, setup, words):
    repo, base, head = student_repo
    environment = github_environment(tmp_path, base, "0" * 40 if setup == "shallow" else head)
    if setup == "no_event":
        del environment["GITHUB_EVENT_PATH"]
    if setup == "push_event":
        Path(environment["GITHUB_EVENT_PATH"]).write_text(json.dumps({"ref": "refs/heads/work", "before": base, "after": head}))
    result = grader_ci(repo, environment)
    assert result.returncode == 2
    assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_workflow_commands_are_escaped_so_a_message_cannot_start_a_command_of_its_own():
    forged = "got 'x'\n::add-mask::secret\r\n::error::100% fake"
    command = workflow_command("error", forged, file="submissions/a,b.py", line=3, title="value-basic: a:b")
    assert "\n" not in command and "\r" not in command
    assert command == ("::error file=submissions/a%2Cb.py,line=3,title=value-basic%3A a%3Ab::"
                       "got 'x'%0A::add-mask::secret%0D%0A::error::100%25 fake")
    assert escape_data("50%") == "50%25" and escape_property("a:b,c%") == "a%3Ab%2Cc%25"


def test_explicit_files_are_graded_outside_any_git_repository(tmp_path):
    folder = tmp_path / "not-a-repo"
    copy("alice.py", folder / "mine.py")
    output = tmp_path / "output.txt"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    environment["GITHUB_OUTPUT"] = str(output)
    result = subprocess.run([sys.executable, "-m", "grader", "--course", str(REPO), "ci", "mine.py", "--problem",
                             "value-basic", "--fail-under", "100"], cwd=folder, env=environment,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    points = f"{find_course(REPO).load('value-basic').max_score:g}"
    assert f"mine.py (value-basic): {points}/{points} graded" in result.stdout and "::error" not in result.stdout
    outputs = read_outputs(output)
    assert outputs["submissions"] == "1" and outputs["percent"] == "100.0"


# ------------------------------------------------------------------ GitHub Classroom's flow: push


@pytest.fixture
def classroom_repo(tmp_path):
    """A student's repository as GitHub Classroom makes it: the template's one commit (a
    README, the task, an empty submissions/ and a starter file the student never touches),
    then the student's pushes: a first try, then a fix and a second file."""
    repo = tmp_path / "value-alice"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("# Value\n")
    (repo / "submissions").mkdir()
    (repo / "submissions" / ".gitkeep").write_text("")
    copy("bob.py", repo / "starter" / "value.py")  # outside submissions/: never graded
    template = commit_all(repo, "Initial commit")
    copy("dave.py", repo / "submissions" / "value.py")
    first = commit_all(repo, "first try")
    copy("alice.py", repo / "submissions" / "value.py")
    copy("carol.py", repo / "submissions" / "extra" / "second.py")
    head = commit_all(repo, "fixed")
    return repo, template, first, head


def event_environment(tmp_path: Path, name: str, payload: Path, **shas: str) -> dict[str, str]:
    """$GITHUB_* as a workflow step of event ``name`` has them, with ``payload``'s SHAs filled in."""
    text = payload.read_text()
    for key, sha in shas.items():
        text = text.replace(f"@{key.upper()}_SHA@", sha)
    environment = github_environment(tmp_path, "unused", "unused")
    Path(environment["GITHUB_EVENT_PATH"]).write_text(text)
    return {**environment, "GITHUB_EVENT_NAME": name}


@pytest.mark.slow
def test_a_push_grades_everything_changed_since_the_templates_first_commit(classroom_repo, tmp_path):
    repo, _, first, head = classroom_repo
    environment = event_environment(tmp_path, "push", PUSH_EVENT, before=first, head=head)
    result = grader_ci(repo, environment, "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    outputs = read_outputs(Path(environment["GITHUB_OUTPUT"]))
    # both files: the one this push changed and the one it added, not only the last commit's diff
    assert outputs["submissions"] == "2"
    assert "submissions/value.py (value-basic)" in result.stdout and "submissions/extra/second.py (value-basic)" in result.stdout
    assert "starter/value.py" not in result.stdout
    assert "guessed: value-basic for submissions/value.py" in result.stdout
    classroom = json.loads(base64.b64decode(outputs["result"]))
    assert classroom["max_score"] == pytest.approx(float(outputs["max_score"]))
    assert sum(test["score"] for test in classroom["tests"]) == pytest.approx(float(outputs["score"]))
    summary = Path(environment["GITHUB_STEP_SUMMARY"]).read_text()
    assert "`value.py`" in summary and "`second.py`" in summary


def test_a_push_that_changed_no_submission_grades_nothing_and_says_so(classroom_repo, tmp_path):
    repo, template, _, _ = classroom_repo
    git(repo, "checkout", "-q", "-b", "docs", template)
    (repo / "README.md").write_text("# Value, typo fixed\n")
    head = commit_all(repo, "docs only")
    environment = event_environment(tmp_path, "push", PUSH_EVENT, before=template, head=head)
    result = grader_ci(repo, environment, "--fail-under", "0")  # as the shipped workflow runs it
    assert result.returncode == 1, result.stderr  # not a pass: the job fails
    assert "nothing graded, so --fail-under 0% is not met" in result.stderr
    notice = "::notice title=Autograder%3A nothing graded::no submission changed in this push: nothing graded"
    assert notice in result.stdout.splitlines() and "total:" not in result.stdout
    outputs = read_outputs(Path(environment["GITHUB_OUTPUT"]))
    assert outputs["submissions"] == "0" and outputs["percent"] == "0.0"
    summary = Path(environment["GITHUB_STEP_SUMMARY"]).read_text()
    assert "**No submission changed in this push: nothing graded.** No score: this run does not count as a pass." in summary
    assert "No submission to grade: no `*.py` file under `submissions/` was added or changed since the template's first commit." in summary
    # what Classroom's reporter gets: not a pass (it fails its step on "error"), and says why
    classroom = json.loads(base64.b64decode(outputs["result"]))
    assert classroom["status"] == "error" and classroom["max_score"] == 0  # no problem named: 0/0, said to be nothing
    assert [(t["name"], t["status"], t["score"]) for t in classroom["tests"]] == [
        ("no submission changed in this push: nothing graded", "error", 0)]
    # with the problem named, Classroom shows 0 of its points rather than 0/0
    environment["GRADER_PROBLEM"] = "value-basic"
    Path(environment["GITHUB_OUTPUT"]).write_text("")
    assert grader_ci(repo, environment).returncode == 0
    outputs = read_outputs(Path(environment["GITHUB_OUTPUT"]))
    points = find_course(REPO).load("value-basic").max_score
    assert (outputs["score"], float(outputs["max_score"])) == ("0", points)
    classroom = json.loads(base64.b64decode(outputs["result"]))
    assert classroom["status"] == "error" and classroom["max_score"] == points
    assert sum(t["score"] for t in classroom["tests"]) == 0


@pytest.mark.parametrize(("folder", "graded"), [(".", 2), ("./submissions", 2), ("./submissions/extra/", 1)])
def test_submissions_folder_is_read_as_a_path_in_the_repository(classroom_repo, tmp_path, folder, graded):
    repo, template, _, head = classroom_repo
    environment = event_environment(tmp_path, "push", PUSH_EVENT, before=template, head=head)
    result = grader_ci(repo, environment, "--submissions", folder, "--problem", "value-basic")
    assert result.returncode == 0, result.stderr
    assert read_outputs(Path(environment["GITHUB_OUTPUT"]))["submissions"] == str(graded), result.stdout
    assert "submissions/extra/second.py (value-basic)" in result.stdout


def test_a_push_is_graded_at_the_pushed_commit_not_at_a_later_one(classroom_repo, tmp_path):
    repo, _, first, _head = classroom_repo
    git(repo, "checkout", "-q", first)  # the checkout of an earlier push's run
    environment = event_environment(tmp_path, "push", PUSH_EVENT, before=first, head=first)
    result = grader_ci(repo, environment, "--problem", "value-basic")
    assert result.returncode == 0, result.stderr
    assert read_outputs(Path(environment["GITHUB_OUTPUT"]))["submissions"] == "1"  # second.py came later
    assert "guessed:" not in result.stdout  # --problem


def test_a_workflow_dispatch_grades_the_checked_out_commit_since_the_template(classroom_repo, tmp_path):
    repo, _, _, _ = classroom_repo
    environment = event_environment(tmp_path, "workflow_dispatch", DISPATCH_EVENT)
    environment["GRADER_PROBLEM"] = "value-basic"
    result = grader_ci(repo, environment)
    assert result.returncode == 0, result.stderr
    assert read_outputs(Path(environment["GITHUB_OUTPUT"]))["submissions"] == "2"
    assert "guessed:" not in result.stdout  # GRADER_PROBLEM fixed it


def test_grader_problem_names_the_problem_for_every_file(classroom_repo, tmp_path):
    repo, _, first, head = classroom_repo
    environment = {**event_environment(tmp_path, "push", PUSH_EVENT, before=first, head=head), "GRADER_PROBLEM": "value-full"}
    result = grader_ci(repo, environment)
    assert result.returncode == 0, result.stderr
    assert "submissions/value.py (value-full)" in result.stdout and "(value-basic)" not in result.stdout
    environment["GRADER_PROBLEM"] = "no-such-problem"
    result = grader_ci(repo, environment)
    assert result.returncode == 2 and "no such problem 'no-such-problem'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_all_grades_every_file_under_submissions_changed_or_not(classroom_repo, tmp_path):
    repo, _template, _, head = classroom_repo
    environment = event_environment(tmp_path, "push", PUSH_EVENT, before=head, head=head)
    result = grader_ci(repo, environment, "--all", "--problem", "value-basic", "--submissions", "starter")
    assert result.returncode == 0, result.stderr
    assert read_outputs(Path(environment["GITHUB_OUTPUT"]))["submissions"] == "1"
    assert "starter/value.py (value-basic)" in result.stdout  # never changed since the template, graded anyway


@pytest.mark.parametrize(
    ("setup", "words"),
    [
        ("shallow", "the clone is shallow, so the template's first commit is not in it (actions/checkout with fetch-depth: 0)"),
        ("issue_comment", "grader ci grades pull_request, push, workflow_dispatch, repository_dispatch events, not issue_comment"),
        ("files_and_all", "give the files or --all, not both"),
    ],
)
def test_an_unusable_push_context_exits_2_with_one_line(classroom_repo, tmp_path, setup, words):
    repo, _, first, head = classroom_repo
    environment = event_environment(tmp_path, "push", PUSH_EVENT, before=first, head=head)
    args: tuple[str, ...] = ()
    if setup == "shallow":
        clone = tmp_path / "shallow"
        subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{repo}", str(clone)], check=True, capture_output=True)
        repo = clone
    if setup == "issue_comment":
        environment["GITHUB_EVENT_NAME"] = "issue_comment"
    if setup == "files_and_all":
        args = ("--all", "submissions/value.py")
    result = grader_ci(repo, environment, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
