"""Turn a solution module into the student's stub.

Each solution region (markers included) becomes ``# YOUR CODE HERE`` then
``raise NotImplementedError()`` at the BEGIN marker's indentation, exactly as
nbgrader's ``ClearSolutions`` does to a notebook cell; a hidden-test region is
dropped, as ``ClearHiddenTests`` does. Every other line is kept as it is, so
signatures and docstrings stay identical (and this is checked).
"""
from __future__ import annotations

import ast
import hashlib
from pathlib import Path

from autograder.release.errors import ReleaseError
from autograder.release.markers import SOLUTION, Region, scan_module

# nbgrader's ClearSolutions.code_stub["python"], one line at a time.
STUB_LINES = ("# YOUR CODE HERE", "raise NotImplementedError()")


def clear_regions(text: str, regions: list[Region]) -> str:
    """Replace each solution region by the stub and drop each hidden-test region.

    Args:
        text: the source the regions were scanned from.
        regions: from :func:`~autograder.release.markers.scan_regions`, in order.

    Returns:
        The cleared text, with the same line separator (``"\\n"``) and ending.
    """
    lines = text.split("\n")
    out: list[str] = []
    position = 0
    for region in regions:
        out.extend(lines[position:region.begin])
        if region.kind is SOLUTION:
            out.extend(region.indent + stub for stub in STUB_LINES)
        position = region.end + 1
    out.extend(lines[position:])
    return "\n".join(out)


def _interface(tree: ast.Module, hidden=lambda line: False) -> list[tuple[int, str, str, str | None]]:
    """``(line, name, signature dump, docstring)`` of every def and class not ``hidden``, in source order."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            parts = (node.args, *node.decorator_list, *([node.returns] if node.returns else []))
        elif isinstance(node, ast.ClassDef):
            parts = (*node.bases, *node.keywords, *node.decorator_list)
        else:
            continue
        if not hidden(node.lineno):
            signature = "|".join(ast.dump(part) for part in parts)
            found.append((node.lineno, node.name, signature, ast.get_docstring(node, clean=False)))
    return sorted(found)


def stub_source(text: str, regions: list[Region], path) -> str:
    """The stub of a solution module whose regions have been scanned.

    Raises:
        ReleaseError: at the solution's line when the stub would not be valid
            Python or would change a def's or class's signature or docstring.
    """
    stub = clear_regions(text, regions)
    try:
        stub_tree = ast.parse(stub)
    except SyntaxError as exc:
        raise ReleaseError(path, None, f"the stub is not valid Python ({exc.msg} at stub line {exc.lineno}): "
                                       "a solution region must hold whole statements") from None
    # defs inside a region (a nested helper) rightly vanish with it
    before = _interface(ast.parse(text), lambda line: any(r.begin < line - 1 < r.end for r in regions))
    after = _interface(stub_tree)
    for index in range(max(len(before), len(after))):
        if index >= len(before) or index >= len(after) or before[index][1:] != after[index][1:]:
            line, name = before[min(index, len(before) - 1)][:2] if before else (None, "?")
            raise ReleaseError(path, line, f"clearing the solution regions changes the interface near {name!r}: "
                                           "keep every signature and docstring outside the regions")
    return stub


def stub_digest(data: bytes) -> str:
    """The identity of a stub's text: sha256 of its bytes with Windows line ends made Unix ones.

    The grader compares a submitted ``<part>.py`` with it: an unchanged stub
    beside a notebook means the student worked in the notebook.
    """
    return hashlib.sha256(data.replace(b"\r\n", b"\n")).hexdigest()


def write_stub(solution: Path, target: Path) -> Path:
    """Write the stub of the solution module ``solution`` to ``target``; return ``target``.

    Raises:
        MarkerError, ReleaseError: naming ``solution`` and the line at fault.
    """
    text, regions = scan_module(solution)
    target = Path(target)
    target.write_text(stub_source(text, regions, solution), encoding="utf-8")
    return target
