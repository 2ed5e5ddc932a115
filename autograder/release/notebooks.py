"""Build a part's notebook from its source in ``notebooks/`` and its solution module.

The instructor (source) notebook takes its prose and demos from
``notebooks/<part>.md`` and its code from ``solutions/<part>.py``: one cell
for the module's prelude (docstring, imports, constants) and one per
top-level def or class, in module order, so ``solutions/`` stays the only
copy of the solved code. Cells carry nbgrader metadata (schema 3): solution
cells, locked prose/demo cells and graded test cells. The student notebook is
the source run through nbgrader's own preprocessors, as ``nbgrader
generate_assignment`` would (without its database).

A notebook is also a submission: its code cells, in order, are the module.
So every demo and test cell must do its work under ``if __name__ ==
"__main__":`` (true in Jupyter, false when the grader imports the notebook);
this is checked here.
"""
from __future__ import annotations

import ast
import copy
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder.release.errors import ReleaseError
from autograder.release.markers import HIDDEN_TESTS, SOLUTION, scan_module, scan_regions
from autograder.release.nbsource import CellSpec, read_notebook_source
from autograder.release.stubs import clear_regions

NBGRADER_SCHEMA = 3
PRELUDE = "imports"  # the name of the module's first cell: everything before its first def or class
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


@dataclass(frozen=True)
class ModuleChunk:
    """A piece of a solution module that becomes one code cell.

    Attributes:
        name: :data:`PRELUDE`, or the def's or class's name.
        source: its lines, blank lines at both ends dropped.
        solved: whether it holds a solution region (a solution cell) or not (a locked cell).
    """

    name: str
    source: str
    solved: bool


def module_chunks(path: Path) -> list[ModuleChunk]:
    """Cut a solution module into its prelude and one chunk per top-level def or class.

    A chunk starts at its def (with its decorators and the unindented
    comment lines right above it) and ends where the next one starts, so
    indented comments after a body (such as ``### END SOLUTION``) stay with
    it; the chunks, joined, are the whole module.

    Raises:
        MarkerError, ReleaseError: from scanning ``path``.
    """
    text, regions = scan_module(path)
    lines = text.split("\n")
    defs = [node for node in ast.parse(text).body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    if not defs:
        raise ReleaseError(path, None, "a solution module needs at least one top-level def or class")
    starts = []
    for node in defs:
        start = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1  # 0-based
        while start > 0 and lines[start - 1].startswith("#"):
            start -= 1
        starts.append(start)
    names = [PRELUDE, *(node.name for node in defs)]
    bounds = list(zip([0, *starts], [*starts, len(lines)], strict=True))
    chunks = []
    for name, (start, stop) in zip(names, bounds, strict=True):
        body = "\n".join(lines[start:stop]).strip("\n")
        solved = any(region.kind is SOLUTION and start <= region.begin < stop for region in regions)
        if body.strip():
            chunks.append(ModuleChunk(name, body, solved))
    return chunks


def _nbgrader(name: str, *, solution=False, grade=False, locked=False, points=None) -> dict:
    meta = {"grade": grade, "grade_id": name, "locked": locked, "schema_version": NBGRADER_SCHEMA,
            "solution": solution, "task": False}
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


def _check_guarded(spec: CellSpec, path: Path) -> None:
    """A demo or test cell must be one ``if __name__ == "__main__":`` block, with markers only where allowed."""
    regions = scan_regions(spec.source, path, spec.first_line)
    for region in regions:
        if region.kind is SOLUTION:
            raise ReleaseError(path, region.line, "solution code belongs in solutions/, not in a notebook source")
        if region.kind is HIDDEN_TESTS and spec.kind != "tests":
            raise ReleaseError(path, region.line, "hidden tests belong in a tests cell")
    try:
        tree = ast.parse(spec.source)
    except SyntaxError as exc:
        raise ReleaseError(path, spec.first_line - 1 + (exc.lineno or 1), f"not valid Python: {exc.msg}") from None
    try:
        ast.parse(clear_regions(spec.source, regions))
    except SyntaxError:
        raise ReleaseError(path, regions[0].line, "without its hidden tests this cell is not valid Python: "
                                                  "keep a public statement beside them in each block") from None
    guard = ast.parse('__name__ == "__main__"').body[0].value
    for node in tree.body:
        if not (isinstance(node, ast.If) and ast.dump(node.test) == ast.dump(guard) and not node.orelse):
            raise ReleaseError(path, spec.first_line - 1 + node.lineno,
                               f"the {spec.kind} cell {spec.name!r} would run when the grader imports the notebook "
                               'as a module: put all its statements under `if __name__ == "__main__":`')


def _cells(specs: list[CellSpec], chunks: list[ModuleChunk], source_path: Path, module_path: Path) -> list:
    """nbformat cells for the specs, with the module's chunks placed at their ``module`` directives."""
    by_name = {chunk.name: chunk for chunk in chunks}
    placed = [spec for spec in specs if spec.kind == "module"]
    for spec in placed:
        if spec.name not in by_name:
            raise ReleaseError(source_path, spec.line, f"{module_path.name} has no top-level {spec.name!r}; "
                                                       f"its chunks are {', '.join(by_name)}")
    order = [spec.name for spec in placed]
    if order != list(by_name):
        raise ReleaseError(source_path, placed[0].line if placed else None,
                           f"module cells must name every chunk of {module_path.name} once, in module order: "
                           f"{', '.join(by_name)} (found {', '.join(order) or 'none'})")
    cells = []
    for spec in specs:
        if spec.kind == "markdown":
            cells.append(nbformat.v4.new_markdown_cell(spec.source, id=spec.name,
                                                       metadata=_nbgrader(spec.name, locked=True)))
            continue
        if spec.kind == "module":
            chunk = by_name[spec.name]
            meta = _nbgrader(spec.name, solution=True) if chunk.solved else _nbgrader(spec.name, locked=True)
            cells.append(nbformat.v4.new_code_cell(chunk.source, id=spec.name, metadata=meta))
            continue
        _check_guarded(spec, source_path)
        meta = (_nbgrader(spec.name, grade=True, locked=True, points=spec.points) if spec.kind == "tests"
                else _nbgrader(spec.name, locked=True))
        cells.append(nbformat.v4.new_code_cell(spec.source, id=spec.name, metadata=meta))
    return cells


def build_source_notebook(course, part: str) -> nbformat.NotebookNode:
    """The instructor's notebook of ``part``, with solutions and without outputs.

    Reads ``course.notebooks / f"{part}.md"`` and ``course.solutions / f"{part}.py"``.

    Raises:
        ReleaseError: naming the file and line at fault in either.
    """
    source_path = Path(course.notebooks) / f"{part}.md"
    module_path = Path(course.solutions) / f"{part}.py"
    specs = read_notebook_source(source_path)
    chunks = module_chunks(module_path)
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}})
    nb.cells = _cells(specs, chunks, source_path, module_path)
    nbformat.validate(nb)
    return nb


def _student_pipeline() -> list:
    """nbgrader's generate_assignment preprocessors, in its order, minus header, autotests and database."""
    try:
        from nbgrader.preprocessors import (
            CheckCellMetadata,
            ClearHiddenTests,
            ClearMarkScheme,
            ClearOutput,
            ClearSolutions,
            ComputeChecksums,
            LockCells,
        )
    except ImportError as exc:
        raise ImportError("building student notebooks needs nbgrader: pip install 'autograder[nbgrader]'") from exc
    return [LockCells(), ClearSolutions(), ClearOutput(), CheckCellMetadata(), ComputeChecksums(),
            ClearHiddenTests(), ClearMarkScheme(), ComputeChecksums(), CheckCellMetadata()]


def student_notebook(source: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student version of a source notebook: solutions and hidden tests cleared, cells locked, checksummed."""
    nb = copy.deepcopy(source)
    resources: dict = {}
    for preprocessor in _student_pipeline():
        nb, resources = preprocessor.preprocess(nb, resources)
    nbformat.validate(nb)
    return nb


def notebook_text(nb: nbformat.NotebookNode) -> str:
    """The notebook as deterministic JSON text (sorted keys, fixed ids, final newline)."""
    nbformat.validate(nb)
    return nbformat.writes(nb, version=4).rstrip("\n") + "\n"
