"""The batch's grading processes: forked from a server that has the grader imported.

This module imports nothing heavy, so the command line can start the server
first thing, while it imports the rest of the grader and stages the class.
"""
from __future__ import annotations

import multiprocessing

from autograder.grading.threads import limit_native_threads

PRELOAD = "autograder.grading.preload"


def grading_context():
    """The multiprocessing context children are started with; the fork server starts in the background on the
    first call (once per process) and gets ready while the batch is being planned. Without ``forkserver``
    (not POSIX): ``spawn``."""
    limit_native_threads()  # the server imports NumPy after this: every child has one BLAS thread
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([PRELOAD])
    from multiprocessing import forkserver

    forkserver.ensure_running()
    return ctx
