"""The command line: arguments in, one call to the stage that does the work, an exit code out.

Exit codes: 0 graded (whatever the score); 1 --fail-under not met, or a problem invalid in
``validate``; 2 a usage error or unusable input, with a one-line reason.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from grader import __version__

EXIT_OK, EXIT_BELOW_THRESHOLD, EXIT_USAGE = 0, 1, 2
FORMATS = ("json", "html", "md", "junit", "gradescope")


class UsageError(Exception):
    """Input the grader cannot use; the message is the one line the user sees."""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
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
        "--isolation", choices=("auto", "strict", "process"), default="auto",
        help="auto: namespaces where available; strict: refuse without them; process: limits only",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser("check", help="student: feedback on the visible tests")
    check.add_argument("submission", type=Path)
    check.add_argument("--problem", help="problem id (default: guessed from the file)")
    check.set_defaults(run=_check)

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
    batch.add_argument("--jobs", type=int, default=None, help="parallel workers (default: all cores)")
    batch.set_defaults(run=_batch)

    validate = commands.add_parser("validate", help="instructor: check problem specs and references")
    validate.add_argument("ids", nargs="*", metavar="ID")
    validate.set_defaults(run=_validate)

    problems = commands.add_parser("problems", help="list the problems")
    problems.set_defaults(run=_problems)
    return parser


def _course(args):
    from grader.spec import find_course

    course = find_course(args.course)
    if not course.problems_dir.is_dir():
        raise UsageError(f"no problems/ folder in {course.root} (use --course)")
    return course


def _problem(args, problem_id: str):
    from grader.spec import SpecError

    try:
        return _course(args).load(problem_id, seed=args.seed)
    except SpecError as error:
        raise UsageError(str(error)) from None


def _isolation(args):
    from grader.sandbox import IsolationUnavailable, detect_isolation

    try:
        return detect_isolation(args.isolation)
    except IsolationUnavailable as error:
        raise UsageError(str(error)) from None


def _readable_file(path: Path) -> Path:
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    return path


def _check(args) -> int:
    from grader.grading import grade_submission
    from grader.spec import guess_problem_id
    from grader.terminal import Style, render_check

    submission = _readable_file(args.submission)
    course = _course(args)
    problem_id = args.problem or guess_problem_id(submission, course.problem_ids())
    report = grade_submission(_problem(args, problem_id), submission, isolation=_isolation(args), visible_only=True)
    sys.stdout.write(render_check(report, Style(colour=sys.stdout.isatty())))
    return EXIT_OK


def _grade(args) -> int:
    from grader.formats import write_formats
    from grader.grading import grade_submission
    from grader.terminal import Style, render_grade

    submission = _readable_file(args.submission)
    formats = _formats(args.format)
    problem = _problem(args, args.problem)
    report = grade_submission(problem, submission, isolation=_isolation(args))
    if args.out:
        write_formats(report, args.out, formats)
        sys.stdout.write(render_grade(report, Style(colour=sys.stdout.isatty())))
    else:
        sys.stdout.write(json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n")
    percent = 100.0 * report.score / report.max_score if report.max_score else 100.0
    if args.fail_under is not None and percent < args.fail_under:
        print(f"grader: score {percent:.1f}% is under --fail-under {args.fail_under:g}%", file=sys.stderr)
        return EXIT_BELOW_THRESHOLD
    return EXIT_OK


def _formats(raw: str) -> tuple[str, ...]:
    formats = tuple(part.strip() for part in raw.split(",") if part.strip())
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise UsageError(f"unknown --format {','.join(unknown) or repr(raw)} (choose from {','.join(FORMATS)})")
    return formats


def _batch(args) -> int:
    from grader.batch import default_jobs, discover, grade_batch

    if not args.folder.is_dir():
        raise UsageError(f"no such folder: {args.folder}")
    course = _course(args)
    _problem(args, args.problem)  # a bad spec is a usage error before any work starts
    entries = discover(args.folder)
    if not entries:
        raise UsageError(f"no submissions (*.py, or one-file folders) in {args.folder}")
    jobs = args.jobs or default_jobs()
    print(f"grading {len(entries)} submissions of {args.problem} with {jobs} workers", file=sys.stderr)
    rows = grade_batch(
        course, args.problem, entries, args.out, jobs=jobs, isolation=_isolation(args),
        on_result=lambda row: print(f"  {row.student}: {row.score:g}/{row.max_score:g} {row.status}", file=sys.stderr),
    )
    graded = sum(row.status == "graded" for row in rows)
    mean = sum(row.percent for row in rows) / len(rows)
    print(f"{len(rows)} submissions, {graded} graded, mean {mean:.1f}%; reports in {args.out}/")
    return EXIT_OK


def _validate(args) -> int:
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


def _problems(args) -> int:
    from grader.spec import SpecError

    course = _course(args)
    for problem_id in course.problem_ids():
        try:
            problem = course.load(problem_id)
            print(f"{problem.id}\t{problem.title}\t{len(problem.tests)} tests, {problem.max_score:g} points")
        except SpecError as error:
            print(f"{problem_id}\tINVALID: {error}")
    return EXIT_OK
