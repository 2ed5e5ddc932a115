"""The ``autograder`` command: exit codes, --json, errors people can act on."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.cli import main
from autograder.config import load_course
from autograder.grading import engine
from tests.project.test_grading import copy_reference, make_mini_course


@pytest.fixture(scope="module")
def mini_file(tmp_path_factory) -> Path:
    return make_mini_course(tmp_path_factory.mktemp("cli"))


@pytest.fixture
def partly_wrong(mini_file, tmp_path) -> Path:
    folder = copy_reference(load_course(mini_file), tmp_path / "work", skip=("training",))
    (folder / "backprop.py").write_text("def value():\n    return 42\n\ndef double(x):\n    return 2 * x\n")
    return folder


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------- check


def test_check_all_passed_exits_0(mini_file, capsys):
    course = load_course(mini_file)
    code, out, _ = run(capsys, "--course", mini_file, "check", course.solutions, "--no-sandbox")
    assert code == 0
    assert "PASS value" in out and "Total: 5/5 public points; 5 of 5 tests passed" in out
    assert "double" not in out  # hidden tests are not run by check


def test_check_failure_exits_1_and_says_expected_and_found(mini_file, partly_wrong, capsys):
    code, out, _ = run(capsys, "check", partly_wrong, "--course", mini_file, "--no-sandbox")
    assert code == 1
    assert "FAIL value" in out and "expected: 3" in out and "found:    42" in out
    assert "Hint: return the part's number" in out
    assert "missing: neither training.py nor training.ipynb was found" in out


def test_check_json_is_one_document(mini_file, partly_wrong, capsys):
    code, out, _ = run(capsys, "--course", mini_file, "check", partly_wrong, "--json", "--no-sandbox")
    document = json.loads(out)
    assert code == 1 and document["passed"] is False
    assert document["total"] == 3 and document["max_total"] == 5
    assert document["parts"]["training"]["status"] == "missing"
    assert [t["passed"] for t in document["parts"]["backprop"]["tests"]] == [False]


def test_check_one_part(mini_file, partly_wrong, capsys):
    code, out, _ = run(capsys, "--course", mini_file, "check", partly_wrong, "--part", "clipping", "--json",
                       "--no-sandbox")
    assert code == 0 and list(json.loads(out)["parts"]) == ["clipping"]


@pytest.mark.skipif(not engine.isolation_available(None)[0], reason="needs the bubblewrap sandbox")
def test_check_in_the_sandbox_by_default(mini_file, partly_wrong, capsys):
    code, out, _ = run(capsys, "--course", mini_file, "check", partly_wrong, "--json")
    document = json.loads(out)
    assert code == 1 and document["isolation"].startswith("bwrap") and document["total"] == 3


def test_check_missing_path_is_a_usage_error(mini_file, tmp_path, capsys):
    code, _, err = run(capsys, "--course", mini_file, "check", tmp_path / "nope")
    assert code == 2 and "no such file or folder" in err


@pytest.mark.parametrize("argv", [["check", "--part", "nope"], ["frobnicate"], [], ["grade", "x"],
                                  ["grade", "x", "--out", "y", "--jobs", "0"], ["validate", "--jobs", "two"]])
def test_usage_errors_exit_2(argv, capsys):
    code, _, err = run(capsys, *argv)
    assert code == 2 and "usage:" in err


def test_help_exits_0(capsys):
    code, out, _ = run(capsys, "grade", "--help")
    assert code == 0 and "--allow-unisolated" in out


# ---------------------------------------------------------------- course.toml


@pytest.mark.parametrize("edit, where", [
    (lambda t: t.replace("call_seconds = 2.0", "call_secnds = 2.0"), "[limits.call_secnds]: unknown key"),
    (lambda t: t.replace('assignment = "mini1"\n', ""), "[course.assignment]: missing required key"),
    (lambda t: t.replace("points = 2\n", 'points = "two"\n', 1), "[parts.initializers.points]: must be float"),
    (lambda t: t + "\n[oops\n", "not valid TOML"),
    (lambda t: t + '\n[feedback]\nfigures = "some"\n', "[feedback.figures]: must be one of failed, all, none"),
])
def test_bad_course_toml_is_one_line_naming_file_and_key(mini_file, tmp_path, capsys, edit, where):
    bad = tmp_path / "course.toml"
    bad.write_text(edit(mini_file.read_text()))
    code, out, err = run(capsys, "--course", bad, "check", tmp_path)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"error: {bad}") and where in err


def test_course_is_found_from_the_current_folder(mini_file, capsys, monkeypatch):
    monkeypatch.delenv("AUTOGRADER_COURSE", raising=False)
    monkeypatch.chdir(mini_file.parent / "solutions")
    code, out, _ = run(capsys, "check", ".", "--json", "--no-sandbox")
    assert code == 0 and json.loads(out)["max_total"] == 5  # the mini course's public points, not the real course's


# ---------------------------------------------------------------- grade, validate, release


def test_grade_prints_a_summary_and_exits_0(mini_file, partly_wrong, tmp_path, capsys):
    subs = tmp_path / "subs"
    subs.mkdir()
    partly_wrong.rename(subs / "pat")
    copy_reference(load_course(mini_file), subs / "ref")
    code, out, _ = run(capsys, "--course", mini_file, "grade", subs, "--out", tmp_path / "out", "--jobs", "2",
                       "--allow-unisolated")
    assert code == 0
    assert (tmp_path / "out" / "grades.csv").read_text().splitlines()[1:] == ["pat,2,2,1,2,0,7,10,missing",
                                                                            "ref,2,2,2,2,2,10,10,ok"]
    assert "graded 2, resumed 0" in out and "pat" in out and "missing" in out


def test_grade_refuses_without_isolation(mini_file, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(engine, "isolation_available", lambda course: (False, "bwrap is not installed"))
    (tmp_path / "subs").mkdir()
    code, _, err = run(capsys, "--course", mini_file, "grade", tmp_path / "subs", "--out", tmp_path / "out")
    assert code == 2 and "bwrap is not installed" in err and "--allow-unisolated" in err


def test_grade_missing_submissions_folder_is_a_usage_error(mini_file, tmp_path, capsys):
    code, _, err = run(capsys, "--course", mini_file, "grade", tmp_path / "none", "--out", tmp_path / "out",
                       "--allow-unisolated")
    assert code == 2 and "is not a folder of submissions" in err


def test_validate_exit_codes(mini_file, tmp_path, capsys):
    code, out, _ = run(capsys, "--course", mini_file, "validate", "--jobs", "2")
    assert code == 0 and "all expectations hold" in out and "reference: 1/1 as expected" in out
    broken = tmp_path / "c"
    broken_file = make_mini_course(broken)
    (broken / "solutions" / "debugging.py").write_text(
        (broken / "solutions" / "debugging.py").read_text().replace("return 4", "return 5"))
    code, out, _ = run(capsys, "--course", broken_file, "validate")
    assert code == 0  # golden values are live: the reference changed, so did the expectations
    faulty = broken / "tests" / "variants" / "faulty"
    faulty.mkdir(parents=True)
    (faulty / "debugging.toml").write_text('[[faulty]]\nname = "same"\nreplace = [["return 2 * x", "return x + x"]]\n')
    code, out, _ = run(capsys, "--course", broken_file, "validate")
    assert code == 1 and "no test catches it" in out


def test_release_calls_build_handout(mini_file, tmp_path, capsys, monkeypatch):
    import autograder.release.handout as handout

    calls = []
    monkeypatch.setattr(handout, "build_handout", lambda course, out: calls.append((course.id, out)) or out)
    code, out, _ = run(capsys, "--course", mini_file, "release", tmp_path / "hand")
    assert code == 0 and calls == [("mini", tmp_path / "hand")] and "handout written to" in out


def test_python_dash_m_autograder():
    done = subprocess.run([sys.executable, "-m", "autograder", "--version"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("autograder ")


def test_check_on_a_student_machine_replays_golden_values(mini_file, partly_wrong, tmp_path, capsys):
    """A handout has no solutions: public tests compare with the golden values recorded at release."""
    from autograder.harness.golden import GOLDEN_FILE, to_json

    course = load_course(mini_file)
    handout = tmp_path / "handout"
    tests = handout / f"handout_tests_{tmp_path.name[-8:].replace('-', '_')}"  # not "tests": this process has one
    for part in course.parts:
        (tests / part).mkdir(parents=True)
        (tests / part / "__init__.py").write_text("")
        (tests / part / "test_public.py").write_text((course.suites / part / "test_public.py").read_text())
    (tests / "__init__.py").write_text("")
    golden = {f"{part}/value": to_json(index) for index, part in enumerate(course.parts, start=1)}
    (tests / GOLDEN_FILE).write_text(json.dumps(golden))
    text = mini_file.read_text().replace('suites = "minisuites_', f'suites = "{tests.name}" # was "minisuites_')
    (handout / "course.toml").write_text(text.replace('solutions = "solutions"', 'solutions = "no-solutions-here"'))
    code, out, err = run(capsys, "--course", handout, "check", course.solutions, "--no-sandbox", "--json")
    assert code == 0 and json.loads(out)["total"] == 5, err
    code, out, _ = run(capsys, "--course", handout, "check", partly_wrong, "--no-sandbox")
    assert code == 1 and "expected: 3" in out and "found:    42" in out
