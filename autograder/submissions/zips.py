"""Extract the part files of a student's ``.zip``, refusing anything unsafe.

Every member's *name and type* is checked (an absolute path, a ``..``
component or a symbolic link anywhere makes the whole zip unsafe); only the
files the grader reads (``<part>.py`` / ``<part>.ipynb`` at the top, or
inside the zip's single folder) are decompressed, in chunks, with hard caps
on their real size, so a zip bomb stops at the cap whatever its header says.
"""
from __future__ import annotations

import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from autograder.errors import SubmissionError


@dataclass(frozen=True)
class ZipLimits:
    """Caps for one student's zip (bytes and counts)."""

    archive_bytes: int = 256 * 2**20  # the .zip file itself
    members: int = 10_000  # entries listed in the zip
    declared_bytes: int = 2**30  # sum of all members' declared uncompressed sizes
    file_bytes: int = 16 * 2**20  # one extracted file
    total_bytes: int = 64 * 2**20  # all extracted files
    ratio: float = 200.0  # uncompressed / compressed, for an extracted file over 1 MiB


DEFAULT_LIMITS = ZipLimits()
_CHUNK = 1 << 16


def is_ignored(name: str) -> bool:
    """Names that are not part of a submission: hidden files and macOS ``__MACOSX`` folders."""
    return name.startswith(".") or name == "__MACOSX" or name == "__pycache__"


def _member_path(info: zipfile.ZipInfo) -> PurePosixPath:
    """The member's path, checked to stay inside the target folder.

    Raises:
        SubmissionError: absolute path, drive letter, ``..``, NUL or a symbolic link.
    """
    raw = info.filename
    name = raw.replace("\\", "/")
    if "\x00" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise SubmissionError(f"unsafe zip: the member {raw!r} has an absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise SubmissionError(f"unsafe zip: the member {raw!r} points outside the folder it is extracted to")
    mode = info.external_attr >> 16
    if info.create_system == 3 and stat.S_ISLNK(mode):  # made on Unix: the mode is in the high bits
        raise SubmissionError(f"unsafe zip: the member {raw!r} is a symbolic link; zip the files themselves")
    return PurePosixPath(*parts) if parts else PurePosixPath(".")


def select_members(infos: list[zipfile.ZipInfo], wanted: set[str], prefer_folder: str | None = None,
                   limits: ZipLimits = DEFAULT_LIMITS) -> dict[str, zipfile.ZipInfo]:
    """Check every member and pick the files the grader reads.

    Args:
        infos: ``ZipFile.infolist()``.
        wanted: file names to pick (``{"clipping.py", "clipping.ipynb", ...}``), matched case-insensitively.
        prefer_folder: a folder name to descend into when the top level has no wanted file
            (nbgrader's ``<assignment>``).
        limits: the caps.

    Returns:
        file name as found (e.g. ``"Clipping.py"``) -> its member.

    Raises:
        SubmissionError: an unsafe member, too many members, too much declared data, or a duplicate name.
    """
    if len(infos) > limits.members:
        raise SubmissionError(f"unsafe zip: {len(infos)} members (at most {limits.members})")
    declared = sum(max(0, i.file_size) for i in infos)
    if declared > limits.declared_bytes:
        raise SubmissionError(f"unsafe zip: it unpacks to {declared} bytes (at most {limits.declared_bytes})")
    paths = [(_member_path(info), info) for info in infos]
    visible = [(p, i) for p, i in paths if p.parts and not any(is_ignored(part) for part in p.parts)]
    wanted_lower = {w.lower() for w in wanted}

    def files_in(folder: PurePosixPath) -> list[tuple[PurePosixPath, zipfile.ZipInfo]]:
        return [(p, i) for p, i in visible if p.parent == folder and not i.is_dir() and p.name.lower() in wanted_lower]

    top = PurePosixPath(".")
    chosen = files_in(top)
    if not chosen:
        folders = {p.parts[0] for p, i in visible if len(p.parts) > 1 or i.is_dir()}
        loose = [p for p, i in visible if len(p.parts) == 1 and not i.is_dir()]
        if prefer_folder and prefer_folder in folders:
            chosen = files_in(PurePosixPath(prefer_folder))
        elif len(folders) == 1 and not loose:
            chosen = files_in(PurePosixPath(next(iter(folders))))
    picked: dict[str, zipfile.ZipInfo] = {}
    for path, info in chosen:
        if path.name in picked:
            raise SubmissionError(f"unsafe zip: two members are named {str(path)!r}")
        picked[path.name] = info
    return picked


def read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: list[int],
                limits: ZipLimits = DEFAULT_LIMITS) -> bytes:
    """Decompress one member in chunks, stopping at the caps whatever its header claims.

    Args:
        budget: a one-element list with the bytes still allowed for the whole zip (decremented).

    Raises:
        SubmissionError: encrypted, too large, too compressed, or corrupt.
    """
    if info.flag_bits & 0x1:
        raise SubmissionError(f"the zip member {info.filename!r} is encrypted; zip it without a password")
    if info.file_size > limits.file_bytes:
        raise SubmissionError(f"unsafe zip: {info.filename!r} unpacks to {info.file_size} bytes "
                              f"(at most {limits.file_bytes})")
    if info.file_size > 2**20 and info.file_size > limits.ratio * max(1, info.compress_size):
        ratio = info.file_size / max(1, info.compress_size)
        raise SubmissionError(f"unsafe zip: {info.filename!r} is compressed {ratio:.0f} to 1 "
                              f"(at most {limits.ratio:.0f}): a zip bomb?")
    cap = min(limits.file_bytes, budget[0])
    chunks, size = [], 0
    try:
        with archive.open(info) as stream:
            while True:
                chunk = stream.read(_CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > cap:
                    raise SubmissionError(f"unsafe zip: {info.filename!r} unpacks to more than {cap} bytes "
                                          "(more than its header says, or over the total cap)")
                chunks.append(chunk)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
        raise SubmissionError(f"the zip member {info.filename!r} cannot be read: {exc}") from None
    budget[0] -= size
    return b"".join(chunks)


def open_zip(path: Path, limits: ZipLimits = DEFAULT_LIMITS) -> zipfile.ZipFile:
    """Open a student's zip after checking its size.

    Raises:
        SubmissionError: too large or not a zip.
    """
    size = path.stat().st_size
    if size > limits.archive_bytes:
        raise SubmissionError(f"the zip is {size} bytes (at most {limits.archive_bytes})")
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise SubmissionError(f"{path.name} is not a readable zip file ({exc}); zip the folder again") from None
