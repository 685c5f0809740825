"""``grader ci``: grade what a push or a pull request adds or changes, and tell GitHub in its
own terms.

Which files: the ``*.py`` files added or modified under the submissions folder (``git diff
base...head``), where the event in ``$GITHUB_EVENT_NAME`` and ``$GITHUB_EVENT_PATH`` says
what base and head are:

- ``pull_request``: the pull request's base and head, from the payload;
- ``push``: from the template's first commit (the root of the history GitHub Classroom's
  copy starts with) to the pushed commit (``after``): everything the student changed;
- ``workflow_dispatch`` and ``repository_dispatch``: the same, to the commit checked out.

Or ``--base`` and ``--head``, ``--all`` (every ``*.py`` under the submissions folder), or an
explicit list. Each is graded like ``grader grade``; then, from the same Reports:

- the Markdown summary of every file, appended to ``$GITHUB_STEP_SUMMARY`` (and written to
  ``--out DIR/summary.md`` for a pull-request comment);
- step outputs in ``$GITHUB_OUTPUT``: score, max_score and percent summed over the files,
  the number of files, and ``result``, GitHub Classroom's runner output;
- ``::error`` workflow commands for failing visible tests (``::warning`` for what the
  source reading found), so the pull request's diff shows them on the submission's lines.

When no file is graded (a push that changes no submission), that is said, never passed off
as a score: a ``::notice`` on stdout and a line in the summary ("no submission changed in
this push: nothing graded"), a Classroom result whose status is "error" (0 points, of the
problem's when ``--problem`` or ``$GRADER_PROBLEM`` names it), and ``--fail-under`` not met.

Nothing printed here names a hidden test or shows its program: a student reads this log.
"""

from __future__ import annotations

import ast
import json
import posixpath
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, TextIO

from grader.check import SubmissionStatus, percent
from grader.classroom import nothing_graded_output, runner_output
from grader.files import safe_file_name, write_atomically
from grader.formats import FILE_NAMES, render_markdown, write_formats
from grader.guess import GuessError, guess_problem_of
from grader.report import Report
from grader.spec import Course, Problem, SpecError
from grader.terminal import safe
from grader.text import clean_name
from grader.view import Audience, report_view

COMMENT_MARKER = "<!-- grader ci -->"
"""First line of the summary, so a workflow can find and update its own pull-request comment."""
COURSE_PARTS = ("problems", "reference")
NO_COMMIT = "0" * 40
"""What a push event's ``after`` says when the push deleted the branch."""


class CiError(Exception):
    """Input ``grader ci`` cannot use; the message is the one line the user sees."""


class ChangeKind(str, Enum):
    ADDED = "A"
    MODIFIED = "M"
    DELETED = "D"
    TYPE_CHANGED = "T"
    OTHER = "?"


class EventKind(str, Enum):
    """The GitHub events ``grader ci`` knows what to grade for."""

    PULL_REQUEST = "pull_request"
    PUSH = "push"
    WORKFLOW_DISPATCH = "workflow_dispatch"
    REPOSITORY_DISPATCH = "repository_dispatch"


@dataclass(frozen=True, slots=True)
class Change:
    kind: ChangeKind
    path: str
    """Relative to the repository root, with forward slashes, as git prints it."""


@dataclass(frozen=True, slots=True)
class GitHubFiles:
    """Where a GitHub Actions step reads its event and writes its summary and outputs."""

    event: Path | None
    step_summary: Path | None
    output: Path | None
    event_name: str = ""
    """``$GITHUB_EVENT_NAME``; empty outside a workflow."""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> GitHubFiles:
        def path(name: str) -> Path | None:
            return Path(environ[name]) if environ.get(name) else None

        return cls(path("GITHUB_EVENT_PATH"), path("GITHUB_STEP_SUMMARY"), path("GITHUB_OUTPUT"),
                   environ.get("GITHUB_EVENT_NAME", ""))


@dataclass(frozen=True, slots=True)
class Revisions:
    """What to diff: ``base...head``, and how the summary says it when nothing changed."""

    base: str
    head: str
    scope: str
    """When the files changed: "in this pull request", "since the template's first commit"."""
    event: str = ""
    """What changed them, as the notice says it: "in this push", "in this pull request"."""


@dataclass(frozen=True, slots=True)
class Selection:
    paths: tuple[Path, ...]
    nothing: str
    """The summary's sentence when there is nothing to grade."""
    headline: str = "no submission given: nothing graded"
    """The one line (notice, summary, Classroom) when there is nothing to grade."""


@dataclass(frozen=True, slots=True)
class CiRequest:
    paths: tuple[Path, ...]
    """Explicit submission files; empty: the event's changes."""
    problem_id: str | None
    """--problem or $GRADER_PROBLEM; None: guessed per file from the course's problems."""
    base: str | None
    head: str | None
    submissions_dir: str
    out: Path | None
    formats: tuple[str, ...]
    every_file: bool = False
    """--all: every ``*.py`` under the submissions folder, whatever changed."""


@dataclass(frozen=True, slots=True)
class CiOutcome:
    reports: tuple[Report, ...]
    nothing_graded: str = ""
    """When no file was graded: the one line saying so and why; else empty."""
    unearned: float = 0.0
    """When no file was graded: the points of the problem named (--problem, $GRADER_PROBLEM)
    that nobody earned, so Classroom shows 0 of them; 0 when no problem was named."""

    @property
    def score(self) -> float:
        return round(sum(report.score for report in self.reports), 6)

    @property
    def max_score(self) -> float:
        return round(sum(report.max_score for report in self.reports), 6) if self.reports else self.unearned

    @property
    def percent(self) -> float:
        """Of the points graded; 0 when nothing was graded (no score, so nothing passed)."""
        return percent(self.score, self.max_score) if self.reports else 0.0


def default_formats() -> tuple[str, ...]:
    """What a student may download from CI: never report.json, which records the hidden seed."""
    return tuple(name for name in ("html", "md") if name in FILE_NAMES)


def run_ci(
    request: CiRequest,
    *,
    course: Course,
    load_problem: Callable[[str], Problem],
    grade: Callable[[Problem, Path], Report],
    github: GitHubFiles,
    stdout: TextIO,
) -> CiOutcome:
    """Find the submissions, grade each one, and report to GitHub."""
    repo = repository_root(Path.cwd())
    selection = select(request, course, repo, github)
    reports, problems = [], {}
    guess = _guesser(course)
    for path in selection.paths:
        shown = _shown_path(path, repo)
        said = safe(shown)  # a file name is the student's: no workflow command in the log
        problem_id = request.problem_id
        if problem_id is None:
            problem_id = guess(path, shown)
            print(f"guessed: {problem_id} for {said}", file=stdout)
        if problem_id not in problems:  # a spec is validated and its hidden graphs drawn once
            problems[problem_id] = load_problem(problem_id)
        problem = problems[problem_id]
        report = grade(problem, path)
        reports.append(report)
        print(f"{said} ({problem.id}): {report.score:g}/{report.max_score:g} {report.status}", file=stdout)
        for line in annotation_commands(report, shown):
            print(line, file=stdout)
    if reports:
        outcome = CiOutcome(tuple(reports))
    else:
        unearned = load_problem(request.problem_id).max_score if request.problem_id else 0.0
        outcome = CiOutcome((), selection.headline, unearned)
    summary = combined_summary(outcome, selection.nothing)
    if request.out is not None:
        _write_reports(outcome, request.out, request.formats)
        write_atomically(request.out / "summary.md", summary)
    if github.step_summary is not None:
        _append(github.step_summary, summary)
    if github.output is not None:
        _append(github.output, "".join(f"{name}={value}\n" for name, value in step_outputs(outcome).items()))
    if outcome.nothing_graded:
        print(workflow_command("notice", outcome.nothing_graded, title="Autograder: nothing graded"), file=stdout)
    else:
        print(f"total: {outcome.score:g}/{outcome.max_score:g} ({outcome.percent:.1f}%) over {len(reports)} file(s)",
              file=stdout)
    return outcome


# ------------------------------------------------------------------ which files


def select(request: CiRequest, course: Course, repo: Path | None, github: GitHubFiles) -> Selection:
    """The files to grade: the explicit ones, every one (--all), or what the event changed."""
    if request.paths and request.every_file:
        raise CiError("give the files or --all, not both")
    for path in request.paths:
        refuse_unprintable_name(path)
    if request.paths:
        return Selection(request.paths, "No submission to grade.")
    folder = _folder_name(request.submissions_dir)
    if request.every_file:
        paths = every_submission(repo or Path.cwd(), request.submissions_dir)
        return Selection(tuple(paths), f"No submission to grade: there is no `*.py` file under `{folder}`.",
                         f"no submission under {clean_name(folder)}: nothing graded")
    return changed_submissions(request, course, repo, github)


def submissions_folder(submissions_dir: str) -> str:
    """``--submissions`` as a path relative to the repository root, as git prints paths:
    ``submissions``, ``./submissions`` and ``submissions/`` alike; ``.`` (or ``./``, or ``""``)
    is the whole repository, ``""``."""
    folder = posixpath.normpath(submissions_dir).strip("/")
    return "" if folder == "." else folder


def every_submission(root: Path, submissions_dir: str) -> list[Path]:
    """Every ``*.py`` file under the submissions folder, hidden ones and caches aside, in path order."""
    folder = root / submissions_folder(submissions_dir)
    if not folder.is_dir():
        return []
    paths = [path for path in folder.rglob("*.py")
             if not any(part.startswith(".") or part == "__pycache__" for part in path.relative_to(folder).parts)]
    for path in paths:
        refuse_unprintable_name(path)
    return sorted(paths)


def event_revisions(github: GitHubFiles, repo: Path) -> Revisions:
    """What the workflow's event says to diff: a pull request's base and head; for a push or a
    dispatch, the template's first commit and the pushed (or checked-out) commit."""
    if github.event is None:
        raise CiError("no files given and no GitHub event to read them from: pass the files, --all, or --base and "
                      "--head, or run in a pull_request, push or workflow_dispatch workflow ($GITHUB_EVENT_PATH)")
    payload = _read_event(github.event)
    name = github.event_name or _event_name_of(payload)
    kind = next((kind for kind in EventKind if kind.value == name), None)
    if kind is EventKind.PULL_REQUEST:
        base, head = pull_request_revisions(payload, github.event)
        return Revisions(base, head, "in this pull request", "in this pull request")
    if kind is None:
        known = ", ".join(kind.value for kind in EventKind)
        raise CiError(f"grader ci grades {known} events, not {clean_name(name) or 'an unnamed one'}: "
                      "pass the files, --all, or --base and --head")
    after = payload.get("after") if kind is EventKind.PUSH else None
    head = after if isinstance(after, str) and after and after != NO_COMMIT else "HEAD"
    event = "in this push" if kind is EventKind.PUSH else "since the template's first commit"
    return Revisions(first_commit(repo, head), head, "since the template's first commit", event)


def _read_event(event: Path) -> dict[str, Any]:
    try:
        payload = json.loads(event.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CiError(f"cannot read the event payload {event}: {error}") from None
    if not isinstance(payload, dict):
        raise CiError(f"the event payload {event} is not a JSON object")
    return payload


def _event_name_of(payload: dict[str, Any]) -> str:
    """Outside GitHub ($GITHUB_EVENT_NAME unset): the kind of payload it is."""
    if "pull_request" in payload:
        return EventKind.PULL_REQUEST.value
    return EventKind.PUSH.value if "after" in payload else ""


def first_commit(repo: Path, head: str) -> str:
    """The root of ``head``'s history (the oldest, if merges joined several): the commit
    GitHub Classroom made from the template."""
    if _git(repo, "rev-parse", "--is-shallow-repository").strip() == "true":
        raise CiError("the clone is shallow, so the template's first commit is not in it "
                      "(actions/checkout with fetch-depth: 0)")
    roots = _git(repo, "rev-list", "--max-parents=0", head, "--").split()
    if not roots:
        raise CiError(f"{clean_name(head)} has no history in this clone")
    return roots[-1]


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        reason = result.stderr.strip().splitlines()
        raise CiError(f"git {args[0]} failed ({clean_name(reason[0]) if reason else 'no reason given'}); "
                      "the commits must be in the clone (actions/checkout with fetch-depth: 0)")
    return result.stdout


def repository_root(folder: Path) -> Path | None:
    """The git work tree holding ``folder``, or None outside one."""
    try:
        result = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=folder, capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return None
    return Path(result.stdout.strip()).resolve() if result.returncode == 0 else None


def pull_request_revisions(payload: dict[str, Any], event: Path) -> tuple[str, str]:
    """The base and head commits of the pull request in a GitHub event payload."""
    pull_request: Any = payload.get("pull_request")
    try:
        return str(pull_request["base"]["sha"]), str(pull_request["head"]["sha"])
    except (TypeError, KeyError):
        raise CiError(f"{event} is not a pull_request event (no pull_request.base.sha and head.sha): "
                      "pass --base and --head, or the files") from None


def changed_files(repo: Path, base: str, head: str) -> list[Change]:
    """What ``git diff base...head`` shows: the pull request's own changes since it branched."""
    command = ["git", "diff", "--name-status", "--no-renames", "-z", f"{base}...{head}", "--"]
    result = subprocess.run(command, cwd=repo, capture_output=True, timeout=120, check=False)
    if result.returncode != 0:
        reason = result.stderr.decode(errors="replace").strip().splitlines()
        raise CiError(f"git diff {base}...{head} failed ({reason[0] if reason else 'no reason given'}); "
                      "both commits must be in the clone (actions/checkout with fetch-depth: 0)")
    fields = result.stdout.decode(errors="surrogateescape").split("\0")
    changes = []
    for status, path in zip(fields[0::2], fields[1::2], strict=False):
        kind = next((k for k in ChangeKind if k.value == status[:1]), ChangeKind.OTHER)
        changes.append(Change(kind, path))
    return changes


def select_submissions(changes: Sequence[Change], submissions_dir: str) -> list[str]:
    """The added or modified ``*.py`` files under the submissions folder, in path order."""
    folder = submissions_folder(submissions_dir)
    prefix = folder + "/" if folder else ""
    wanted = (ChangeKind.ADDED, ChangeKind.MODIFIED)
    return sorted(c.path for c in changes if c.kind in wanted and c.path.endswith(".py") and c.path.startswith(prefix))


def check_course_untouched(course: Course, repo: Path, changes: Sequence[Change]) -> None:
    """Refuse to grade a pull request with a course that the pull request itself edits."""
    try:
        inside = course.root.resolve().relative_to(repo)
    except ValueError:
        return  # the course lives outside the checkout: nothing the pull request changes reaches it
    folder = inside.as_posix()
    prefixes = tuple(f"{part}/" if folder == "." else f"{folder}/{part}/" for part in COURSE_PARTS)
    for change in changes:
        if change.path.startswith(prefixes):
            raise CiError(f"the pull request changes {clean_name(change.path)}, part of the course that would grade it: "
                          "grade with --course pointing at a copy from outside the checkout")


def refuse_unprintable_name(path: Path) -> None:
    """A file name with a control character (a newline starts a workflow command in the log)
    or bytes that are not UTF-8 is not graded: the student is told, in one line, to rename it."""
    name = str(path)
    if clean_name(name, len(name)) != name:
        raise CiError(f"cannot grade {clean_name(name)!r}: its name holds control characters or bytes that are not "
                      "UTF-8; rename the file")


def changed_submissions(request: CiRequest, course: Course, repo: Path | None, github: GitHubFiles) -> Selection:
    """The submissions ``base...head`` adds or modifies, the course left untouched by it."""
    if repo is None:
        raise CiError("not inside a git repository: run in the student's checkout, or pass the files, or --all")
    if (request.base is None) != (request.head is None):
        raise CiError("give both --base and --head, or neither")
    if request.base is not None and request.head is not None:
        scope = f"in {clean_name(request.base)}...{clean_name(request.head)}"
        revisions = Revisions(request.base, request.head, scope, scope)
    else:
        revisions = event_revisions(github, repo)
    changes = changed_files(repo, revisions.base, revisions.head)
    check_course_untouched(course, repo, changes)
    paths = [repo / name for name in select_submissions(changes, request.submissions_dir)]
    for path in paths:
        refuse_unprintable_name(path)
    missing = [p for p in paths if not p.exists() and not p.is_symlink()]
    if missing:
        raise CiError(f"{clean_name(str(missing[0].relative_to(repo)))} is changed by the event but not in the checkout "
                      "(check out the pushed commit or the pull request, not its base)")
    nothing = (f"No submission to grade: no `*.py` file under `{_folder_name(request.submissions_dir)}` "
               f"was added or changed {revisions.scope}.")
    return Selection(tuple(paths), nothing, f"no submission changed {revisions.event}: nothing graded")


def _folder_name(submissions_dir: str) -> str:
    folder = submissions_folder(submissions_dir)
    return folder + "/" if folder else "./"


def _guesser(course: Course) -> Callable[[Path, str], str]:
    """Guesses each file's problem from the course's problems, read once and only if needed."""
    apis: dict[str, Any] = {}

    def guess(path: Path, shown: str) -> str:
        try:
            if not apis:
                apis.update(course.apis())
            return guess_problem_of(path, apis)
        except (GuessError, SpecError) as error:
            raise CiError(f"{clean_name(shown)}: {error}") from None

    return guess


# ------------------------------------------------------------------ what GitHub is told


def escape_data(text: str) -> str:
    """A workflow command's message, escaped as @actions/core does; and no ``##[`` in it, the
    runner's older command form, which it reads anywhere in a line."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A").replace("##[", "##\u2060[")


def escape_property(text: str) -> str:
    """A workflow command's property value: also ``:`` and ``,``, which delimit properties."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(command: str, message: str, **properties: str | int) -> str:
    shown = ",".join(f"{name}={escape_property(str(value))}" for name, value in properties.items())
    return f"::{command} {shown}::{escape_data(message)}" if shown else f"::{command}::{escape_data(message)}"


def annotation_commands(report: Report, path: str) -> list[str]:
    """``::error`` for each failing visible test at the line that raised (else 1); one for a
    file that could not load; ``::warning`` for each source finding. Hidden tests: none."""
    view = report_view(report, Audience.STUDENT)
    if view.status is not SubmissionStatus.GRADED:
        title = f"{view.problem_id}: your file could not be graded"
        return [workflow_command("error", view.message or view.status.value, file=path, line=_load_failure_line(report), title=title)]
    lines = []
    for test in view.detailed:
        if test.passed:
            continue
        message = test.output or test.status.value
        if test.hint:
            message += f"\nhint: {test.hint}"
        lines.append(workflow_command("error", message, file=path, line=test.line or 1, title=f"{view.problem_id}: {test.name}"))
    for finding in view.findings:
        lines.append(workflow_command("warning", finding.message, file=path, line=finding.line, title=f"{view.problem_id}: in your code"))
    return lines


def combined_summary(outcome: CiOutcome, nothing: str) -> str:
    """One Markdown document for every graded file, headed by the comment marker; ``nothing``
    says why there is no file, when there is none."""
    lines = [COMMENT_MARKER, "# Autograder", ""]
    if not outcome.reports:
        headline = outcome.nothing_graded or "nothing graded"
        lines += [f"**{headline[:1].upper()}{headline[1:]}.** No score: this run does not count as a pass.", "",
                  nothing]
        return "\n".join(lines) + "\n"
    if len(outcome.reports) > 1:
        lines += [f"**Total: {outcome.score:g} / {outcome.max_score:g} ({outcome.percent:.1f}%)** over {len(outcome.reports)} files", ""]
    return "\n".join(lines) + "\n" + "\n".join(render_markdown(report) for report in outcome.reports)


def step_outputs(outcome: CiOutcome) -> dict[str, str]:
    if outcome.reports:
        result = runner_output(outcome.reports)
    else:
        result = nothing_graded_output(outcome.nothing_graded or "nothing graded", outcome.max_score)
    return {
        "score": f"{outcome.score:g}",
        "max_score": f"{outcome.max_score:g}",
        "percent": f"{outcome.percent:.1f}",
        "submissions": str(len(outcome.reports)),
        "result": result,
    }


def _load_failure_line(report: Report) -> int:
    """Where Python stops reading the file (parsed, never run), else 1."""
    try:
        ast.parse(report.submission_path.read_bytes())
    except SyntaxError as error:
        return error.lineno or 1
    except (OSError, ValueError, RecursionError, MemoryError):
        return 1
    return 1


def _shown_path(path: Path, repo: Path | None) -> str:
    """The path as GitHub names files in annotations: relative to the repository root."""
    absolute = path.absolute().parent.resolve() / path.name  # the folders resolved, not a symlinked file
    for root in (repo, Path.cwd()):
        if root is not None:
            try:
                return absolute.relative_to(root).as_posix()
            except ValueError:
                continue
    return path.as_posix()


def _write_reports(outcome: CiOutcome, out: Path, formats: tuple[str, ...]) -> None:
    used: set[str] = set()
    for report in outcome.reports:
        stem = safe_file_name(report.submission_path.stem)
        name, n = stem, 1
        while name in used:
            n += 1
            name = f"{stem}-{n}"
        used.add(name)
        write_formats(report, out / name, formats)


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as stream:
        stream.write(text)
