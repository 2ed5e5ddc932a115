"""One native (BLAS/OpenMP) thread per grading process: parallelism is across students, not inside one.

NumPy's BLAS otherwise starts a thread per core in every grading process
and in the reference's computations; with several students graded at once
on a loaded machine those threads fight for the cores, and grading one
student was measured 10 to 20 times slower. The sandboxed workers already
run with one thread (``autograder.sandbox.isolation``). This module imports
nothing heavy: call it before NumPy is first imported in the process it is for.
"""
from __future__ import annotations

import os

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS")


def limit_native_threads() -> None:
    """Default each native thread-count variable to 1 (a value the user set is kept)."""
    for name in THREAD_VARIABLES:
        os.environ.setdefault(name, "1")
