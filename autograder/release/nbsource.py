"""Read a notebook source: the readable Markdown file a notebook is built from.

A source is a sequence of cells, each opened by a directive alone on its line::

    <!-- markdown: intro -->          Markdown text, up to the next directive
    <!-- module: xavier_init -->      a chunk of solutions/<part>.py (no body)
    <!-- code: scale_table -->        one fenced ```python block: a demo
    <!-- tests: check_he points=1 --> one fenced ```python block: an nbgrader test

The name after the colon is the cell's id and nbgrader ``grade_id``
(letters, digits, ``_`` and ``-``). Before the first directive only blank
lines and single-line HTML comments (notes for maintainers) may appear.
Every error names the file and line. ``notebooks`` turns the cells into a
notebook; this module only reads.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from autograder.release.errors import ReleaseError

KINDS = ("markdown", "module", "code", "tests")
_DIRECTIVE = re.compile(r"^<!--\s*(?P<kind>[a-z]+):\s*(?P<name>\S+?)(?P<options>(?:\s+\S+)*)\s*-->\s*$")
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # nbgrader grade_id and nbformat cell id, both
_FENCE_OPEN = "```python"
_FENCE_CLOSE = "```"


@dataclass(frozen=True)
class CellSpec:
    """One cell of a notebook source.

    Attributes:
        kind: one of :data:`KINDS`.
        name: cell id and nbgrader ``grade_id``.
        source: the Markdown text or the code inside the fence (``""`` for ``module``).
        line: the directive's line in the file.
        first_line: the file line of ``source``'s first line.
        points: nbgrader points of a ``tests`` cell, else ``None``.
    """

    kind: str
    name: str
    source: str
    line: int
    first_line: int
    points: float | None = None


def _trim(lines: list[str], start: int) -> tuple[list[str], int]:
    """Drop blank lines at both ends; return the rest and the file line of its first line."""
    while lines and not lines[0].strip():
        lines, start = lines[1:], start + 1
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines, start


def _points(options: str, kind: str, path, line: int) -> float | None:
    values = dict(option.partition("=")[::2] for option in options.split())
    unknown = set(values) - ({"points"} if kind == "tests" else set())
    if unknown:
        raise ReleaseError(path, line, f"unknown option(s) {', '.join(sorted(unknown))} for a {kind} cell")
    if kind != "tests":
        return None
    try:
        points = float(values["points"])
    except (KeyError, ValueError):
        raise ReleaseError(path, line, "a tests cell needs points=N (a positive number)") from None
    if not points > 0:
        raise ReleaseError(path, line, f"points must be positive, got {values['points']}")
    return points


def _body(kind: str, lines: list[str], start: int, path, line: int) -> tuple[str, int]:
    """The cell's source and its first file line, checked for its kind."""
    lines, start = _trim(lines, start)
    if kind == "module":
        if lines:
            raise ReleaseError(path, start, "a module cell takes its code from solutions/: leave its body empty")
        return "", start
    if kind == "markdown":
        if not lines:
            raise ReleaseError(path, line, "empty markdown cell")
        return "\n".join(lines), start
    if len(lines) < 2 or lines[0].strip() != _FENCE_OPEN or lines[-1].strip() != _FENCE_CLOSE:
        raise ReleaseError(path, start, f"a {kind} cell is one fenced block: a line `{_FENCE_OPEN}`, the code, "
                                        f"a line `{_FENCE_CLOSE}`, and nothing else")
    code = lines[1:-1]
    if not any(text.strip() for text in code):
        raise ReleaseError(path, start, f"empty {kind} cell")
    return "\n".join(code), start + 1


def parse_notebook_source(text: str, path) -> list[CellSpec]:
    """Split a notebook source into its cells.

    Raises:
        ReleaseError: at the line of an unknown or malformed directive, a bad
            or repeated name, a malformed body, or text before the first directive.
    """
    lines = text.split("\n")
    opened: list[tuple[int, str, str, str]] = []  # (index, kind, name, options)
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped.startswith("<!--"):
            continue
        match = _DIRECTIVE.match(stripped)
        if match is None or match["kind"] not in KINDS:
            if opened or not (stripped.endswith("-->") and match is None):
                raise ReleaseError(path, index + 1, f"not a cell directive: {stripped!r} (expected "
                                                    f"`<!-- KIND: NAME -->` with KIND one of {', '.join(KINDS)})")
            continue  # a maintainer's note before the first cell
        if not _NAME.match(match["name"]):
            raise ReleaseError(path, index + 1, f"bad cell name {match['name']!r}: use 1-64 letters, digits, _ or -")
        opened.append((index, match["kind"], match["name"], match["options"]))
    if not opened:
        raise ReleaseError(path, None, "no cells: a notebook source needs `<!-- KIND: NAME -->` directives")
    preamble = [line for line in lines[:opened[0][0]] if line.strip() and not line.strip().startswith("<!--")]
    if preamble:
        first = next(i for i, line in enumerate(lines) if line.strip() and not line.strip().startswith("<!--"))
        raise ReleaseError(path, first + 1, "text before the first cell directive")
    cells: list[CellSpec] = []
    seen: dict[str, int] = {}
    for number, (index, kind, name, options) in enumerate(opened):
        if name in seen:
            raise ReleaseError(path, index + 1, f"cell name {name!r} is already used at line {seen[name]}")
        seen[name] = index + 1
        stop = opened[number + 1][0] if number + 1 < len(opened) else len(lines)
        points = _points(options, kind, path, index + 1)
        source, first_line = _body(kind, lines[index + 1:stop], index + 2, path, index + 1)
        cells.append(CellSpec(kind, name, source, index + 1, first_line, points))
    return cells


def read_notebook_source(path: Path) -> list[CellSpec]:
    """Read and parse the notebook source at ``path`` (see :func:`parse_notebook_source`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReleaseError(path, None, "notebook source not found") from None
    return parse_notebook_source(text, path)
