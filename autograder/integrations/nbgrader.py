"""nbgrader: a course folder for instructors who run nbgrader, its export CSV, and our scores in its gradebook.

The course folder (:func:`write_nbgrader_course`)::

    nbgrader_config.py                 course_id, the gradebook beside it, which .py files autograde keeps
    source/<assignment>/<part>.ipynb   the instructor notebooks: solutions, hidden-test regions, nbgrader metadata
    source/<assignment>/<part>.py      the STUBS (see below), byte for byte the handout's
    README.md                          the steps, in nbgrader's words

**Why the source folder holds stubs, not solutions.** ``nbgrader
generate_assignment`` clears ``### BEGIN SOLUTION`` regions in notebooks
only: every other file of ``source/<assignment>/`` is copied into
``release/`` unchanged. A solved ``clipping.py`` there would ship the
reference to every student. The stubs are what students need anyway (Part 5
imports ``clipping``; a student may work in the ``.py`` file), and they are
the handout's stubs, so the grader still recognises an unchanged stub and
grades the notebook beside it. ``Autograde.exclude_overwriting`` lists the
five ``.py`` files, so ``nbgrader autograde`` keeps each student's own
``.py`` instead of putting the stubs back over it. The reference never has
to be in the nbgrader folder: ``autograder grade`` uses ``solutions/`` from
the course. :func:`find_solution_leaks` checks a folder (``release/``) for
solution lines.

**Points.** What a part is worth is decided by the course's graded suites
(public and hidden), not by the notebooks' small check cells. So in the
nbgrader course every check cell is worth 0 points (nbgrader still runs it
and reports it in its feedback) and each notebook ends with one *task* cell,
``autograder_<part>``, worth the part's points in ``course.toml``: nbgrader's
maximum is the course's maximum. :func:`write_gradebook` enters each part's
score as the manual grade of that task cell, so ``nbgrader export`` and the
formgrader show exactly what ``autograder grade`` gave. ``nbgrader
autograde`` never touches task cells, so running it before or after keeps
those grades.
"""
from __future__ import annotations

import copy
import csv
import io
import logging
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

from autograder import PART_IDS
from autograder.integrations import IntegrationError
from autograder.results import StudentResult

log = logging.getLogger(__name__)

CONFIG_FILE = "nbgrader_config.py"
GRADEBOOK_FILE = "gradebook.db"
TASK_PREFIX = "autograder_"
# nbgrader's `export` columns (nbgrader/plugins/export.py, CsvExportPlugin), in its order.
EXPORT_COLUMNS = ("assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
                  "raw_score", "late_submission_penalty", "score", "max_score")
_SOLVED_LINE_MIN = 12  # shorter solved lines ("return x", "else:") also occur in stubs and prose


def task_cell_id(part: str) -> str:
    """The ``grade_id`` of the task cell that holds ``part``'s score in the gradebook."""
    return f"{TASK_PREFIX}{part}"


# ---------------------------------------------------------------- the course folder


def _task_cell(course, part: str):
    import nbformat

    title = course.parts[part].title
    points = course.parts[part].points
    text = (f"## Grade of this part: {title} ({points:g} points)\n\n"
            f"These {points:g} points come from the course's graded tests, public and hidden, which "
            "`autograder grade` runs on your submission in a sandbox. The check cells above are for you: "
            "they are worth no points here. Before you submit, run `autograder check --part "
            f"{part}` to see the public tests.")
    meta = {"nbgrader": {"grade": False, "grade_id": task_cell_id(part), "locked": True, "points": points,
                         "schema_version": 3, "solution": False, "task": True}}
    return nbformat.v4.new_markdown_cell(text, id=task_cell_id(part), metadata=meta)


def nbgrader_source_notebook(course, part: str):
    """The instructor notebook of ``part`` for an nbgrader course: checks worth 0, one task cell worth the part.

    Returns:
        an ``nbformat`` notebook (with the solutions: it belongs in ``source/`` only).

    Raises:
        ReleaseError: from building the notebook (naming the file and line at fault).
    """
    import nbformat

    from autograder.release.notebooks import build_source_notebook

    nb = copy.deepcopy(build_source_notebook(course, part))
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            meta["points"] = 0
    nb.cells.append(_task_cell(course, part))
    nbformat.validate(nb)
    return nb


def nbgrader_config_text(course) -> str:
    """``nbgrader_config.py``: course id, the gradebook beside this file, the .py files autograde keeps."""
    keep = [f"{part}.py" for part in PART_IDS]
    return f'''# nbgrader configuration written by `autograder export nbgrader` for the course {course.id!r}.
# Run nbgrader from this folder. The gradebook is gradebook.db beside this file.
import os

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

_here = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.root = _here
c.CourseDirectory.course_id = {course.id!r}
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(_here, {GRADEBOOK_FILE!r})

# source/{course.assignment}/*.py are the stubs students get (never solutions: nbgrader copies .py files into
# release/ unchanged). When autograding, keep each student's own .py files instead of copying the stubs over them.
c.Autograde.exclude_overwriting = {{{course.assignment!r}: {keep!r}}}

# The notebooks' demos train on real MNIST digits: give a notebook time to run.
c.Execute.timeout = 600
'''


def _readme(course) -> str:
    a = course.assignment
    rows = "\n".join(f"| `{pid}.ipynb` | {part.title} | {part.points:g} |" for pid, part in course.parts.items())
    return f"""# {course.name}: nbgrader course

Written by `autograder export nbgrader`. Run every command from this folder.

| notebook | part | points |
|---|---|---|
{rows}

1. `nbgrader generate_assignment {a}`: writes `release/{a}/` (student notebooks without solutions, and the
   `.py` stubs). `source/{a}/` holds the stubs, never the solutions, because nbgrader copies `.py` files
   unchanged.
2. Release, collect as usual (`nbgrader release_assignment`, `nbgrader collect`), or put each student's work in
   `submitted/<student>/{a}/`.
3. Grade with the course's autograder (public and hidden tests, each student sandboxed):
   `autograder grade submitted/ --out grades/ --nbgrader-gradebook .`
   It writes each part's score as the manual grade of the notebook's task cell `autograder_<part>`.
4. `nbgrader export` (or the formgrader) then shows those scores; the notebooks' check cells are worth 0 here.
   `nbgrader autograde` may still be run for its feedback: it does not change the task cells' grades.
"""


def write_nbgrader_course(course, dest: Path) -> Path:
    """Write an nbgrader course folder for ``course`` into ``dest`` (see the module docstring).

    An existing ``dest`` keeps everything but ``nbgrader_config.py``, ``README.md`` and
    ``source/<assignment>/``, which are replaced (the gradebook and ``submitted/`` stay).

    Returns:
        ``dest`` (absolute).

    Raises:
        ReleaseError: a solution or notebook source is wrong (naming its file and line).
        IntegrationError: ``dest`` exists and is not a folder.
    """
    from autograder.release.notebooks import notebook_text
    from autograder.release.stubs import write_stub

    dest = Path(dest).absolute()
    if dest.exists() and not dest.is_dir():
        raise IntegrationError(f"{dest} exists and is not a folder; choose a folder for the nbgrader course")
    source = dest / "source" / course.assignment
    staging = dest / "source" / f".{course.assignment}.new"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        for part in PART_IDS:
            nb = nbgrader_source_notebook(course, part)
            (staging / f"{part}.ipynb").write_text(notebook_text(nb), encoding="utf-8")
            write_stub(Path(course.solutions) / f"{part}.py", staging / f"{part}.py")
        leaks = find_solution_leaks(course, staging, notebooks=False)
        if leaks:  # a stub that kept solved code would reach every student through release/
            raise IntegrationError("solution code in the stubs of the nbgrader source folder: " + "; ".join(leaks))
        shutil.rmtree(source, ignore_errors=True)
        staging.rename(source)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    (dest / CONFIG_FILE).write_text(nbgrader_config_text(course), encoding="utf-8")
    (dest / "README.md").write_text(_readme(course), encoding="utf-8")
    return dest


def solution_lines(course) -> dict[str, set[str]]:
    """Part -> the stripped solved lines of ``solutions/<part>.py`` long enough to mean something."""
    from autograder.release.markers import SOLUTION, scan_module

    found = {}
    for part in PART_IDS:
        text, regions = scan_module(Path(course.solutions) / f"{part}.py")
        lines = text.split("\n")
        found[part] = {line.strip() for r in regions if r.kind is SOLUTION for line in r.inner(lines)
                       if len(line.strip()) >= _SOLVED_LINE_MIN and not line.strip().startswith("#")}
    return found


def find_solution_leaks(course, folder: Path, *, notebooks: bool = True) -> list[str]:
    """Solved lines of the reference that appear in the ``.py`` files (and notebooks) of ``folder``.

    Use it on ``release/<assignment>/`` before releasing: nbgrader clears
    solution regions in notebooks only.

    Returns:
        ``"<file>: <line>"`` for each leak (empty: nothing leaked).
    """
    import nbformat

    solved = set().union(*solution_lines(course).values())
    leaks = []
    folder = Path(folder)
    for path in sorted(folder.rglob("*.py")):
        for line in path.read_text(encoding="utf-8", errors="replace").split("\n"):
            if line.strip() in solved:
                leaks.append(f"{path.relative_to(folder)}: {line.strip()}")
    if notebooks:
        for path in sorted(folder.rglob("*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            for cell in nb.cells:
                for line in cell.source.split("\n"):
                    if line.strip() in solved:
                        leaks.append(f"{path.relative_to(folder)}: {line.strip()}")
    return leaks


# ---------------------------------------------------------------- nbgrader's export CSV


def _score(value: float) -> str:
    """A score as nbgrader's export writes it (``str`` of a float: ``75.0``, ``12.5``)."""
    return str(float(round(float(value), 6)))


def submission_timestamps(submissions: Path, assignment: str) -> dict[str, str]:
    """Student -> the text of ``submitted/<student>/<assignment>/timestamp.txt`` (nbgrader's collect writes it)."""
    root = Path(submissions)
    if (root / "submitted").is_dir():
        root = root / "submitted"
    stamps = {}
    if not root.is_dir():
        return stamps
    for folder in sorted(root.iterdir()):
        stamp = folder / assignment / "timestamp.txt"
        if stamp.is_file() and not stamp.is_symlink():
            text = stamp.read_text(encoding="utf-8", errors="replace").strip()
            if text and len(text) < 64:
                stamps[folder.name] = text
    return stamps


def nbgrader_export_rows(results: Iterable[StudentResult], assignment: str, duedate: str | None = None, *,
                         timestamps: Mapping[str, str] | None = None,
                         roster: Mapping[str, Mapping[str, str]] | None = None) -> str:
    """Our grades as the CSV ``nbgrader export`` writes: one row per student, sorted by id.

    Args:
        results: the students' results.
        assignment: the assignment name (``course.assignment``).
        duedate: the due date text for the ``duedate`` column (empty when ``None``).
        timestamps: student -> submission time (see :func:`submission_timestamps`).
        roster: student -> ``{"last_name", "first_name", "email"}`` (empty cells when absent).

    Returns:
        CSV text with the header :data:`EXPORT_COLUMNS`. ``raw_score`` and ``score`` are the
        total, ``late_submission_penalty`` is 0 (the autograder does not apply late penalties).
    """
    timestamps = timestamps or {}
    roster = roster or {}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for result in sorted(results, key=lambda r: r.student):
        person = roster.get(result.student, {})
        writer.writerow([assignment, duedate or "", timestamps.get(result.student, ""), result.student,
                         person.get("last_name", ""), person.get("first_name", ""), person.get("email", ""),
                         _score(result.total), _score(0.0), _score(max(0.0, result.total)),
                         _score(result.max_total)])
    return buffer.getvalue()


# ---------------------------------------------------------------- the gradebook


def _comment(part_result) -> str:
    """The manual comment beside a part's grade: status, file, failed tests (names only)."""
    lines = [f"autograder: {part_result.score:g} / {part_result.max_score:g} ({part_result.status})"]
    if part_result.source:
        lines.append(f"graded file: {part_result.source}")
    if part_result.status != "ok" and part_result.message:
        lines.append(part_result.message.splitlines()[0][:300])
    failed = [t.name + (" (hidden)" if t.visibility != "public" else "") for t in part_result.tests if not t.passed]
    if failed:
        lines.append("failed: " + ", ".join(failed))
    return "\n".join(lines)


def write_gradebook(course_dir: Path, results: Iterable[StudentResult], course, *, db_url: str | None = None,
                    timestamps: Mapping[str, str] | None = None) -> list[str]:
    """Enter our scores into an nbgrader gradebook, one task cell grade per part and student.

    For each student: creates the student and the submission when nbgrader
    has not seen them (a submission graded by us only), sets each part's task
    cell ``autograder_<part>`` to the part's score as a manual grade (with a
    comment naming the graded file and the failed tests), and marks the 0-point
    check cells nbgrader never ran as graded. Running it again replaces the grades.

    Args:
        course_dir: the nbgrader course folder written by :func:`write_nbgrader_course`, after
            ``nbgrader generate_assignment``.
        results: the students' results (parts graded with ``--part`` alone are written alone).
        course: the course (assignment name, course id).
        db_url: the gradebook (default: ``sqlite:///<course_dir>/gradebook.db``).
        timestamps: student -> submission time for submissions nbgrader has not seen.

    Returns:
        the student ids written, sorted.

    Raises:
        IntegrationError: no gradebook, no such assignment, a notebook without its task cell, or
            a task cell whose points differ from the part's (the course changed: regenerate).
    """
    from nbgrader.api import Gradebook, MissingEntry

    course_dir = Path(course_dir).absolute()
    if db_url is None:
        db_path = course_dir / GRADEBOOK_FILE
        if not db_path.is_file():
            raise IntegrationError(f"{db_path} does not exist: run `nbgrader generate_assignment "
                                   f"{course.assignment}` in {course_dir} first")
        db_url = f"sqlite:///{db_path}"
    timestamps = timestamps or {}
    written = []
    with Gradebook(db_url, course.id) as gradebook:
        try:
            gradebook.find_assignment(course.assignment)
        except MissingEntry:
            raise IntegrationError(f"the gradebook {db_url} has no assignment {course.assignment!r}: run "
                                   f"`nbgrader generate_assignment {course.assignment}` first") from None
        for result in sorted(results, key=lambda r: r.student):
            gradebook.update_or_create_student(result.student)
            try:
                submission = gradebook.find_submission(course.assignment, result.student)
            except MissingEntry:
                extra = {"timestamp": timestamps[result.student]} if result.student in timestamps else {}
                submission = gradebook.add_submission(course.assignment, result.student, **extra)
            for part, part_result in result.parts.items():
                try:
                    grade = gradebook.find_grade(task_cell_id(part), part, course.assignment, result.student)
                except MissingEntry:
                    raise IntegrationError(
                        f"the notebook {part!r} of {course.assignment!r} has no task cell {task_cell_id(part)!r}: "
                        "write the course with `autograder export nbgrader` and run `nbgrader generate_assignment "
                        f"--force {course.assignment}`") from None
                if abs(float(grade.max_score) - float(part_result.max_score)) > 1e-9:
                    raise IntegrationError(
                        f"{task_cell_id(part)} is worth {grade.max_score:g} points in the gradebook but the part is "
                        f"worth {part_result.max_score:g}: regenerate the nbgrader course and its assignment")
                grade.manual_score = float(part_result.score)
                grade.needs_manual_grade = False
                comment = gradebook.find_comment(task_cell_id(part), part, course.assignment, result.student)
                comment.manual_comment = _comment(part_result)
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    if grade.max_score == 0 and grade.auto_score is None and grade.manual_score is None:
                        grade.auto_score = 0.0
                        grade.needs_manual_grade = False
            gradebook.db.commit()
            written.append(result.student)
    log.info("wrote %d student(s) into %s", len(written), db_url)
    return written


def course_dir_of(path: Path) -> Path:
    """The nbgrader course folder at or above ``path`` (the folder holding ``nbgrader_config.py``)."""
    here = Path(path).absolute()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    raise IntegrationError(f"no {CONFIG_FILE} in {here} or above it: give the nbgrader course folder")


__all__ = [
    "CONFIG_FILE", "EXPORT_COLUMNS", "GRADEBOOK_FILE", "course_dir_of", "find_solution_leaks",
    "nbgrader_config_text", "nbgrader_export_rows", "nbgrader_source_notebook", "solution_lines",
    "submission_timestamps", "task_cell_id", "write_gradebook", "write_nbgrader_course",
]
