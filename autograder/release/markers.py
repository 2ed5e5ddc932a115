"""The one scanner for solution and hidden-test regions.

A region is the lines between a ``### BEGIN SOLUTION`` and the next
``### END SOLUTION`` (or ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS``).
Each marker stands alone on its line. Any line that nbgrader would take for a
marker (it only looks for ``BEGIN SOLUTION`` etc. anywhere in a line) must be
exactly a marker here, so this scanner and nbgrader's preprocessors always
agree on where the regions are.

Every error is a :class:`MarkerError` naming the file and line.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from autograder.release.errors import ReleaseError


class MarkerError(ReleaseError):
    """Markers that are unbalanced, nested, malformed or in a place where they cannot be cleared."""


@dataclass(frozen=True)
class RegionKind:
    """One pair of markers: ``label`` for messages, ``keyword`` is what nbgrader searches for."""

    label: str
    begin_keyword: str
    end_keyword: str

    @property
    def begin(self) -> str:
        return f"### {self.begin_keyword}"

    @property
    def end(self) -> str:
        return f"### {self.end_keyword}"


SOLUTION = RegionKind("solution", "BEGIN SOLUTION", "END SOLUTION")
HIDDEN_TESTS = RegionKind("hidden tests", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
KINDS = (SOLUTION, HIDDEN_TESTS)


@dataclass(frozen=True)
class Region:
    """A region of a scanned text.

    Attributes:
        kind: :data:`SOLUTION` or :data:`HIDDEN_TESTS`.
        begin: 0-based index of the BEGIN marker among the text's lines.
        end: 0-based index of its END marker.
        indent: the BEGIN marker's leading whitespace (the stub goes there).
        line: the BEGIN marker's 1-based line number in its file (for messages).
    """

    kind: RegionKind
    begin: int
    end: int
    indent: str
    line: int

    def inner(self, lines: list[str]) -> list[str]:
        """The lines strictly between the two markers."""
        return lines[self.begin + 1:self.end]


def _marker_on(line: str) -> tuple[RegionKind, bool] | None:
    """``(kind, is_begin)`` when nbgrader would read ``line`` as a marker, else ``None``."""
    for kind in KINDS:
        if kind.begin_keyword in line:
            return kind, True
        if kind.end_keyword in line:
            return kind, False
    return None


def scan_regions(text: str, path, first_line: int = 1) -> list[Region]:
    """Find every region of ``text``, in order.

    Args:
        text: the source (lines split on ``"\\n"``, as nbgrader does).
        path: the file it comes from (for messages only).
        first_line: the file line number of ``text``'s first line (a cell inside a bigger file).

    Returns:
        The regions, in the order they appear.

    Raises:
        MarkerError: at the offending line, for a marker that does not stand
            alone, a BEGIN inside an open region (nesting), an END without its
            BEGIN or of the other kind, an END indented unlike its BEGIN, a
            BEGIN never closed, or an empty region.
    """
    regions: list[Region] = []
    open_kind: RegionKind | None = None
    open_at = 0
    open_indent = ""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        found = _marker_on(line)
        if found is None:
            continue
        kind, is_begin = found
        exact = kind.begin if is_begin else kind.end
        here = first_line + index
        if line.strip() != exact:
            raise MarkerError(path, here, f"a marker must stand alone on its line, exactly `{exact}`; "
                                          f"found {line.strip()!r}")
        indent = line[:len(line) - len(line.lstrip())]
        if is_begin:
            if open_kind is not None:
                raise MarkerError(path, here, f"nested region: `{exact}` inside the {open_kind.label} region "
                                              f"opened at line {first_line + open_at}; close that one first")
            open_kind, open_at, open_indent = kind, index, indent
            continue
        if open_kind is None:
            raise MarkerError(path, here, f"`{exact}` without an open `{kind.begin}`")
        if open_kind is not kind:
            raise MarkerError(path, here, f"`{exact}` cannot close the {open_kind.label} region opened at line "
                                          f"{first_line + open_at}; expected `{open_kind.end}`")
        if indent != open_indent:
            raise MarkerError(path, here, f"`{exact}` is indented differently from its `{kind.begin}` "
                                          f"at line {first_line + open_at}")
        region = Region(kind, open_at, index, open_indent, first_line + open_at)
        if not any(inner.strip() for inner in region.inner(lines)):
            raise MarkerError(path, region.line, f"empty {kind.label} region")
        regions.append(region)
        open_kind = None
    if open_kind is not None:
        raise MarkerError(path, first_line + open_at, f"`{open_kind.begin}` is never closed "
                                                      f"(no `{open_kind.end}` after it)")
    return regions


def _code_lines(region: Region, lines: list[str]) -> list[int]:
    """1-based numbers (within the text) of the region's lines holding code, not just comments."""
    return [region.begin + 2 + i for i, line in enumerate(region.inner(lines))
            if line.strip() and not line.strip().startswith("#")]


def _body_start(func: ast.FunctionDef | ast.AsyncFunctionDef) -> int | None:
    """Line of the first statement after the docstring, or ``None`` for a docstring-only body."""
    body = func.body
    if ast.get_docstring(func, clean=False) is not None:
        body = body[1:]
    return body[0].lineno if body else None


def _holds(func: ast.FunctionDef | ast.AsyncFunctionDef, region: Region, code: list[int]) -> bool:
    """Whether the region's code lines (1-based) are statements of ``func``'s body after its docstring."""
    start = _body_start(func)
    return (start is not None and func.lineno <= region.begin and start <= code[0] and code[-1] <= func.end_lineno
            and len(region.indent) >= func.body[0].col_offset)


def require_in_functions(text: str, regions: list[Region], path, first_line: int = 1) -> None:
    """Check that every solution region holds statements of a function body, after its docstring.

    Only then can the region be replaced by the stub without touching a
    signature, a docstring or module-level code.

    Raises:
        MarkerError: at the region's BEGIN line when it is not inside a function
            body (module level, class body, signature or docstring) or holds no code.
        ReleaseError: at the error's line when ``text`` is not valid Python.
    """
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise ReleaseError(path, first_line - 1 + (exc.lineno or 1), f"not valid Python: {exc.msg}") from None
    functions = [node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    lines = text.split("\n")
    for region in regions:
        if region.kind is not SOLUTION:
            continue
        code = _code_lines(region, lines)
        if not code:
            raise MarkerError(path, region.line, "this solution region holds only comments: put the solution's "
                                                 "code in it, or remove the markers")
        if not any(_holds(func, region, code) for func in functions):
            raise MarkerError(path, region.line, "this solution region is not inside a function body: a region "
                                                 "may only hold statements of a def, after its docstring")


def scan_module(path: Path) -> tuple[str, list[Region]]:
    """Read a solution module and scan it: regions balanced, solution regions inside function bodies.

    Returns:
        ``(text, regions)``.

    Raises:
        MarkerError, ReleaseError: naming ``path`` and the line.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    regions = scan_regions(text, path)
    require_in_functions(text, regions, path)
    return text, regions
