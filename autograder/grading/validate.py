"""``autograder validate``: prove the suites right on the course's own known implementations.

Through the same engine as real grading (staging, one pytest session per
submission, child processes), it grades:

* the reference solutions: full marks on every part;
* the released stubs: zero on every part;
* every faulty variant: fewer points than the maximum on its own part, full marks on the others;
* every correct variant: full marks everywhere.

It also checks that each part's tests add up to the part's points in
``course.toml``, and that every golden value a submission's grading computed
is the one the reference's grading computed (a recipe must not depend on the
student: the handout replays one recorded value, a batch shares it). Every
broken expectation is a :class:`Violation`.
"""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from autograder import PART_IDS
from autograder.config import Course
from autograder.grading import engine
from autograder.grading.batch import Graded, Job, grade_jobs
from autograder.grading.variants import Variant, load_correct, load_faulty, materialize
from autograder.harness.golden import from_json, same_value
from autograder.results import StudentResult
from autograder.submissions import Entry, stage

KINDS = ("reference", "stub", "faulty", "correct")


@dataclass
class Case:
    """One submission validate grades, and what it must score."""

    id: str
    kind: str  # one of KINDS
    part: str | None  # the variant's part (faulty/correct), else None
    description: str = ""
    result: StudentResult | None = None
    violations: list[str] = field(default_factory=list)


@dataclass
class Violation:
    case: str
    message: str


@dataclass
class ValidationReport:
    cases: list[Case]
    violations: list[Violation]

    @property
    def ok(self) -> bool:
        return not self.violations

    def counts(self) -> dict[str, tuple[int, int]]:
        """kind -> (cases, cases that met their expectation)."""
        out = {}
        for kind in KINDS:
            cases = [c for c in self.cases if c.kind == kind]
            out[kind] = (len(cases), sum(1 for c in cases if not c.violations))
        return out


def _full(part) -> bool:
    return part.status == "ok" and abs(part.score - part.max_score) < 1e-9


def expectations(case: Case, result: StudentResult, reference: StudentResult | None = None) -> list[str]:
    """What ``case`` got wrong, as sentences (empty when it scored as it must).

    The reference must get full marks. A variant is compared with the
    reference part by part (when the reference is given), so a part the
    reference itself falls short on is reported once, for the reference,
    not again for every variant.
    """
    problems = []
    for pid, part in result.parts.items():
        got = f"{part.score:g}/{part.max_score:g} ({part.status}{': ' + part.message if part.message else ''})"
        ref = reference.parts.get(pid) if reference is not None else None
        target = ref.score if ref is not None else part.max_score
        what = "the reference's score" if ref is not None else "full marks"
        if case.kind == "reference" and not _full(part):
            problems.append(f"{pid}: expected full marks, got {got}")
        elif case.kind == "correct" or (case.kind == "faulty" and pid != case.part):
            if part.status != "ok" or abs(part.score - target) > 1e-9:
                problems.append(f"{pid}: expected {what} ({target:g}), got {got}")
        elif case.kind == "stub":
            if part.score > 0:
                passed = ", ".join(t.name for t in part.tests if t.passed)
                problems.append(f"{pid}: the stub should score 0, got {got}; tests a stub passes: {passed}")
        elif case.kind == "faulty" and part.score >= min(target, part.max_score) - 1e-9:
            problems.append(f"{pid}: the faulty variant keeps {what} ({got}): no test catches it")
    return problems


def _points_problems(course: Course, result: StudentResult) -> list[Violation]:
    """Each part's tests must add up to its points in course.toml."""
    found = []
    for pid, part in result.parts.items():
        total = sum(t.max_points for t in part.tests)
        if abs(total - course.parts[pid].points) > 1e-9:
            found.append(Violation("suites", f"{course.suites / pid}: the tests award {total:g} points, course.toml "
                                             f"[parts.{pid}] points = {course.parts[pid].points:g}"))
    return found


def golden_differences(expected: dict, found: dict) -> list[str]:
    """Names whose value in ``found`` differs from ``expected`` (both name -> ``to_json`` form); names
    ``expected`` lacks are not compared."""
    differ = []
    for name, value in sorted(found.items()):
        if name in expected:
            try:
                same = same_value(from_json(value), from_json(expected[name]))
            except (TypeError, ValueError, KeyError):
                same = False
            if not same:
                differ.append(name)
    return differ


def _stub_folder(course: Course, work: Path) -> Path:
    """The handout's stubs when all five are there, else stubs built from the solutions now.

    Raises:
        RuntimeError: neither is available.
    """
    if all((course.handout / f"{p}.py").is_file() for p in PART_IDS):
        return course.handout
    try:
        from autograder.release.stubs import write_stub
    except ImportError as exc:
        raise RuntimeError(f"no stubs: {course.handout} lacks the part files and autograder.release is "
                           "not available to build them") from exc
    folder = work / "stubs"
    folder.mkdir(parents=True)
    for part in PART_IDS:
        write_stub(course.solutions / f"{part}.py", folder / f"{part}.py")
    return folder


def validate(course: Course, jobs: int | None = None, *, isolation_policy: str = "none",
             progress: Callable[[Case], None] | None = None) -> ValidationReport:
    """Grade the reference, the stubs and every variant; collect what did not score as it must.

    Args:
        jobs: submissions graded at once (default: ``os.cpu_count()``).
        isolation_policy: ``none`` by default: everything graded here is the course's own code.
        progress: called after each case.
    """
    work = Path(tempfile.mkdtemp(prefix="autograder-validate-"))
    violations: list[Violation] = []
    try:
        folders: dict[str, Path] = {"reference": course.solutions}
        cases = [Case("reference", "reference", None, "the reference solutions")]
        try:
            folders["stubs"] = _stub_folder(course, work)
            cases.append(Case("stubs", "stub", None, "the released stubs"))
        except Exception as exc:  # noqa: BLE001 - a broken release is a violation to report, not a crash
            violations.append(Violation("stubs", str(exc)))
        try:
            variants: list[Variant] = load_faulty(course) + load_correct(course)
        except Exception as exc:  # noqa: BLE001
            violations.append(Violation("variants", str(exc)))
            variants = []
        for variant in variants:
            try:
                folders[variant.id] = materialize(course, variant, work / variant.id)
            except Exception as exc:  # noqa: BLE001 - e.g. a replacement that no longer matches the reference
                violations.append(Violation(variant.id, str(exc)))
                continue
            cases.append(Case(variant.id, variant.kind, variant.part, variant.description))
        stubs = engine.released_stubs(course)
        jobs_list = []
        for case in cases:
            entry = Entry(student=case.id, name=case.id, path=folders[case.id], kind="folder")
            staged = stage(entry, work / "staged" / case.id, stubs=stubs, assignment=course.assignment)
            jobs_list.append(Job(case.id, case.id, staged, ""))
        by_id = {case.id: case for case in cases}
        failed: dict[str, str] = {}
        golden: dict[str, dict] = {}

        def on_done(job: Job, graded: Graded) -> None:
            by_id[job.student].result = graded.result
            golden[job.student] = graded.golden
            if graded.internal_error:
                failed[job.student] = graded.internal_error
            if progress is not None:
                progress(by_id[job.student])

        grade_jobs(course, jobs_list, n_jobs=jobs, isolation_policy=isolation_policy, visibility="all",
                   on_done=on_done, report_golden=True, handout_values=False)  # every golden value computed
        reference = by_id["reference"].result
        if reference is not None and "reference" not in failed:
            violations += _points_problems(course, reference)
        else:
            reference = None  # without a graded reference, variants are held to full marks
        for case in cases:
            if case.id in failed:
                case.violations = [f"the grader failed: {failed[case.id]}"]
            elif case.result is not None:
                case.violations = expectations(case, case.result, reference if case.kind != "reference" else None)
            differ = golden_differences(golden.get("reference", {}), golden.get(case.id, {}))
            if differ:
                case.violations.append(f"golden values differ from the reference's grading: {', '.join(differ)} "
                                       "(a golden recipe may use only the test's own inputs, never anything the "
                                       "student's code returned or changed)")
            violations += [Violation(case.id, message) for message in case.violations]
        return ValidationReport(cases=cases, violations=violations)
    finally:
        shutil.rmtree(work, ignore_errors=True)
