"""Part 4, public tests: the training debug analyzer.

Every curve below is diagnosed by your ``debug_training`` and by the reference
(its answers are stored in ``golden.json``), and the two lists of messages
must be equal: the same messages, in the contract's order
(NOT_DECREASING, NAN_LOSS, PLATEAU, OVERFITTING), or ``[HEALTHY]``.
"""
import math

import numpy as np

from autograder.harness import expect_equal, expect_outcomes, expect_raises, fail, graded

LECTURE_TRAIN = [2.3, 1.8, 1.2, 0.8, 0.5, 0.3, 0.2, 0.15, 0.12, 0.10]
LECTURE_VAL = [2.3, 1.9, 1.4, 1.2, 1.1, 1.2, 1.4, 1.6, 1.8, 2.0]

# The exact texts the contract fixes for the module constants.
MESSAGES = {
    "NOT_DECREASING": "Loss did not decrease - check learning rate",
    "NAN_LOSS": "NaN in loss - numerical instability",
    "PLATEAU": "Loss plateaued - try lower learning rate",
    "OVERFITTING": "Overfitting detected - add regularization",
    "HEALTHY": "Training looks healthy!",
}
NAN, INF = math.nan, math.inf

HINT_NOT_DECREASING = ("3.1, problem 1 (loss not decreasing): NOT_DECREASING needs the first and the last training "
                       "loss to be finite, and fires when last >= first (equal counts as not decreasing)")
HINT_NON_FINITE = ("3.1, problem 2 (loss is NaN or Inf): NAN_LOSS fires for any nan, inf or -inf training loss "
                   "(np.isnan alone misses inf; use np.isfinite or math.isfinite); a non-finite loss is reported, "
                   "never raised")
HINT_PLATEAU = ("3.1, problem 3 (loss plateaus): PLATEAU looks at exactly the last 10 training losses, needs at "
                "least 10 losses, all 10 finite, and their population standard deviation (np.std, ddof=0) "
                "below 1e-3")
HINT_OVERFITTING = ("3.1, problem 4 (training good, validation bad): OVERFITTING needs >= 2 validation losses, all "
                    "finite, a training loss that fell (train[-1] < train[0], both finite) and "
                    "val[-1] - min(val) > 0.1 * abs(min(val)): compare with the best validation loss, not the first")
HINT_ORDER = ("3.1: the messages come in the contract's order NOT_DECREASING, NAN_LOSS, PLATEAU, OVERFITTING, "
              "each at most once; [HEALTHY] only when none applies")


# ---------------------------------------------------------------- helpers (also used by test_hidden.py)


def show_curve(values) -> str:
    """A curve as it was passed, with every value in full precision (boundary cases differ in the 6th digit)."""
    if values is None:
        return "None"
    items = ", ".join(repr(float(v)) for v in values)
    if isinstance(values, np.ndarray):
        return f"np.array([{items}])"
    if isinstance(values, tuple):
        return f"({items}{',' if len(values) == 1 else ''})"
    return f"[{items}]"


def show_call(train, val) -> str:
    call = f"debug_training({show_curve(train)}"
    return call + (")" if val is None else f", {show_curve(val)})")


def names_of(messages, aliases=None) -> str:
    """``["Loss did not ..."]`` -> ``[NOT_DECREASING]`` when every item is a known message."""
    by_text = aliases or {text: name for name, text in MESSAGES.items()}
    if isinstance(messages, (list, tuple)) and all(isinstance(m, str) and m in by_text for m in messages):
        return "[" + ", ".join(by_text[m] for m in messages) + "]"
    return repr(messages)


def message_aliases(student) -> dict[str, str]:
    """Text -> constant name, for the contract's texts and for the student's own constants.

    A result is graded by the constants it names, so a student whose constant
    text differs from the contract loses the constants test only.
    """
    aliases = {text: name for name, text in MESSAGES.items()}
    module = student.debugging
    for name in MESSAGES:
        text = getattr(module, name, None)
        if isinstance(text, str) and text not in aliases:
            aliases[text] = name
    return aliases


def copy_curve(values):
    """A fresh copy of the same kind (list, tuple or array), so no call sees another call's object."""
    if values is None:
        return None
    if isinstance(values, np.ndarray):
        return values.copy()
    return type(values)(values)


def call_student(student, train, val, case: str, hint: str, copy: bool = True):
    """The student's ``debug_training(train[, val])`` on copies (or, ``copy=False``, on the objects themselves).

    An exception the student's code raises fails the test, naming the case.
    """
    pass_on = copy_curve if copy else (lambda values: values)
    try:
        if val is None:
            return student.debugging.debug_training(pass_on(train))
        return student.debugging.debug_training(pass_on(train), pass_on(val))
    except Exception as exc:
        if getattr(exc, "status", "ok") != "ok":  # timeouts and crashes are reported as such
            raise
        fail_raised(getattr(exc, "original_type", "") or type(exc).__name__, str(exc), train, val, case, hint)


def fail_raised(kind: str, message: str, train, val, case: str, hint: str):
    """Fail the test: the student's ``debug_training`` raised ``kind: message`` on this case."""
    curves = [list(train)] + ([] if val is None else [list(val)])
    if not all(math.isfinite(float(v)) for curve in curves for v in curve):
        hint = HINT_NON_FINITE
    fail(f"case {case!r}: {show_call(train, val)} raised {kind}: {message}\n"
         f"  it should return a list of messages (a nan or inf loss is a diagnosis, not an error)", hint)


def diagnose_all(student, cases: list, hint: str) -> list:
    """The student's ``debug_training`` on copies of every ``(case, train, val)``, in one request to their code.

    Returns each call's outcome in order: ``["ok", value]`` or ``["raised", type name, message]``
    (``autograder.kit.calls.each``); a timeout or crash fails the test as a single call's would.
    """
    calls = [[copy_curve(train)] if val is None else [copy_curve(train), copy_curve(val)] for _, train, val in cases]
    return expect_outcomes(student.run_kit("calls.each", student.debugging.debug_training, calls), len(cases),
                           what=f"running debug_training on {len(cases)} cases", hint=hint)


def expect_messages(found, expected, train, val, case: str, hint: str, aliases=None) -> None:
    """Type first (a list), then every item (a message constant), then the whole list against ``expected``.

    ``aliases`` (from :func:`message_aliases`) maps each accepted text to its constant's name.
    """
    aliases = aliases or {text: name for name, text in MESSAGES.items()}

    def where() -> str:  # written out only for a failure: hundreds of cases pass
        return f"case {case!r}: {show_call(train, val)}"

    if type(found) is not list:
        fail(f"{where()} should return a list of str, but returned {type(found).__name__}: {found!r}",
             "build the result with issues = [] and issues.append(...), and return it (or [HEALTHY])")
    for i, item in enumerate(found):
        if not isinstance(item, str) or item not in aliases:
            fail(f"{where()} returned {found!r}: item {i} ({item!r}) is not one of the module's message constants",
                 "append the constants (NOT_DECREASING, NAN_LOSS, ...) themselves, not your own text")
    expected_names = [aliases[m] for m in expected]
    found_names = [aliases[m] for m in found]
    if found_names != expected_names:
        fail(f"{where()} returned the wrong messages.\n  expected: {names_of(expected)}\n"
             f"  found:    {names_of(found, aliases)}", hint_for(expected_names, found_names, hint))


def hint_for(expected_names, found_names, default: str) -> str:
    """The hint for the first check whose message is missing or extra (the order hint when only the order differs)."""
    by_check = {"NOT_DECREASING": HINT_NOT_DECREASING, "NAN_LOSS": HINT_NON_FINITE, "PLATEAU": HINT_PLATEAU,
                "OVERFITTING": HINT_OVERFITTING, "HEALTHY": HINT_ORDER}
    differing = [name for name in by_check if (name in expected_names) != (name in found_names)]
    if not differing:
        return HINT_ORDER if sorted(found_names) == sorted(expected_names) else default
    return by_check[differing[0]]


def curves_for_picture(case: str, train, val, found, expected, aliases=None) -> dict:
    """The feedback picture's data for one case: the curves ("nan"/"inf" as text) and both diagnoses by name."""
    def numbers(values):
        return [float(v) if math.isfinite(float(v)) else str(float(v)) for v in list(values)[:200]]

    return {"case": case, "train": numbers(train), "val": None if val is None else numbers(val),
            "found": names_of(found, aliases)[:200], "expected": names_of(expected)[:200]}


def check_cases(student, cases, expected_for, hint: str, feedback: dict | None = None) -> None:
    """Diagnose every ``(case, train, val)``; ``expected_for(case, train, val)`` gives the right list.

    With ``feedback`` (public tests), the first case diagnosed wrongly is kept for the feedback picture.
    """
    aliases = message_aliases(student)
    cases = list(cases)
    for (case, train, val), outcome in zip(cases, diagnose_all(student, cases, hint), strict=True):
        expected = expected_for(case, train, val)
        if outcome[0] == "raised":
            fail_raised(str(outcome[1]), str(outcome[2]), train, val, case, hint)
        found = outcome[1]
        try:
            expect_messages(found, expected, train, val, case, hint, aliases)
        except BaseException:
            if feedback is not None:  # the case the picture shows
                feedback["loss_curves"] = curves_for_picture(case, train, val, found, expected, aliases)
            raise


def golden_answers(golden, group: str):
    """``expected_for`` backed by the golden store: one stored answer per case, named ``debugging/<group>/<case>``."""

    def expected_for(case, train, val):
        def recipe(ref):
            if val is None:
                return ref.debugging.debug_training(copy_curve(train))
            return ref.debugging.debug_training(copy_curve(train), copy_curve(val))

        return golden(f"debugging/{group}/{case}", recipe)

    return expected_for


def alternating(center: float, spread: float, n: int = 10) -> list[float]:
    """``center + spread, center - spread, ...`` (n even): population std exactly ``spread`` up to rounding."""
    return [center + spread if i % 2 == 0 else center - spread for i in range(n)]


def ramp(start: float, step: float, n: int) -> list[float]:
    """``start, start - step, ...``: a falling line; for n = 10 its population std is ``step * 2.8723``."""
    return [start - step * i for i in range(n)]


# ---------------------------------------------------------------- tests


@graded(1, visibility="public", oracle="golden", topic="3.1 Common problems: overfitting")
def test_lecture_example(student, golden, feedback):
    expected = golden("debugging/lecture_example", lambda ref: ref.debugging.debug_training(LECTURE_TRAIN, LECTURE_VAL))
    found = call_student(student, LECTURE_TRAIN, LECTURE_VAL, "lecture example", HINT_OVERFITTING)
    feedback["loss_curves"] = curves_for_picture("lecture example", LECTURE_TRAIN, LECTURE_VAL, found, expected,
                                                 message_aliases(student))
    expect_messages(found, expected, LECTURE_TRAIN, LECTURE_VAL, "lecture example",
                    "compare the last validation loss with the best one, not the first", message_aliases(student))


@graded(0.5, visibility="public", oracle="property", topic="3.1 Common problems and solutions")
def test_message_constants(student):
    module = student.debugging
    expect_equal(module.debug_training([2.0, 1.0]), [MESSAGES["HEALTHY"]], what="debug_training([2.0, 1.0])",
                 hint="a falling loss with nothing wrong returns [HEALTHY], the module constant itself")
    for name, text in MESSAGES.items():
        try:
            found = getattr(module, name)
        except AttributeError:
            fail(f"debugging.py has no module constant {name}; the contract defines {name} = {text!r}",
                 "keep the constants of the handout at the top of debugging.py")
        if found != text:
            fail(f"debugging.{name} has the wrong text.\n  expected: {text!r}\n  found:    {found!r}",
                 "the constants are fixed by the contract, character for character; do not edit them")


@graded(0.5, visibility="public", oracle="golden", topic="3.1 Common problems and solutions")
def test_accepts_lists_tuples_and_arrays(student, golden, feedback):
    healthy = [2.0, 1.5, 1.1, 0.9]
    overfit_train, overfit_val = [2.0, 1.0, 0.5, 0.4], [1.5, 1.0, 1.2]
    cases = [
        ("healthy list, no val", healthy, None),
        ("healthy tuple, no val", tuple(healthy), None),
        ("healthy array, no val", np.array(healthy), None),
        ("overfitting lists", overfit_train, overfit_val),
        ("overfitting tuples", tuple(overfit_train), tuple(overfit_val)),
        ("overfitting arrays", np.array(overfit_train), np.array(overfit_val)),
        ("overfitting array and list", np.array(overfit_train), overfit_val),
        ("rising tuple", (1.0, 1.2, 1.5), None),
    ]
    check_cases(student, cases, golden_answers(golden, "types"),
                "a history may be a list, a tuple or a numpy array: index it, or convert it with np.asarray", feedback)


@graded(0.5, visibility="public", oracle="property", topic="3.1 Common problems and solutions")
def test_empty_history_raises(student):
    for empty in ([], (), np.array([])):
        expect_raises(ValueError, lambda e=empty: student.debugging.debug_training(e),
                      what=f"debug_training({show_curve(empty)})",
                      hint="an empty training history cannot be diagnosed: raise ValueError before the checks")
    expect_raises(ValueError, lambda: student.debugging.debug_training([], [1.0, 2.0]),
                  what="debug_training([], [1.0, 2.0])",
                  hint="an empty training history raises ValueError even when a validation history is given")


@graded(1, visibility="public", oracle="golden", topic="3.1 Common problems: loss not decreasing")
def test_not_decreasing(student, golden, feedback):
    cases = [
        ("falling", [1.0, 0.8, 0.6], None),
        ("rising", [1.0, 1.2, 1.5], None),
        ("last equals first", [0.7, 0.5, 0.7], None),
        ("constant, 3 points", [0.4, 0.4, 0.4], None),
        ("one loss", [1.0], None),
        ("last just below first", [1.0, 0.9, 0.9999999], None),
        ("last just above first", [1.0, 0.9, 1.0000001], None),
        ("negative losses, rising", [-2.0, -1.5, -1.0], None),
        ("nan between finite ends, rising", [1.0, NAN, 1.2], None),
        ("nan between finite ends, falling", [1.2, NAN, 1.0], None),
        ("inf between finite ends, equal", [1.0, INF, 1.0], None),
        ("last is nan", [1.0, 1.5, NAN], None),
        ("last is +inf", [1.0, 1.5, INF], None),
        ("first is nan", [NAN, 0.5, 0.6], None),
        ("first is -inf", [-INF, 0.5, 0.6], None),
    ]
    check_cases(student, cases, golden_answers(golden, "not_decreasing"), HINT_NOT_DECREASING, feedback)


@graded(1, visibility="public", oracle="golden", topic="3.1 Common problems: loss is NaN or Inf")
def test_non_finite_losses(student, golden, feedback):
    falling = [2.0, 1.5, 1.2, 1.0, 0.9]
    cases = [
        ("nan in the middle", [2.0, 1.5, NAN, 1.0, 0.9], None),
        ("+inf in the middle", [2.0, 1.5, INF, 1.0, 0.9], None),
        ("-inf in the middle", [2.0, 1.5, -INF, 1.0, 0.9], None),
        ("ends with nan", [2.0, 1.5, 1.2, NAN], None),
        ("ends with +inf", [2.0, 1.5, 1.2, INF], None),
        ("starts with +inf", [INF, 1.5, 1.2, 1.0], None),
        ("only nan", [NAN, NAN, NAN], None),
        ("one nan", [NAN], None),
        ("nan and inf, array", np.array([2.0, NAN, INF, 1.0]), None),
        ("val has nan", falling, [1.0, 0.8, NAN, 1.5]),
        ("val ends with +inf", falling, [1.0, 0.8, 0.9, INF]),
        ("val has -inf", falling, [1.0, -INF, 0.9, 1.5]),
        ("val overfits, train ends with nan", [2.0, 1.5, 1.2, NAN], [1.0, 0.8, 1.5]),
        ("val overfits, train starts with inf", [INF, 1.5, 1.2, 1.0], [1.0, 0.8, 1.5]),
    ]
    check_cases(student, cases, golden_answers(golden, "non_finite"), HINT_NON_FINITE, feedback)


@graded(1, visibility="public", oracle="golden", topic="3.1 Common problems: loss plateaus")
def test_plateau_window(student, golden, feedback):
    flat10 = ramp(0.5, 1e-4, 10)  # falling, std 2.9e-4
    flat9 = ramp(0.5, 1e-4, 9)
    cases = [
        ("exactly 10 flat points", flat10, None),
        ("exactly 9 flat points", flat9, None),
        ("11 flat points", ramp(0.5, 1e-4, 11), None),
        ("drop, then 10 flat points", [3.0, 2.0, 1.0] + flat10, None),
        ("big jump right before the last 10", [2.0, 1.5] + [5.0] + flat10, None),
        ("only the last 9 are flat", [2.0, 1.5] + [0.6] + flat9, None),
        ("constant, 12 points", [0.25] * 12, None),
        ("nan inside the last 10", [2.0, 1.5] + flat10[:4] + [NAN] + flat10[5:], None),
        ("inf inside the last 10", [2.0, 1.5] + flat10[:7] + [INF] + flat10[8:], None),
        ("nan just before the last 10", [2.0, 1.5, NAN] + flat10, None),
        ("nan at the start, 10 flat after", [NAN] + flat10, None),
        ("flat array", np.array([1.0, 0.8] + flat10), None),
    ]
    check_cases(student, cases, golden_answers(golden, "plateau_window"), HINT_PLATEAU, feedback)


@graded(1, visibility="public", oracle="golden", topic="3.1 Common problems: loss plateaus")
def test_plateau_threshold(student, golden, feedback):
    # alternating(c, s) has a population std of s; the sample std (ddof=1) would be s * 1.054.
    cases = [
        ("std 0.9999e-3 (just below)", [2.0, 1.0] + alternating(0.5, 0.9999e-3), None),
        ("std 1.0001e-3 (just above)", [2.0, 1.0] + alternating(0.5, 1.0001e-3), None),
        ("std 0.97e-3, sample std above 1e-3", [2.0, 1.0] + alternating(0.3, 0.97e-3), None),
        ("std 0.5e-3 around 10", [20.0, 15.0] + alternating(10.0, 0.5e-3), None),
        ("std 2e-3", [2.0, 1.0] + alternating(0.5, 2e-3), None),
        ("ramp with std 0.95e-3", ramp(0.8, 0.95e-3 / 2.8722813232690143, 10), None),
        ("ramp with std 1.05e-3", ramp(0.8, 1.05e-3 / 2.8722813232690143, 10), None),
        ("std just below, negative losses", [1.0, 0.0] + alternating(-0.5, 0.9999e-3), None),
    ]
    check_cases(student, cases, golden_answers(golden, "plateau_threshold"), HINT_PLATEAU, feedback)


@graded(1, visibility="public", oracle="golden", topic="3.1 Common problems: overfitting")
def test_overfitting_margin(student, golden, feedback):
    fell = [2.0, 1.0, 0.5, 0.4]
    cases = [
        ("10.0001% above the best", fell, [1.5, 1.0, 1.100001]),
        ("9.9999% above the best", fell, [1.5, 1.0, 1.099999]),
        ("last above first, within 10% of the best", fell, [1.0, 0.98, 1.05]),
        ("last below first, 60% above the best", fell, [2.0, 0.5, 0.8]),
        ("best is the last", fell, [1.5, 1.2, 1.0]),
        ("negative best, 10.0001% above", fell, [-0.5, -1.0, -0.899999]),
        ("negative best, 9.9999% above", fell, [-0.5, -1.0, -0.900001]),
        ("negative best, 5% above", fell, [-0.5, -1.0, -0.95]),
        ("best is zero, last above it", fell, [0.3, 0.0, 0.05]),
        ("best is zero, last equals it", fell, [0.3, 0.0, 0.0]),
        ("two values, rising", fell, [1.0, 1.2]),
        ("training loss rose", [0.4, 0.5, 0.6], [1.5, 1.0, 1.5]),
        ("training loss ends where it started", [0.4, 0.3, 0.4], [1.5, 1.0, 1.5]),
        ("no validation history", fell, None),
    ]
    check_cases(student, cases, golden_answers(golden, "overfitting"), HINT_OVERFITTING, feedback)


@graded(0.5, visibility="public", oracle="golden", topic="3.1 Common problems: overfitting")
def test_validation_lengths(student, golden, feedback):
    long_train = [3.0, 2.5, 2.0, 1.6, 1.3, 1.1, 1.0, 0.9, 0.85, 0.8, 0.78, 0.76]
    cases = [
        ("val of length 1", [2.0, 1.0], [5.0]),
        ("val of length 1, negative", [2.0, 1.0], [-5.0]),
        ("empty val", [2.0, 1.0], []),
        ("val of length 2, overfitting", [2.0, 1.0], [1.0, 2.0]),
        ("12 train, 3 val, overfitting", long_train, [1.0, 0.9, 1.2]),
        ("12 train, 3 val, healthy", long_train, [1.0, 0.9, 0.8]),
        ("3 train, 12 val, overfitting", [2.0, 1.5, 1.0], long_train[::-1]),
        ("1 train, 3 val", [1.0], [1.0, 0.5, 2.0]),
    ]
    check_cases(student, cases, golden_answers(golden, "lengths"), HINT_OVERFITTING, feedback)


@graded(0.5, visibility="public", oracle="golden", topic="3.1 Common problems and solutions")
def test_message_order(student, golden, feedback):
    flat10 = ramp(0.5, 1e-4, 10)
    cases = [
        ("not decreasing + nan + plateau", [0.5, NAN] + [0.5] * 10, None),
        ("nan + plateau + overfitting", [5.0, NAN] + flat10, [1.0, 0.5, 1.0]),
        ("plateau + overfitting", [5.0] + flat10, [1.0, 0.5, 1.0]),
        ("not decreasing + plateau", [0.1] + [0.5] * 10, None),
        ("not decreasing + nan", [1.0, NAN, 2.0], [1.0, 0.5, 1.0]),
    ]
    check_cases(student, cases, golden_answers(golden, "order"), HINT_ORDER, feedback)
