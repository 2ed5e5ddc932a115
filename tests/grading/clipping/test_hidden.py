"""Part 2, hidden tests: gradient clipping on random and edge inputs.

Tolerances as in test_public.py (see its docstring). Random gradients come
from the per-test ``rng``; the global-clipping cases keep the global norm at
2 or more so that ``1e-6 / total`` stays within the allowed 1e-6 relative,
except ``test_clip_by_global_norm_small_gradients``, whose norms below 1 are
compared to ``rescaled_rtol`` (1e-6 + 1e-6 / total) so that the ``+ 1e-6``
of the coefficient shows (found by the mutation audit, docs/mutation-audit.md).
"""
from functools import partial

import numpy as np

from autograder.harness import expect_raises, expect_scalar, expect_true, fail, graded

from .test_public import (
    FLOAT32_RTOL,
    HINT_GLOBAL,
    HINT_NORM,
    HINT_NORM_CLIP,
    HINT_VALUE,
    TOPIC,
    copy_grads,
    describe,
    exact_global_norm,
    expect_grads,
    expect_keys,
    expect_untouched,
    global_clip_hint,
    rescaled_rtol,
    unpack_global,
)

SHAPES = ((7, 5), (1, 5), (5, 3), (3,), (2, 3, 4), (1, 1), (10,), (4, 1, 2))


def random_grads(rng, n_arrays: int | None = None, dtype=np.float64) -> dict:
    """1 to 4 arrays of assorted shapes, each with its own scale between 0.1 and 30."""
    n_arrays = n_arrays or int(rng.integers(1, 5))
    picks = rng.choice(len(SHAPES), size=n_arrays, replace=False)
    grads = {}
    for i, j in enumerate(picks, start=1):
        shape = SHAPES[j]
        name = f"dW{i}" if len(shape) > 1 else f"db{i}"
        grads[name] = (rng.standard_normal(shape) * 10 ** rng.uniform(-1, 1.5)).astype(dtype)
    return grads


def with_global_norm(grads, low: float, high: float, rng) -> dict:
    """``grads`` rescaled to a global norm drawn from ``[low, high]``."""
    target = rng.uniform(low, high)
    factor = target / exact_global_norm(grads)
    return {name: (g * factor).astype(g.dtype) for name, g in grads.items()}


def expect_rescaled(found, expected, grads, *, what: str, tol, hint: str, floor: float = 0.0) -> None:
    """Each array as the reference has it, to the tolerance of an array rescaled from norm ``|grads[name]|``.

    float32 arrays get at least FLOAT32_RTOL; ``floor`` raises every array's tolerance (a global coefficient
    computed from float32 arrays carries their rounding into the float64 ones).
    """
    expect_keys(found, expected, what=what, hint=hint)
    for name, want in expected.items():
        rtol = max(floor, rescaled_rtol(tol, float(np.linalg.norm(grads[name].astype(np.float64)))))
        if want.dtype == np.float32:
            rtol = max(rtol, FLOAT32_RTOL)
        expect_grads({name: found[name]}, {name: want}, what=what, rtol=rtol, atol=tol.atol, hint=hint)


def expect_global_clip_like_reference(student, reference, grads, max_norm, total, tol, hint_suffix=""):
    """``clip_by_global_norm(grads, max_norm)`` gives the reference's norm and, within the rescaled rtol, its arrays."""
    what = f"clip_by_global_norm(grads, {max_norm:.6g}) on {describe(grads)}"
    expected, expected_total = reference.clipping.clip_by_global_norm(copy_grads(grads), max_norm)
    clipped, found_total = unpack_global(student.clipping.clip_by_global_norm(copy_grads(grads), max_norm), what=what)
    expect_scalar(found_total, expected_total, what=f"the norm returned by {what}", rtol=tol.rtol, atol=tol.atol,
                  hint=HINT_GLOBAL)
    expect_grads(clipped, expected, what=f"the clipped dict of {what}", rtol=rescaled_rtol(tol, total),
                 atol=tol.atol, hint=global_clip_hint(clipped, grads, max_norm) + hint_suffix)


@graded(1, visibility="hidden", oracle="reference", topic=TOPIC)
def test_global_norm_agrees_with_reference(student, reference, rng, tol):
    """global_norm on random dicts of 1 to 4 arrays of assorted shapes and scales."""
    for n_arrays in (1, 2, 3, 4, None):
        grads = random_grads(rng, n_arrays)
        expected = reference.clipping.global_norm(copy_grads(grads))
        expect_scalar(student.clipping.global_norm(copy_grads(grads)), expected,
                      what=f"global_norm of {describe(grads)}", rtol=tol.rtol, atol=tol.atol, hint=HINT_NORM)


@graded(1, visibility="hidden", oracle="reference", topic=TOPIC)
def test_clip_by_value_agrees_with_reference(student, reference, rng, tol):
    """clip_by_value on random dicts with bounds below, inside and above the entries' range."""
    for _ in range(3):
        grads = random_grads(rng)
        largest = max(float(np.max(np.abs(g))) for g in grads.values())
        for clip_value in (0.01, 0.3 * largest, 0.9 * largest, 2.0 * largest):
            expected = reference.clipping.clip_by_value(copy_grads(grads), clip_value)
            found = student.clipping.clip_by_value(copy_grads(grads), clip_value)
            expect_grads(found, expected, what=f"clip_by_value(grads, {clip_value:.6g}) on {describe(grads)}",
                         rtol=tol.rtol, atol=tol.atol, hint=HINT_VALUE)


@graded(1, visibility="hidden", oracle="reference", topic=TOPIC)
def test_clip_by_norm_agrees_with_reference(student, reference, rng, tol):
    """clip_by_norm on random dicts, with max_norm among the arrays' norms, at one of them, above and below all."""
    for _ in range(3):
        grads = random_grads(rng, int(rng.integers(2, 5)))
        norms = sorted(float(np.linalg.norm(g)) for g in grads.values())
        for max_norm in (float(np.median(norms)), norms[0], 0.5 * norms[0], 2.0 * norms[-1]):
            expected = reference.clipping.clip_by_norm(copy_grads(grads), max_norm)
            found = student.clipping.clip_by_norm(copy_grads(grads), max_norm)
            expect_rescaled(found, expected, grads, what=f"clip_by_norm(grads, {max_norm:.6g}) on {describe(grads)}",
                            tol=tol, hint=HINT_NORM_CLIP)


@graded(1, visibility="hidden", oracle="reference", topic=TOPIC)
def test_clip_by_global_norm_agrees_with_reference(student, reference, rng, tol):
    """clip_by_global_norm below, at and above the threshold, far above it (max_norm 0.01), and for one array."""
    cases = [with_global_norm(random_grads(rng, n), 2.0, 200.0, rng) for n in (1, 2, 4)]
    for grads in cases:
        total = exact_global_norm(grads)
        for max_norm in (2.0 * total, total, total / 3.0, 0.01):
            expect_global_clip_like_reference(student, reference, grads, max_norm, total, tol)


@graded(0.5, visibility="hidden", oracle="reference", topic=TOPIC)
def test_clip_by_global_norm_small_gradients(student, reference, rng, tol):
    """Global norms from 0.02 to 0.5 clipped to max_norm 0.01 and to half the norm: coef = max_norm / (total + 1e-6).

    Below a global norm of 1 the 1e-6 matters: leaving it out changes the
    coefficient by the factor 1 + 1e-6 / total, which the tolerance allows
    (``rescaled_rtol``: 1e-6 + 1e-6 / total); subtracting it instead
    (``total - 1e-6``) changes it twice as much and does not pass.
    """
    for n_arrays in (1, 3, 4):
        grads = with_global_norm(random_grads(rng, n_arrays), 0.02, 0.5, rng)
        total = exact_global_norm(grads)
        for max_norm in (0.01, total / 2.0):
            expect_global_clip_like_reference(
                student, reference, grads, max_norm, total, tol,
                hint_suffix=" (with small gradients the + 1e-6 in the denominator shows: it is added, not subtracted)")


@graded(1, visibility="hidden", oracle="property", topic=TOPIC)
def test_clip_by_global_norm_returns_norm_before_clipping(student, rng, tol):
    """The second value returned is the global norm of the input, not of the clipped result."""
    for _ in range(3):
        grads = with_global_norm(random_grads(rng, 3), 5.0, 500.0, rng)
        total = exact_global_norm(grads)
        max_norm = total / 10.0
        what = f"clip_by_global_norm(grads, {max_norm:.6g}) on {describe(grads)}"
        _, found = unpack_global(student.clipping.clip_by_global_norm(copy_grads(grads), max_norm), what=what)
        after = isinstance(found, (int, float)) and abs(float(found) - max_norm) <= 1e-3 * max_norm
        expect_scalar(found, total, what=f"the norm returned by {what}", rtol=tol.rtol, atol=tol.atol,
                      hint=HINT_GLOBAL + ("; you returned the norm after clipping" if after else ""))


@graded(1, visibility="hidden", oracle="property", topic=TOPIC)
def test_global_clipping_bounds_the_norm_and_keeps_direction(student, rng, tol):
    """After clipping, the global norm is max_norm (never more) and every array is scaled by the same factor.

    The arrays have very different norms, so clipping each one on its own
    (clip_by_norm) changes the direction and fails here.
    """
    for _ in range(3):
        grads = {"dW1": rng.standard_normal((6, 5)) * 20.0, "db1": rng.standard_normal(5) * 0.5,
                 "dW2": rng.standard_normal((5, 3)) * 3.0}
        total = exact_global_norm(grads)
        max_norm = float(np.linalg.norm(grads["dW2"])) * 1.5  # below the global norm, above two arrays' norms
        what = f"clip_by_global_norm(grads, {max_norm:.6g}) on {describe(grads)}"
        clipped, _ = unpack_global(student.clipping.clip_by_global_norm(copy_grads(grads), max_norm), what=what)
        expect_keys(clipped, grads, what=what, hint=HINT_GLOBAL)
        for name, g in grads.items():
            out = clipped[name]
            expect_true(isinstance(out, np.ndarray) and out.shape == g.shape,
                        f"{what}, array {name!r}: expected an array of shape {g.shape}, found {type(out).__name__}"
                        + (f" of shape {out.shape}" if isinstance(out, np.ndarray) else ""), HINT_GLOBAL)
        norm_after = exact_global_norm(clipped)
        low = max_norm * (1.0 - rescaled_rtol(tol, total))
        high = max_norm * (1.0 + tol.clip_rtol)
        if not low <= norm_after <= high:
            fail(f"{what}: the global norm of the clipped gradients is wrong.\n  expected: {max_norm:.9g} "
                 f"(between {low:.9g} and {high:.9g})\n  found:    {norm_after:.9g}",
                 global_clip_hint(clipped, grads, max_norm))
        factors = {name: float(np.vdot(clipped[name], g) / np.vdot(g, g)) for name, g in grads.items()}
        reference_factor = factors["dW1"]
        for name, g in grads.items():
            bent = float(np.linalg.norm(clipped[name] - factors[name] * g))
            same = abs(factors[name] - reference_factor) <= tol.rtol * reference_factor
            if not (same and bent <= tol.rtol * float(np.linalg.norm(clipped[name])) + tol.atol):
                fail(f"{what}: the arrays were not all scaled by the same factor, so the direction of the gradient "
                     f"changed.\n  expected: every array multiplied by {max_norm / (total + 1e-6):.9g}\n"
                     f"  found:    {', '.join(f'{n!r} x {f:.6g}' for n, f in factors.items())}",
                     HINT_GLOBAL + " (one coefficient for all arrays, from the norm of all of them together)")


@graded(1, visibility="hidden", oracle="reference", topic=TOPIC)
def test_empty_and_all_zero_gradients(student, reference, tol):
    """An empty dict and all-zero arrays: norm 0.0, nothing rescaled, no division by zero."""
    zero = {"dW1": np.zeros((3, 4)), "db1": np.zeros(4), "dW2": np.zeros((4, 2))}
    for grads, text in (({}, "an empty dict"), (zero, "all-zero gradients (3x4, 4 and 4x2 zeros)")):
        expected = reference.clipping.global_norm(copy_grads(grads))
        expect_scalar(student.clipping.global_norm(copy_grads(grads)), expected, what=f"global_norm of {text}",
                      rtol=tol.rtol, atol=tol.atol, hint=HINT_NORM)
        for name, bound, hint in (("clip_by_value", 0.5, HINT_VALUE), ("clip_by_norm", 1.0, HINT_NORM_CLIP)):
            expected = getattr(reference.clipping, name)(copy_grads(grads), bound)
            found = getattr(student.clipping, name)(copy_grads(grads), bound)
            expect_grads(found, expected, what=f"{name} of {text}, {bound}", rtol=tol.rtol, atol=tol.atol,
                         hint=hint + "; a zero array has norm 0 <= max_norm: copy it, do not divide by its norm")
        what = f"clip_by_global_norm of {text}, max_norm=1.0"
        expected, expected_total = reference.clipping.clip_by_global_norm(copy_grads(grads), 1.0)
        clipped, total = unpack_global(student.clipping.clip_by_global_norm(copy_grads(grads), 1.0), what=what)
        expect_scalar(total, expected_total, what=f"the norm returned by {what}", rtol=tol.rtol, atol=tol.atol,
                      hint=HINT_GLOBAL)
        expect_grads(clipped, expected, what=f"the clipped dict of {what}", rtol=tol.rtol, atol=tol.atol,
                     hint=HINT_GLOBAL + "; with total 0 nothing is rescaled (do not divide by a zero norm)")


@graded(1, visibility="hidden", oracle="reference", topic=TOPIC)
def test_float32_gradients_keep_their_dtype(student, reference, rng, tol):
    """float32 arrays (alone and mixed with float64 ones) come back float32, with float32-accurate values."""
    all32 = with_global_norm(random_grads(rng, 3, dtype=np.float32), 2.0, 50.0, rng)
    mixed = {"dW1": (rng.standard_normal((6, 4)) * 4).astype(np.float32), "db1": rng.standard_normal(4) * 0.2}
    for grads in (all32, mixed):
        total = exact_global_norm(grads)
        expected = reference.clipping.global_norm(copy_grads(grads))
        expect_scalar(student.clipping.global_norm(copy_grads(grads)), expected,
                      what=f"global_norm of {describe(grads)}", rtol=FLOAT32_RTOL, atol=tol.atol, hint=HINT_NORM)
        largest = max(float(np.max(np.abs(g))) for g in grads.values())
        what = f"clip_by_value(grads, {0.5 * largest:.6g}) on {describe(grads)}"
        expect_grads(student.clipping.clip_by_value(copy_grads(grads), 0.5 * largest),
                     reference.clipping.clip_by_value(copy_grads(grads), 0.5 * largest),
                     what=what, rtol=FLOAT32_RTOL, atol=tol.atol, hint=HINT_VALUE)
        max_norm = 0.5 * min(float(np.linalg.norm(g)) for g in grads.values())
        what = f"clip_by_norm(grads, {max_norm:.6g}) on {describe(grads)}"
        expect_rescaled(student.clipping.clip_by_norm(copy_grads(grads), max_norm),
                        reference.clipping.clip_by_norm(copy_grads(grads), max_norm), grads, what=what, tol=tol,
                        hint=HINT_NORM_CLIP)
        what = f"clip_by_global_norm(grads, {total / 4:.6g}) on {describe(grads)}"
        expected, expected_total = reference.clipping.clip_by_global_norm(copy_grads(grads), total / 4)
        clipped, found_total = unpack_global(student.clipping.clip_by_global_norm(copy_grads(grads), total / 4),
                                             what=what)
        expect_scalar(found_total, expected_total, what=f"the norm returned by {what}", rtol=FLOAT32_RTOL,
                      atol=tol.atol, hint=HINT_GLOBAL)
        expect_rescaled(clipped, expected, grads, what=f"the clipped dict of {what}", tol=tol,
                        hint=global_clip_hint(clipped, grads, total / 4), floor=FLOAT32_RTOL)


@graded(1.5, visibility="hidden", oracle="property", topic=TOPIC)
def test_non_finite_gradients_raise_naming_the_key(student, rng):
    """An inf or nan entry makes clip_by_norm and clip_by_global_norm raise FloatingPointError naming its key."""
    cases = (("b_hidden7", np.inf, "inf"), ("gamma_norm", np.nan, "nan"), ("w_out_layer", -np.inf, "-inf"))
    for position, (bad_key, bad_value, text) in enumerate(cases):
        grads = {"w_in": rng.standard_normal((3, 4)), "w_mid": rng.standard_normal((4, 4))}
        items = list(grads.items())
        bad = rng.standard_normal(5)
        bad[int(rng.integers(5))] = bad_value
        items.insert(position, (bad_key, bad))  # first, middle, last
        grads = dict(items)
        for name in ("clip_by_norm", "clip_by_global_norm"):
            saved = copy_grads(grads)
            what = f"{name}(grads, 1.0) with an entry {text} in grads[{bad_key!r}] (keys {list(grads)})"
            expect_raises(FloatingPointError, partial(getattr(student.clipping, name), grads, 1.0),
                          what=what, match=lambda message, key=bad_key: key in message,
                          hint=f"2.2: before clipping, check every array with np.isfinite and raise "
                               f"FloatingPointError with the offending key in the message (here {bad_key!r})")
            expect_untouched(grads, saved, what=what)
