"""nbgrader round trip: our course folder -> real nbgrader generate_assignment -> a student's notebooks ->
our engine on nbgrader's submitted/ layout -> the gradebook and nbgrader's own export.

The slow test uses the real course and nbgrader 0.9 (``nbgrader.apps.NbGraderAPI``), and grades in the
sandbox when bubblewrap is there (else in a plain worker process, as ``prefer`` does).
"""
from __future__ import annotations

import csv
import io
import os
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

from autograder import PART_IDS
from autograder.config import load_course
from autograder.integrations import IntegrationError
from autograder.integrations.nbgrader import (
    CONFIG_FILE,
    EXPORT_COLUMNS,
    find_solution_leaks,
    nbgrader_export_rows,
    nbgrader_source_notebook,
    submission_timestamps,
    task_cell_id,
    write_gradebook,
    write_nbgrader_course,
)
from autograder.release.markers import scan_module
from autograder.release.stubs import stub_source
from autograder.results import PartResult, StudentResult
from autograder.results import TestResult as GradedTest  # not collected as a test class

pytest.importorskip("nbgrader")

SOLVED = ("initializers", "clipping", "debugging", "training")  # the student leaves backprop as the stub
STUDENT = "ada"
TIMESTAMP = "2026-11-30 10:15:00.000000 UTC"


@pytest.fixture(scope="module")
def course():
    return load_course()


def _stub(course, part: str) -> str:
    path = course.solutions / f"{part}.py"
    return stub_source(*scan_module(path), path)


def _result(student: str, scores: dict[str, float], course) -> StudentResult:
    parts = {}
    for part, score in scores.items():
        max_score = course.parts[part].points
        tests = [GradedTest(part=part, name="values", points=score, max_points=max_score, visibility="public",
                            oracle="golden", passed=score == max_score, message="found 1, expected 2")]
        parts[part] = PartResult(part=part, status="ok", score=score, max_score=max_score, source=f"{part}.py",
                                 tests=tests)
    return StudentResult(student=student, parts=parts, isolation="test")


# ---------------------------------------------------------------- fast: the folder and the CSV


def test_source_notebook_points_add_up_to_the_course(course):
    for part in PART_IDS:
        nb = nbgrader_source_notebook(course, part)
        graded = [c.metadata["nbgrader"] for c in nb.cells
                  if c.metadata["nbgrader"].get("grade") or c.metadata["nbgrader"].get("task")]
        assert sum(m["points"] for m in graded) == course.parts[part].points
        task = nb.cells[-1]
        assert task.cell_type == "markdown" and task.metadata["nbgrader"]["grade_id"] == task_cell_id(part)
        assert task.metadata["nbgrader"]["task"] and task.metadata["nbgrader"]["points"] == course.parts[part].points


def test_course_folder_holds_stubs_not_solutions(tmp_path, course):
    dest = write_nbgrader_course(course, tmp_path / "nb")
    source = dest / "source" / course.assignment
    assert sorted(p.name for p in source.iterdir()) == sorted(f"{p}{s}" for p in PART_IDS for s in (".ipynb", ".py"))
    for part in PART_IDS:  # the stubs `release` writes, byte for byte: the grader recognises them as unchanged
        assert (source / f"{part}.py").read_text(encoding="utf-8") == _stub(course, part)
    assert find_solution_leaks(course, source, notebooks=False) == []
    assert find_solution_leaks(course, source), "the source notebooks hold the solutions (instructor side)"
    config = (dest / CONFIG_FILE).read_text(encoding="utf-8")
    assert "exclude_overwriting" in config and repr(course.id) in config
    # writing again replaces the source and keeps what nbgrader wrote
    (dest / "gradebook.db").write_bytes(b"kept")
    write_nbgrader_course(course, dest)
    assert (dest / "gradebook.db").read_bytes() == b"kept"


def test_course_folder_refuses_a_file(tmp_path, course):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(IntegrationError, match="not a folder"):
        write_nbgrader_course(course, target)


def test_export_rows_have_nbgrader_columns(course):
    results = [_result("zoe", {"clipping": 20.0, "debugging": 7.5}, course),
               _result("bea, \"x\"", {"clipping": 0.0}, course)]
    text = nbgrader_export_rows(results, "lecture14", "2026-12-01 23:59:00",
                                timestamps={"zoe": TIMESTAMP}, roster={"zoe": {"last_name": "Z", "email": "z@x"}})
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(text.split("\n")[0].split(",")) == EXPORT_COLUMNS
    assert [r["student_id"] for r in rows] == ["bea, \"x\"", "zoe"]  # sorted; a comma is quoted, not a new column
    zoe = rows[1]
    assert zoe == {"assignment": "lecture14", "duedate": "2026-12-01 23:59:00", "timestamp": TIMESTAMP,
                   "student_id": "zoe", "last_name": "Z", "first_name": "", "email": "z@x", "raw_score": "27.5",
                   "late_submission_penalty": "0.0", "score": "27.5", "max_score": "35.0"}
    assert rows[0]["score"] == "0.0" and rows[0]["timestamp"] == ""


def test_submission_timestamps_read_nbgrader_layout(tmp_path):
    folder = tmp_path / "submitted" / "ada" / "a1"
    folder.mkdir(parents=True)
    (folder / "timestamp.txt").write_text(TIMESTAMP + "\n")
    (tmp_path / "submitted" / "bob" / "a1").mkdir(parents=True)
    assert submission_timestamps(tmp_path, "a1") == {"ada": TIMESTAMP}
    assert submission_timestamps(tmp_path / "submitted", "a1") == {"ada": TIMESTAMP}


def test_gradebook_needs_generate_assignment_first(tmp_path, course):
    write_nbgrader_course(course, tmp_path)
    with pytest.raises(IntegrationError, match="generate_assignment"):
        write_gradebook(tmp_path, [], course)


# ---------------------------------------------------------------- slow: the whole round trip


def _nbgrader_api(root: Path):
    from nbgrader.apps import NbGraderAPI
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader(CONFIG_FILE, path=str(root)).load_config()  # our file, as nbgrader reads it
    return NbGraderAPI(config=config)


def _fill_in(released: Path, source: Path, target: Path) -> None:
    """The student's notebook: the released one with every solution cell written as the reference's."""
    nb = nbformat.read(released, as_version=4)
    solved = {c.id: c.source for c in nbformat.read(source, as_version=4).cells}
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = solved[cell.id]
    nbformat.write(nb, target)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Object of type .* not in session")  # nbgrader's own SQLAlchemy usage
def test_nbgrader_round_trip_grades_and_exports(tmp_path, monkeypatch, course):
    from nbgrader.api import Gradebook
    from nbgrader.plugins.export import CsvExportPlugin

    from autograder.grading.engine import grade_student
    from autograder.submissions import find_entries

    root = write_nbgrader_course(course, tmp_path / "course")
    monkeypatch.chdir(root)
    # nbgrader runs the `alembic` command of its environment: find it even when the venv is not activated
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    api = _nbgrader_api(root)
    generated = api.generate_assignment(course.assignment)
    assert generated["success"], generated["error"] + generated["log"]

    release = root / "release" / course.assignment
    source = root / "source" / course.assignment
    assert find_solution_leaks(course, release) == [], "nbgrader's release holds solution code"
    for part in PART_IDS:
        assert (release / f"{part}.py").read_text(encoding="utf-8") == _stub(course, part)

    # the student works in the notebooks (the .py files stay the released stubs) and solves all but backprop
    submitted = root / "submitted" / STUDENT / course.assignment
    shutil.copytree(release, submitted)
    for part in SOLVED:
        _fill_in(release / f"{part}.ipynb", source / f"{part}.ipynb", submitted / f"{part}.ipynb")
    (submitted / "timestamp.txt").write_text(TIMESTAMP + "\n")

    entries, ignored = find_entries(root, course.assignment)
    assert [e.student for e in entries] == [STUDENT] and not ignored
    result = grade_student(course, entries[0], isolation_policy="prefer")
    for part in PART_IDS:
        graded = result.parts[part]
        assert graded.source.startswith(f"{part}.ipynb"), (part, graded.source)  # the notebook beat the stub
        expected = course.parts[part].points if part in SOLVED else 0.0
        assert graded.score == expected, (part, graded.status, [(t.name, t.message) for t in graded.tests
                                                                if not t.passed][:3])
    assert result.total == sum(course.parts[p].points for p in SOLVED)

    timestamps = submission_timestamps(root, course.assignment)
    assert write_gradebook(root, [result], course, timestamps=timestamps) == [STUDENT]
    assert write_gradebook(root, [result], course) == [STUDENT]  # again: replaces, never duplicates
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", course.id) as gradebook:
        submission = gradebook.find_submission(course.assignment, STUDENT)
        assert submission.max_score == course.max_total
        assert submission.score == result.total
        for part in PART_IDS:
            notebook = gradebook.find_submission_notebook(part, course.assignment, STUDENT)
            assert notebook.score == result.parts[part].score
            assert not notebook.needs_manual_grade
        comment = gradebook.find_comment(task_cell_id("backprop"), "backprop", course.assignment, STUDENT)
        assert "backprop.ipynb" in comment.manual_comment and "failed:" in comment.manual_comment
        exported = tmp_path / "nbgrader-export.csv"
        CsvExportPlugin(to=str(exported)).export(gradebook)

    theirs = list(csv.DictReader(io.StringIO(exported.read_text())))
    ours = list(csv.DictReader(io.StringIO(nbgrader_export_rows([result], course.assignment,
                                                                timestamps=timestamps))))
    assert list(theirs[0]) == list(EXPORT_COLUMNS)
    for row in (theirs, ours):
        assert row[0]["timestamp"].startswith("2026-11-30 10:15:00")
    drop = {"timestamp", "duedate"}  # nbgrader prints its datetime objects; ours is the text collect wrote
    assert [{k: v for k, v in r.items() if k not in drop} for r in theirs] == \
           [{k: v for k, v in r.items() if k not in drop} for r in ours]
