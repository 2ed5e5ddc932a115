"""Grade one student: stage the submission, run the suites in one pytest session, build the result.

The pytest session runs in *this* trusted process; the student's code runs
behind a :class:`~autograder.harness.student.Backend` (one sandboxed worker
per part). The reference runs here too (trusted code), live; without it
(a student's own ``check``) golden values are replayed from the handout.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Collection
from pathlib import Path

from autograder import PART_IDS
from autograder.config import Course
from autograder.errors import AutograderError, IsolationUnavailable
from autograder.harness.golden import GOLDEN_FILE, GoldenStore
from autograder.harness.inprocess import InProcessBackend
from autograder.harness.plugin import GradingSession, SessionProvider
from autograder.harness.student import Backend, Student
from autograder.results import PartResult, StudentResult, TestResult, part_result
from autograder.submissions import Entry, Staged, stage, stub_digest

VISIBILITIES = {"public": frozenset({"public"}), "all": frozenset({"public", "hidden"})}
# How student code is kept apart from the grader:
#   require -- the bubblewrap sandbox, or refuse (IsolationUnavailable);
#   prefer  -- the best isolation this machine offers, recorded in every result;
#   none    -- in this process: trusted code only (the reference, variants, check --no-sandbox).
ISOLATION_POLICIES = ("require", "prefer", "none")
# Only the grader's own plugin: a third-party pytest plugin installed beside it must never change a grade
# (and loading them all costs more than grading a part). The unraisable/thread-exception plugins
# only add a forced garbage collection per session.
# --assert=plain: the suites fail through the harness's own checks, never a bare assert, so pytest's assertion
# rewriting (about 0.3 s per student where bytecode cannot be cached) buys nothing.
# pytest's per-test capturing, log and warning collection are off: the session's output already goes to a
# buffer (_run_pytest), student code runs in its worker, and nothing reads what those plugins would keep
# (about 15 ms of a student's 96 tests).
_PYTEST_ARGS = ("-q", "--no-header", "--tb=no", "--assert=plain", "--capture=no", "-p", "autograder.harness.plugin",
                "-p", "no:cacheprovider", "-p", "no:logging", "-p", "no:warnings", "-p", "no:stepwise",
                "-p", "no:debugging", "-p", "no:legacypath",
                "-p", "no:unraisableexception", "-p", "no:threadexception", "-p", "no:doctest", "-p", "no:pastebin",
                "-p", "no:junitxml", "-o", "console_output_style=classic")


log = logging.getLogger(__name__)


class GradingError(AutograderError):
    """The grader itself failed on a student (a broken suite, a harness bug): not the student's fault."""


# ---------------------------------------------------------------- backends


def _remote_backend_class():
    """``autograder.sandbox.remote.RemoteBackend`` when that layer is installed, else ``None``."""
    try:
        from autograder.sandbox.remote import RemoteBackend
    except ImportError:
        return None
    return RemoteBackend


def make_backend(course: Course, folder: Path, policy: str) -> Backend:
    """The backend that runs the code in ``folder`` under ``policy`` (see :data:`ISOLATION_POLICIES`).

    ``prefer`` takes the sandbox when it can be set up, else a plain worker
    process with limits, else (no worker can start at all) this process.

    Raises:
        IsolationUnavailable: ``policy`` is ``require`` and the sandbox cannot be set up here.
    """
    if policy not in ISOLATION_POLICIES:
        raise ValueError(f"isolation policy must be one of {ISOLATION_POLICIES}, got {policy!r}")
    if policy == "none":
        return InProcessBackend(folder)
    remote = _remote_backend_class()
    if remote is None:
        if policy == "require":
            raise IsolationUnavailable("the sandbox layer (autograder.sandbox) is not installed, so student code "
                                       "would run inside the grader; pass --allow-unisolated to grade anyway")
        return InProcessBackend(folder)
    try:
        return remote(folder, limits=course.limits,
                      call_seconds={pid: part.call_seconds for pid, part in course.parts.items()},
                      part_seconds={pid: part.part_seconds for pid, part in course.parts.items()},
                      require_isolation=policy == "require")
    except IsolationUnavailable:
        if policy == "require":
            raise
        log.warning("no sandboxed worker can start here: student code runs inside the grader")
        return InProcessBackend(folder)


def isolation_available(course: Course) -> tuple[bool, str]:
    """Whether ``require`` can be met on this machine, and the isolation it gives (or why not)."""
    if _remote_backend_class() is None:
        return False, "the sandbox layer (autograder.sandbox) is not installed"
    from autograder.sandbox.launcher import choose_plan

    try:
        return True, choose_plan(True).isolation
    except IsolationUnavailable as exc:
        return False, str(exc)


# ---------------------------------------------------------------- stubs


STUB_MANIFEST = "stubs.sha256.json"  # optional, in the handout: {part: [stub_digest, ...]}


def released_stubs(course: Course, submission: Path | None = None) -> dict[str, set[str]]:
    """Part -> digests (:func:`~autograder.submissions.stub_digest`) of the stubs students received.

    Sources: the handout's ``<part>.py`` (unless it is the very file being
    checked: a student editing the handout in place), the handout's
    ``stubs.sha256.json`` when there is one, and the stubs built from the
    solutions when they are here. A ``.py`` equal to a stub loses to a notebook beside it.
    """
    stubs: dict[str, set[str]] = {part: set() for part in PART_IDS}
    for part in PART_IDS:
        handout = course.handout / f"{part}.py"
        mine = submission is not None and (Path(submission) / f"{part}.py").exists()
        if handout.is_file() and not (mine and os.path.samefile(handout, Path(submission) / f"{part}.py")):
            stubs[part].add(stub_digest(handout.read_bytes()))
    manifest = course.handout / STUB_MANIFEST
    if manifest.is_file():
        try:
            for part, digests in json.loads(manifest.read_text(encoding="utf-8")).items():
                if part in stubs and isinstance(digests, list):
                    stubs[part].update(str(d) for d in digests)
        except ValueError:
            log.warning("%s is not valid JSON; ignored", manifest)
    try:
        from autograder.release.markers import scan_module
        from autograder.release.stubs import stub_source
    except ImportError:
        return stubs
    for part in PART_IDS:
        solution = course.solutions / f"{part}.py"
        if not solution.is_file():
            continue
        try:
            text, regions = scan_module(solution)
            stubs[part].add(stub_digest(stub_source(text, regions, solution).encode("utf-8")))
        except AutograderError:
            continue  # a broken solution is validate's business, not the reader's
    return stubs


# ---------------------------------------------------------------- one student


def suite_files(course: Course, parts: Collection[str], visibility: str) -> list[Path]:
    """The suite files to run, in course order: ``<part>/test_public.py`` (+ ``test_hidden.py`` for ``all``)."""
    names = ["test_public.py"] + (["test_hidden.py"] if visibility == "all" else [])
    return [course.suites / part / name for part in PART_IDS if part in parts for name in names
            if (course.suites / part / name).is_file()]


def has_reference(course: Course) -> bool:
    return all((course.solutions / f"{part}.py").is_file() for part in PART_IDS)


def golden_store(course: Course, known: dict | None = None) -> GoldenStore:
    """Golden values for one student's grading: live on the reference when the course has it (starting from
    ``known``, see :class:`GoldenStore`), else replayed from the handout's file."""
    if has_reference(course):
        return GoldenStore("live", None, Student(InProcessBackend(course.solutions)), known=known)
    return GoldenStore("replay", course.suites / GOLDEN_FILE)


_NO_AUTOLOAD = "PYTEST_DISABLE_PLUGIN_AUTOLOAD"


def _run_pytest(course: Course, files: list[Path], session: GradingSession) -> None:
    """Run the suites quietly in this process; raise :class:`GradingError` when pytest itself failed."""
    import pytest

    # An empty config of our own: neither a handout's nor a student's pytest settings may change grading.
    # Private (mkstemp: 0600, unique), so no other user of a shared /tmp can put options in it.
    handle, ini = tempfile.mkstemp(prefix="autograder-", suffix=".ini")
    os.write(handle, b"[pytest]\n")
    os.close(handle)
    args = [*(str(f) for f in files), *_PYTEST_ARGS, "--rootdir", str(course.root), "-c", ini,
            "--confcutdir", str(course.suites)]
    chatter = io.StringIO()
    saved = os.environ.get(_NO_AUTOLOAD)
    os.environ[_NO_AUTOLOAD] = "1"
    try:
        with contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
            code = pytest.main(args, plugins=[SessionProvider(session)])
    finally:
        os.unlink(ini)
        if saved is None:
            os.environ.pop(_NO_AUTOLOAD, None)
        else:
            os.environ[_NO_AUTOLOAD] = saved
    if int(code) not in (0, 1, 5):  # 5: nothing selected (a part without tests for this visibility)
        tail = "\n".join(chatter.getvalue().strip().splitlines()[-15:])
        raise GradingError(f"the graded suites did not run (pytest exit status {int(code)}):\n{tail}")


def grade_staged(course: Course, student: str, staged: Staged, *, visibility: str = "all",
                 isolation_policy: str = "require", parts: Collection[str] = PART_IDS,
                 golden: GoldenStore | None = None) -> StudentResult:
    """Grade a staged submission in one pytest session.

    ``golden``: the store to take golden values from (default: a fresh :func:`golden_store`).

    Raises:
        IsolationUnavailable: under ``require`` without a sandbox.
        GradingError: the suites could not run (a grader problem, not the student's).
    """
    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility must be one of {sorted(VISIBILITIES)}, got {visibility!r}")
    started = time.perf_counter()
    backend = make_backend(course, staged.folder, isolation_policy)
    try:
        golden = golden if golden is not None else golden_store(course)
        session = GradingSession(course=course, backend=backend, reference=golden.reference, golden=golden,
                                 visibility=VISIBILITIES[visibility])
        files = suite_files(course, parts, visibility)
        if files:
            _run_pytest(course, files, session)
        part_results = {part: _part_result(course, part, staged, backend, session, visibility) for part in PART_IDS
                        if part in parts}
        isolation = backend.isolation
    finally:
        backend.close()
    return StudentResult(student=student, parts=part_results, isolation=isolation,
                         duration=round(time.perf_counter() - started, 3), message=staged.message)


def _part_result(course: Course, part: str, staged: Staged, backend: Backend, session: GradingSession,
                 visibility: str) -> PartResult:
    tests = [t for t in session.results if t.part == part]
    loaded = staged.parts.get(part)
    source = loaded.source if loaded else ""
    if loaded is None or loaded.status != "ok":
        status = loaded.status if loaded else "missing"
        message = loaded.message if loaded else f"{part} was not read"
        for test in tests:  # the backend only saw an absent file; say why it was absent
            test.points, test.passed, test.message, test.hint = 0.0, False, f"not graded: {message}", None
    else:
        status = backend.part_status(part)
        message = _problem_message(part, status, session, tests) if status != "ok" else ""
        if loaded.message:
            source = f"{source} ({loaded.message})"
    max_score = course.parts[part].points if visibility == "all" else sum(t.max_points for t in tests)
    return part_result(part, max_score, tests, status=status, message=message, source=source)


def _problem_message(part: str, status: str, session: GradingSession, tests: list[TestResult]) -> str:
    """Why a part could not be (fully) graded: the load error, or the first public test that hit the problem.

    A hidden test is named but its message is never used: it may hold hidden inputs or expected values.
    """
    error = session.load_errors.get(part)
    if error is not None:
        return str(error)
    failed = [t for t in tests if not t.passed]
    public = [t for t in failed if t.visibility == "public" and t.message]
    for test in public:  # the test that met the problem says it best
        if status == "timeout" and "did not finish" in test.message:
            return test.message.splitlines()[0]
    if public:
        return public[0].message.splitlines()[0]
    if failed:
        return f"{status} in the hidden test {failed[0].name}"
    return f"{part}: {status}"


def internal_error_result(course: Course, student: str, message: str, parts: Collection[str] = PART_IDS,
                          status: str = "crashed", isolation: str = "") -> StudentResult:
    """A result for a student the grader could not grade: every part ``status`` with ``message``, no points."""
    results = {part: PartResult(part=part, status=status, score=0.0, max_score=course.parts[part].points,
                                message=message) for part in PART_IDS if part in parts}
    return StudentResult(student=student, parts=results, isolation=isolation, message=message)


def grade_student(course: Course, entry: Entry | Path, *, visibility: str = "all", isolation_policy: str = "require",
                  parts: Collection[str] = PART_IDS) -> StudentResult:
    """Read and grade one student's submission.

    Args:
        course: the course.
        entry: an :class:`~autograder.submissions.Entry` (from ``find_entries``) or a path
            (a folder, a ``.zip`` or a notebook).
        visibility: ``"public"`` (the handout's tests) or ``"all"`` (with hidden tests).
        isolation_policy: see :data:`ISOLATION_POLICIES`.
        parts: the parts to grade.

    Raises:
        IsolationUnavailable, GradingError: see :func:`grade_staged`.
    """
    from autograder.submissions import entry_for_path

    if not isinstance(entry, Entry):
        entry = entry_for_path(Path(entry))
    work = Path(tempfile.mkdtemp(prefix="autograder-stage-"))
    try:
        staged = stage(entry, work / "submission", stubs=released_stubs(course), assignment=course.assignment,
                       parts=parts)
        return grade_staged(course, entry.student, staged, visibility=visibility, isolation_policy=isolation_policy,
                            parts=parts)
    finally:
        shutil.rmtree(work, ignore_errors=True)
