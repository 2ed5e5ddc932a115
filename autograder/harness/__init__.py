"""The trusted side of grading: the pytest plugin, the student facade and the staged checks.

Graded suites import from here::

    from autograder.harness import graded, expect_array, expect_scalar, expect_equal, expect_raises
"""
from autograder.harness.checks import (
    GradingFailure,
    expect_array,
    expect_equal,
    expect_outcomes,
    expect_raises,
    expect_scalar,
    expect_true,
    fail,
)
from autograder.harness.marks import Graded, graded
from autograder.harness.student import get_attributes, set_attributes

__all__ = [
    "Graded",
    "GradingFailure",
    "expect_array",
    "expect_equal",
    "expect_outcomes",
    "expect_raises",
    "expect_scalar",
    "expect_true",
    "fail",
    "get_attributes",
    "graded",
    "set_attributes",
]
