"""The full MNIST data set: the four original IDX files, checked by sha256.

``load_mnist("train")`` / ``load_mnist("test")`` look for the files in the
course's MNIST folder (``[data] mnist_dir`` in ``course.toml``, by default
``~/.cache/autograder/mnist``), each either as distributed
(``train-images-idx3-ubyte.gz``) or decompressed (``train-images-idx3-ubyte``).
With ``download=True`` a missing file is fetched from the public mirrors,
checked, and written atomically (a temporary file renamed into place), so an
interrupted download never leaves a half-written file under the real name.

The checksums are of the *decompressed* bytes: gzip headers differ between
copies of the same data (a re-compressed file has another sha256), the IDX
content does not. Three come with the copies in the course's shared data
folder; the one of ``train-images-idx3-ubyte`` is the value that many
independent public MNIST loaders and download scripts pin for the same
decompressed file (47,040,016 bytes) beside the other three.

MNIST is by Yann LeCun, Corinna Cortes and Christopher J.C. Burges (CC BY-SA 3.0).
"""
from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import tempfile
import urllib.request
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

Opener = Callable[..., object]  # urllib.request.urlopen(url, timeout=...) -> a response with .read()


def load_mnist(split: str, folder: str | os.PathLike | None = None, download: bool = False, *,
               mirrors: Sequence[str] = MIRRORS, opener: Opener | None = None,
               timeout: float = DOWNLOAD_TIMEOUT) -> tuple[np.ndarray, np.ndarray]:
    """Load one split of MNIST from its original IDX files, checking their sha256.

    Args:
        split: ``"train"`` (60,000 digits) or ``"test"`` (10,000 digits).
        folder: where the files are (and where downloads go); ``None`` means the
            course's ``[data] mnist_dir``.
        download: fetch missing files from ``mirrors`` (otherwise a missing file is an error).
        mirrors: base URLs tried in order, each followed by the file name and ``.gz``.
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
    if folder is None:
        from autograder.config import load_course

        folder, where = load_course().mnist_dir, "the course's MNIST folder ([data] mnist_dir in course.toml)"
    else:
        where = "the folder passed to load_mnist"
    images, labels = SPLITS[split]
    return _load_pair(Path(folder), images, labels, download=download, where=where,
                      mirrors=mirrors, opener=opener or urllib.request.urlopen, timeout=timeout)


def _load_pair(folder: Path, images: IdxFile, labels: IdxFile, *, download: bool, where: str,
               mirrors: Sequence[str], opener: Opener, timeout: float) -> tuple[np.ndarray, np.ndarray]:
    """Find (or download), parse and verify one images file and its labels file."""
    paths = {spec: _find(folder, spec) for spec in (images, labels)}
    missing = [spec for spec, path in paths.items() if path is None]
    if missing and not download:
        raise DataError(_missing_message(folder, where, missing, mirrors, failures=None))
    failures = []
    for spec in missing:
        path, errors = _download(folder, spec, mirrors, opener, timeout)
        paths[spec] = path
        failures += errors
    if any(path is None for path in paths.values()):
        still = [spec for spec, path in paths.items() if path is None]
        raise DataError(_missing_message(folder, where, still, mirrors, failures=failures))

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
                     failures: list[str] | None) -> str:
    """Say which files are missing, why they could not be fetched, and exactly where to put them."""
    names = ", ".join(spec.name for spec in missing)
    lines = [f"MNIST file(s) not found in {folder} ({where}): {names}."]
    if failures is None:
        lines.append("Pass download=True to fetch them, or put them there by hand:")
    else:
        lines.append("Downloading them failed (no network?):")
        lines += [f"  {failure}" for failure in failures]
        lines.append("Put them there by hand (e.g. copied from a machine with network access):")
    for spec in missing:
        lines.append(f"  {folder / spec.name}.gz  (as distributed) or {folder / spec.name}  (decompressed): "
                     f"{spec.size:,} bytes decompressed, sha256 {spec.sha256}")
    lines.append(f"Mirrors: {', '.join(mirrors) or 'none'}")
    return "\n".join(lines)
