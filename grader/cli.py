"""The command line: arguments in, one call to the stage that does the work, an exit code out.

Exit codes: 0 graded (whatever the score); 1 --fail-under not met, ``check --strict`` with a
visible test that does not pass, or a problem invalid in ``validate``; 2 a usage error or
unusable input, with a one-line reason.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from grader import __version__

if TYPE_CHECKING:  # the stages are imported by the command that needs them: a fast start
    from grader.batch import Discovery
    from grader.gradebook import ClassFiles, CsvLayout, Roster
    from grader.kit import Kit
    from grader.sandbox import Isolation
    from grader.spec import Course, Problem
    from grader.summary import StudentRow

EXIT_OK, EXIT_BELOW_THRESHOLD, EXIT_USAGE = 0, 1, 2
EXIT_GRADER_FAILED = 1
"""``gradescope run`` only (it has no --fail-under): the grader failed; results.json still says so."""
FORMATS = ("json", "html", "md", "junit", "gradescope", "classroom")
BATCH_FORMATS = ("json", "html")


class UsageError(Exception):
    """Input the grader cannot use; the message is the one line the user sees."""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
        return code
    except UsageError as error:
        print(f"grader: {error}", file=sys.stderr)
        return EXIT_USAGE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grader", description="Grade Value autograd submissions.")
    parser.add_argument("--version", action="version", version=f"grader {__version__}")
    parser.add_argument("--course", help="folder holding problems/ and reference/ (default: found from here)")
    parser.add_argument("--seed", type=int, help="seed of the hidden generated tests (default: $GRADER_SEED, "
                        "the file $GRADER_SEED_FILE, or the spec's public seed)")
    parser.add_argument(
        "--isolation", choices=("auto", "strict", "process"), default=os.environ.get("GRADER_ISOLATION") or "auto",
        help="auto: namespaces where available; strict: refuse without them; process: limits only "
             "(default: $GRADER_ISOLATION, else auto)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser("check", help="student: feedback on the visible tests, from the course or a student kit")
    check.add_argument("submission", type=Path)
    check.add_argument("--problem", help="problem id (default: the kit's, or guessed from the file)")
    check.add_argument("--kit", type=Path, metavar="DIR",
                       help="the student kit (default: a grader-kit.json in the file's folder or above, "
                            "else $GRADER_KIT, else the course)")
    check.add_argument("--json", action="store_true", help="print the result as JSON (report.json's shape)")
    check.add_argument("--strict", action="store_true", help="exit 1 unless every visible test passes")
    check.set_defaults(run=_check)

    kit = commands.add_parser("kit", help="instructor: the student kit (visible tests and their expected "
                              "observations; no reference, no hidden tests)")
    kit.add_argument("--problem", required=True)
    kit.add_argument("--out", type=Path, metavar="DIR", help="folder to write it to (default: ID-kit)")
    kit.set_defaults(run=_kit)

    grade = commands.add_parser("grade", help="grade one submission on every test")
    grade.add_argument("submission", type=Path)
    grade.add_argument("--problem", required=True)
    grade.add_argument("--out", type=Path, help="folder for the report files")
    grade.add_argument("--format", default="json", help=f"comma-separated: {','.join(FORMATS)}")
    grade.add_argument("--fail-under", type=float, metavar="PCT", help="exit 1 below this percentage")
    grade.set_defaults(run=_grade)

    batch = commands.add_parser("batch", help="grade every submission in a folder")
    batch.add_argument("folder", type=Path)
    batch.add_argument("--problem", required=True)
    batch.add_argument("--out", type=Path, default=Path("out"))
    batch.add_argument("--format", default=",".join(BATCH_FORMATS),
                       help=f"files per student, comma-separated (default: {','.join(BATCH_FORMATS)})")
    batch.add_argument("--jobs", type=int, default=None, help="parallel workers (default: all cores)")
    batch.add_argument("--executor", choices=("local", "dask"), default="local",
                       help="local: worker processes here; dask: a Dask cluster (the dask extra)")
    batch.add_argument("--scheduler", metavar="ADDRESS",
                       help="with --executor dask: a running scheduler (default: a local cluster of --jobs workers)")
    batch.add_argument("--regrade", action="store_true",
                       help="grade every submission again, even those whose report is still valid")
    batch.add_argument("--roster", type=Path, metavar="FILE",
                       help="CSV with a 'submission' column (each student's file or folder name) and the LMS's own "
                            "columns (ids, names), carried into the class files")
    batch.add_argument("--csv", choices=("plain", "canvas", "moodle"), default="plain",
                       help="layout of grades.csv: plain, or the one Canvas or Moodle imports (default: plain)")
    batch.set_defaults(run=_batch)

    ci = commands.add_parser("ci", help="CI: grade the submissions a push or a pull request adds or changes")
    ci.add_argument("paths", nargs="*", type=Path, metavar="SUBMISSION",
                    help="files to grade (default: those the event changed, from $GITHUB_EVENT_NAME and $GITHUB_EVENT_PATH)")
    ci.add_argument("--problem", help="problem id (default: $GRADER_PROBLEM, else guessed per file)")
    ci.add_argument("--base", help="base commit (default: the pull request's base, or for a push or a dispatch "
                    "the template's first commit)")
    ci.add_argument("--head", help="head commit (default: the pull request's head, the pushed or the checked-out commit)")
    ci.add_argument("--all", dest="every_file", action="store_true",
                    help="grade every *.py under the submissions folder, changed or not")
    ci.add_argument("--submissions", default="submissions", metavar="FOLDER",
                    help="where submissions live in the repository (default: submissions)")
    ci.add_argument("--out", type=Path, help="folder for the reports and summary.md")
    ci.add_argument("--format", help="comma-separated formats per file in --out (default: the student-safe html,md)")
    ci.add_argument("--fail-under", type=float, metavar="PCT", help="exit 1 below this percentage, over all files")
    ci.set_defaults(run=_ci)

    gradescope = commands.add_parser("gradescope", help="instructor: the Gradescope autograder")
    gradescope_commands = gradescope.add_subparsers(dest="gradescope_command", required=True, metavar="ACTION")
    build = gradescope_commands.add_parser("build", help="write the autograder zip to upload to Gradescope")
    build.add_argument("--problem", required=True)
    build.add_argument("--out", type=Path, default=Path("autograder.zip"))
    build.set_defaults(run=_gradescope_build)
    run = gradescope_commands.add_parser("run", help="inside Gradescope (run_autograder): grade and write results.json")
    run.set_defaults(run=_gradescope_run)

    validate = commands.add_parser("validate", help="instructor: check problem specs and references")
    validate.add_argument("ids", nargs="*", metavar="ID")
    validate.set_defaults(run=_validate)

    problems = commands.add_parser("problems", help="list the problems")
    problems.set_defaults(run=_problems)
    return parser


def _course(args: argparse.Namespace) -> Course:
    from grader.spec import NoCourseError, find_course

    try:
        course = find_course(args.course)
    except NoCourseError as error:
        raise UsageError(str(error)) from None
    if not course.problems_dir.is_dir():
        raise UsageError(f"no problems/ folder in {course.root} (use --course)")
    return course


def _problem(args: argparse.Namespace, problem_id: str, *, visible_only: bool = False) -> Problem:
    from grader.spec import SpecError

    try:
        return _course(args).load(problem_id, seed=args.seed, visible_only=visible_only)
    except SpecError as error:
        raise UsageError(str(error)) from None


def _isolation(args: argparse.Namespace) -> Isolation:
    from grader.sandbox import IsolationUnavailable, detect_isolation

    if args.isolation not in ("auto", "strict", "process"):
        raise UsageError(f"GRADER_ISOLATION={args.isolation!r}: use auto, strict or process")
    try:
        return detect_isolation(args.isolation)
    except IsolationUnavailable as error:
        raise UsageError(str(error)) from None


def _readable_file(path: Path) -> Path:
    if not path.is_file():
        raise UsageError(f"no such file: {path}" if not path.exists() else f"not a file: {path}")
    try:
        with path.open("rb"):
            pass
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror or error}") from None
    return path


def _output_folder(path: Path, option: str = "--out") -> Path:
    """A folder the command can write into, made now, before any work: a file, a path under
    a file, or a place that cannot be written is a usage error, not a traceback half-way."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {path} is a file, not a folder")
    under = next((parent for parent in path.parents if parent.exists() and not parent.is_dir()), None)
    if under is not None:
        raise UsageError(f"{option} {path} is under {under}, which is a file")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise UsageError(f"cannot write to {option} {path}: {error.strerror or error}") from None
    return path


def _output_file(path: Path, option: str = "--out") -> Path:
    """A file the command can write, its folder made now (see ``_output_folder``)."""
    if path.is_dir():
        raise UsageError(f"{option} {path} is a folder; give the file's name")
    under = next((parent for parent in path.parents if parent.exists() and not parent.is_dir()), None)
    if under is not None:
        raise UsageError(f"{option} {path} is under {under}, which is a file")
    _output_folder(path.parent, f"{option} {path}: its folder")
    return path


def _appendable_file(path: Path, name: str) -> None:
    """A file a step appends to ($GITHUB_OUTPUT): checked before any work, as --out is."""
    try:
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as error:
        raise UsageError(f"cannot write ${name} {path}: {error.strerror or error}") from None


@contextlib.contextmanager
def _writing() -> Iterator[None]:
    """A write to a named file that fails after the checks (a full disk, a folder removed
    meanwhile): one line. An OSError naming no file is not a path's and goes on up."""
    try:
        yield
    except OSError as error:
        if error.filename is None:
            raise
        raise UsageError(f"cannot write {error.filename}: {error.strerror or error}") from None


def _check(args: argparse.Namespace) -> int:
    from grader.check import SubmissionStatus
    from grader.grading import grade_submission
    from grader.report import render_json
    from grader.terminal import RunningLine, render_check, style_for
    from grader.view import Audience, report_view

    submission = _readable_file(args.submission)
    kit = _kit_for(args, submission)
    isolation = _isolation(args)
    running = RunningLine([test.name for test in kit.problem.tests], sys.stderr, tty=sys.stderr.isatty(),
                          width=style_for(sys.stderr, os.environ).width)
    try:
        report = grade_submission(kit.problem, submission, isolation=isolation, expected=kit.expected,
                                  library=kit.library, costs=kit.costs, visible_only=True, on_test=running.started)
    finally:
        running.finish()
    view = report_view(report, Audience.STUDENT)
    if hasattr(sys.stdout, "reconfigure"):  # an output that cannot carry a character gets "?"
        sys.stdout.reconfigure(errors="replace")
    sys.stdout.write(render_json(report) if args.json else render_check(view, style_for(sys.stdout, os.environ)))
    if args.strict and not (view.status is SubmissionStatus.GRADED and all(test.passed for test in view.detailed)):
        return EXIT_BELOW_THRESHOLD
    return EXIT_OK


def _kit_for(args: argparse.Namespace, submission: Path) -> Kit:
    """What ``check`` runs from: ``--kit``; else an explicit ``--course``; else a kit beside the
    file or ``$GRADER_KIT``; else the course. A kit made from another version of the problem
    than the course at hand has is refused."""
    from grader.diagnose import default_cache_dir
    from grader.kit import KitError, course_kit, ensure_current, find_kit, read_kit
    from grader.spec import SpecError, course_in_use
    from grader.text import clean_name

    try:
        where = find_kit(submission, args.kit, os.environ) if args.kit or not args.course else None
        if where is not None:
            kit = read_kit(where)
            if args.problem and args.problem != kit.problem.id:
                raise KitError(f"the kit at {clean_name(str(where))} is for {kit.problem.id}, not {args.problem}")
            ensure_current(kit, course_in_use(args.course), seed=args.seed)
            return kit
        if course_in_use(args.course) is None:
            raise UsageError("no student kit and no course to check with: give the kit your course handed out with "
                             "--kit DIR (or keep your file in the kit's folder), or the course with --course DIR")
        course = _course(args)
        problem_id = args.problem or _guessed_problem(course, submission)
        return course_kit(course, problem_id, seed=args.seed, cache_dir=default_cache_dir())
    except (KitError, SpecError) as error:
        raise UsageError(str(error)) from None


def _kit(args: argparse.Namespace) -> int:
    from grader.diagnose import default_cache_dir
    from grader.kit import KitError, instructor_check_files, kit_data, write_kit

    problem = _problem(args, args.problem, visible_only=True)
    data = kit_data(problem, default_cache_dir())
    out = args.out or Path(f"{problem.id}-kit")
    try:
        write_kit(data, out)
    except KitError as error:
        raise UsageError(str(error)) from None
    info = data["problem"]
    shown = _as_given(out)
    print(f"{shown}/: the student kit of {problem.id} version {problem.version}: "
          f"{len(data['tests'])} visible tests with their expected observations, "
          f"{len(data['misconceptions'])} misconceptions' observations; {info['withheld_tests']} tests left out")
    print(f"students run: grader check THEIR_FILE.py --kit {shown}")
    left_out = instructor_check_files(problem)
    if left_out:
        print(f"note: {len(left_out)} instructor check files ({left_out[0].name}, ...) are not in the kit: "
              "check from it runs only problem.yaml's tests", file=sys.stderr)
    return EXIT_OK


def _as_given(path: Path) -> str:
    """A path the user gave, to print back: as given, but relative to the working directory
    when it lies under it (never an absolute path of this machine that a reader elsewhere
    cannot use); cleaned."""
    from grader.text import clean_name

    shown = path
    if path.is_absolute():
        here = Path.cwd()
        for inside, root in ((Path(os.path.normpath(path)), here), (path.resolve(), here.resolve())):
            if inside.is_relative_to(root):
                shown = inside.relative_to(root)
                break
    return clean_name(str(shown))


def _guessed_problem(course: Course, submission: Path) -> str:
    """The problem whose API the file fits best, said on stderr in one line ("guessed: ID"),
    so stdout stays what the command prints."""
    from grader.guess import GuessError, guess_problem_of
    from grader.spec import SpecError
    from grader.text import clean_name

    try:
        problem_id = guess_problem_of(submission, course.apis())
    except (GuessError, SpecError) as error:
        raise UsageError(f"{clean_name(str(submission))}: {error}") from None
    print(f"guessed: {problem_id}", file=sys.stderr)
    return problem_id


def _grade(args: argparse.Namespace) -> int:
    from grader.formats import write_formats
    from grader.grading import grade_submission
    from grader.report import render_json
    from grader.terminal import Style, render_grade
    from grader.view import Audience, report_view

    submission = _readable_file(args.submission)
    formats = _formats(args.format)
    out = _output_folder(args.out) if args.out else None
    problem = _problem(args, args.problem)
    report = grade_submission(problem, submission, isolation=_isolation(args))
    if out:
        with _writing():
            write_formats(report, out, formats)
        sys.stdout.write(render_grade(report_view(report, Audience.INSTRUCTOR), Style(colour=sys.stdout.isatty())))
    else:
        sys.stdout.write(render_json(report))
    return _threshold(report.percent, args.fail_under)


def _formats(raw: str) -> tuple[str, ...]:
    formats = tuple(part.strip() for part in raw.split(",") if part.strip())
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise UsageError(f"unknown --format {','.join(unknown) or repr(raw)} (choose from {','.join(FORMATS)})")
    return formats


def _batch(args: argparse.Namespace) -> int:
    from grader.batch import default_jobs, grade_batch
    from grader.gradebook import CsvLayout, Gradebook
    from grader.progress import Progress
    from grader.text import clean_name

    found = _class_folder(args.folder)
    formats = tuple(dict.fromkeys(("json", *_formats(args.format))))  # report.json is what resuming reads
    layout = CsvLayout(args.csv)
    roster = _roster(args.roster, layout)
    problem = _problem(args, args.problem)  # a bad spec is a usage error before any work starts
    entries = found.entries
    if not entries:
        why = "".join(f"; {clean_name(item.path.name)}: {item.reason}" for item in found.skipped[:3])
        raise UsageError(f"no submissions (*.py, or one-file folders) in {args.folder}{why}")
    jobs = args.jobs or default_jobs()
    if jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {jobs}")
    _output_folder(args.out)  # before grading anything
    gradebook = Gradebook(found.not_graded, roster, layout)
    skipping = f", skipping {len(found.skipped)} that are not (listed at the end)" if found.skipped else ""
    print(f"grading {len(entries)} submissions of {problem.id} with {jobs} workers ({args.executor}){skipping}",
          file=sys.stderr)
    progress = Progress(len(entries), sys.stderr, tty=sys.stderr.isatty())

    def count(row: StudentRow, reused: bool) -> None:
        if reused:
            progress.skipped += 1
        else:
            progress.add(row.status)

    try:
        with _writing():
            result = grade_batch(
                problem, entries, args.out, jobs=jobs, isolation=_isolation(args), formats=formats,
                executor=args.executor, scheduler=args.scheduler, reuse=not args.regrade, on_row=count,
                gradebook=gradebook,
            )
    except RuntimeError as error:  # the executor could not start (say, dask is not installed)
        raise UsageError(str(error)) from None
    progress.finish()
    rows = result.rows
    mean = sum(row.percent for row in rows) / len(rows)
    broken = [row for row in rows if row.flagged]
    reused = f", {result.reused} unchanged since the last run" if result.reused else ""
    print(f"{len(rows)} submissions: {len(rows) - len(broken)} graded, {len(broken)} could not be graded"
          f"{reused}; mean {mean:.1f}%; reports in {args.out}/")
    for row in broken:
        print(f"  {row.student}: {row.status}: {row.note}")
    if found.skipped:
        print(f"{len(found.skipped)} skipped, not being submissions (a not_graded row per student in the class files):")
    for item in found.skipped:
        print(f"  {clean_name(str(item.path))}: {item.reason}")
    _print_class_files(result.class_files, layout)
    return EXIT_OK


def _class_folder(folder: Path) -> Discovery:
    """The class folder's entries; a folder that is missing, a file or unreadable: one line."""
    from grader.batch import discover

    if not folder.exists():
        raise UsageError(f"no such folder: {folder}")
    if not folder.is_dir():
        raise UsageError(f"not a folder: {folder}")
    try:
        return discover(folder)
    except OSError as error:
        raise UsageError(f"cannot read {error.filename or folder}: {error.strerror or error}") from None


def _roster(path: Path | None, layout: CsvLayout) -> Roster | None:
    """The roster, if any, refused in one line when unreadable or when ``layout``'s LMS could
    find no student with it."""
    from grader.gradebook import RosterError, ensure_layout_fits, read_roster

    try:
        roster = read_roster(path) if path is not None else None
        ensure_layout_fits(layout, roster)
    except RosterError as error:
        raise UsageError(str(error)) from None
    return roster


def _print_class_files(class_files: ClassFiles, layout: CsvLayout) -> None:
    """Who is on the roster with nothing in the class folder (stdout), and each row grades.csv's
    LMS layout leaves out, one line each (stderr: what the instructor must do by hand)."""
    from grader.gradebook import NO_SUBMISSION
    from grader.summary import RowStatus

    missing = [row.student for row in class_files.rows if row.status is RowStatus.NOT_GRADED and row.note == NO_SUBMISSION]
    if missing:
        print(f"{len(missing)} on the roster with no submission (a not_graded row each): {', '.join(missing)}")
    for row, reason in class_files.left_out:
        print(f"grader: not in grades.csv ({layout.value}): {row.student}: {reason}", file=sys.stderr)


def _ci(args: argparse.Namespace) -> int:
    from grader.ci import CiError, CiRequest, GitHubFiles, default_formats, run_ci
    from grader.grading import grade_submission

    for path in args.paths:
        _readable_file(path)
    if args.out:
        _output_folder(args.out)
    for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
        if os.environ.get(name):
            _appendable_file(Path(os.environ[name]), name)
    course = _course(args)
    isolation = _isolation(args)
    request = CiRequest(
        paths=tuple(args.paths), problem_id=args.problem or os.environ.get("GRADER_PROBLEM") or None,
        base=args.base, head=args.head, submissions_dir=args.submissions, out=args.out,
        formats=_formats(args.format) if args.format else default_formats(), every_file=args.every_file,
    )
    try:
        with _writing():
            outcome = run_ci(
                request, course=course, load_problem=lambda problem_id: _problem(args, problem_id),
                grade=lambda problem, path: grade_submission(problem, path, isolation=isolation),
                github=GitHubFiles.from_environment(os.environ), stdout=sys.stdout,
            )
    except CiError as error:
        raise UsageError(str(error)) from None
    if outcome.nothing_graded and args.fail_under is not None:
        print(f"grader: {outcome.nothing_graded}, so --fail-under {args.fail_under:g}% is not met", file=sys.stderr)
        return EXIT_BELOW_THRESHOLD
    return _threshold(outcome.percent, args.fail_under)


def _threshold(percent: float, fail_under: float | None) -> int:
    if fail_under is not None and percent < fail_under:
        print(f"grader: score {percent:.1f}% is under --fail-under {fail_under:g}%", file=sys.stderr)
        return EXIT_BELOW_THRESHOLD
    return EXIT_OK


def _gradescope_build(args: argparse.Namespace) -> int:
    from grader.gradescope import build_bundle

    course = _course(args)
    _output_file(args.out)
    with _writing():
        result = build_bundle(course, _problem(args, args.problem), args.out, seed=args.seed)
    seed = f"the secret seed from {result.seed_source}" if result.seed_source else "the spec's PUBLIC seed (no --seed, GRADER_SEED or GRADER_SEED_FILE)"
    print(f"{result.path}: {result.problem_id}, {len(result.members)} files, hidden tests drawn with {seed}")
    print("upload it as the assignment's autograder (Configure Autograder > Zip file upload)")
    return EXIT_OK


def _gradescope_run(args: argparse.Namespace) -> int:
    from grader.gradescope import autograder_root, run_autograder
    from grader.grading import grade_submission

    isolation = _isolation(args)
    run = run_autograder(
        autograder_root(), load_problem=lambda problem_id: _course(args).load(problem_id, seed=args.seed),
        grade=lambda problem, path: grade_submission(problem, path, isolation=isolation),
    )
    return EXIT_GRADER_FAILED if run.grader_failed else EXIT_OK


def _validate(args: argparse.Namespace) -> int:
    from grader.validate import validate_problem

    course = _course(args)
    ids = args.ids or course.problem_ids()
    isolation = _isolation(args)
    all_valid = True
    for problem_id in ids:
        result = validate_problem(course, problem_id, isolation)
        all_valid &= result.valid
        print(f"{problem_id}: {'ok' if result.valid else 'INVALID'}")
        for note in result.notes:
            print(f"  - {note}")
        for problem in result.problems:
            print(f"  ✗ {problem}")
    return EXIT_OK if all_valid else EXIT_BELOW_THRESHOLD


def _problems(args: argparse.Namespace) -> int:
    from grader.spec import SpecError

    course = _course(args)
    for problem_id in course.problem_ids():
        try:
            problem = course.load(problem_id)
            print(f"{problem.id}\t{problem.title}\t{len(problem.tests)} tests, {problem.max_score:g} points")
        except SpecError as error:
            print(f"{problem_id}\tINVALID: {error}")
    return EXIT_OK
