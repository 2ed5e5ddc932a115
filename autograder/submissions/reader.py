"""Read one student's submission into a staging folder of plain ``<part>.py`` files.

What counts as a submission (``spec/student-api.md``, ``spec/grading.md``):

* a folder with any of ``<part>.py`` / ``<part>.ipynb`` at its top, or in
  its only subfolder (zips often wrap one), or in nbgrader's
  ``<assignment>/`` subfolder;
* a ``.zip`` of such a folder (see :mod:`autograder.submissions.zips`);
* one notebook: ``<part>.ipynb`` stands for that part; any other
  ``<name>.ipynb`` is the student's *one* notebook, and its code cells are
  the module of every part (all functions in one namespace).

When both ``<part>.py`` and ``<part>.ipynb`` are there, the ``.py`` is graded
unless it is byte for byte the released stub (the student worked in the
notebook). Symbolic links are never followed; only regular files are read.
Every decision is recorded per part in :class:`PartSource`.
"""
from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from autograder import PART_IDS
from autograder.errors import SubmissionError
from autograder.submissions import zips
from autograder.submissions.names import assign_ids
from autograder.submissions.sources import decode_source, notebook_to_module

MAX_PY_BYTES = 4 * 2**20
MAX_NOTEBOOK_BYTES = 16 * 2**20
_SUFFIXES = (".py", ".ipynb")


@dataclass(frozen=True)
class Entry:
    """One student's entry in a submissions folder.

    Attributes:
        student: the sanitised, unique student id (a safe file name).
        name: the entry's raw name, for messages only (never used as a path by itself).
        path: where it is.
        kind: ``folder``, ``zip``, ``notebook`` or ``link`` (a symbolic link: not followed, graded invalid).
    """

    student: str
    name: str
    path: Path
    kind: str


@dataclass(frozen=True)
class PartSource:
    """Where one part's code came from.

    Attributes:
        status: ``ok`` (staged), ``missing`` or ``invalid`` (present but unreadable).
        source: the file graded, e.g. ``"clipping.ipynb"`` (``""`` when missing).
        message: why it is missing or invalid, or a note (how it was decoded, why the notebook won).
    """

    part: str
    status: str
    source: str = ""
    message: str = ""


@dataclass
class Staged:
    """A submission made ready for grading: ``folder/<part>.py`` exists for every part with status ``ok``."""

    folder: Path
    parts: dict[str, PartSource]
    message: str = ""  # a problem with the whole submission (an unsafe zip, a link)
    fingerprint: str = ""  # sha256 of everything grading reads from this submission
    texts: dict[str, str] = field(default_factory=dict, repr=False)


# ---------------------------------------------------------------- entries


def find_entries(submissions: Path, assignment: str | None = None) -> tuple[list[Entry], list[str]]:
    """List the students in a submissions folder, sorted by id.

    Accepts one entry per student (folder, ``.zip`` or ``.ipynb``) and
    nbgrader's collected layout (``submissions/submitted/<student>/<assignment>/``,
    or that ``submitted`` folder itself).

    Returns:
        ``(entries, ignored)``: the entries, and the names of other things
        found there (loose files, hidden files), for a warning.

    Raises:
        SubmissionError: ``submissions`` is not a folder.
    """
    root = Path(submissions)
    if root.is_symlink() or not root.is_dir():
        raise SubmissionError(f"{root} is not a folder of submissions (one folder, .zip or .ipynb per student)")
    nbgrader = root / "submitted"
    if nbgrader.is_dir() and not nbgrader.is_symlink():
        root = nbgrader
    found: dict[str, tuple[Path, str]] = {}
    wanted_ids: dict[str, str] = {}
    ignored = []
    with os.scandir(root) as listing:
        for item in sorted(listing, key=lambda e: e.name):
            name = item.name
            if zips.is_ignored(name):
                continue
            lower = name.lower()
            if item.is_symlink():
                kind, stem = "link", _stem(name)
            elif item.is_dir(follow_symlinks=False):
                kind, stem = "folder", name
            elif item.is_file(follow_symlinks=False) and lower.endswith(".zip"):
                kind, stem = "zip", name[:-4]
            elif item.is_file(follow_symlinks=False) and lower.endswith(".ipynb"):
                kind, stem = "notebook", name[:-6]
            else:
                ignored.append(name)
                continue
            found[name] = (root / name, kind)
            wanted_ids[name] = stem
    ids = assign_ids(wanted_ids)
    entries = [Entry(student=ids[name], name=name, path=path, kind=kind) for name, (path, kind) in found.items()]
    return sorted(entries, key=lambda e: e.student), ignored


def _stem(name: str) -> str:
    for suffix in (".zip", ".ipynb"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def entry_for_path(path: Path, student: str | None = None) -> Entry:
    """An :class:`Entry` for one path given on the command line (``check PATH``)."""
    path = Path(path)
    name = path.name or str(path)
    if path.is_symlink() and path.suffix.lower() in (".zip", ".ipynb"):
        kind = "link"
    elif path.is_dir():
        kind = "folder"  # the student's own folder: following a link they gave us is fine
    elif path.suffix.lower() == ".zip":
        kind = "zip"
    elif path.suffix.lower() == ".ipynb":
        kind = "notebook"
    else:
        raise SubmissionError(f"{path}: not a folder, a .zip or a .ipynb notebook")
    return Entry(student=student or assign_ids({name: _stem(name)})[name], name=name, path=path, kind=kind)


# ---------------------------------------------------------------- staging


def stage(entry: Entry, target: Path, *, stubs: Mapping[str, Collection[str]] | None = None,
          assignment: str | None = None, parts: Collection[str] = PART_IDS) -> Staged:
    """Read ``entry`` and write its parts as ``target/<part>.py`` (UTF-8).

    Never raises for anything in the submission: an unsafe zip, a link or an
    unreadable file becomes a status and a message.

    Args:
        entry: the student's entry.
        target: an empty folder to write into (created).
        stubs: part -> :func:`stub_digest` of each released stub (a ``.py`` equal to one loses to a
            notebook beside it).
        assignment: nbgrader's assignment folder name to descend into.
        parts: the parts to read (``check --part``).
    """
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    stubs = stubs or {}
    message = ""
    try:
        if entry.kind == "link":
            raise SubmissionError(f"{entry.name} is a symbolic link; the grader does not follow links")
        if entry.kind == "folder":
            files = _files_from_folder(entry.path, assignment)
        elif entry.kind == "zip":
            files = _files_from_zip(entry.path, assignment)
        elif entry.kind == "notebook":
            files = _files_from_notebook(entry.path)
        else:
            raise SubmissionError(f"{entry.name}: not a folder, a .zip or a .ipynb")
    except SubmissionError as exc:
        message = str(exc)
        sources = {p: PartSource(p, "invalid", "", message) for p in parts}
        return _finish(target, sources, {}, message)
    sources, texts = {}, {}
    for part in parts:
        sources[part], text = _choose(part, files, stubs.get(part, ()))
        if text is not None:
            texts[part] = text
    if files.single_notebook:
        message = (f"{files.single_notebook} is graded as one notebook holding every part: its code cells are "
                   "the module of each part")
    elif not any(s.status == "ok" for s in sources.values()):
        message = ("no part was found: put " + ", ".join(f"{p}.py" for p in PART_IDS) +
                   " (or .ipynb) at the top of the submission")
    return _finish(target, sources, texts, message)


def _finish(target: Path, sources: dict[str, PartSource], texts: dict[str, str], message: str) -> Staged:
    digest = hashlib.sha256(b"autograder-submission-v1\0")
    for part in sorted(sources):
        s = sources[part]
        digest.update("\0".join((part, s.status, s.source, s.message)).encode("utf-8", "surrogateescape"))
        digest.update(hashlib.sha256(texts.get(part, "").encode("utf-8", "surrogateescape")).digest())
    digest.update(message.encode("utf-8", "surrogateescape"))
    for part, text in texts.items():
        (target / f"{part}.py").write_text(text, encoding="utf-8", errors="surrogateescape")
    return Staged(folder=target, parts=sources, message=message, fingerprint=digest.hexdigest(), texts=texts)


@dataclass
class _Files:
    """Raw bytes (or why not) of each candidate file, by lower-cased file name."""

    found: dict[str, tuple[str, bytes | None, str]] = field(default_factory=dict)  # lower -> (name, data, problem)
    single_notebook: str = ""  # set when one notebook stands for every part


def _choose(part: str, files: _Files, stubs: Collection[str]) -> tuple[PartSource, str | None]:
    """Pick the file to grade for ``part`` and turn it into module text."""
    if files.single_notebook:
        name, data, problem = files.found[files.single_notebook.lower()]
        return _convert(part, name, data, problem, "notebook", note="one notebook for every part")
    py = files.found.get(f"{part}.py")
    nb = files.found.get(f"{part}.ipynb")
    py_ok = py is not None and py[1] is not None
    nb_ok = nb is not None and nb[1] is not None
    if py_ok and nb_ok:
        if _is_stub(py[1], stubs):
            return _convert(part, *nb, "notebook", note=f"{py[0]} is the unchanged stub")
        return _convert(part, *py, "python", note=f"{nb[0]} not graded: the .py wins")
    if py_ok:
        return _convert(part, *py, "python", note=_skipped(nb))
    if nb_ok:
        return _convert(part, *nb, "notebook", note=_skipped(py))
    problems = [f[2] for f in (py, nb) if f is not None]
    if problems:
        return PartSource(part, "invalid", (py or nb)[0], "; ".join(problems)), None
    return PartSource(part, "missing", "", f"neither {part}.py nor {part}.ipynb was found"), None


def _skipped(other) -> str:
    return f"{other[0]} was skipped: {other[2]}" if other is not None else ""


def stub_digest(data: bytes) -> str:
    """The identity of a stub's text: sha256 of its bytes with Windows line ends made Unix ones."""
    return hashlib.sha256(data.replace(b"\r\n", b"\n")).hexdigest()


def _is_stub(data: bytes, stubs: Collection[str]) -> bool:
    return stub_digest(data) in stubs


def _convert(part: str, name: str, data: bytes | None, problem: str, kind: str,
             note: str = "") -> tuple[PartSource, str | None]:
    if data is None:
        return PartSource(part, "invalid", name, problem), None
    try:
        if kind == "notebook":
            text, cells = notebook_to_module(data, name)
            if cells == 0:
                note = "; ".join(filter(None, [note, f"{name} has no code cells"]))
        else:
            text, decode_note = decode_source(data, name)
            note = "; ".join(filter(None, [decode_note, note]))
    except SubmissionError as exc:
        return PartSource(part, "invalid", name, str(exc)), None
    return PartSource(part, "ok", name, note), text


# ---------------------------------------------------------------- reading files


def _wanted_names() -> set[str]:
    return {f"{part}{suffix}" for part in PART_IDS for suffix in _SUFFIXES}


def _files_from_folder(folder: Path, assignment: str | None) -> _Files:
    base = _choose_folder(folder, assignment)
    files = _Files()
    with os.scandir(base) as listing:
        items = sorted(listing, key=lambda e: e.name)
    wanted = _wanted_names()
    by_lower: dict[str, list[os.DirEntry]] = {}
    for item in items:
        if item.name.lower() in wanted:
            by_lower.setdefault(item.name.lower(), []).append(item)
    for lower, matches in by_lower.items():
        exact = [m for m in matches if m.name == lower]
        item = exact[0] if exact else matches[0]
        if not exact and len(matches) > 1:
            files.found[lower] = (item.name, None, f"{', '.join(m.name for m in matches)} differ only in case")
            continue
        limit = MAX_NOTEBOOK_BYTES if lower.endswith(".ipynb") else MAX_PY_BYTES
        try:
            files.found[lower] = (item.name, read_regular_file(Path(item.path), limit), "")
        except SubmissionError as exc:
            files.found[lower] = (item.name, None, str(exc))
    return files


def _choose_folder(folder: Path, assignment: str | None) -> Path:
    """The folder holding the part files: ``folder``, its ``<assignment>`` subfolder, or its only subfolder."""
    wanted = _wanted_names()
    with os.scandir(folder) as listing:
        items = [i for i in listing if not zips.is_ignored(i.name)]
    if any(i.name.lower() in wanted for i in items):
        return folder
    subfolders = [i for i in items if i.is_dir(follow_symlinks=False)]
    if assignment and any(i.name == assignment for i in subfolders):
        return folder / assignment
    if len(subfolders) == 1 and len(items) == 1:
        return folder / subfolders[0].name
    return folder


def read_regular_file(path: Path, limit: int) -> bytes:
    """Read a regular file without following a symbolic link, blocking on a FIFO, or reading past ``limit``.

    Raises:
        SubmissionError: a link, not a regular file, too large, or unreadable.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SubmissionError(f"{path.name} is a symbolic link; the grader does not follow links: "
                                  "submit the file itself") from None
        raise SubmissionError(f"{path.name} cannot be read: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SubmissionError(f"{path.name} is not a regular file")
        if info.st_size > limit:
            raise SubmissionError(f"{path.name} is {info.st_size} bytes (at most {limit})")
        chunks, size = [], 0
        while chunk := os.read(fd, 1 << 16):
            size += len(chunk)
            if size > limit:
                raise SubmissionError(f"{path.name} is larger than {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _files_from_zip(path: Path, assignment: str | None) -> _Files:
    if path.is_symlink():
        raise SubmissionError(f"{path.name} is a symbolic link; the grader does not follow links")
    files = _Files()
    with zips.open_zip(path) as archive:
        picked = zips.select_members(archive.infolist(), _wanted_names(), prefer_folder=assignment)
        budget = [zips.DEFAULT_LIMITS.total_bytes]
        by_lower: dict[str, list[str]] = {}
        for name in picked:
            by_lower.setdefault(name.lower(), []).append(name)
        for lower, names in sorted(by_lower.items()):
            name = lower if lower in names else names[0]
            if len(names) > 1 and lower not in names:
                files.found[lower] = (name, None, f"{', '.join(sorted(names))} differ only in case")
                continue
            files.found[lower] = (name, zips.read_member(archive, picked[name], budget), "")
    return files


def _files_from_notebook(path: Path) -> _Files:
    data = read_regular_file(path, MAX_NOTEBOOK_BYTES)
    stem = _stem(path.name)
    files = _Files()
    if stem.lower() in PART_IDS:
        files.found[f"{stem.lower()}.ipynb"] = (path.name, data, "")
    else:
        files.found[path.name.lower()] = (path.name, data, "")
        files.single_notebook = path.name
    return files
