"""autograder.release: the marker scanner, the stubs, and the handout in assignments/.

The committed handout is checked as it is shipped: not stale, no solution
line, no hidden test, the contract's signatures, stubs that raise.
"""
from __future__ import annotations

import dataclasses
import inspect
import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

import autograder.kit
from autograder import PART_IDS
from autograder.config import load_course
from autograder.harness.golden import GOLDEN_FILE, from_json, same_value
from autograder.harness.inprocess import load_part_module
from autograder.release import handout as handout_module
from autograder.release.errors import ReleaseError
from autograder.release.handout import HANDOUT_MARKER, build_handout, handout_course_toml, public_suites, record_golden
from autograder.release.markers import (
    HIDDEN_TESTS,
    SOLUTION,
    MarkerError,
    require_in_functions,
    scan_module,
    scan_regions,
)
from autograder.release.nbsource import read_notebook_source
from autograder.release.stubs import STUB_LINES, clear_regions, stub_digest, stub_source, write_stub

REBUILD = "assignments/ is stale: run `make release` and commit the result"


@pytest.fixture(scope="module")
def repo_course():
    return load_course()


@pytest.fixture(scope="module")
def shipped(repo_course) -> Path:
    assert (repo_course.handout / HANDOUT_MARKER).is_file(), f"no handout in {repo_course.handout}: {REBUILD}"
    return repo_course.handout


def _handout_texts(folder: Path) -> dict[str, str]:
    """Every file of a handout as text; a notebook as its cells' sources and text outputs."""
    texts = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        name = str(path.relative_to(folder))
        if path.suffix == ".ipynb":
            nb = nbformat.read(path, as_version=4)
            parts = [cell.source for cell in nb.cells]
            parts += [json.dumps(out) for cell in nb.cells for out in cell.get("outputs", [])]
            texts[name] = "\n".join(parts)
        else:
            texts[name] = path.read_text(encoding="utf-8")
    return texts


def _nontrivial(line: str) -> bool:
    stripped = line.strip()
    return len(stripped) >= 6 and any(ch.isalpha() for ch in stripped) and not stripped.startswith("#")


def _region_lines(text: str, regions, kind) -> set[str]:
    """Non-trivial lines inside regions of ``kind`` that appear nowhere outside them."""
    lines = text.split("\n")
    inside = {i for r in regions if r.kind is kind for i in range(r.begin + 1, r.end)}
    outside = {lines[i].strip() for i in range(len(lines)) if i not in inside}
    return {lines[i].strip() for i in inside if _nontrivial(lines[i]) and lines[i].strip() not in outside}


# ---------------------------------------------------------------- markers


def test_scan_regions_finds_both_kinds_with_indent_and_line():
    text = textwrap.dedent("""\
        def f():
            ### BEGIN SOLUTION
            return 1
            ### END SOLUTION
        if __name__ == "__main__":
          ### BEGIN HIDDEN TESTS
          assert f() == 1
          ### END HIDDEN TESTS
        """)
    regions = scan_regions(text, "m.py", first_line=10)
    assert [(r.kind, r.begin, r.end, r.indent, r.line) for r in regions] == [
        (SOLUTION, 1, 3, "    ", 11), (HIDDEN_TESTS, 5, 7, "  ", 15)]
    assert regions[0].inner(text.split("\n")) == ["    return 1"]


@pytest.mark.parametrize(("source", "line", "words"), [
    ("x = 1\n### END SOLUTION\n", 2, "without an open"),
    ("def f():\n    ### BEGIN SOLUTION\n    return 1\n", 2, "never closed"),
    ("def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n", 3, "nested"),
    ("def f():\n    ### BEGIN SOLUTION\n    ### BEGIN HIDDEN TESTS\n", 3, "nested"),
    ("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END HIDDEN TESTS\n", 4, "cannot close"),
    ("def f():\n    ### BEGIN SOLUTION\n    return 1\n### END SOLUTION\n", 4, "indented differently"),
    ("def f():\n    return 1  ### BEGIN SOLUTION\n", 2, "stand alone"),
    ("def f():\n    # END SOLUTION here\n", 2, "stand alone"),
    ("def f():\n    ### BEGIN SOLUTION\n\n    ### END SOLUTION\n", 2, "empty"),
])
def test_scan_regions_errors_name_file_and_line(source, line, words):
    with pytest.raises(MarkerError, match=re.escape(f"src/m.py:{line + 99}: ")) as caught:
        scan_regions(source, "src/m.py", first_line=100)
    assert words in str(caught.value)


@pytest.mark.parametrize(("source", "line"), [
    ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n", 1),
    ("class C:\n    ### BEGIN SOLUTION\n    x = 1\n    ### END SOLUTION\n", 2),
    ('def f():\n    ### BEGIN SOLUTION\n    """Doc."""\n    ### END SOLUTION\n    return 1\n', 2),
    ("def f():\n    return 1\n\n\n### BEGIN SOLUTION\ny = 2\n### END SOLUTION\n", 5),
    ("def f():\n    ### BEGIN SOLUTION\n    # a hint\n    ### END SOLUTION\n    return 1\n", 2),
])
def test_solution_region_outside_a_function_body_is_an_error(source, line):
    regions = scan_regions(source, "m.py")
    problem = "this solution region (is not inside a function body|holds only comments)"
    with pytest.raises(MarkerError, match=f"^m.py:{line}: {problem}"):
        require_in_functions(source, regions, "m.py")


def test_solution_regions_in_methods_nested_defs_and_blocks_are_accepted():
    source = textwrap.dedent('''\
        class C:
            def m(self, x):
                """Doc."""
                if x:
                    ### BEGIN SOLUTION
                    return 1
                    ### END SOLUTION
                def inner():
                    ### BEGIN SOLUTION
                    return 2
                    ### END SOLUTION
                return inner()
        ''')
    require_in_functions(source, scan_regions(source, "m.py"), "m.py")


@pytest.mark.parametrize("part", PART_IDS)
def test_every_solution_function_has_a_region(repo_course, part):
    text, regions = scan_module(repo_course.solutions / f"{part}.py")
    assert regions and all(r.kind is SOLUTION for r in regions)


# ---------------------------------------------------------------- stubs


SAMPLE = '''\
"""A module."""
import numpy as np

SCALE = 2.0


class Box:
    """A box."""

    def __init__(self, size=3, *, rng=None):
        """Make it.

        Args:
            size: an int.
        """
        ### BEGIN SOLUTION
        self.size = size
        ### END SOLUTION

    def grow(self, by):
        """Grow."""
        if by > 0:
            ### BEGIN SOLUTION
            self.size += by
            ### END SOLUTION
        return self.size


def area(a, b=1.0):
    """Area of ``a`` by ``b``."""
    ### BEGIN SOLUTION
    return np.float64(a) * b * SCALE
    ### END SOLUTION
'''


def test_stub_clears_each_region_at_its_indentation_and_keeps_everything_else():
    regions = scan_regions(SAMPLE, "sample.py")
    stub = stub_source(SAMPLE, regions, "sample.py")
    expected = SAMPLE
    for body, indent in [("self.size = size", 8), ("self.size += by", 12), ("return np.float64(a) * b * SCALE", 4)]:
        pad = " " * indent
        expected = expected.replace(f"{pad}### BEGIN SOLUTION\n{pad}{body}\n{pad}### END SOLUTION\n",
                                    "".join(f"{pad}{line}\n" for line in STUB_LINES))
    assert stub == expected
    assert "SOLUTION" not in stub and stub.endswith("\n")


def test_stub_module_imports_keeps_interface_and_raises(tmp_path):
    (tmp_path / "sample.py").write_text(SAMPLE, encoding="utf-8")
    (tmp_path / "stub").mkdir()
    write_stub(tmp_path / "sample.py", tmp_path / "stub" / "sample.py")
    solved = load_part_module(tmp_path, "sample")
    stub = load_part_module(tmp_path / "stub", "sample")
    for name in ("area", "Box", "Box.__init__", "Box.grow"):
        want, got = solved, stub
        for attr in name.split("."):
            want, got = getattr(want, attr), getattr(got, attr)
        assert inspect.signature(got) == inspect.signature(want), name
        assert inspect.getdoc(got) == inspect.getdoc(want), name
    assert stub.SCALE == 2.0
    with pytest.raises(NotImplementedError):
        stub.area(2.0)
    with pytest.raises(NotImplementedError):
        stub.Box(4)
    assert solved.Box(4).grow(0) == 4  # the line before the region is kept: grow(0) never reaches it


def test_stub_of_a_region_that_is_not_whole_statements_is_refused():
    source = "def f(x):\n    y = (1 +\n    ### BEGIN SOLUTION\n         2)\n    ### END SOLUTION\n    return y\n"
    with pytest.raises(ReleaseError, match="^bad.py: the stub is not valid Python"):
        stub_source(source, scan_regions(source, "bad.py"), "bad.py")


def test_write_stub_reports_marker_problems_with_file_and_line(tmp_path):
    bad = tmp_path / "clipping.py"
    bad.write_text("def f():\n    ### BEGIN SOLUTION\n    return 1\n", encoding="utf-8")
    with pytest.raises(MarkerError, match=re.escape(f"{bad}:2: ")):
        write_stub(bad, tmp_path / "out.py")
    assert not (tmp_path / "out.py").exists()


@pytest.mark.parametrize("part", PART_IDS)
def test_stub_is_what_nbgrader_clear_solutions_makes_of_the_module(repo_course, part):
    from nbgrader.preprocessors import ClearSolutions

    text, regions = scan_module(repo_course.solutions / f"{part}.py")
    cell = nbformat.v4.new_code_cell(text, metadata={"nbgrader": {"solution": True}})
    ClearSolutions()._replace_solution_region(cell, "python")
    assert clear_regions(text, regions) == cell.source
    assert "\n".join(STUB_LINES) == ClearSolutions().code_stub["python"]


# ---------------------------------------------------------------- handout pieces


def test_file_names_shared_with_lower_layers_agree():
    from autograder.grading.engine import STUB_MANIFEST
    from autograder.grading.golden_pool import HANDOUT_TESTS

    assert handout_module.GOLDEN_FILE == GOLDEN_FILE
    assert handout_module.TESTS_DIR == HANDOUT_TESTS
    assert handout_module.STUB_MANIFEST == STUB_MANIFEST


def test_stub_digest_is_the_one_the_submission_reader_compares(shipped):
    from autograder.submissions.reader import stub_digest as reader_digest

    for part in PART_IDS:
        data = (shipped / f"{part}.py").read_bytes()
        for variant in (data, data.replace(b"\n", b"\r\n")):
            assert stub_digest(variant) == reader_digest(variant) == stub_digest(data)


def test_an_unchanged_stub_beside_a_notebook_loses_to_the_notebook(tmp_path, shipped):
    """On a student's machine (no solutions), the manifest is how the grader knows a .py is the stub."""
    from autograder.grading.engine import released_stubs

    handout = tmp_path / "handout"
    shutil.copytree(shipped, handout)
    course = load_course(handout / "course.toml")
    stubs = released_stubs(course, submission=handout)
    assert all(stub_digest((handout / f"{part}.py").read_bytes()) in stubs[part] for part in PART_IDS)


def test_handout_course_toml_changes_only_the_paths(repo_course):
    path = repo_course.root / "course.toml"
    original = path.read_text(encoding="utf-8")
    rewritten = handout_course_toml(original, path)
    changed = [(a, b) for a, b in zip(original.split("\n"), rewritten.split("\n"), strict=True) if a != b]
    assert [b.split("#")[0].strip() for _, b in changed] == [
        'solutions = "solutions"', 'suites = "tests"', 'handout = "."', 'notebooks = "."']
    with pytest.raises(ReleaseError, match=r"course.toml: \[paths\] lacks notebooks"):
        handout_course_toml(original.replace('notebooks = "notebooks"', ""), path)


def test_public_suites_refuse_a_hidden_test_in_a_public_file(tmp_path, repo_course):
    suite = tmp_path / "clipping" / "test_public.py"
    suite.parent.mkdir()
    suite.write_text('from autograder.harness import graded\n\n\n@graded(1, visibility="hidden", oracle="reference")\n'
                     "def test_x(student):\n    pass\n", encoding="utf-8")
    with pytest.raises(ReleaseError, match=re.escape(f"{suite}:4: a public suite may not hold or import hidden")):
        public_suites(dataclasses.replace(repo_course, suites=tmp_path))
    suite.write_text("from .test_hidden import CASES\n", encoding="utf-8")
    with pytest.raises(ReleaseError, match=re.escape(f"{suite}:1: a public suite may not hold or import hidden")):
        public_suites(dataclasses.replace(repo_course, suites=tmp_path))


def test_record_golden_fails_when_the_reference_fails_a_public_test(tmp_path, repo_course):
    suite = tmp_path / "debugging" / "test_public.py"
    suite.parent.mkdir()
    suite.write_text('from autograder.harness import graded\n\n\n@graded(1, visibility="public", oracle="property")\n'
                     "def test_always_fails(student):\n    assert student.debugging.HEALTHY == 'no'\n",
                     encoding="utf-8")
    with pytest.raises(ReleaseError, match="the reference must pass every public test"):
        record_golden(repo_course, [suite], tmp_path / "golden.json")
    assert not (tmp_path / "golden.json").exists()


def test_build_handout_refuses_a_folder_that_is_not_a_handout(tmp_path, repo_course):
    precious = tmp_path / "thesis"
    precious.mkdir()
    (precious / "chapter1.tex").write_text("years of work", encoding="utf-8")
    with pytest.raises(ReleaseError, match="not a previous handout; refusing"):
        build_handout(repo_course, precious)
    assert (precious / "chapter1.tex").read_text(encoding="utf-8") == "years of work"
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(ReleaseError, match="is not a folder"):
        build_handout(repo_course, tmp_path / "file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "thesis"]  # no staging folder left behind


# ---------------------------------------------------------------- the committed handout


@pytest.mark.slow
def test_assignments_is_what_release_builds_now(tmp_path, repo_course, shipped):
    fresh = tmp_path / "handout"
    fresh.mkdir()
    (fresh / HANDOUT_MARKER).write_text("", encoding="utf-8")
    (fresh / "left-over.py").write_text("from an older release", encoding="utf-8")
    assert build_handout(repo_course, fresh) == fresh
    assert not (fresh / "left-over.py").exists(), "a release must replace the previous handout entirely"
    assert [p.name for p in tmp_path.iterdir()] == ["handout"], "staging folders must not be left behind"
    files = sorted(str(p.relative_to(fresh)) for p in fresh.rglob("*") if p.is_file())
    committed = sorted(str(p.relative_to(shipped)) for p in shipped.rglob("*")
                       if p.is_file() and "__pycache__" not in p.parts)
    assert committed == files, f"{REBUILD} (files differ: {sorted(set(files) ^ set(committed))})"
    golden = f"tests/{GOLDEN_FILE}"
    stale = [name for name in files if name != golden
             and (fresh / name).read_bytes() != (shipped / name).read_bytes()]
    assert not stale, f"{REBUILD} (differs: {', '.join(stale)})"
    found = json.loads((shipped / golden).read_text(encoding="utf-8"))
    expected = json.loads((fresh / golden).read_text(encoding="utf-8"))
    assert found.keys() == expected.keys(), f"{REBUILD} (golden names differ: {sorted(found.keys() ^ expected.keys())})"
    off = [name for name in expected if not same_value(from_json(found[name]), from_json(expected[name]))]
    assert not off, f"{REBUILD} (golden values differ beyond rtol 1e-12: {', '.join(off)})"


def test_assignments_has_the_handout_layout(repo_course, shipped):
    names = {str(p.relative_to(shipped)) for p in shipped.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    expected = {f"{part}{ext}" for part in PART_IDS for ext in (".py", ".ipynb")}
    expected |= {"README.md", "course.toml", HANDOUT_MARKER, handout_module.STUB_MANIFEST, "tests/__init__.py",
                 "tests/README.md", f"tests/{GOLDEN_FILE}"}
    expected |= {f"tests/{part}/{name}" for part in public_suites(repo_course)
                 for name in ("__init__.py", "test_public.py")}
    assert names == expected, REBUILD
    course = load_course(shipped / "course.toml")
    assert course.suites == shipped / "tests" and course.handout == shipped and course.notebooks == shipped
    assert not course.solutions.exists()


def _already_public(course) -> set[str]:
    """Lines students see anyway: the grader's kit and the public suites (generic loops, not leaks)."""
    sources = [*Path(autograder.kit.__file__).parent.glob("*.py"), *public_suites(course).values()]
    return {line.strip() for path in sources for line in path.read_text(encoding="utf-8").split("\n")}


def test_assignments_holds_no_solution_line(repo_course, shipped):
    texts = _handout_texts(shipped)
    handout_lines = {line.strip(): name for name, text in texts.items() for line in text.split("\n")}
    public = _already_public(repo_course)
    leaks = []
    for part in PART_IDS:
        text, regions = scan_module(repo_course.solutions / f"{part}.py")
        secret = _region_lines(text, regions, SOLUTION) - public
        assert len(secret) >= 3, f"{part}: too few solution lines to check"
        leaks += [f"{handout_lines[line]}: {line!r} (from solutions/{part}.py)" for line in secret
                  if line in handout_lines]
    assert not leaks, "solution code in the handout:\n" + "\n".join(leaks)
    assert not any("BEGIN SOLUTION" in text or "END SOLUTION" in text for text in texts.values())


def test_assignments_holds_no_hidden_test(repo_course, shipped):
    texts = _handout_texts(shipped)
    assert not [name for name in texts if Path(name).name.startswith("test_hidden")]
    hidden_marks = [name for name, text in texts.items() if re.search(r"""visibility\s*=\s*["']hidden""", text)]
    assert not hidden_marks, f"hidden tests in {hidden_marks}"
    handout_lines = {line.strip() for text in texts.values() for line in text.split("\n")}
    for part in PART_IDS:
        for spec in read_notebook_source(repo_course.notebooks / f"{part}.md"):
            regions = scan_regions(spec.source, spec.kind, spec.first_line)
            secret = _region_lines(spec.source, regions, HIDDEN_TESTS)
            assert not secret & handout_lines, f"{part}.md cell {spec.name}: hidden test lines in the handout"
    assert not any("HIDDEN TESTS" in text for text in texts.values())


def _own_members(module):
    """``(name, value)`` of a module's public members, without modules and names it imported."""
    for name, value in vars(module).items():
        imported = callable(value) and getattr(value, "__module__", None) != module.__name__
        if not name.startswith("_") and not inspect.ismodule(value) and not imported:
            yield name, value


def _public_interface(module) -> dict[str, object]:
    """Name -> (signature, docstring) for functions, classes and methods; name -> repr for constants."""
    found = {}
    for name, value in _own_members(module):
        if inspect.isclass(value):
            found[name] = (str(inspect.signature(value)), inspect.getdoc(value))
            for method, member in vars(value).items():
                if inspect.isfunction(member):
                    found[f"{name}.{method}"] = (str(inspect.signature(member)), inspect.getdoc(member))
        elif inspect.isfunction(value):
            found[name] = (str(inspect.signature(value)), inspect.getdoc(value))
        else:
            found[name] = repr(value)
    return found


@pytest.mark.parametrize("part", PART_IDS)
def test_assignments_stub_has_the_solution_interface(repo_course, shipped, part):
    solution = _public_interface(load_part_module(repo_course.solutions, part))
    stub = _public_interface(load_part_module(shipped, part))
    assert stub.keys() == solution.keys(), f"{part}.py: names differ: {sorted(stub.keys() ^ solution.keys())}"
    differ = [name for name in solution if stub[name] != solution[name]]
    assert not differ, f"{part}.py: signature or docstring differs for {differ}; {REBUILD}"


@pytest.mark.parametrize("part", PART_IDS)
def test_assignments_stub_functions_raise_not_implemented(shipped, part):
    module = load_part_module(shipped, part)
    callables = []
    for name, value in _own_members(module):
        if inspect.isfunction(value):
            callables.append((name, value, ()))
        elif inspect.isclass(value):
            instance = object.__new__(value)
            callables += [(f"{name}.{m}", f, (instance,)) for m, f in vars(value).items() if inspect.isfunction(f)]
    assert callables
    wrong = []
    for name, function, bound in callables:
        required = [p for p in inspect.signature(function).parameters.values()
                    if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        try:
            function(*bound, *[None] * (len(required) - len(bound)))
        except NotImplementedError:
            continue
        except Exception as exc:  # noqa: BLE001 - any other outcome is the finding
            wrong.append(f"{name} raised {type(exc).__name__}: {exc}")
        else:
            wrong.append(f"{name} returned")
    assert not wrong, f"{part}.py stubs must raise NotImplementedError first: {wrong}"


@pytest.mark.slow
def test_assignments_public_tests_replay_golden_values(tmp_path, repo_course, shipped):
    handout = tmp_path / "handout"
    shutil.copytree(shipped, handout)
    base = [sys.executable, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider", "--course=course.toml"]

    def run(*extra):
        return subprocess.run([*base, *extra], cwd=handout, capture_output=True, text=True, check=False)

    solved = run(f"--student={repo_course.solutions}")
    assert solved.returncode == 0, "the reference fails the handout's public tests:\n" + solved.stdout[-3000:]
    stubs = run("-rf")
    assert stubs.returncode == 1, "the stubs must fail the public tests:\n" + stubs.stdout[-3000:]
    failing = set(re.findall(r"^FAILED tests/(\w+)/test_public.py::", stubs.stdout, flags=re.MULTILINE))
    suites = {path.parent.name for path in handout.glob("tests/*/test_public.py")}
    assert suites and failing == suites, f"parts whose public tests all pass on the stubs: {suites - failing}"
