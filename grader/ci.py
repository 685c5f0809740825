"""``grader ci``: grade what a pull request adds or changes, and tell GitHub in its own terms.

Which files: the ``*.py`` files added or modified under the submissions folder between the
pull request's base and head (``git diff base...head``, both read from the event payload in
``$GITHUB_EVENT_PATH`` unless given), or an explicit list. Each is graded like ``grader
grade``; then, from the same Reports:

- the Markdown summary of every file, appended to ``$GITHUB_STEP_SUMMARY`` (and written to
  ``--out DIR/summary.md`` for a pull-request comment);
- step outputs in ``$GITHUB_OUTPUT``: score, max_score and percent summed over the files,
  the number of files, and ``result``, GitHub Classroom's runner output;
- ``::error`` workflow commands for failing visible tests (``::warning`` for what the
  source reading found), so the pull request's diff shows them on the submission's lines.

Nothing printed here names a hidden test or shows its program: a student reads this log.
"""

from __future__ import annotations

import ast
import json
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TextIO

from grader.classroom import runner_output
from grader.files import safe_file_name, write_atomically
from grader.formats import FILE_NAMES, render_markdown, write_formats
from grader.report import Report
from grader.spec import Course, Problem, guess_problem_id
from grader.text import clean_name
from grader.view import Audience, report_view

COMMENT_MARKER = "<!-- grader ci -->"
"""First line of the summary, so a workflow can find and update its own pull-request comment."""
COURSE_PARTS = ("problems", "reference")


class CiError(Exception):
    """Input ``grader ci`` cannot use; the message is the one line the user sees."""


class ChangeKind(str, Enum):
    ADDED = "A"
    MODIFIED = "M"
    DELETED = "D"
    TYPE_CHANGED = "T"
    OTHER = "?"


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

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> GitHubFiles:
        def path(name: str) -> Path | None:
            return Path(environ[name]) if environ.get(name) else None

        return cls(path("GITHUB_EVENT_PATH"), path("GITHUB_STEP_SUMMARY"), path("GITHUB_OUTPUT"))


@dataclass(frozen=True, slots=True)
class CiRequest:
    paths: tuple[Path, ...]
    """Explicit submission files; empty: the pull request's changes."""
    problem_id: str | None
    base: str | None
    head: str | None
    submissions_dir: str
    out: Path | None
    formats: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CiOutcome:
    reports: tuple[Report, ...]

    @property
    def score(self) -> float:
        return round(sum(report.score for report in self.reports), 6)

    @property
    def max_score(self) -> float:
        return round(sum(report.max_score for report in self.reports), 6)

    @property
    def percent(self) -> float:
        return 100.0 * self.score / self.max_score if self.max_score else 100.0


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
    submissions = request.paths or pull_request_submissions(request, course, repo, github)
    for path in request.paths:
        refuse_unprintable_name(path)
    reports, problems = [], {}
    for path in submissions:
        problem_id = request.problem_id or guess_problem_id(path, course)
        if problem_id not in problems:  # a spec is validated and its hidden graphs drawn once
            problems[problem_id] = load_problem(problem_id)
        problem = problems[problem_id]
        report = grade(problem, path)
        reports.append(report)
        print(f"{_shown_path(path, repo)} ({problem.id}): {report.score:g}/{report.max_score:g} {report.status}", file=stdout)
        for line in annotations(report, _shown_path(path, repo)):
            print(line, file=stdout)
    outcome = CiOutcome(tuple(reports))
    summary = combined_summary(outcome, request.submissions_dir)
    if request.out is not None:
        _write_reports(outcome, request.out, request.formats)
        write_atomically(request.out / "summary.md", summary)
    if github.step_summary is not None:
        _append(github.step_summary, summary)
    if github.output is not None:
        _append(github.output, "".join(f"{name}={value}\n" for name, value in step_outputs(outcome).items()))
    print(f"total: {outcome.score:g}/{outcome.max_score:g} ({outcome.percent:.1f}%) over {len(reports)} file(s)", file=stdout)
    return outcome


# ------------------------------------------------------------------ which files


def repository_root(folder: Path) -> Path | None:
    """The git work tree holding ``folder``, or None outside one."""
    try:
        result = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=folder, capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return None
    return Path(result.stdout.strip()).resolve() if result.returncode == 0 else None


def pull_request_revisions(event: Path | None) -> tuple[str, str]:
    """The base and head commits of the pull request in a GitHub event payload."""
    if event is None:
        raise CiError("no files given and no pull request to read them from: pass the files, or --base and --head, "
                      "or run in a pull_request workflow ($GITHUB_EVENT_PATH)")
    try:
        payload = json.loads(event.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CiError(f"cannot read the event payload {event}: {error}") from None
    pull_request = payload.get("pull_request") if isinstance(payload, dict) else None
    try:
        return pull_request["base"]["sha"], pull_request["head"]["sha"]
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
    for status, path in zip(fields[0::2], fields[1::2]):
        kind = next((k for k in ChangeKind if k.value == status[:1]), ChangeKind.OTHER)
        changes.append(Change(kind, path))
    return changes


def select_submissions(changes: Sequence[Change], submissions_dir: str) -> list[str]:
    """The added or modified ``*.py`` files under the submissions folder, in path order."""
    prefix = submissions_dir.strip("/") + "/" if submissions_dir.strip("/") else ""
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


def pull_request_submissions(request: CiRequest, course: Course, repo: Path | None, github: GitHubFiles) -> list[Path]:
    if repo is None:
        raise CiError("not inside a git repository: run in the pull request's checkout, or pass the files")
    if (request.base is None) != (request.head is None):
        raise CiError("give both --base and --head, or neither")
    base, head = (request.base, request.head) if request.base else pull_request_revisions(github.event)
    changes = changed_files(repo, base, head)
    check_course_untouched(course, repo, changes)
    paths = [repo / name for name in select_submissions(changes, request.submissions_dir)]
    for path in paths:
        refuse_unprintable_name(path)
    missing = [p for p in paths if not p.exists() and not p.is_symlink()]
    if missing:
        raise CiError(f"{clean_name(str(missing[0].relative_to(repo)))} is changed by the pull request but not in the checkout "
                      "(check out the pull request, not its base)")
    return paths


# ------------------------------------------------------------------ what GitHub is told


def escape_data(text: str) -> str:
    """A workflow command's message, escaped as @actions/core does."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value: also ``:`` and ``,``, which delimit properties."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(command: str, message: str, **properties: str | int) -> str:
    shown = ",".join(f"{name}={escape_property(str(value))}" for name, value in properties.items())
    return f"::{command} {shown}::{escape_data(message)}" if shown else f"::{command}::{escape_data(message)}"


def annotations(report: Report, path: str) -> list[str]:
    """``::error`` for each failing visible test at the line that raised (else 1); one for a
    file that could not load; ``::warning`` for each source finding. Hidden tests: none."""
    view = report_view(report, Audience.STUDENT)
    if view.status != "graded":
        title = f"{view.problem_id}: your file could not be graded"
        return [workflow_command("error", view.message or view.status, file=path, line=_load_failure_line(report), title=title)]
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


def combined_summary(outcome: CiOutcome, submissions_dir: str) -> str:
    """One Markdown document for every graded file, headed by the comment marker."""
    lines = [COMMENT_MARKER, "# Autograder", ""]
    if not outcome.reports:
        lines.append(f"No submission to grade: this pull request adds or changes no `*.py` file under `{submissions_dir}/`.")
        return "\n".join(lines) + "\n"
    if len(outcome.reports) > 1:
        lines += [f"**Total: {outcome.score:g} / {outcome.max_score:g} ({outcome.percent:.1f}%)** over {len(outcome.reports)} files", ""]
    return "\n".join(lines) + "\n" + "\n".join(render_markdown(report) for report in outcome.reports)


def step_outputs(outcome: CiOutcome) -> dict[str, str]:
    return {
        "score": f"{outcome.score:g}",
        "max_score": f"{outcome.max_score:g}",
        "percent": f"{outcome.percent:.1f}",
        "submissions": str(len(outcome.reports)),
        "result": runner_output(outcome.reports),
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
