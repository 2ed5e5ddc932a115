"""Turn a student's file into the text of a plain Python module.

* ``.py`` files: decoded the way Python would (a UTF-8 BOM or a PEP 263
  ``coding`` declaration is honoured); a file that is not valid UTF-8 and
  declares nothing is read as Windows-1252 (latin-1 for the few bytes
  cp1252 leaves undefined), the encoding editors on Windows save in. The
  result is always re-encoded as UTF-8 with the declaration neutralised.
* ``.ipynb`` notebooks: the code cells in order; IPython magics, shell lines
  and help queries are dropped (see :func:`notebook_to_module`). Version 4
  notebooks are read as JSON, older ones upgraded by ``nbformat``.
"""
from __future__ import annotations

import codecs
import json
import re

from autograder.errors import SubmissionError

# Cell magics whose body is Python that IPython runs: keep the body, drop the magic line.
_PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun"})
_COOKIE = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")
_ASSIGNED_MAGIC = re.compile(r"^\s*[\w.,\s\[\]()*]+=\s*[%!]")  # files = !ls, t = %timeit f()
_HELP_QUERY = re.compile(r"^\s*[?]*[\w.]+\?{1,2}\s*$")  # np.sum?  np.sum??


def decode_source(data: bytes, filename: str) -> tuple[str, str]:
    """Decode Python source bytes.

    Args:
        data: the file's bytes.
        filename: for messages.

    Returns:
        ``(text, note)``: the source text, ready to be written as UTF-8, and
        a note on how it was decoded (``""`` for plain UTF-8).

    Raises:
        SubmissionError: the file declares an unknown encoding or does not decode with the one it declares.
    """
    declared = _declared_encoding(data)
    note = ""
    if declared is None:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text, note = data.decode("cp1252"), "not UTF-8: read as Windows-1252"
            except UnicodeDecodeError:
                text, note = data.decode("latin-1"), "not UTF-8: read as Latin-1"
        return _neutralise_cookie(text.removeprefix("\ufeff")), note
    try:
        encoding = codecs.lookup(declared).name
    except LookupError:
        raise SubmissionError(f"{filename} declares the unknown encoding {declared!r}; save it as UTF-8") from None
    if data.startswith(codecs.BOM_UTF8) and encoding != "utf-8":
        raise SubmissionError(f"{filename} starts with a UTF-8 mark but declares {declared!r}; save it as UTF-8")
    try:
        text = data.removeprefix(codecs.BOM_UTF8).decode(encoding)
    except UnicodeDecodeError as exc:
        raise SubmissionError(f"{filename} declares the encoding {declared!r} but does not decode with it "
                              f"({exc}); save it as UTF-8") from None
    if encoding != "utf-8":
        note = f"decoded as {declared}, as it declares"
    return _neutralise_cookie(text.removeprefix("\ufeff")), note


def _declared_encoding(data: bytes) -> str | None:
    """The PEP 263 declaration in the first two lines, if any."""
    lines = data.removeprefix(b"\xef\xbb\xbf").splitlines()[:2]
    for number, line in enumerate(lines):
        match = _COOKIE.match(line)
        if match:
            return match.group(1).decode("ascii", "replace")
        if number == 0 and line.strip() and not line.lstrip().startswith(b"#"):
            return None  # a declaration only counts on line 2 when line 1 is a comment or blank
    return None


def _neutralise_cookie(text: str) -> str:
    """Rewrite a coding declaration in the first two lines so the UTF-8 copy is read as UTF-8."""
    lines = text.split("\n")
    for number in range(min(2, len(lines))):
        if _COOKIE.match(lines[number].encode("utf-8", "replace")):
            lines[number] = re.sub(r"coding[:=]", "encoding (re-encoded to UTF-8 by the grader) was", lines[number],
                                   count=1)
    return "\n".join(lines)


def notebook_to_module(data: bytes, filename: str) -> tuple[str, int]:
    """The code cells of a notebook as one Python module.

    Cells are joined in order, each under a ``# notebook cell n`` comment. Dropped, as
    IPython would not run them as Python: line magics (``%time f()``), shell
    lines (``!pip install x``, ``files = !ls``), help queries (``np.sum?``)
    and whole cells of non-Python cell magics (``%%bash``, ``%%writefile``);
    for ``%%time``, ``%%timeit``, ``%%capture`` and ``%%prun`` the body is
    kept. A dropped line inside a block becomes ``pass``, so the block stays valid.

    Returns:
        ``(source, n_code_cells)``.

    Raises:
        SubmissionError: the file is not a readable notebook.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SubmissionError(f"{filename} is not UTF-8 text, so it is not a notebook; "
                              "save it again from Jupyter") from None
    cells = _code_cells(text, filename)
    chunks = []
    count = 0
    for index, cell in enumerate(cells, start=1):
        if cell.get("cell_type") != "code":
            continue
        count += 1
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(line, str) for line in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise SubmissionError(f"{filename}: cell {index} has no text source; save the notebook again from Jupyter")
        body = _strip_magics(source)
        if body is not None:
            chunks.append(f"# notebook cell {index}\n{body.rstrip()}\n")
    return "\n\n".join(chunks) + ("\n" if not chunks else ""), count


def _code_cells(text: str, filename: str) -> list:
    """The notebook's cells, upgraded to nbformat 4.

    Version 4 (all Jupyter has written since 2015) is read with :mod:`json`:
    importing :mod:`nbformat` costs seconds where its schema validator pulls
    in optional format checkers. Older versions go through ``nbformat.reads``.

    Raises:
        SubmissionError: not JSON, or not a notebook.
    """
    def broken(reason: str) -> SubmissionError:
        return SubmissionError(f"{filename} is not a valid notebook ({reason[:200]}); open it in Jupyter, save it, "
                               "and submit it again")

    try:
        data = json.loads(text)
    except ValueError as exc:
        raise broken(f"not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("nbformat"), int):
        raise broken("no nbformat version")
    if data["nbformat"] == 4:
        cells = data.get("cells")
        if not isinstance(cells, list) or not all(isinstance(c, dict) for c in cells):
            raise broken("its cells are not a list of cells")
        return cells
    import nbformat  # older formats only: nbformat knows how to upgrade them

    try:
        return list(nbformat.reads(text, as_version=4).cells)
    except Exception as exc:  # noqa: BLE001 - nbformat raises many kinds for broken or unknown formats
        raise broken(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__) from None


def _strip_magics(source: str) -> str | None:
    """``source`` without IPython-only lines; ``None`` when the whole cell is a non-Python cell magic."""
    lines = source.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        name = lines[first].lstrip()[2:].split(maxsplit=1)[0] if lines[first].lstrip()[2:].strip() else ""
        if name not in _PYTHON_CELL_MAGICS:
            return None
        lines[first] = f"# dropped by the grader: {lines[first].strip()}"
    if not any(_maybe_ipython(line) for line in lines):
        return "\n".join(lines)  # nothing to drop: no need to scan for where statements start
    starts = _statement_starts(lines)
    out, continued = [], False
    for line, at_start in zip(lines, starts, strict=True):
        stripped = line.lstrip()
        ipython_only = continued or (at_start and _maybe_ipython(line))
        if ipython_only:
            indent = line[: len(line) - len(stripped)]
            out.append(f"{indent}pass  # dropped by the grader (IPython only)" if indent else
                       "# dropped by the grader (IPython only)")
            continued = line.rstrip().endswith("\\")
        else:
            out.append(line)
    return "\n".join(out)


def _maybe_ipython(line: str) -> bool:
    """Whether ``line`` would be IPython-only if it began a statement."""
    if "%" not in line and "!" not in line and "?" not in line:
        return False  # what every pattern below needs: most lines are decided here, without a regex
    return line.lstrip().startswith(("%", "!")) or bool(_ASSIGNED_MAGIC.match(line)) or bool(_HELP_QUERY.match(line))


def _statement_starts(lines: list[str]) -> list[bool]:
    """For each line, whether it begins a new statement (not inside brackets, a string or a continuation).

    A small scanner rather than :mod:`tokenize`, which stops at the first
    IPython-only line; it tracks quotes (triple quotes too), comments,
    bracket depth and trailing backslashes.
    """
    starts = []
    depth, quote, continued = 0, "", False
    for line in lines:
        starts.append(depth == 0 and not quote and not continued)
        i, n = 0, len(line)
        while i < n:
            ch = line[i]
            if quote:
                if ch == "\\":
                    i += 2
                    continue
                if line.startswith(quote, i):
                    i += len(quote)
                    quote = ""
                    continue
            elif ch == "#":
                break
            elif line.startswith(('"""', "'''"), i):
                quote = line[i:i + 3]
                i += 3
                continue
            elif ch in "\"'":
                quote = ch
            elif ch in "([{":
                depth += 1
            elif ch in ")]}":
                depth = max(0, depth - 1)
            i += 1
        if quote in ("\"", "'"):
            quote = "" if not line.rstrip().endswith("\\") else quote  # an unclosed short string ends the line
        continued = line.rstrip().endswith("\\") and not quote
    return starts
