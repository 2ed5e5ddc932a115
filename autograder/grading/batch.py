"""Grade a whole class: students in parallel trusted processes, resumable, one row per student whatever happens.

Layout of ``--out DIR``::

    grades.csv               rebuilt from the state files at the end of every run
    results/<id>.json        Gradescope results.json
    feedback/<id>.md, .html  the student's report
    .state/<id>.json         the raw result + fingerprint: what makes a re-run resume
    .work/                   staged submissions while a run is going on

Each student is graded in a fresh child process (forked from a server that
has the grader imported), so a student never sees another's state and a
grader failure on one student costs only that student's row. The parent
alone writes to ``DIR``, each file atomically (temporary file + rename), the
state file last: a run killed at any moment leaves either a complete student
or none. A re-run regrades only students without a valid state file, or
whose submission, grader, suites, solutions or course changed since.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path

from autograder import PART_IDS
from autograder.config import Course
from autograder.errors import IsolationUnavailable
from autograder.grading import engine
from autograder.grading.golden_pool import GoldenPool, handout_golden
from autograder.grading.processes import grading_context
from autograder.reports import feedback_html, feedback_markdown, grades_csv, gradescope_results
from autograder.reports.figures import figures_hook
from autograder.reports.summary import summary_html
from autograder.results import StudentResult
from autograder.submissions import Entry, Staged, find_entries, stage

STATE_SCHEMA = 1
GRADES_FILE = "grades.csv"
SUMMARY_FILE = "summary.html"
_MAX_PAYLOAD = 64 * 2**20
_INTERNAL = "internal error"

Progress = Callable[[StudentResult], None]


@dataclass
class Job:
    """One student to grade: the staged submission and what identifies this grading of it."""

    student: str
    entry_name: str
    staged: Staged
    fingerprint: str


@dataclass
class Graded:
    """What grading one student produced: the result, and the grader's own failure if there was one."""

    result: StudentResult
    internal_error: str = ""  # non-empty: the grader failed (the row says ``crashed``); never resumed
    watchdog: str = ""  # non-empty: the student's grading process was killed at the batch deadline
    detail: str = ""  # a traceback or the like, for whoever fixes the grader
    golden: dict = field(default_factory=dict)  # golden values the process computed (see GoldenPool)


@dataclass
class BatchPlan:
    """Who is in the class, who must be graded, and whose stored result stands (see :func:`plan_batch`)."""

    course: Course
    out: Path
    isolation_policy: str
    visibility: str
    entries: list[Entry]
    to_grade: list[Job]
    resumed: dict[str, StudentResult]
    fingerprints: dict[str, str]
    ignored: list[str] = field(default_factory=list)


@dataclass
class BatchOutcome:
    """A finished run: every student's result (sorted by id) and what the summary must say."""

    out: Path
    results: list[StudentResult]
    graded: list[str]
    resumed: list[str]
    internal_errors: dict[str, str]
    watchdog: dict[str, str]
    ignored: list[str]
    grades_csv: Path


# ---------------------------------------------------------------- fingerprints and state


# Parts of the package that cannot change a grade: reports are re-rendered from the state on every run,
# the release only matters through the stubs, whose digests are in each submission's fingerprint.
_NOT_GRADING = ("reports", "release", "cli.py", "__main__.py")


def grader_version(course: Course) -> str:
    """A hash of everything besides the submission that can change a grade.

    The grader's source (but for the parts in ``_NOT_GRADING``), the suites
    (and golden values), the solutions, ``course.toml``, and the Python and
    NumPy versions.
    """
    import numpy

    digest = hashlib.sha256(f"{sys.version}\0numpy {numpy.__version__}\0".encode())
    package = Path(engine.__file__).resolve().parent.parent
    roots = [(package, "*.py"), (course.suites, "*"), (course.solutions, "*.py")]
    for root, pattern in roots:
        if not root.is_dir():
            continue
        for path in sorted(p for p in root.rglob(pattern) if p.is_file() and "__pycache__" not in p.parts):
            relative = path.relative_to(root)
            if root == package and relative.parts[0] in _NOT_GRADING:
                continue
            digest.update(str(relative).encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    course_file = course.root / "course.toml"
    if course_file.is_file():
        digest.update(course_file.read_bytes())
    return digest.hexdigest()


def job_fingerprint(staged: Staged, version: str, isolation_policy: str, visibility: str) -> str:
    return hashlib.sha256("\0".join((staged.fingerprint, version, isolation_policy, visibility)).encode()).hexdigest()


def _state_path(out: Path, student: str) -> Path:
    return out / ".state" / f"{student}.json"


def load_state(out: Path, student: str, fingerprint: str) -> StudentResult | None:
    """The stored result of ``student`` when it is valid for ``fingerprint``, else ``None``."""
    try:
        data = json.loads(_state_path(out, student).read_text(encoding="utf-8"))
        if (data.get("schema") != STATE_SCHEMA or data.get("fingerprint") != fingerprint
                or data.get("internal_error") or data["result"]["student"] != student):
            return None
        return StudentResult.from_dict(data["result"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(scratch, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(scratch, path)


def _report_paths(out: Path, student: str) -> tuple[Path, ...]:
    return (out / "results" / f"{student}.json", out / "feedback" / f"{student}.md",
            out / "feedback" / f"{student}.html")


def write_reports(course: Course, out: Path, result: StudentResult) -> None:
    """``results/<id>.json`` and ``feedback/<id>.md|.html`` for one student."""
    titles = {pid: part.title for pid, part in course.parts.items()}
    write_atomic(out / "results" / f"{result.student}.json",
                 json.dumps(gradescope_results(result), indent=2, ensure_ascii=False) + "\n")
    write_atomic(out / "feedback" / f"{result.student}.md",
                 feedback_markdown(result, title=course.name, part_titles=titles))
    write_atomic(out / "feedback" / f"{result.student}.html",
                 feedback_html(result, title=course.name, part_titles=titles,
                              test_extras=figures_hook(course.feedback_figures)))


def _write_state(out: Path, job: Job, graded: Graded) -> None:
    state = {"schema": STATE_SCHEMA, "student": job.student, "entry": job.entry_name,
             "fingerprint": job.fingerprint, "internal_error": graded.internal_error, "detail": graded.detail,
             "result": graded.result.to_dict()}
    # no indent: json's C encoder (indent needs the pure-Python one, about five times slower)
    write_atomic(_state_path(out, job.student), json.dumps(state, default=_jsonable) + "\n")


def _jsonable(value):
    """JSON fallback for the small numeric extras tests attach (NumPy scalars and arrays)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON-able: {type(value).__name__}")


# ---------------------------------------------------------------- child processes


def _silence() -> None:
    """Send this process's stdout and stderr to /dev/null: a child never writes over the progress bar."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)


def _checked_plans() -> dict:
    """The sandbox plans this process has checked (passed to each child: no probe per student)."""
    try:
        from autograder.sandbox.launcher import checked_plans
    except ImportError:
        return {}
    return checked_plans()


def _child(conn, course: Course, student: str, staged: Staged, policy: str, visibility: str, plans: dict,
           known_golden: dict | None, core: int | None = None) -> None:
    """Grade one student and send the result back as JSON bytes (never pickle: the child ran student code).

    ``known_golden``: golden values to start from (:class:`GoldenPool`); when given, the values this child
    computed itself go back with the result. ``core``: the CPU this child and its sandbox run on (see
    :func:`cores_to_pin`).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops every child itself
    _silence()
    if core is not None:
        try:
            os.sched_setaffinity(0, {core})  # inherited by the sandbox's zygote and workers
        except OSError:
            pass
    try:
        if plans:
            from autograder.sandbox.launcher import adopt_plans

            adopt_plans(plans)
        golden = engine.golden_store(course, known_golden)
        result = engine.grade_staged(course, student, staged, visibility=visibility, isolation_policy=policy,
                                     golden=golden)
        payload = {"result": result.to_dict()}
        if known_golden is not None:
            payload["golden"] = golden.computed()
    except BaseException as exc:  # noqa: BLE001 - every failure becomes this student's row
        payload = {"error": f"{type(exc).__name__}: {exc}", "detail": traceback.format_exc()[-8000:]}
    try:
        data = json.dumps(payload, default=_jsonable).encode("utf-8")
    except (TypeError, ValueError) as exc:
        data = json.dumps({"error": f"the result could not be encoded: {exc}"}).encode("utf-8")
    conn.send_bytes(data)
    conn.close()


def student_deadline(course: Course) -> float:
    """Wall-clock seconds after which a student's grading process is killed (a backstop: workers have their own)."""
    return sum(part.part_seconds for part in course.parts.values()) * 1.5 + 120.0


def _failed(course: Course, student: str, message: str, detail: str = "") -> Graded:
    """The grader failed on this student: a ``crashed`` row that says so, regraded by the next run."""
    result = engine.internal_error_result(course, student, f"{_INTERNAL}: {message}", status="crashed")
    return Graded(result, internal_error=message, detail=detail)


def _stopped(course: Course, student: str, seconds: float) -> Graded:
    message = (f"grading did not finish within {seconds:g} s and was stopped (the code hung where the sandbox's "
               "own deadlines could not stop it)")
    return Graded(engine.internal_error_result(course, student, message, status="timeout"), watchdog=message)


def _receive(course: Course, job: Job, conn) -> Graded:
    try:
        payload = json.loads(conn.recv_bytes(_MAX_PAYLOAD).decode("utf-8"))
    except (EOFError, OSError, ValueError) as exc:
        return _failed(course, job.student, f"the grading process ended without a result ({type(exc).__name__})")
    if "result" in payload:
        try:
            result = StudentResult.from_dict(payload["result"])
        except (KeyError, TypeError, ValueError) as exc:
            return _failed(course, job.student, f"the grading process sent a malformed result ({exc})")
        if result.student == job.student:
            golden = payload.get("golden")
            return Graded(result, golden=golden if type(golden) is dict else {})
        return _failed(course, job.student, "the grading process sent another student's result")
    return _failed(course, job.student, str(payload.get("error", "unknown error")), detail=payload.get("detail", ""))


@dataclass
class _Running:
    job: Job
    process: object
    conn: object
    until: float
    core: int | None = None


def cores_to_pin(n_jobs: int) -> list[int]:
    """The CPUs to give the grading processes one each, or ``[]`` (no pinning) when there are fewer than
    ``n_jobs`` of them or the platform cannot pin.

    A student's grading process and its worker take turns (each call into student code is a round trip):
    on one core, each turn wakes a process on that core instead of another one, which costs a cross-core
    wake-up (a small call: 0.17 ms of wall and 0.15 CPU ms on a 2-core VM, 0.11 and 0.10 on one core).
    """
    try:
        cores = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return []
    return cores if n_jobs <= len(cores) else []


def free_core(cores: list[int], taken: Iterable[int | None]) -> int | None:
    """The first of ``cores`` no running child has, or ``None``."""
    taken = set(taken)
    return next((core for core in cores if core not in taken), None)


def grade_jobs(course: Course, jobs: Iterable[Job], *, n_jobs: int | None = None, isolation_policy: str = "require",
               visibility: str = "all", on_done: Callable[[Job, Graded], None] | None = None,
               deadline: float | None = None, report_golden: bool = False,
               handout_values: bool = True) -> dict[str, Graded]:
    """Grade ``jobs`` in up to ``n_jobs`` child processes at once; never raises for a student's sake.

    Under the ``require`` policy the children share golden values (:class:`GoldenPool`), starting from those of
    the course's handout when it was built from the course as it is now (:func:`handout_golden`). With no more
    jobs than CPUs, each child and its sandbox run on a CPU of their own (:func:`cores_to_pin`).

    Args:
        on_done: called in this process, in completion order, after each student.
        deadline: seconds before a student's grading process is killed (default: :func:`student_deadline`).
        report_golden: keep in each :class:`Graded` the golden values its process computed.
        handout_values: start from the handout's golden values when they are current (``False``: every value is
            computed by the children, as ``validate`` needs to check them).

    Returns:
        student id -> what grading produced.
    """
    ctx = grading_context()
    pending = deque(jobs)
    limit = deadline if deadline is not None else student_deadline(course)
    n_jobs = max(1, n_jobs or os.cpu_count() or 1)
    running: dict[object, _Running] = {}  # keyed by the result pipe
    plans = _checked_plans()
    cores = cores_to_pin(n_jobs)
    # Shared only between children whose students were sandboxed, starting from a current handout's values.
    pool = GoldenPool(handout_golden(course) if handout_values else None) if isolation_policy == "require" else None
    done: dict[str, Graded] = {}
    try:
        while pending or running:
            while pending and len(running) < n_jobs:
                job = pending.popleft()
                known = pool.known() if pool is not None else {} if report_golden else None
                receiver, sender = ctx.Pipe(duplex=False)
                core = free_core(cores, (r.core for r in running.values()))
                process = ctx.Process(target=_child, name=f"grade-{job.student}",
                                      args=(sender, course, job.student, job.staged, isolation_policy, visibility,
                                            plans, known, core))
                process.start()
                sender.close()  # the child holds the only writer: its death reads as end-of-file here
                running[receiver] = _Running(job, process, receiver, time.monotonic() + limit, core)
            soonest = min(r.until for r in running.values())
            ready = set(wait(list(running), timeout=max(0.0, soonest - time.monotonic())))
            for key in list(running):
                current = running[key]
                if key in ready:
                    graded = _receive(course, current.job, current.conn)
                elif time.monotonic() > current.until:
                    current.process.kill()
                    graded = _stopped(course, current.job.student, limit)
                else:
                    continue
                del running[key]
                _reap(current)
                if pool is not None:
                    pool.offer(current.job.student, graded.golden)
                if not report_golden:
                    graded.golden = {}
                done[current.job.student] = graded
                if on_done is not None:
                    on_done(current.job, graded)
    finally:  # interrupted (Ctrl-C) or failed: leave no grading process behind
        for current in running.values():
            current.process.kill()
            _reap(current)
    return done


def _reap(current: _Running) -> None:
    current.conn.close()
    current.process.join(timeout=5)
    if current.process.is_alive():
        current.process.kill()
        current.process.join()


# ---------------------------------------------------------------- the batch


def plan_batch(course: Course, submissions: Path, out: Path, *, isolation_policy: str = "require",
               visibility: str = "all") -> BatchPlan:
    """Stage every student and decide who needs grading (no valid state file for this exact submission and grader).

    Raises:
        SubmissionError: ``submissions`` is not a folder.
        IsolationUnavailable: ``require`` and no sandbox here (checked before anything is graded).
    """
    grading_context()  # the children's fork server gets ready meanwhile
    out = Path(out)
    existed = out.exists()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="probe") as probe:
        # the sandbox's probe mostly waits for its worker: it runs while the class is staged
        probing = probe.submit(engine.isolation_available, course) if isolation_policy == "require" else None
        plan = _stage_all(course, Path(submissions), out, isolation_policy, visibility)
    available, why = probing.result() if probing is not None else (True, "")
    if not available:
        shutil.rmtree(out / ".work", ignore_errors=True)
        if not existed:
            shutil.rmtree(out, ignore_errors=True)
        raise IsolationUnavailable(f"student code cannot be isolated on this machine ({why}); fix that, or "
                                   "pass --allow-unisolated to grade with the code running unisolated")
    return plan


def _stage_all(course: Course, submissions: Path, out: Path, isolation_policy: str, visibility: str) -> BatchPlan:
    """Stage every student into ``out/.work`` and read back the state files of those already graded."""
    entries, ignored = find_entries(submissions, course.assignment)
    kept = [e for e in entries if e.path.resolve() != out.resolve()]  # --out inside SUBMISSIONS is not a student
    ignored += [e.name for e in entries if e not in kept]
    entries = kept
    work = out / ".work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    version = grader_version(course)
    stubs = engine.released_stubs(course)
    to_grade, resumed, fingerprints = [], {}, {}
    for entry in entries:
        staged = stage(entry, work / entry.student, stubs=stubs, assignment=course.assignment)
        fingerprint = job_fingerprint(staged, version, isolation_policy, visibility)
        fingerprints[entry.student] = fingerprint
        previous = load_state(out, entry.student, fingerprint)
        if previous is not None:
            resumed[entry.student] = previous
            shutil.rmtree(staged.folder, ignore_errors=True)
        else:
            to_grade.append(Job(entry.student, entry.name, staged, fingerprint))
    return BatchPlan(course=course, out=out, isolation_policy=isolation_policy, visibility=visibility, entries=entries,
                     to_grade=to_grade, resumed=resumed, fingerprints=fingerprints, ignored=ignored)


def run_batch(plan: BatchPlan, *, n_jobs: int | None = None, progress: Progress | None = None,
              deadline: float | None = None) -> BatchOutcome:
    """Grade the plan's students, write every student's files, then ``grades.csv`` from the state files."""
    course, out = plan.course, plan.out
    internal: dict[str, str] = {}
    watchdog: dict[str, str] = {}

    def on_done(job: Job, graded: Graded) -> None:
        write_reports(course, out, graded.result)
        _write_state(out, job, graded)  # last: its presence means the student is complete
        shutil.rmtree(job.staged.folder, ignore_errors=True)
        if progress is not None:
            progress(graded.result)

    graded = grade_jobs(course, plan.to_grade, n_jobs=n_jobs, isolation_policy=plan.isolation_policy,
                        visibility=plan.visibility, on_done=on_done, deadline=deadline)
    for student, outcome in graded.items():
        if outcome.internal_error:
            internal[student] = outcome.internal_error
        if outcome.watchdog:
            watchdog[student] = outcome.watchdog
    for result in plan.resumed.values():
        if not all(path.is_file() for path in _report_paths(out, result.student)):
            write_reports(course, out, result)  # repairs a run killed between a state file and its reports
    results = [graded[e.student].result if e.student in graded else plan.resumed[e.student] for e in plan.entries]
    csv_path = out / GRADES_FILE
    final = _results_from_states(plan, results)
    write_atomic(csv_path, grades_csv(final, PART_IDS))
    write_atomic(out / SUMMARY_FILE, summary_html(final, title=course.name,
                                                  part_titles={pid: p.title for pid, p in course.parts.items()}))
    shutil.rmtree(out / ".work", ignore_errors=True)
    return BatchOutcome(out=out, results=sorted(results, key=lambda r: r.student),
                        graded=sorted(graded), resumed=sorted(plan.resumed), internal_errors=internal,
                        watchdog=watchdog, ignored=plan.ignored, grades_csv=csv_path)


def _results_from_states(plan: BatchPlan, fallback: list[StudentResult]) -> list[StudentResult]:
    """Every current student's result as read back from ``.state``, so fresh and resumed rows are alike.

    A student whose state is not valid for resuming (the grader failed on
    them) keeps the result of this run.
    """
    by_id = {r.student: r for r in fallback}
    return [load_state(plan.out, e.student, plan.fingerprints[e.student]) or by_id[e.student] for e in plan.entries]


def grade_batch(course: Course, submissions_dir: Path, out_dir: Path, jobs: int | None = None, *,
                isolation_policy: str = "require", visibility: str = "all", progress: Progress | None = None,
                deadline: float | None = None) -> BatchOutcome:
    """Grade every student in ``submissions_dir`` into ``out_dir`` (see the module docstring for the files).

    Args:
        jobs: students graded at once (default: ``os.cpu_count()``).
        isolation_policy: ``require`` (refuse without the sandbox), ``prefer`` or ``none`` (trusted code only).
        progress: called after each student graded (not for those resumed).

    Raises:
        SubmissionError: ``submissions_dir`` is not a folder.
        IsolationUnavailable: see :func:`plan_batch`.
    """
    plan = plan_batch(course, submissions_dir, out_dir, isolation_policy=isolation_policy, visibility=visibility)
    return run_batch(plan, n_jobs=jobs, progress=progress, deadline=deadline)
