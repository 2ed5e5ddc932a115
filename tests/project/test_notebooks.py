"""The notebooks: their sources, the notebooks built from them, and running them for real.

The slow tests run every source notebook (with the solutions) top to bottom
in a Jupyter kernel of this environment, check what it prints, and put the
notebooks through nbgrader's own generate_assignment and autograde.
"""
from __future__ import annotations

import ast
import dataclasses
import os
import re
import shutil
import sys
import textwrap
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder import PART_IDS
from autograder.config import load_course
from autograder.harness.inprocess import load_part_module
from autograder.release.errors import ReleaseError
from autograder.release.markers import scan_module
from autograder.release.nbsource import parse_notebook_source
from autograder.release.notebooks import (
    PRELUDE,
    build_source_notebook,
    module_chunks,
    notebook_text,
    student_notebook,
)
from autograder.release.stubs import stub_source
from autograder.submissions.sources import notebook_to_module

GRADE_ID = re.compile(r"^[a-zA-Z0-9_\-]*$")
ALLOWED_TOP_IMPORTS = {"numpy", "clipping"}


@pytest.fixture(scope="module")
def repo_course():
    return load_course()


@pytest.fixture(scope="module")
def source_notebooks(repo_course):
    return {part: build_source_notebook(repo_course, part) for part in PART_IDS}


def _nonblank(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.strip()]


# ---------------------------------------------------------------- the source format


def test_parse_reads_cells_kinds_names_points_and_lines():
    text = textwrap.dedent("""\
        <!-- A note for maintainers: dropped. -->

        <!-- markdown: intro -->
        # Title

        Some *text*.
        <!-- module: imports -->
        <!-- code: demo -->
        ```python
        if __name__ == "__main__":
            print(1)
        ```
        <!-- tests: check-1 points=2.5 -->

        ```python
        if __name__ == "__main__":
            assert True
        ```
        """)
    cells = parse_notebook_source(text, "x.md")
    assert [(c.kind, c.name, c.line, c.first_line, c.points) for c in cells] == [
        ("markdown", "intro", 3, 4, None), ("module", "imports", 7, 8, None),
        ("code", "demo", 8, 10, None), ("tests", "check-1", 13, 16, 2.5)]
    assert cells[0].source == "# Title\n\nSome *text*."
    assert cells[2].source == 'if __name__ == "__main__":\n    print(1)'


@pytest.mark.parametrize(("text", "line", "words"), [
    ("Intro.\n<!-- markdown: a -->\nx\n", 1, "text before the first cell directive"),
    ("<!-- markdown: a -->\nx\n<!-- markdwn: b -->\ny\n", 3, "not a cell directive"),
    ("<!-- markdown: a -->\nx\n<!-- note to self -->\n", 3, "not a cell directive"),
    ("<!-- markdown: a -->\nx\n<!-- markdown: a -->\ny\n", 3, "already used at line 1"),
    ("<!-- markdown: a.b -->\nx\n", 1, "bad cell name"),
    ("<!-- markdown: a -->\n\n\n<!-- markdown: b -->\nx\n", 1, "empty markdown cell"),
    ("<!-- code: c -->\n\nprint(1)\n", 3, "one fenced block"),
    ("<!-- code: c -->\n```python\n\n```\n", 2, "empty code cell"),
    ("<!-- code: c points=2 -->\n```python\npass\n```\n", 1, "unknown option(s) points"),
    ("<!-- tests: t -->\n```python\npass\n```\n", 1, "needs points=N"),
    ("<!-- tests: t points=0 -->\n```python\npass\n```\n", 1, "must be positive"),
    ("<!-- module: imports -->\nx = 1\n", 2, "leave its body empty"),
])
def test_parse_errors_name_file_and_line(text, line, words):
    with pytest.raises(ReleaseError, match=re.escape(f"nb/x.md:{line}: ")) as caught:
        parse_notebook_source(text, "nb/x.md")
    assert words in str(caught.value)


# ---------------------------------------------------------------- building from a source


MODULE = '''\
"""Toy part."""
import numpy as np

LIMIT = 3


# a comment that belongs to double
@staticmethod
def double(x):
    """Twice ``x``."""
    ### BEGIN SOLUTION
    return 2 * np.asarray(x)
    ### END SOLUTION


def helper():
    """Given to students."""
    return LIMIT
'''

GUARDED = '```python\nif __name__ == "__main__":\n    print(double(2))\n```'


def _toy_course(tmp_path, repo_course, source: str):
    (tmp_path / "debugging.py").write_text(MODULE, encoding="utf-8")
    (tmp_path / "debugging.md").write_text(source, encoding="utf-8")
    return dataclasses.replace(repo_course, solutions=tmp_path, notebooks=tmp_path)


def test_module_chunks_cover_the_module_in_order(tmp_path, repo_course):
    _toy_course(tmp_path, repo_course, "")
    chunks = module_chunks(tmp_path / "debugging.py")
    assert [(c.name, c.solved) for c in chunks] == [(PRELUDE, False), ("double", True), ("helper", False)]
    assert chunks[1].source.startswith("# a comment that belongs to double\n@staticmethod\ndef double(x):")
    assert chunks[1].source.endswith("    ### END SOLUTION")
    assert _nonblank("\n".join(c.source for c in chunks)) == _nonblank(MODULE)


@pytest.mark.parametrize("part", PART_IDS)
def test_module_chunks_of_each_solution_are_the_whole_module(repo_course, part):
    path = repo_course.solutions / f"{part}.py"
    chunks = module_chunks(path)
    top = [node.name for node in ast.parse(path.read_text(encoding="utf-8")).body
           if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    assert [c.name for c in chunks] == [PRELUDE, *top]
    assert _nonblank("\n".join(c.source for c in chunks)) == _nonblank(path.read_text(encoding="utf-8"))


def test_build_gives_nbgrader_cells(tmp_path, repo_course):
    course = _toy_course(tmp_path, repo_course, (
        "<!-- markdown: intro -->\nHello\n<!-- module: imports -->\n<!-- module: double -->\n"
        f"<!-- code: demo -->\n{GUARDED}\n<!-- module: helper -->\n"
        '<!-- tests: check points=2 -->\n```python\nif __name__ == "__main__":\n    assert helper() == 3\n'
        "    ### BEGIN HIDDEN TESTS\n    assert double(1) == 2\n    ### END HIDDEN TESTS\n```\n"))
    nb = build_source_notebook(course, "debugging")
    meta = {cell.id: (cell.cell_type, {k: v for k, v in cell.metadata["nbgrader"].items() if v is not False})
            for cell in nb.cells}
    assert meta == {
        "intro": ("markdown", {"grade_id": "intro", "locked": True, "schema_version": 3}),
        "imports": ("code", {"grade_id": "imports", "locked": True, "schema_version": 3}),
        "double": ("code", {"grade_id": "double", "solution": True, "schema_version": 3}),
        "demo": ("code", {"grade_id": "demo", "locked": True, "schema_version": 3}),
        "helper": ("code", {"grade_id": "helper", "locked": True, "schema_version": 3}),
        "check": ("code", {"grade_id": "check", "grade": True, "locked": True, "points": 2.0, "schema_version": 3}),
    }
    student = student_notebook(nb)
    sources = {cell.id: cell.source for cell in student.cells}
    assert sources["double"].endswith('    """Twice ``x``."""\n    # YOUR CODE HERE\n    raise NotImplementedError()')
    assert "BEGIN HIDDEN TESTS" not in sources["check"] and "double(1)" not in sources["check"]
    assert student.cells[0].metadata["editable"] is False
    assert len(student.cells[2].metadata["nbgrader"]["checksum"]) == 32


@pytest.mark.parametrize(("source", "line", "words"), [
    ("<!-- module: imports -->\n<!-- module: triple -->\n", 2, "has no top-level 'triple'"),
    ("<!-- module: imports -->\n<!-- module: helper -->\n<!-- module: double -->\n", 1, "in module order"),
    ("<!-- module: imports -->\n<!-- module: double -->\n", 1, "in module order"),
    ("<!-- module: imports -->\n<!-- module: double -->\n<!-- module: helper -->\n"
     "<!-- code: demo -->\n```python\nx = double(2)\n```\n", 6, "put all its statements under"),
    ("<!-- module: imports -->\n<!-- module: double -->\n<!-- module: helper -->\n"
     '<!-- code: demo -->\n```python\nif __name__ == "__main__":\n    pass\nelse:\n    pass\n```\n', 6,
     "put all its statements under"),
    ("<!-- module: imports -->\n<!-- module: double -->\n<!-- module: helper -->\n"
     '<!-- code: demo -->\n```python\nif __name__ == "__main__":\n    ### BEGIN SOLUTION\n    pass\n'
     "    ### END SOLUTION\n```\n", 7, "solution code belongs in solutions/"),
    ("<!-- module: imports -->\n<!-- module: double -->\n<!-- module: helper -->\n"
     '<!-- code: demo -->\n```python\nif __name__ == "__main__":\n    ### BEGIN HIDDEN TESTS\n    pass\n'
     "    ### END HIDDEN TESTS\n```\n", 7, "hidden tests belong in a tests cell"),
    ("<!-- module: imports -->\n<!-- module: double -->\n<!-- module: helper -->\n"
     '<!-- tests: t points=1 -->\n```python\nif __name__ == "__main__":\n    assert (\n```\n', 7, "not valid Python"),
    ("<!-- module: imports -->\n<!-- module: double -->\n<!-- module: helper -->\n"
     '<!-- tests: t points=1 -->\n```python\nif __name__ == "__main__":\n    ### BEGIN HIDDEN TESTS\n'
     "    assert double(1) == 2\n    ### END HIDDEN TESTS\n```\n", 7, "without its hidden tests"),
])
def test_build_errors_name_file_and_line(tmp_path, repo_course, source, line, words):
    course = _toy_course(tmp_path, repo_course, source)
    with pytest.raises(ReleaseError, match=re.escape(f"{tmp_path / 'debugging.md'}:{line}: ")) as caught:
        build_source_notebook(course, "debugging")
    assert words in str(caught.value)


# ---------------------------------------------------------------- the course's notebooks


@pytest.mark.parametrize("part", PART_IDS)
def test_notebooks_build_the_same_bytes_twice_with_valid_nbgrader_metadata(repo_course, source_notebooks, part):
    from nbgrader.nbgraderformat import MetadataValidator

    nb = source_notebooks[part]
    assert notebook_text(nb) == notebook_text(build_source_notebook(repo_course, part))
    student = student_notebook(nb)
    assert notebook_text(student) == notebook_text(student_notebook(build_source_notebook(repo_course, part)))
    for notebook in (nb, student):
        MetadataValidator().validate_nb(notebook)
        nbformat.validate(notebook)
        ids = [cell.metadata["nbgrader"]["grade_id"] for cell in notebook.cells]
        assert ids == [cell.id for cell in notebook.cells] and all(GRADE_ID.match(i) for i in ids)
    kinds = {cell.metadata["nbgrader"]["solution"] for cell in nb.cells}
    assert kinds == {True, False}
    assert sum(cell.metadata["nbgrader"]["grade"] for cell in nb.cells) >= 1
    assert not any(cell.get("outputs") for cell in student.cells)


@pytest.mark.parametrize("part", PART_IDS)
def test_student_notebook_code_is_the_stub(repo_course, source_notebooks, part):
    solution = repo_course.solutions / f"{part}.py"
    stub = stub_source(*scan_module(solution), solution)
    module_cells = {chunk.name for chunk in module_chunks(solution)}
    student = student_notebook(source_notebooks[part])
    code = "\n".join(cell.source for cell in student.cells if cell.id in module_cells)
    assert _nonblank(code) == _nonblank(stub)


def _top_level_imports(source: str) -> set[str]:
    found = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add((node.module or "").split(".")[0])
    return found


@pytest.mark.parametrize("part", PART_IDS)
def test_notebook_is_a_submission_that_imports_without_running_demos(tmp_path, monkeypatch, capfd, repo_course,
                                                                       source_notebooks, part):
    """The grader imports a notebook's code cells as the module, without matplotlib or the datasets."""
    for name in ("matplotlib", "matplotlib.pyplot", "autograder.data", "autograder.data.sample", "autograder.kit"):
        monkeypatch.setitem(sys.modules, name, None)  # `import name` now fails, as in a bare sandbox
    for form, nb in (("source", source_notebooks[part]), ("student", student_notebook(source_notebooks[part]))):
        folder = tmp_path / form
        folder.mkdir()
        module_text, _ = notebook_to_module(notebook_text(nb).encode("utf-8"), f"{part}.ipynb")
        assert _top_level_imports(module_text) <= ALLOWED_TOP_IMPORTS
        (folder / f"{part}.py").write_text(module_text, encoding="utf-8")
        if part == "training":
            shutil.copy(repo_course.solutions / "clipping.py", folder)
        module = load_part_module(folder, part)
        assert capfd.readouterr().out == "", f"importing the {form} notebook of {part} printed something"
        reference = load_part_module(repo_course.solutions, part)
        public = {name for name in vars(reference) if not name.startswith("_")}
        assert public <= set(vars(module)), f"{form} notebook of {part} lacks {public - set(vars(module))}"
    source_module = load_part_module(tmp_path / "source", part)
    probe = {"initializers": lambda m: m.he_init(3, 2, np.random.default_rng(0)),
             "clipping": lambda m: m.global_norm({"a": np.array([3.0, 4.0])}),
             "backprop": lambda m: m.relative_error(np.array([1.0]), np.array([3.0])),
             "debugging": lambda m: m.debug_training([1.0, 2.0]),
             "training": lambda m: m.one_hot([1, 0], 3)}[part]
    assert np.array_equal(probe(source_module), probe(load_part_module(repo_course.solutions, part)))
    with pytest.raises(NotImplementedError):
        probe(load_part_module(tmp_path / "student", part))


# ---------------------------------------------------------------- running the notebooks


def _stdout(cell) -> str:
    return "".join(out.get("text", "") for out in cell.get("outputs", [])
                   if out.output_type == "stream" and out.name == "stdout")


def _table(text: str, header_lines: int = 2) -> dict[str, list[str]]:
    """Rows ``label | a | b`` of a printed table, keyed by label (the header and its ruler skipped)."""
    rows = {}
    for line in text.split("\n")[header_lines:]:
        if "|" in line:
            label, *values = (part.strip() for part in line.split("|"))
            rows[label] = values
    return rows


def _check_initializers(cells, solutions: Path):
    seed = int(re.search(r"SEED = (\d+)", cells["activation_table"].source)[1])
    reference = load_part_module(solutions, "initializers")
    table = _table(_stdout(cells["activation_table"]))
    setups = {"scale 0.01": 0.01, "scale 0.1": 0.1, "scale 1.0": 1.0, "scale 2.0": 2.0,
              "Xavier": reference.xavier_init, "He": reference.he_init, "LeCun": reference.lecun_init}
    assert list(table) == list(setups)
    for label, init in setups.items():
        final = reference.simulate_forward(10, init, n_neurons=256, rng=np.random.default_rng(seed))[-1]
        assert [float(v) for v in table[label]] == pytest.approx([final["mean"], final["std"]], rel=1e-3), label
    std = {label: float(values[1]) for label, values in table.items()}
    # the errata and the markdown cell "reading_the_table" quote these orders of magnitude
    assert 1e9 < std["scale 1.0"] < 1e11 and 1e12 < std["scale 2.0"] < 1e14
    assert 1e-11 < std["scale 0.01"] < 1e-9 and 2 < std["scale 0.1"] < 4
    assert std["Xavier"] == std["LeCun"] and 0.01 < std["Xavier"] < 0.05 and 0.3 < std["He"] < 3
    assert "image/png" in cells["std_plot"].outputs[0].get("data", {})


def _check_clipping(cells, solutions: Path):
    sigmoid = _table(_stdout(cells["sigmoid_table"]))
    assert len(sigmoid) == 11 and sigmoid["0.0"] == ["0.5000", "0.2500"] and sigmoid["-5.0"] == ["0.0067", "0.0066"]
    assert "layer 10: gradient magnitude 9.53674e-07" in _stdout(cells["vanishing_demo"])
    seed = int(re.search(r"SEED = (\d+)", cells["clip_demo"].source)[1])
    rng = np.random.default_rng(seed)
    norm = np.sqrt(sum(np.sum((rng.standard_normal(shape) * 10) ** 2) for shape in [(100, 100), (100, 50), (50, 10)]))
    demo = _stdout(cells["clip_demo"])
    assert f"global norm before clipping: {norm:.2f} (returned: {norm:.2f})" in demo
    assert "global norm after clipping:  5.00" in demo
    compare = _table(_stdout(cells["compare_strategies"]))
    assert compare["by global norm (5.0)"][0] == "5.00" and compare["by global norm (5.0)"][2] == "1.000"
    assert compare["by norm (5.0 each)"][1] == "5.00 / 5.00 / 5.00"
    assert float(compare["by value (1.0)"][2]) < 0.95


def _check_backprop(cells, solutions: Path):
    errors = _table(_stdout(cells["gradcheck_demo"]))
    assert list(errors) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert all(float(value) < 1e-4 for value, _ in errors.values()), errors
    buggy = _table(_stdout(cells["bug_demo"]), header_lines=0)
    m = int(re.search(r"standard_normal\(\((\d+), 8\)\)", cells["gradcheck_demo"].source)[1])
    assert all(float(value) == pytest.approx((m - 1) / (m + 1), rel=1e-3) and verdict == "wrong"
               for value, verdict in buggy.values()), buggy


def _check_debugging(cells, solutions: Path):
    reference = load_part_module(solutions, "debugging")
    lecture = _stdout(cells["lecture_example"])
    assert "val[-1] > val[0]: False" in lecture and f" - {reference.OVERFITTING}" in lecture
    gallery = dict(line.strip().split(": ", 1) for line in _stdout(cells["curve_gallery"]).strip().split("\n"))
    assert gallery == {"diverging (lr too high)": reference.NAN_LOSS, "stuck on a plateau": reference.PLATEAU,
                       "not learning": reference.NOT_DECREASING, "healthy": reference.HEALTHY,
                       "overfitting": reference.OVERFITTING}


def _check_training(cells, solutions: Path):
    assert "training set: (4000, 784), validation set: (1000, 784)" in _stdout(cells["load_data"])
    epochs = re.findall(r"epoch +(\d+): loss ([\d.]+), accuracy ([\d.]+) \| val loss ([\d.]+), val accuracy ([\d.]+)",
                        _stdout(cells["train_run"]))
    assert [int(e[0]) for e in epochs] == list(range(1, 11)), _stdout(cells["train_run"])
    assert "stand-in" not in _stdout(cells["train_run"])
    assert float(epochs[-1][4]) > 0.85 and float(epochs[-1][2]) > 0.9 and float(epochs[-1][1]) < float(epochs[0][1])
    assert "image/png" in cells["curves"].outputs[0].get("data", {})


CHECKS = {"initializers": _check_initializers, "clipping": _check_clipping, "backprop": _check_backprop,
          "debugging": _check_debugging, "training": _check_training}


@pytest.mark.slow
@pytest.mark.parametrize("part", PART_IDS)
def test_source_notebook_runs_in_a_kernel_and_prints_the_real_numbers(tmp_path, repo_course, source_notebooks, part):
    from nbclient import NotebookClient

    for module in repo_course.solutions.glob("*.py"):
        shutil.copy(module, tmp_path)
    nb = nbformat.from_dict(source_notebooks[part])
    nb.cells.insert(0, nbformat.v4.new_code_cell("import sys\nprint(sys.prefix)", id="which-python"))
    NotebookClient(nb, kernel_name="python3", timeout=600, allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    cells = {cell.id: cell for cell in nb.cells}
    assert _stdout(cells.pop("which-python")).strip() == sys.prefix, "the kernel must run in this environment"
    errors = [f"{cell.id}: {out.ename}: {out.evalue}" for cell in cells.values() for out in cell.get("outputs", [])
              if out.output_type == "error"]
    assert not errors, errors
    for cell in cells.values():
        if cell.metadata["nbgrader"]["grade"]:
            assert _stdout(cell).strip().endswith("checks passed"), cell.id
    CHECKS[part](cells, tmp_path)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Object of type .* not in session")  # nbgrader's own SQLAlchemy usage
def test_nbgrader_generates_and_autogrades_the_notebooks(tmp_path, monkeypatch, repo_course, source_notebooks):
    from nbgrader.api import Gradebook
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    assignment = repo_course.assignment
    root = tmp_path / "course"
    source = root / "source" / assignment
    source.mkdir(parents=True)
    for part, nb in source_notebooks.items():
        (source / f"{part}.ipynb").write_text(notebook_text(nb), encoding="utf-8")
    monkeypatch.chdir(root)
    # nbgrader runs the `alembic` command of its environment: find it even when the venv is not activated
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    config = Config()
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.course_id = repo_course.id
    config.Execute.timeout = 600
    api = NbGraderAPI(config=config)
    result = api.generate_assignment(assignment)
    assert result["success"], result["error"] + result["log"]

    release = root / "release" / assignment
    for part, nb in source_notebooks.items():
        released = nbformat.read(release / f"{part}.ipynb", as_version=4)
        ours = student_notebook(nb)
        assert [(c.id, c.source, c.metadata["nbgrader"]) for c in released.cells] == \
               [(c.id, c.source, c.metadata["nbgrader"]) for c in ours.cells], f"{part}: nbgrader's release differs"
        solution = repo_course.solutions / f"{part}.py"
        text, regions = scan_module(solution)
        solved = {line.strip() for r in regions for line in r.inner(text.split("\n")) if len(line.strip()) > 12}
        shown = {line.strip() for cell in released.cells for line in cell.source.split("\n")}
        assert not solved & shown, f"{part}: solution code in nbgrader's release"

    def solution(part):
        return (repo_course.solutions / f"{part}.py").read_text(encoding="utf-8")

    def stub(part):
        return stub_source(*scan_module(repo_course.solutions / f"{part}.py"), part)

    # the notebooks import their siblings (training: clipping, backprop), so each student has .py files too
    for student, notebooks, module_text in (("reference", source, solution), ("stubs", release, stub)):
        folder = root / "submitted" / student / assignment
        folder.mkdir(parents=True)
        for part in PART_IDS:
            shutil.copy(notebooks / f"{part}.ipynb", folder)
            (folder / f"{part}.py").write_text(module_text(part), encoding="utf-8")
        result = api.autograde(assignment, student)
        assert result["success"], result["error"] + result["log"]
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        reference = gradebook.find_submission(assignment, "reference")
        stubs = gradebook.find_submission(assignment, "stubs")
        expected = sum(cell.metadata["nbgrader"].get("points", 0) for nb in source_notebooks.values()
                       for cell in nb.cells)
        assert reference.max_score == expected > 0
        assert reference.score == expected, "the solutions must pass every nbgrader test cell"
        assert stubs.score == 0, "the released stubs must fail every nbgrader test cell"
