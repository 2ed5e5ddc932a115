"""Fit the tools instructors already use: nbgrader courses and gradebooks, Gradescope autograders.

* ``nbgrader``          -- an nbgrader course folder, nbgrader's export CSV, scores written into its gradebook;
* ``gradescope_export`` -- the Gradescope autograder zip (``setup.sh``, ``run_autograder``, the engine, the course);
* ``run_autograder``    -- what that zip runs on Gradescope for each submission (``python -m`` entry point).

This layer sits beside the CLI: it uses ``release``, ``grading`` and
``reports`` and nothing imports it but the CLI. Nothing is imported here
eagerly: nbgrader is an optional dependency.
"""
from autograder.errors import AutograderError


class IntegrationError(AutograderError):
    """An nbgrader course or gradebook, or a Gradescope layout, is not what this integration needs."""
