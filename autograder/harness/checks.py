"""Staged checks that say what was expected, what was found, and where.

Each check looks at the type first, then the shape (and dtype), then the
values, and stops at the first stage that fails, so a student with a wrong
shape is told about the shape rather than about a thousand wrong numbers.
A failed check raises :class:`GradingFailure`; the plugin turns its message
into the test's feedback.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

__tracebackhide__ = True
_MAX_REPR = 300


class GradingFailure(AssertionError):
    """A graded expectation that did not hold. ``str()`` is the whole feedback text."""

    def __init__(self, message: str, hint: str | None = None):
        self.message, self.hint = message, hint
        super().__init__(message + (f"\nHint: {hint}" if hint else ""))


def fail(message: str, hint: str | None = None):
    """Fail the current test with ``message`` (and an optional hint)."""
    raise GradingFailure(message, hint)


def expect_true(condition, message: str, hint: str | None = None) -> None:
    """Fail with ``message`` unless ``condition`` is true."""
    if not bool(condition):
        fail(message, hint)


def short(value) -> str:
    """A one-line description of ``value`` for a feedback message, at most ~300 characters."""
    if isinstance(value, np.ndarray):
        if value.size <= 8:
            text = np.array2string(value, precision=6, separator=", ").replace("\n", "")
        else:
            text = f"array of shape {value.shape}, dtype {value.dtype}"
    else:
        text = repr(value)
    return text if len(text) <= _MAX_REPR else text[:_MAX_REPR] + "..."


def _kind(value) -> str:
    return type(value).__name__


def expect_array(found, expected, *, what: str, rtol: float = 1e-9, atol: float = 1e-12,
                 dtype=None, hint: str | None = None) -> np.ndarray:
    """Check that ``found`` is an ndarray shaped like ``expected`` with close values.

    Stages: type (a ``numpy.ndarray``; lists and subclasses are refused),
    shape, dtype (only when ``dtype`` is given), finiteness pattern, then
    ``|found - expected| <= atol + rtol * |expected|`` entry by entry.

    Args:
        found: what the student's code returned.
        expected: the right answer (array-like).
        what: how to name the value in the message, e.g. ``"he_init(3, 5)"``.
        rtol, atol: tolerances, as in ``np.allclose``.
        dtype: the required dtype, or ``None`` to accept any real float dtype.
        hint: a pointer to the lecture for when the values are wrong.

    Returns:
        ``found`` (for chaining further checks).
    """
    expected = np.asarray(expected)
    if type(found) is not np.ndarray:
        fail(f"{what} should return a numpy.ndarray of shape {expected.shape}, but returned {_kind(found)}: "
             f"{short(found)}", hint)
    if found.shape != expected.shape:
        fail(f"{what} has the wrong shape.\n  expected shape: {expected.shape}\n  found shape:    {found.shape}",
             "check the order of the dimensions (rows are examples) and whether you transposed a matrix")
    if dtype is not None and found.dtype != np.dtype(dtype):
        fail(f"{what} has dtype {found.dtype}, expected {np.dtype(dtype)}", hint)
    if found.dtype.kind not in "biuf":
        fail(f"{what} should hold real numbers, found dtype {found.dtype}", hint)
    f = found.astype(np.float64)
    e = expected.astype(np.float64)
    bad_finite = np.isfinite(f) != np.isfinite(e)
    same_nonfinite = ~np.isfinite(e) & ((f == e) | (np.isnan(f) & np.isnan(e)))
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(f - e)
        close = (diff <= atol + rtol * np.abs(e)) | same_nonfinite
    close &= ~bad_finite
    if np.all(close):
        return found
    wrong = ~close
    score = np.where(wrong, np.nan_to_num(diff, nan=np.inf, posinf=np.inf), -1.0)
    worst = np.unravel_index(int(np.argmax(score)), f.shape) if f.ndim else ()
    idx = tuple(int(i) for i in worst)
    where = f" at index {idx}" if f.ndim else ""
    n_wrong, n = int(wrong.sum()), wrong.size
    fail(f"{what} has wrong values{where} (the worst of {n_wrong} of {n} entries).\n"
         f"  expected: {float(e[worst])!r}\n  found:    {float(f[worst])!r}\n"
         f"  (allowed: |found - expected| <= {atol:g} + {rtol:g} * |expected|)", hint)


def expect_scalar(found, expected: float, *, what: str, rtol: float = 1e-9, atol: float = 1e-12,
                  hint: str | None = None) -> float:
    """Check that ``found`` is a real number (Python or NumPy scalar, not an array) close to ``expected``."""
    if isinstance(found, np.ndarray) and found.shape == ():
        found = found[()]
    if isinstance(found, bool) or not isinstance(found, (int, float, np.integer, np.floating)):
        fail(f"{what} should be a number, but is {_kind(found)}: {short(found)}", hint)
    f, e = float(found), float(expected)
    if math.isnan(e) and math.isnan(f):
        return f
    if f == e or abs(f - e) <= atol + rtol * abs(e):
        return f
    fail(f"{what} is wrong.\n  expected: {e!r}\n  found:    {f!r}", hint)


def expect_equal(found, expected, *, what: str, hint: str | None = None):
    """Check exact equality (lists of strings, ints, dict keys, ...); type first, then value."""
    if type(found) is not type(expected) and not (isinstance(found, (list, tuple)) and
                                                   isinstance(expected, (list, tuple))):
        fail(f"{what} should be a {_kind(expected)}, but is {_kind(found)}: {short(found)}", hint)
    if found != expected:
        fail(f"{what} is wrong.\n  expected: {short(expected)}\n  found:    {short(found)}", hint)
    return found


def expect_outcomes(outcomes, count: int, *, what: str, hint: str | None = None) -> list:
    """Check the answer of a batched kit call (``calls.each``, ``calls.each_with_attribute``) and return it.

    It must be a list of ``count`` outcomes, each ``["ok", value]`` or
    ``["raised", type name, message]``; anything else fails the test.
    """
    if not (isinstance(outcomes, list) and len(outcomes) == count
            and all(isinstance(o, list) and o and o[0] in ("ok", "raised") for o in outcomes)):
        fail(f"{what} returned something other than their results (the grader's helper in your process was "
             "changed?)", hint)
    return outcomes


def expect_raises(exception: type[BaseException], call: Callable, *, what: str, hint: str | None = None,
                  match: Callable[[str], bool] | None = None):
    """Check that ``call()`` raises ``exception`` (and that its message satisfies ``match``)."""
    try:
        result = call()
    except exception as exc:
        if match is not None and not match(str(exc)):
            fail(f"{what} raised {exception.__name__} as it should, but its message {str(exc)!r} "
                 f"does not say what the contract asks for", hint)
        return exc
    except Exception as exc:  # the student's code raised something else
        if getattr(exc, "status", "ok") != "ok":  # timeouts and crashes are reported as such
            raise
        fail(f"{what} should raise {exception.__name__}, but raised {type(exc).__name__}: {exc}", hint)
    fail(f"{what} should raise {exception.__name__}, but returned {short(result)}", hint)
