"""Grade one Gradescope submission: ``python -m autograder.integrations.run_autograder --root /autograder``.

Gradescope's layout under ``ROOT``::

    source/                    the autograder zip (gradescope.json, course/, engine/), root only
    submission/                the student's files (a folder of .py/.ipynb, or one .zip, or one notebook)
    submission_metadata.json   who, which assignment, when (optional here)
    results/results.json       what this writes

Every test of the course runs (public and hidden), each part in its own
sandboxed worker, the reference and the suites in this trusted process. The
result is written in Gradescope's schema with the hidden tests' visibility
from ``gradescope.json``. When the grader itself fails (a broken course, no
sandbox under ``require``, a harness error) nothing is written and the exit
status is 1: Gradescope then shows an autograder failure to the instructor
rather than a zero to the student. A student's crash, hang or cheat is a
graded result, never a grader failure.

``--check`` (run by ``setup.sh``) loads the course and says which isolation
this machine gives, without grading.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from autograder.integrations import IntegrationError

SETTINGS_FILE = "gradescope.json"  # autograder.integrations.gradescope_export.SETTINGS_FILE
DEFAULT_SETTINGS = {"course": "course/course.toml", "hidden_visibility": "after_published",
                    "public_visibility": "visible", "isolation": "prefer"}
STUDENT_ID = "submission"
EXIT_OK, EXIT_GRADER_FAILED = 0, 1


def load_settings(source: Path) -> dict:
    """``gradescope.json`` over :data:`DEFAULT_SETTINGS`.

    Raises:
        IntegrationError: the file is not a JSON object or has an unknown key or value.
    """
    from autograder.integrations.gradescope_export import ISOLATION_POLICIES, VISIBILITIES

    settings = dict(DEFAULT_SETTINGS)
    path = Path(source) / SETTINGS_FILE
    if path.is_file():
        try:
            given = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise IntegrationError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(given, dict):
            raise IntegrationError(f"{path}: must be a JSON object")
        settings.update({k: v for k, v in given.items() if k != "engine_version"})
    unknown = sorted(set(settings) - set(DEFAULT_SETTINGS))
    if unknown:
        raise IntegrationError(f"{path}: unknown setting(s) {', '.join(unknown)}")
    for key in ("hidden_visibility", "public_visibility"):
        if settings[key] not in VISIBILITIES:
            raise IntegrationError(f"{path}: {key} must be one of {', '.join(VISIBILITIES)}, got {settings[key]!r}")
    if settings["isolation"] not in ISOLATION_POLICIES:
        raise IntegrationError(f"{path}: isolation must be one of {', '.join(ISOLATION_POLICIES)}, "
                               f"got {settings['isolation']!r}")
    return settings


def read_metadata(root: Path) -> dict:
    """``submission_metadata.json`` when it is there and readable, else ``{}`` (it is informative only)."""
    try:
        data = json.loads((Path(root) / "submission_metadata.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def lock_source(source: Path) -> None:
    """Make ``source`` (the reference, the hidden suites) unreadable to every user but its owner.

    Student code runs as another user; with bubblewrap it cannot see this
    folder at all, and without it (plain worker processes) this keeps it out.
    """
    try:
        os.chmod(source, 0o700)
    except OSError:
        pass  # not ours to change (a read-only test layout): the sandbox is the main defence anyway


def submission_entry(folder: Path):
    """The :class:`~autograder.submissions.Entry` for Gradescope's submission folder.

    The folder itself when it holds part files (at the top or in its only
    subfolder); else its only ``.zip``; else its only notebook (one notebook
    holding every part); else the folder (the reader reports what is missing).
    """
    from autograder import PART_IDS
    from autograder.submissions import entry_for_path
    from autograder.submissions.zips import is_ignored

    folder = Path(folder)
    if not folder.is_dir():
        raise IntegrationError(f"{folder} is not a folder: not Gradescope's layout (give --root)")
    wanted = {f"{part}{suffix}" for part in PART_IDS for suffix in (".py", ".ipynb")}
    items = [p for p in sorted(folder.iterdir()) if not is_ignored(p.name)]
    names = {p.name.lower() for p in items}
    subfolders = [p for p in items if p.is_dir() and not p.is_symlink()]
    nested = len(items) == 1 and subfolders and any(
        c.name.lower() in wanted for c in subfolders[0].iterdir())
    if names & wanted or nested:
        return entry_for_path(folder, student=STUDENT_ID)
    for suffix in (".zip", ".ipynb"):
        found = [p for p in items if p.is_file() and p.name.lower().endswith(suffix)]
        if len(found) == 1:
            return entry_for_path(found[0], student=STUDENT_ID)
    return entry_for_path(folder, student=STUDENT_ID)


def apply_visibility(doc: dict, result, settings: dict) -> dict:
    """Set each test's Gradescope visibility from the settings (tests are in the result's order)."""
    tests = [test for part in result.parts.values() for test in part.tests]
    if len(tests) != len(doc["tests"]):
        raise IntegrationError("results.json and the result disagree on the number of tests")
    for entry, test in zip(doc["tests"], tests, strict=True):
        entry["visibility"] = settings["public_visibility" if test.visibility == "public" else "hidden_visibility"]
    return doc


def grade_submission(root: Path, *, settings: dict | None = None, isolation: str | None = None):
    """Grade ``root/submission``; return ``(results.json document, StudentResult)``.

    Raises:
        AutograderError: the course cannot be loaded, isolation is required and unavailable, the
            suites could not run (a grader problem), or the document fails its own schema check.
    """
    from autograder.config import load_course
    from autograder.grading.engine import grade_student
    from autograder.integrations.gradescope_export import validate_results
    from autograder.reports import gradescope_results

    root = Path(root)
    source = root / "source"
    settings = settings or load_settings(source)
    course = load_course(source / settings["course"])
    lock_source(source)
    policy = isolation or settings["isolation"]
    result = grade_student(course, submission_entry(root / "submission"), visibility="all",
                           isolation_policy=policy)
    doc = apply_visibility(gradescope_results(result, timing=True), result, settings)
    metadata = read_metadata(root)
    if metadata.get("id") is not None:
        doc["extra_data"]["submission_id"] = str(metadata["id"])
    problems = validate_results(doc)
    if problems:
        raise IntegrationError("the results do not fit Gradescope's schema: " + "; ".join(problems))
    return doc, result


def write_results(root: Path, doc: dict) -> Path:
    """``root/results/results.json``, written through a temporary file and a rename."""
    folder = Path(root) / "results"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "results.json"
    scratch = folder / ".results.json.tmp"
    scratch.write_text(json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
    scratch.replace(target)
    return target


def _check(root: Path, isolation: str | None) -> int:
    from autograder.config import load_course
    from autograder.grading.engine import has_reference, isolation_available

    settings = load_settings(root / "source")
    course = load_course(root / "source" / settings["course"])
    if not has_reference(course):
        print(f"autograder: the reference is incomplete in {course.solutions}", flush=True)
        return EXIT_GRADER_FAILED
    available, how = isolation_available(course)
    policy = isolation or settings["isolation"]
    print(f"autograder: course {course.id} ({course.max_total:g} points), isolation policy {policy}; "
          f"bubblewrap sandbox {'available: ' + how if available else 'NOT available: ' + how}", flush=True)
    return EXIT_OK if available or policy == "prefer" else EXIT_GRADER_FAILED


def main(argv: list[str] | None = None) -> int:
    """Grade Gradescope's submission under ``--root``; return the exit status (0 written, 1 grader failed)."""
    from autograder.grading.threads import limit_native_threads

    limit_native_threads()  # before NumPy is imported in this process
    parser = argparse.ArgumentParser(prog="python -m autograder.integrations.run_autograder",
                                     description="Grade one Gradescope submission into results/results.json.")
    parser.add_argument("--root", default="/autograder", help="Gradescope's folder (default: /autograder)")
    parser.add_argument("--isolation", choices=("require", "prefer"), default=None,
                        help="override gradescope.json's isolation policy")
    parser.add_argument("--check", action="store_true", help="load the course, report isolation, grade nothing")
    args = parser.parse_args(argv)
    root = Path(args.root)
    from autograder.errors import AutograderError

    started = time.monotonic()
    try:
        if args.check:
            return _check(root, args.isolation)
        doc, result = grade_submission(root, isolation=args.isolation)
        target = write_results(root, doc)
    except AutograderError as exc:
        print(f"autograder: THE GRADER FAILED (not the student's code): {exc}", flush=True)
        print("autograder: no results.json written, so Gradescope reports an autograder failure", flush=True)
        return EXIT_GRADER_FAILED
    print(f"autograder: {doc['output'].splitlines()[0]}; isolation: {result.isolation}; "
          f"{time.monotonic() - started:.1f} s; wrote {target}", flush=True)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
