"""Write the student handout: stubs, student notebooks, public tests, golden values.

Layout of ``out_dir``::

    <part>.py, <part>.ipynb       the five stubs and student notebooks
    tests/<part>/test_public.py   the public suites (never test_hidden.py)
    tests/golden.json             the reference's answers on the public inputs
    stubs.sha256.json             {part: [digest]} of the stubs, so that an unchanged stub loses to a notebook
    course.toml                   the course, with paths for the handout
    README.md                     how to work and how to check
    .autograder-handout           marks the folder as a handout that a release may replace

Everything is written to a fresh folder beside ``out_dir`` that then takes
its place, so a failed build leaves the previous handout as it was.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from autograder import PART_IDS
from autograder.config import COURSE_FILE, load_course, rewrite_paths
from autograder.release.errors import ReleaseError
from autograder.release.notebooks import build_source_notebook, notebook_text, student_notebook
from autograder.release.stubs import stub_digest, write_stub

HANDOUT_MARKER = ".autograder-handout"
GOLDEN_FILE = "golden.json"  # autograder.harness.golden.GOLDEN_FILE; the harness is a lower layer
STUB_MANIFEST = "stubs.sha256.json"  # read by autograder.grading.engine.released_stubs
PUBLIC_SUITE = "test_public.py"
TESTS_DIR = "tests"
# [paths] of the handout's course.toml: (value, comment)
HANDOUT_PATHS = {
    "solutions": ("solutions", "not in the handout: the reference stays with the instructor"),
    "suites": (TESTS_DIR, "the public tests and their golden values"),
    "handout": (".", "this folder"),
    "notebooks": (".", "the notebooks sit beside the .py files"),
}
_HIDDEN = re.compile(r"""visibility\s*=\s*["']hidden["']|^\s*(?:from|import)\s+[\w.]*test_hidden""")


def public_suites(course) -> dict[str, Path]:
    """``{part: course.suites/<part>/test_public.py}`` for every part that has one, in course order.

    Raises:
        ReleaseError: at the line of a public suite that holds a hidden test or imports ``test_hidden``.
    """
    suites = {}
    for part in PART_IDS:
        path = Path(course.suites) / part / PUBLIC_SUITE
        if not path.is_file():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
            if _HIDDEN.search(line):
                raise ReleaseError(path, number, "a public suite may not hold or import hidden tests: "
                                                 "move them to test_hidden.py")
        suites[part] = path
    return suites


def record_golden(course, suites: list[Path], target: Path) -> Path:
    """Run the public suites against the reference in record mode, writing their golden values to ``target``.

    Runs ``python -m pytest`` in a subprocess from the course root; the
    plugin saves the recorded values when the session finishes. The file
    also records the fingerprint of the solutions, suites and kit it was
    recorded from (``SOURCE_KEY``), so that a batch can tell whether its
    values still hold (:func:`autograder.harness.golden.recorded_values`).

    Raises:
        ReleaseError: when the reference fails a public test (no file is left) or no file was written.
    """
    target = Path(target)
    if not suites:
        target.write_text("{}\n", encoding="utf-8")
        return target
    command = [sys.executable, "-m", "pytest", *map(str, suites), "-q", "-p", "no:cacheprovider",
               "--visibility=public", "--golden=record", f"--golden-file={target}",
               f"--course={Path(course.root) / COURSE_FILE}"]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    run = subprocess.run(command, cwd=course.root, env=env, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        target.unlink(missing_ok=True)  # values recorded from a failing reference must not ship
        tail = "\n".join((run.stdout + run.stderr).strip().split("\n")[-30:])
        raise ReleaseError(course.suites, None, f"recording golden values failed: the reference must pass every "
                                                f"public test (pytest exit {run.returncode}):\n{tail}")
    if not target.is_file():
        raise ReleaseError(course.suites, None, f"pytest passed but wrote no {target.name}: the plugin must save "
                                                "the golden store at the end of a --golden=record session")
    from autograder.harness.golden import SOURCE_KEY, recipe_fingerprint

    values = json.loads(target.read_text(encoding="utf-8"))  # and what they were recorded from (for batches)
    values[SOURCE_KEY] = recipe_fingerprint(course.solutions, course.suites, Path(course.root) / COURSE_FILE)
    target.write_text(json.dumps(values, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return target


def handout_course_toml(text: str, path) -> str:
    """``course.toml`` for the handout: the same text, with the ``[paths]`` entries of :data:`HANDOUT_PATHS`.

    Raises:
        ReleaseError: when ``[paths]`` lacks one of those keys.
    """
    rewritten, missing = rewrite_paths(text, HANDOUT_PATHS)
    if missing:
        raise ReleaseError(path, None, f"[paths] lacks {', '.join(missing)}")
    return rewritten


def _readme(course) -> str:
    rows = "\n".join(f"| {n} | {part.title} | `{pid}.py` | `{pid}.ipynb` | {part.points:g} |"
                     for n, (pid, part) in enumerate(course.parts.items(), start=1))
    return f"""# {course.name}

Coursework in five parts, {course.max_total:g} points in all.

| part | topic | file | notebook | points |
|---|---|---|---|---|
{rows}

## Working on a part

Every part comes twice, with the same functions: as a Python file and as a
notebook. Pick one form per part.

* **The `.py` file.** Each function's docstring says exactly what it must do.
  Replace its `# YOUR CODE HERE` and `raise NotImplementedError()` lines with
  your code; keep the names, the parameters and the docstrings.
* **The notebook.** The same functions, with explanations, demos and plots
  from the lecture. Write your code in the cells that say `# YOUR CODE HERE`.
  The grader turns the notebook's code cells, in order, into the module, so
  keep demos and experiments under `if __name__ == "__main__":` as the
  notebook does, and leave the imports at the top as they are (the grader
  has no matplotlib and no datasets).

When both `<part>.py` and `<part>.ipynb` are submitted, the `.py` file is
graded, unless it is still the unchanged stub: then the notebook is.
`training.py` imports `clip_by_global_norm` from `clipping.py`; when Part 5 is
graded, the grader's own clipping and model stand in for yours, so a mistake
in one part never costs points in another.

The notebooks need Jupyter (`pip install notebook`); their demos also use
matplotlib and the MNIST sample that is installed with `autograder`.

## Checking your work

From this folder:

```
autograder check                      # every part, with the public tests
autograder check --part clipping      # one part
autograder check --json               # the same, as JSON
```

`check` grades the work in this folder (the `.py` files and notebooks) with
the public tests in `{TESTS_DIR}/` and prints, for every test, whether it
passed, its points, and what was expected when it failed. The expected values
come from `{TESTS_DIR}/{GOLDEN_FILE}`. Your final grade also counts further
tests on other inputs, so passing the public tests is necessary, not
sufficient: make every function do what its docstring says.

Do not edit `{TESTS_DIR}/` or `course.toml`; `check` relies on them.
"""


def _tests_readme() -> str:
    return f"""# Public tests

`<part>/{PUBLIC_SUITE}` holds the public tests of each part; `{GOLDEN_FILE}`
holds the reference answers they compare with. Run them with
`autograder check` from the folder above. Do not edit these files.
"""


def _write_parts(course, root: Path) -> None:
    """The stubs, the student notebooks and the stubs' digests."""
    digests = {}
    for part in PART_IDS:
        stub = write_stub(Path(course.solutions) / f"{part}.py", root / f"{part}.py")
        digests[part] = [stub_digest(stub.read_bytes())]
        notebook = student_notebook(build_source_notebook(course, part))
        (root / f"{part}.ipynb").write_text(notebook_text(notebook), encoding="utf-8")
    (root / STUB_MANIFEST).write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def _write_tests(course, root: Path) -> None:
    """The public suites (as packages) and their golden values."""
    suites = public_suites(course)
    tests = root / TESTS_DIR
    tests.mkdir()
    (tests / "__init__.py").write_text("", encoding="utf-8")
    (tests / "README.md").write_text(_tests_readme(), encoding="utf-8")
    for part, suite in suites.items():
        (tests / part).mkdir()
        (tests / part / "__init__.py").write_text("", encoding="utf-8")
        shutil.copyfile(suite, tests / part / PUBLIC_SUITE)
    record_golden(course, list(suites.values()), tests / GOLDEN_FILE)


def _write_course_files(course, root: Path) -> None:
    """The handout's course.toml (checked by loading it), README and marker."""
    course_file = Path(course.root) / COURSE_FILE
    text = handout_course_toml(course_file.read_text(encoding="utf-8"), course_file)
    (root / COURSE_FILE).write_text(text, encoding="utf-8")
    load_course(root / COURSE_FILE)
    (root / "README.md").write_text(_readme(course), encoding="utf-8")
    (root / HANDOUT_MARKER).write_text("Written by `autograder release`; the next release replaces this folder.\n",
                                       encoding="utf-8")


def _check_replaceable(out_dir: Path) -> None:
    """Refuse to replace anything but nothing, an empty folder, or a previous handout."""
    if out_dir.is_symlink() or (out_dir.exists() and not out_dir.is_dir()):
        raise ReleaseError(out_dir, None, "exists and is not a folder; choose another output folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / HANDOUT_MARKER).is_file():
        raise ReleaseError(out_dir, None, f"is a non-empty folder without {HANDOUT_MARKER}, so it is not a previous "
                                          "handout; refusing to replace it (choose a new or empty folder)")


def build_handout(course, out_dir: Path) -> Path:
    """Build the student handout of ``course`` into ``out_dir``, replacing a previous handout there.

    Args:
        course: a :class:`~autograder.config.Course` with its solutions, suites and notebook sources.
        out_dir: the folder to write; it may not exist yet, be empty, or hold a previous handout.

    Returns:
        ``out_dir`` (absolute).

    Raises:
        ReleaseError: ``out_dir`` is something else, or a source is wrong (naming its file and line).
    """
    out_dir = Path(out_dir).absolute()
    _check_replaceable(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.new-", dir=out_dir.parent))
    old = out_dir.parent / f"{staging.name}.old"
    try:
        staging.chmod(0o755)
        for write in (_write_parts, _write_tests, _write_course_files):
            write(course, staging)
        if out_dir.exists():
            out_dir.rename(old)
        staging.rename(out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if old.exists() and not out_dir.exists():
            old.rename(out_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return out_dir
