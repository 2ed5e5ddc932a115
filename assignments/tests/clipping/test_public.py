"""Part 2, public tests: gradient clipping (lecture section 2.2).

Values defined by a formula (a norm, a clipped entry) are compared to within
rounding: ``rtol = 1e-9``. Rescaled arrays are compared to a relative
``clip_rtol`` (1e-6) plus ``1e-6 / norm``: the contract lets you leave out the
``1e-6`` in ``max_norm / (total + 1e-6)``, which changes the coefficient by
the factor ``1 + 1e-6 / total``. ``float32`` arrays are compared to a relative
1e-4: their unit roundoff is 6e-8 and a correct implementation may add up to
1,000 squares in float32 (worst case about 1000 * 6e-8 = 6e-5); no float32
input here has more entries.
"""
import math
from functools import partial

import numpy as np

from autograder.harness import expect_array, expect_raises, expect_scalar, expect_true, fail, graded

TOPIC = "2.2 Gradient clipping"
CONTRACT_EPSILON = 1e-6  # the epsilon in max_norm / (total + 1e-6), which may be left out
FLOAT32_RTOL = 1e-4

HINT_NORM = "2.2: the global norm is sqrt(sum of g**2 over every entry of every array), 0.0 for an empty dict"
HINT_VALUE = "2.2 strategy 1: np.clip(g, -clip_value, clip_value) for every array (both bounds)"
HINT_NORM_CLIP = ("2.2 strategy 2: each array on its own: n = its L2 norm; if n > max_norm multiply it by "
                  "max_norm / n, otherwise return a copy")
HINT_GLOBAL = ("2.2 strategy 3: total = the global norm of all arrays together; coef = max_norm / (total + 1e-6); "
               "when coef < 1 multiply every array by the same coef; return (new dict, total before clipping)")
HINT_FRESH = ("2.2: build a new dict of new arrays (g * coef, np.clip(...) or g.copy()); never assign into grads "
              "or its arrays (no g *= coef, no grads[name] = ...)")


# ---------------------------------------------------------------- helpers shared with test_hidden.py


def exact_global_norm(grads) -> float:
    """The global norm with correctly rounded summation (math.fsum) in float64."""
    return math.sqrt(math.fsum(float(v) ** 2 for g in grads.values() for v in np.ravel(g).astype(np.float64)))


def rescaled_rtol(tol, norm: float) -> float:
    """Relative tolerance for arrays rescaled by ``max_norm / (norm + 1e-6)`` (the epsilon may be left out)."""
    return tol.clip_rtol + CONTRACT_EPSILON / max(norm, 1e-2)


def copy_grads(grads) -> dict:
    return {name: np.array(g, copy=True) for name, g in grads.items()}


def describe(grads) -> str:
    """A dict of gradients in words, for messages."""
    if not grads:
        return "an empty dict"
    parts = ", ".join(f"{name!r} {tuple(g.shape)} {g.dtype}" for name, g in grads.items())
    return f"a dict of {len(grads)} array{'s' if len(grads) > 1 else ''} ({parts}) with global norm " \
           f"{exact_global_norm(grads):.6g}"


def expect_keys(found, expected, *, what: str, hint: str) -> dict:
    """A dict with exactly the keys of ``expected``."""
    if not isinstance(found, dict):
        fail(f"{what} should return a dict (name -> array), but returned {type(found).__name__}", hint)
    if sorted(map(str, found)) != sorted(expected):
        fail(f"{what} returned the wrong keys.\n  expected: {sorted(expected)}\n  found:    {sorted(map(str, found))}",
             "2.2: the result has exactly the keys of grads")
    return found


def expect_grads(found, expected, *, what: str, rtol: float, atol: float, hint: str) -> dict:
    """A dict with exactly ``expected``'s keys, each an array of the same shape and dtype with close values."""
    expect_keys(found, expected, what=what, hint=hint)
    for name, want in expected.items():
        expect_array(found[name], want, what=f"{what}, array {name!r}", rtol=rtol, atol=atol, dtype=want.dtype,
                     hint=hint + ("; keep each array's dtype (a float32 gradient stays float32)"
                                  if want.dtype != np.float64 else ""))
    return found


def global_clip_hint(found, grads, max_norm: float) -> str:
    """HINT_GLOBAL, naming the mistake when ``found`` is what clipping each array on its own would give."""
    try:
        per_array = all(np.allclose(found[name], g * min(1.0, max_norm / max(float(np.linalg.norm(g)), 1e-300)),
                                    rtol=1e-4, atol=0.0) for name, g in grads.items())
    except Exception:  # noqa: BLE001 - no diagnosis for results of the wrong structure
        per_array = False
    return HINT_GLOBAL + ("; your arrays were each clipped by their own norm (that is clip_by_norm), not by the "
                          "global norm" if per_array and len(grads) > 1 else "")


def unpack_global(result, *, what: str):
    """``clip_by_global_norm``'s result as ``(clipped, total)``."""
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        fail(f"{what} should return a tuple (clipped_dict, total_norm), but returned {type(result).__name__}"
             + (f" of length {len(result)}" if isinstance(result, (tuple, list)) else ""), HINT_GLOBAL)
    return result


def expect_untouched(grads, saved, *, what: str) -> None:
    """``grads`` still holds exactly ``saved``'s keys and values (after the call has had its chance to change it)."""
    if sorted(grads) != sorted(saved):
        fail(f"{what} changed the keys of its input dict: before {sorted(saved)}, after {sorted(grads)}", HINT_FRESH)
    for name, before in saved.items():
        after = grads[name]
        same = isinstance(after, np.ndarray) and after.shape == before.shape and after.dtype == before.dtype \
            and np.array_equal(after, before, equal_nan=True)
        if not same:
            index = ""
            if isinstance(after, np.ndarray) and after.shape == before.shape:
                diff = np.argwhere(~((after == before) | (np.isnan(after) & np.isnan(before))))
                if diff.size:
                    i = tuple(int(k) for k in diff[0])
                    index = f" (first change at index {i}: {float(before[i])!r} became {float(after[i])!r})"
            fail(f"{what} modified its input: grads[{name!r}] is no longer what was passed in{index}", HINT_FRESH)


def expect_fresh(result, grads, *, what: str) -> None:
    """``result`` is a new dict whose arrays share no memory with ``grads``'s arrays."""
    if result is grads:
        fail(f"{what} returned its input dict itself; it should return a new dict", HINT_FRESH)
    for name, out in result.items():
        for in_name, g in grads.items():
            if out is g or (isinstance(out, np.ndarray) and np.shares_memory(out, g)):
                fail(f"{what}: the returned array [{name!r}] shares its memory with the input array [{in_name!r}]; "
                     "changing one would change the other", HINT_FRESH)


def lecture_gradients() -> dict:
    """Exploding gradients as in the lecture's demo: N(0, 10**2) entries, fixed seed."""
    rng = np.random.default_rng(42)
    return {"dw1": rng.standard_normal((100, 100)) * 10, "dw2": rng.standard_normal((100, 50)) * 10,
            "dw3": rng.standard_normal((50, 10)) * 10}


# ---------------------------------------------------------------- the tests


@graded(1, visibility="public", oracle="property", topic=TOPIC)
def test_global_norm_small_examples(student, tol):
    """global_norm on hand-made dicts: {'w': [[3, 4]]} -> 5, a 3-D array, two arrays together, and {} -> 0.0."""
    cases = (
        ({"w": np.array([[3.0, 4.0]])}, 5.0, "{'w': [[3, 4]]}"),
        ({"a": np.array([1.0, 2.0]), "b": np.array([[2.0], [0.0]])}, 3.0, "{'a': [1, 2], 'b': [[2], [0]]}"),
        ({"t": np.ones((2, 3, 4))}, math.sqrt(24.0), "{'t': np.ones((2, 3, 4))}"),
        ({"w": np.array([[-3.0, 0.0], [0.0, -4.0]]), "b": np.array([-12.0])}, 13.0,
         "{'w': [[-3, 0], [0, -4]], 'b': [-12]}"),
        ({}, 0.0, "{}"),
    )
    for grads, expected, text in cases:
        expect_scalar(student.clipping.global_norm(grads), expected, what=f"global_norm({text})", rtol=tol.rtol,
                      atol=tol.atol, hint=HINT_NORM)


@graded(1, visibility="public", oracle="golden", topic=TOPIC)
def test_global_norm_lecture_gradients(student, golden, tol):
    """global_norm of the lecture's exploding gradients (three arrays, entries N(0, 10**2))."""
    expected = golden("clipping/global_norm/lecture", lambda ref: ref.clipping.global_norm(lecture_gradients()))
    found = student.clipping.global_norm(lecture_gradients())
    expect_scalar(found, expected, what=f"global_norm of the lecture's gradients, {describe(lecture_gradients())}",
                  rtol=tol.rtol,
                  atol=tol.atol, hint=HINT_NORM + "; add the squares of all arrays before taking one square root")


@graded(1.5, visibility="public", oracle="property", topic=TOPIC)
def test_clip_by_value_is_symmetric(student, tol):
    """clip_by_value clips every entry to [-clip_value, clip_value] and keeps keys, shapes and dtypes."""
    grads = {"w": np.array([[-3.0, -0.5, 0.0], [0.5, 2.0, 1.0]]), "b": np.array([-1.0, 7.5]),
             "h": np.array([-0.3, 0.2, 0.9], dtype=np.float32)}
    cases = (
        (1.0, {"w": [[-1.0, -0.5, 0.0], [0.5, 1.0, 1.0]], "b": [-1.0, 1.0], "h": [-0.3, 0.2, 0.9]}),
        (0.25, {"w": [[-0.25, -0.25, 0.0], [0.25, 0.25, 0.25]], "b": [-0.25, 0.25], "h": [-0.25, 0.2, 0.25]}),
    )
    for clip_value, values in cases:
        expected = {name: np.array(v, dtype=grads[name].dtype) for name, v in values.items()}
        found = student.clipping.clip_by_value(copy_grads(grads), clip_value)
        expect_grads(found, expected, what=f"clip_by_value({{'w': 2x3, 'b': [-1, 7.5], 'h': float32}}, {clip_value})",
                     rtol=tol.rtol, atol=tol.atol, hint=HINT_VALUE)


def _norm_clip_input() -> dict:
    rng = np.random.default_rng(2202)
    return {"big": rng.standard_normal((4, 5)) * 5.0, "small": np.array([0.1, -0.2, 0.2]),
            "mid": rng.standard_normal((2, 2)) * 2.0, "bias": np.array([[-30.0, 40.0]])}


@graded(1.5, visibility="public", oracle="golden", topic=TOPIC)
def test_clip_by_norm_rescales_each_array_alone(student, golden, tol):
    """clip_by_norm(grads, 1.0): each array with norm above 1 is rescaled to norm 1; the others stay as they are."""
    max_norm = 1.0
    expected = golden("clipping/clip_by_norm/mixed",
                      lambda ref: ref.clipping.clip_by_norm(_norm_clip_input(), max_norm))
    grads = _norm_clip_input()
    what = f"clip_by_norm(grads, {max_norm}) on {describe(grads)}"
    found = expect_keys(student.clipping.clip_by_norm(_norm_clip_input(), max_norm), grads, what=what,
                        hint=HINT_NORM_CLIP)
    for name, g in grads.items():
        norm = float(np.linalg.norm(g))
        if norm <= max_norm:
            expect_grads({name: found[name]}, {name: g}, what=what, rtol=tol.rtol, atol=tol.atol,
                         hint=f"{HINT_NORM_CLIP}; [{name!r}] has norm {norm:.4g} <= {max_norm}, so it stays as it is")
        else:
            expect_grads({name: found[name]}, {name: expected[name]}, what=what, rtol=rescaled_rtol(tol, norm),
                         atol=tol.atol, hint=f"{HINT_NORM_CLIP}; [{name!r}] has norm {norm:.4g} > {max_norm}, so it "
                                             f"is multiplied by {max_norm} / {norm:.4g}, whatever the other arrays are")


@graded(2, visibility="public", oracle="golden", topic=TOPIC)
def test_clip_by_global_norm_lecture_example(student, golden, tol):
    """The lecture's demo: the gradients (norm ~1284) clipped to max_norm 5.0; returns the clipped dict and the norm."""
    expected_grads, expected_total = golden(
        "clipping/clip_by_global_norm/lecture", lambda ref: ref.clipping.clip_by_global_norm(lecture_gradients(), 5.0))
    what = f"clip_by_global_norm(grads, 5.0) on the lecture's gradients, {describe(lecture_gradients())}"
    clipped, total = unpack_global(student.clipping.clip_by_global_norm(lecture_gradients(), 5.0), what=what)
    expect_scalar(total, expected_total, what=f"the norm returned by {what}", rtol=tol.rtol, atol=tol.atol,
                  hint=HINT_GLOBAL + (" (you returned the norm after clipping)"
                                      if isinstance(total, (int, float)) and abs(total - 5.0) < 1e-3 else ""))
    expect_grads(clipped, expected_grads, what=f"the clipped dict of {what}", rtol=rescaled_rtol(tol, expected_total),
                 atol=tol.atol, hint=global_clip_hint(clipped, lecture_gradients(), 5.0))


@graded(1, visibility="public", oracle="property", topic=TOPIC)
def test_clip_by_global_norm_below_threshold_changes_nothing(student, tol):
    """Gradients with global norm 1.3 and max_norm 5.0: the same values come back, with total 1.3."""
    grads = {"w": np.array([[0.3, -0.4]]), "b": np.array([1.2])}
    what = "clip_by_global_norm({'w': [[0.3, -0.4]], 'b': [1.2]}, 5.0) (global norm 1.3)"
    clipped, total = unpack_global(student.clipping.clip_by_global_norm(copy_grads(grads), 5.0), what=what)
    expect_scalar(total, 1.3, what=f"the norm returned by {what}", rtol=tol.rtol, atol=tol.atol, hint=HINT_GLOBAL)
    expect_grads(clipped, grads, what=f"the clipped dict of {what}", rtol=tol.rtol, atol=tol.atol,
                 hint=HINT_GLOBAL + "; nothing is rescaled when coef >= 1")


def _mutation_input() -> dict:
    rng = np.random.default_rng(2203)
    return {"dw1": rng.standard_normal((6, 4)) * 3.0, "db1": rng.standard_normal((1, 4)),
            "dw2": rng.standard_normal((4, 2)) * 0.1}


@graded(1, visibility="public", oracle="property", topic=TOPIC)
def test_inputs_untouched_and_results_fresh(student):
    """No function changes grads (its keys or arrays); each returns a new dict of arrays sharing no memory with it.

    Each clipping function is called with a bound that clips and one that does not.
    """
    calls = (("global_norm", ()), ("clip_by_value", (0.5,)), ("clip_by_value", (100.0,)),
             ("clip_by_norm", (0.5,)), ("clip_by_norm", (100.0,)),
             ("clip_by_global_norm", (0.5,)), ("clip_by_global_norm", (100.0,)))
    for name, args in calls:
        grads = _mutation_input()
        saved = copy_grads(grads)
        what = f"{name}(grads{''.join(f', {a}' for a in args)}) on {describe(saved)}"
        result = getattr(student.clipping, name)(grads, *args)
        expect_untouched(grads, saved, what=what)
        if name == "clip_by_global_norm":
            result = unpack_global(result, what=what)[0]
        if name != "global_norm":
            expect_true(isinstance(result, dict), f"{what} should return a dict, but returned "
                                                  f"{type(result).__name__}", HINT_FRESH)
            expect_fresh(result, grads, what=what)


@graded(1, visibility="public", oracle="property", topic=TOPIC)
def test_non_positive_bounds_raise(student):
    """clip_value <= 0 and max_norm <= 0 raise ValueError."""
    for name in ("clip_by_value", "clip_by_norm", "clip_by_global_norm"):
        for bound in (0.0, -1.0):
            expect_raises(ValueError, partial(getattr(student.clipping, name), _mutation_input(), bound),
                          what=f"{name}(grads, {bound})",
                          hint="2.2: check the bound first: raise ValueError unless it is > 0")
