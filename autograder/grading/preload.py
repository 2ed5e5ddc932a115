"""The batch's fork server imports this once; every grading child forked from it starts with the result.

What each child would otherwise repeat per student:

* importing the engine, pytest and its plugins, the harness, the sandbox's
  harness side, the kit and ``numpy.random``, and what the suites import
  lazily on first use (``np.median`` imports ``numpy.ma``: 8-17 ms), about
  15 ms a student for these last two;
* reading and checking the 5,000-digit MNIST sample (about 0.01 s from the
  user's cache folder; parsing the CSV, the first time, about 0.2 s). The sample
  is cached read-only (:func:`autograder.data.sample.load_mnist_sample` hands
  out copies, or with ``copy=False`` the read-only arrays), and each child is
  a fresh fork, so a child cannot change what the next one gets. A missing
  sample is not an error here: the tests that need it report it for each
  student;
* glibc's malloc thresholds, fixed as in the workers (``MALLOC_*_THRESHOLD_`` in
  ``sandbox.isolation``): with its dynamic ones a fresh process unmaps and
  faults in again every large array it frees (the 25 MB training sets);
* copies of the server's pages: everything imported here is frozen out of the
  garbage collector (``gc.freeze``), whose full collections would otherwise
  touch every object and copy every page a child shares with the server.
"""
from __future__ import annotations

import gc
import importlib

import numpy.ma  # noqa: F401 - imported for the children (np.median's first call imports it)
import numpy.random  # noqa: F401 - imported for the children
import pytest  # noqa: F401 - imported for the children

from autograder.data.sample import load_mnist_sample
from autograder.errors import DataError
from autograder.grading import engine  # noqa: F401 - imported for the children
from autograder.harness import plugin  # noqa: F401 - imported for the children
from autograder.kit import calls, clipping, functions, models, training  # noqa: F401 - imported for the children
from autograder.sandbox import remote  # noqa: F401 - imported for the children
from autograder.sandbox.isolation import fix_malloc_thresholds

try:  # pytest imports its built-in plugins when a session is configured (a private list: best effort)
    from _pytest.config import default_plugins
except ImportError:
    default_plugins = ()
for _name in default_plugins:
    try:
        importlib.import_module(f"_pytest.{_name}")
    except ImportError:
        pass
fix_malloc_thresholds()
try:
    load_mnist_sample()
except DataError:
    pass
gc.freeze()  # the children's collections never walk (and so never copy) what they share with the server
