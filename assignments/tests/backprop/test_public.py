"""Part 3, public tests: backpropagation and gradient checking (lecture sections 3 and 4).

How the tests stay fair
-----------------------
* Each test grades one thing. The gradient tests *set* the model's six
  parameters (``model.W1 = ...``) to values the harness chose before calling
  ``gradients``, so a faulty initializer costs only the initializer tests.
  Reading ``model.W1`` gives a copy; the harness never relies on aliasing a
  student's arrays.
* Values the contract defines by a formula (probabilities, the loss, the
  gradients) are compared with ``np.allclose``-style tolerances
  ``rtol = 1e-9, atol = 1e-12`` (``course.toml``), which leaves room for any
  order of summation, for ``dz3 = probs - Y`` with the ``1/m`` applied to the
  weight gradients afterwards, for a log-softmax, for loops instead of matrix
  products.
* "The gradient of ``loss``" has two right answers that differ by more than
  ``rtol``: the lecture's ``dz3 = (probs - Y) / m`` (the exact gradient of
  the cross-entropy without the ``1e-8``) and the exact gradient of the
  contract's loss *with* the ``1e-8`` inside the log, which scales each
  row's ``probs - Y`` by ``p / (p + 1e-8)`` (``p`` the row's true-class
  probability), about ``1e-8 / p`` relative. A student may give either; the
  golden and reference values hold both (:func:`reference_gradients`).
* Gradients are also checked against central differences computed *by the
  harness* from the student's own ``forward`` (no reference needed), of the
  loss with and without the ``1e-8`` (the two readings above). The inputs
  are drawn so that no ReLU input is within ``1e-3`` of its kink (a step of
  ``h = 1e-5`` never crosses one) and every true-class probability is at
  least 0.05. Central differences are then accurate to about ``1e-10``
  absolute (measured on 300 seeds: at most 0.2% of the allowance below), and
  a gradient passes when every entry is within ``1e-6 (|analytic| +
  |numeric|) + 1e-8`` of one of the two: CS231n's "relative error below
  1e-6", with a floor that keeps entries that are zero up to rounding from
  counting as errors. Every real mistake (a missing ``1/m``, a wrong mask, a
  transpose) is off by orders of magnitude more.
* ``gradient_check`` runs on the kit's ``GraderMLP`` and ``BrokenMLP`` with a
  problem where the harness's own check gives below ``1e-7`` and no gradient
  entry is below ``1e-4`` (:func:`draw_checkable_problem`), so a correct
  implementation reports below ``1e-6`` whatever its order of operations,
  and the planted bug shows as ~1.
* ``numerical_gradient`` is compared with the analytic gradients of the
  kit's functions; the allowed error is derived from the method, not tuned:
  floating-point rounding of ``f`` (at most ``N * eps * sum|terms|`` for
  ``N`` terms) divided by ``h``, plus the central-difference truncation
  ``h**2 / 6 * max|f'''|`` (zero for a quadratic).
* The initializer statistics fail a correct model with probability below
  ``course.tolerances.false_failure_probability`` (1e-9) for every seed:
  see :func:`check_he_weights`.
"""
from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

from autograder.harness import (
    expect_array,
    expect_equal,
    expect_outcomes,
    expect_raises,
    expect_scalar,
    expect_true,
    fail,
    get_attributes,
    graded,
    set_attributes,
)
from autograder.kit.functions import Quadratic, SinProduct
from autograder.kit.models import BrokenMLP, GraderMLP

PARAMS = ("W1", "b1", "W2", "b2", "W3", "b3")
BACKPROP_ORDER = ("W3", "b3", "W2", "b2", "W1", "b1")  # the order in which backpropagation computes them
EPS = float(np.finfo(np.float64).eps)

TOPIC_INIT = "4.1 Complete training pipeline: He initialization for the ReLU layers"
TOPIC_FORWARD = "4.1 Complete training pipeline: the forward pass and softmax"
TOPIC_STABLE = "3.1 Loss is NaN or Inf: numerical instability"
TOPIC_LOSS = "3.1 Loss is NaN or Inf: add epsilon to logs"
TOPIC_BACKWARD = "4.1 Complete training pipeline: the backward pass"
TOPIC_GRADCHECK = "3.1 Loss not decreasing: verify gradient computation (gradient check)"

HINT_CHAIN = ("chain rule, from the output back: dz3 = (probs - Y) / m; dW3 = a2.T @ dz3; "
              "dz2 = (dz3 @ W3.T) * (z2 > 0); dW2 = a1.T @ dz2; dz1 = (dz2 @ W2.T) * (z1 > 0); dW1 = X.T @ dz1; "
              "each db is the sum of its dz over the rows (axis=0, keepdims=True)")
HINT_MEAN = ("the loss is the mean over the m rows of the batch, so dz3 = (probs - Y) / m and every gradient "
             "carries that 1/m exactly once")
HINT_RELU = "ReLU's derivative is 1 where its input z is positive and 0 elsewhere: multiply by (z > 0)"
HINT_STABLE = ("subtract each row's largest logit before exp: z - z.max(axis=1, keepdims=True); softmax does not "
               "change and exp never overflows")
HINT_STEP = "step updates each parameter named in grads: param = param - lr * grads[name] (minus: downhill)"

LAYER_HINTS = {
    "W3": "the output layer: dz3 = (probs - Y) / m and dW3 = a2.T @ dz3 (a2 is the second ReLU's output)",
    "b3": "the output layer: db3 = dz3.sum(axis=0, keepdims=True) with dz3 = (probs - Y) / m",
    "W2": "layer 2 (the output layer's gradients are right): dz2 = (dz3 @ W3.T) * (z2 > 0), dW2 = a1.T @ dz2; "
          "check the ReLU mask of layer 2 and the transpose of W3",
    "b2": "layer 2 (the output layer's gradients are right): db2 = dz2.sum(axis=0, keepdims=True) with "
          "dz2 = (dz3 @ W3.T) * (z2 > 0); check the ReLU mask of layer 2",
    "W1": "layer 1 (layers 2 and 3 are right): dz1 = (dz2 @ W2.T) * (z1 > 0), dW1 = X.T @ dz1; check the "
          "ReLU mask of layer 1 and the transpose of W2",
    "b1": "layer 1 (layers 2 and 3 are right): db1 = dz1.sum(axis=0, keepdims=True) with "
          "dz1 = (dz2 @ W2.T) * (z1 > 0); check the ReLU mask of layer 1",
}

# The golden problem: a small network whose parameters and batch come from fixed seeds.
GOLDEN_SIZES = (6, 5, 4, 3)
GOLDEN_M = 7
GOLDEN_SEED = 20261130


# ---------------------------------------------------------------- problems (pure NumPy, harness side)


def harness_forward(params: dict, X: np.ndarray):
    """The contract's forward pass, computed by the harness: ``(z1, z2, logits, probs)``."""
    z1 = X @ params["W1"] + params["b1"]
    z2 = np.maximum(z1, 0.0) @ params["W2"] + params["b2"]
    logits = np.maximum(z2, 0.0) @ params["W3"] + params["b3"]
    return z1, z2, logits, stable_softmax(logits)


def stable_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def contract_loss(probs, Y) -> float:
    """``-mean(sum(Y * log(probs + 1e-8), axis=1))``, the contract's loss."""
    return float(-np.mean(np.sum(Y * np.log(probs + 1e-8), axis=1)))


def one_hot(labels, classes: int) -> np.ndarray:
    return np.eye(classes)[np.asarray(labels)]


def draw_problem(sizes, m: int, rng, *, weight_scale: float = 0.8, margin: float = 1e-3, min_prob: float = 0.05,
                 need_dead: bool = False, need_coactive: bool = False):
    """Parameters, a batch ``X`` and one-hot ``Y`` for a network of ``sizes``, safe for finite differences.

    Every ReLU input is at least ``margin`` away from 0 and every true-class
    probability is at least ``min_prob`` (see the module docstring). With
    ``need_dead``, every first-layer unit is negative for at least one row
    (so a missing ReLU mask in layer 1 changes its gradient). With
    ``need_coactive``, every pair of a first-layer and a second-layer unit is
    positive together on some row (otherwise that entry of ``W2``'s gradient
    is exactly 0).
    """
    for _ in range(10_000):
        params = {}
        for k in range(3):
            fan_in, fan_out = sizes[k], sizes[k + 1]
            params[f"W{k + 1}"] = rng.standard_normal((fan_in, fan_out)) * (weight_scale * math.sqrt(2.0 / fan_in))
            params[f"b{k + 1}"] = rng.standard_normal((1, fan_out)) * 0.1
        X = rng.standard_normal((m, sizes[0]))
        Y = one_hot(rng.integers(0, sizes[3], size=m), sizes[3])
        z1, z2, _, probs = harness_forward(params, X)
        ok = min(np.abs(z1).min(), np.abs(z2).min()) > margin and np.sum(probs * Y, axis=1).min() >= min_prob
        if ok and need_dead:
            ok = bool(np.all((z1 < 0).any(axis=0)) and np.all((z1 > 0).any(axis=0)))
        if ok and need_coactive:
            ok = bool(np.all((z1 > 0).T @ (z2 > 0)))
        if ok:
            return params, X, Y
    raise RuntimeError("could not draw a problem away from the ReLU kinks")  # pragma: no cover


def golden_problem():
    """The fixed problem of the golden tests (the same values on every machine)."""
    return draw_problem(GOLDEN_SIZES, GOLDEN_M, np.random.default_rng(GOLDEN_SEED))


def describe_sizes(sizes) -> str:
    return f"MNISTClassifier(layer_sizes={tuple(sizes)})"


# ---------------------------------------------------------------- talking to a (student or reference) model


def new_model(part, sizes, seed: int = 0):
    """``part.MNISTClassifier(sizes, rng=np.random.default_rng(seed))``."""
    return part.MNISTClassifier(tuple(sizes), rng=np.random.default_rng(seed))


def set_params(model, params: dict) -> None:
    """Give the model these parameters (copies: the harness keeps its own arrays), in one request."""
    set_attributes(model, {name: np.array(params[name], dtype=np.float64, copy=True) for name in PARAMS})


def read_params(model, *, what: str = "the model") -> dict:
    """Copies of the model's six parameters, after checking each is an ndarray (read in one request)."""
    found = get_attributes(model, PARAMS)
    out = {}
    for name in PARAMS:
        if name not in found:
            fail(f"{what} has no attribute {name}", "MNISTClassifier keeps its parameters as the attributes "
                 "W1, b1, W2, b2, W3, b3")
        value = found[name]
        if type(value) is not np.ndarray:
            fail(f"{what}.{name} should be a numpy.ndarray, but is {type(value).__name__}")
        out[name] = np.array(value, copy=True)
    return out


def reference_gradients(ref, sizes, params, X, Y) -> dict:
    """The reference's gradients at ``params``, in both readings the contract allows.

    ``"probs_minus_y"`` is the reference's own answer, ``dz3 = (probs - Y) / m``
    (the lecture's formula: the exact gradient of the cross-entropy without
    the ``1e-8``). ``"with_eps"`` is the exact gradient of the contract's loss
    *with* the ``1e-8`` inside the log, which scales row ``r``'s contribution
    by ``p_r / (p_r + 1e-8)`` (``p_r`` its true-class probability); it is
    assembled from the reference's one-row gradients. The two differ by about
    ``1e-8 / p_r`` relative, above ``rtol = 1e-9``: a student may give either.
    """
    model = new_model(ref.backprop, sizes)
    set_params(model, params)
    plain = {k: np.array(v, copy=True) for k, v in model.gradients(X, Y).items()}
    probs = np.array(model.forward(X), copy=True)
    p_true = np.sum(probs * Y, axis=1)
    scale = p_true / (p_true + 1e-8)
    m = X.shape[0]
    with_eps = {k: np.zeros_like(v) for k, v in plain.items()}
    for r in range(m):
        row = model.gradients(X[r:r + 1], Y[r:r + 1])
        for k in with_eps:
            with_eps[k] += scale[r] * np.asarray(row[k]) / m
    return {"probs_minus_y": plain, "with_eps": with_eps}


def reference_forward(ref, sizes, params, X) -> np.ndarray:
    model = new_model(ref.backprop, sizes)
    set_params(model, params)
    return np.array(model.forward(X), copy=True)


# ---------------------------------------------------------------- staged checks


def expect_probs(found, m: int, classes: int, *, what: str) -> np.ndarray:
    """An ndarray of shape ``(m, classes)``, finite, rows summing to 1."""
    if type(found) is not np.ndarray:
        fail(f"{what} should return a numpy.ndarray of shape {(m, classes)}, but returned {type(found).__name__}",
             TOPIC_FORWARD)
    if found.shape != (m, classes):
        fail(f"{what} has the wrong shape.\n  expected shape: {(m, classes)} (one row of class probabilities per "
             f"example)\n  found shape:    {found.shape}", "probs = softmax(a2 @ W3 + b3), one row per row of X")
    if found.dtype.kind != "f":
        fail(f"{what} should hold floats, found dtype {found.dtype}")
    probs = found.astype(np.float64)
    bad_rows = np.flatnonzero(~np.all(np.isfinite(probs), axis=1))
    if bad_rows.size:
        r = int(bad_rows[0])
        fail(f"{what} holds nan or inf in {bad_rows.size} of {m} rows; row {r} is {probs[r].tolist()}", HINT_STABLE)
    sums = probs.sum(axis=1)
    off = np.abs(sums - 1.0)
    if off.max() > 1e-9:
        r = int(np.argmax(off))
        by_column = np.allclose(probs.sum(axis=0), 1.0, rtol=0, atol=1e-9)
        fail(f"the rows of {what} should each sum to 1 (a probability distribution per example).\n"
             f"  row {r} sums to {float(sums[r])!r}",
             "normalize over the classes of each row: exp(z) / exp(z).sum(axis=1, keepdims=True)"
             + (" - yours sum to 1 down the columns (axis=0)" if by_column else ""))
    return probs


def _scale_of(found: np.ndarray, expected: np.ndarray) -> float | None:
    """``c`` when ``found`` is ``c * expected`` (to within 1e-6), else ``None``."""
    denom = float(np.sum(expected * expected))
    if denom == 0.0:
        return None
    c = float(np.sum(found * expected)) / denom
    return c if np.allclose(found, c * expected, rtol=1e-6, atol=1e-12) else None


def gradient_hint(name: str, found: np.ndarray, expected: np.ndarray, m: int) -> str:
    """A hint naming the likely mistake when gradient ``name`` has wrong values."""
    c = _scale_of(found, expected)
    if c is not None and m > 1 and math.isclose(c, m, rel_tol=1e-6):
        return f"yours is exactly m = {m} times too large: {HINT_MEAN}"
    if c is not None and m > 1 and math.isclose(c, 1.0 / m, rel_tol=1e-6):
        return f"yours is exactly m = {m} times too small: the 1/m is applied twice. {HINT_MEAN}"
    if c is not None and math.isclose(c, -1.0, rel_tol=1e-6):
        return "yours has the wrong sign: dL/dz3 = probs - Y (not Y - probs)"
    return LAYER_HINTS[name] + ". " + HINT_CHAIN


def expect_gradient_structure(found, shapes: dict, *, what: str) -> dict:
    """Staged: a dict, exactly the six keys, each an ndarray with its parameter's shape; returns float64 copies."""
    if not isinstance(found, dict):
        fail(f"{what} should return a dict of six gradients (keys {', '.join(PARAMS)}), but returned "
             f"{type(found).__name__}", HINT_CHAIN)
    keys = set(found)
    if keys != set(PARAMS):
        missing = [k for k in PARAMS if k not in keys]
        extra = sorted(map(str, keys - set(PARAMS)))
        fail(f"{what} has the wrong keys.\n  expected: {', '.join(PARAMS)}\n  found:    "
             f"{', '.join(sorted(map(str, keys)))}" + (f"\n  missing: {', '.join(missing)}" if missing else "")
             + (f"\n  unexpected: {', '.join(extra)}" if extra else ""),
             "name each gradient after its parameter: grads['W1'] is dLoss/dW1")
    for name in BACKPROP_ORDER:
        value, shape = found[name], tuple(shapes[name])
        if type(value) is not np.ndarray:
            fail(f"grads['{name}'] from {what} should be a numpy.ndarray of shape {shape}, but is "
                 f"{type(value).__name__}")
        if value.shape != shape:
            if value.shape == shape[::-1]:
                hint = ("a weight gradient has its weight's shape (fan_in, fan_out): dW = a_prev.T @ dz, "
                        "not dz.T @ a_prev")
            elif name.startswith("b"):
                hint = "a bias gradient keeps the bias's shape (1, d): dz.sum(axis=0, keepdims=True)"
            else:
                hint = HINT_CHAIN
            fail(f"grads['{name}'] from {what} has the wrong shape.\n  expected shape: {shape} (the shape of {name})\n"
                 f"  found shape:    {value.shape}", hint)
        if value.dtype.kind != "f":
            fail(f"grads['{name}'] from {what} should hold floats, found dtype {value.dtype}")
    return {k: np.array(found[k], dtype=np.float64, copy=True) for k in PARAMS}


def expect_gradients(found, candidates: dict, *, what: str, m: int, rtol: float, atol: float,
                     value_hint: str | None = None) -> dict:
    """Structure first (:func:`expect_gradient_structure`), then values against the closest right answer.

    ``candidates`` maps a name to a full dict of right gradients (see
    :func:`reference_gradients`); the student's gradients must match one of
    them. Values are checked in backpropagation order (W3, b3, W2, ...), so
    the message points at the first layer that goes wrong. ``value_hint``
    replaces the per-layer hint (not the hints that name a factor of m).
    """
    first = next(iter(candidates.values()))
    found = expect_gradient_structure(found, {k: v.shape for k, v in first.items()}, what=what)

    def wrong_in(expected):
        return [name for name in BACKPROP_ORDER if not _close(found[name], expected[name], rtol, atol)]

    def badness(expected):
        """Prefer the answer that more layers match from the output down, then the one fewer keys miss."""
        wrong = wrong_in(expected)
        first_wrong = BACKPROP_ORDER.index(wrong[0]) if wrong else len(BACKPROP_ORDER)
        return -first_wrong, len(wrong)

    expected = min(candidates.values(), key=badness)
    wrong = wrong_in(expected)
    if not wrong:
        return found
    scales = [_scale_of(found[k], expected[k]) for k in PARAMS]
    if m > 1 and all(c is not None and math.isclose(c, m, rel_tol=1e-6) for c in scales):
        hint = f"every gradient is exactly m = {m} times too large: {HINT_MEAN}"
    else:
        hint = gradient_hint(wrong[0], found[wrong[0]], expected[wrong[0]], m)
        if value_hint and hint.startswith(LAYER_HINTS[wrong[0]]):
            hint = value_hint
    what_key = f"grads['{wrong[0]}'] from {what}" + (f" (also wrong: {', '.join(wrong[1:])})" if wrong[1:] else
                                                      " (the other five are right)")
    expect_array(found[wrong[0]], expected[wrong[0]], what=what_key, rtol=rtol, atol=atol, hint=hint)
    return found  # pragma: no cover - expect_array failed above


def _close(found, expected, rtol, atol) -> bool:
    f = np.asarray(found, dtype=np.float64)
    return bool(np.all(np.isfinite(f)) and np.all(np.abs(f - expected) <= atol + rtol * np.abs(expected)))


def harness_numerical_gradients(student, model, params: dict, X, Y, h: float = 1e-5) -> tuple[dict, dict]:
    """Central differences of the loss of ``model.forward(X)``, one parameter entry at a time.

    The harness sets a perturbed copy of one parameter, calls the student's
    ``forward`` and computes the loss itself, twice over: the contract's
    loss (with the ``1e-8``) and the plain cross-entropy (without it, whose
    exact gradient is ``dz3 = (probs - Y) / m``); see :func:`reference_gradients`.
    The perturbed forwards of one parameter run in one request to the
    student's code (``calls.each_with_attribute``); a forward that raises
    fails the test. Afterwards the model has ``params`` again. Returns ``(with_eps, plain)``.
    """
    with_eps, plain = {}, {}
    for name in PARAMS:
        base = params[name]
        indices = list(np.ndindex(base.shape))
        perturbed = []
        for idx in indices:
            for delta in (h, -h):
                p = base.copy()
                p[idx] = base[idx] + delta
                perturbed.append(p)
        outcomes = expect_outcomes(student.run_kit("calls.each_with_attribute", model, name, perturbed, "forward",
                                                   [X]), len(perturbed),
                                   what=f"running forward with {len(perturbed)} perturbed copies of {name}")
        losses = []
        for k, outcome in enumerate(outcomes):
            if outcome[0] == "raised":
                fail(f"forward(X) raised {outcome[1]}: {outcome[2]}\n  (after setting {name} to a copy with entry "
                     f"{indices[k // 2]} changed by {h if k % 2 == 0 else -h:g}, for the numerical gradient)")
            probs = np.asarray(outcome[1], dtype=np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                losses.append((contract_loss(probs, Y), float(-np.mean(np.log(np.sum(probs * Y, axis=1))))))
        g_eps, g_plain = np.zeros_like(base), np.zeros_like(base)
        for k, idx in enumerate(indices):
            plus, minus = losses[2 * k], losses[2 * k + 1]
            g_eps[idx] = (plus[0] - minus[0]) / (2.0 * h)
            g_plain[idx] = (plus[1] - minus[1]) / (2.0 * h)
        setattr(model, name, base.copy())
        with_eps[name], plain[name] = g_eps, g_plain
    return with_eps, plain


def cs231n_relative_error(a, b) -> float:
    """``max(|a-b| / maximum(1e-8, |a|+|b|))`` computed by the harness (for messages)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


NUMERICAL_RTOL, NUMERICAL_ATOL = 1e-6, 1e-8


def expect_matches_numerical(analytic: dict, numeric: tuple[dict, dict], *, what: str, m: int) -> None:
    """Every entry within ``1e-6 (|a| + |n|) + 1e-8`` of one of the two central differences (module docstring)."""
    with_eps, plain = numeric
    for name in BACKPROP_ORDER:
        a = np.asarray(analytic[name], dtype=np.float64)
        errors = []
        for n in (with_eps[name], plain[name]):
            err = np.abs(a - n)
            errors.append(np.nan_to_num(err / (NUMERICAL_RTOL * (np.abs(a) + np.abs(n)) + NUMERICAL_ATOL),
                                        nan=np.inf))
        ratio = np.minimum(*errors)
        if np.any(~(ratio <= 1.0)):
            n = with_eps[name]
            idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(ratio)), a.shape))
            fail(f"grads['{name}'] from {what} disagrees with the numerical gradient (central differences, "
                 f"h = 1e-5, of the loss of your own forward) at index {idx}.\n"
                 f"  numerical: {float(n[idx])!r}\n  yours:     {float(a[idx])!r}\n"
                 f"  relative error (CS231n): {cs231n_relative_error(a, n):.3g} (a correct gradient is below 1e-6)",
                 gradient_hint(name, a, n, m))


# ---------------------------------------------------------------- He initialization statistics


def he_bounds(n: int, p_check: float) -> tuple[float, float, float]:
    """Bounds for ``n`` i.i.d. ``N(0, sigma**2)`` weights, each missed with probability <= ``p_check``.

    Returns ``(z_mean, low, high)``:

    * ``|mean| <= z_mean * sigma / sqrt(n)``: the mean is exactly
      ``N(0, sigma**2 / n)``; ``z_mean = Phi^-1(1 - p_check / 2)`` (``NormalDist``).
    * ``low <= mean(w**2) / sigma**2 <= high``: ``sum(w**2) / sigma**2`` is
      chi-square with ``n`` degrees of freedom, and Laurent & Massart (2000,
      Lemma 1) bound each tail by ``exp(-x)`` with no normal approximation;
      ``x = ln(2 / p_check)`` makes both tails together ``p_check``.
    """
    z = NormalDist().inv_cdf(1.0 - p_check / 2.0)
    x = math.log(2.0 / p_check)
    low = max(0.0, n - 2.0 * math.sqrt(n * x)) / n
    high = (n + 2.0 * math.sqrt(n * x) + 2.0 * x) / n
    return z, low, high


def within_one_sigma_bound(n: int, p_check: float) -> float:
    """Hoeffding: ``P(|fraction - 0.6827| > t) <= 2 exp(-2 n t**2) = p_check``."""
    return math.sqrt(math.log(2.0 / p_check) / (2.0 * n))


NORMAL_WITHIN_ONE_SIGMA = math.erf(1.0 / math.sqrt(2.0))  # 0.6827; uniform weights with the same std: 0.5774

LIKELY_INITS = (
    ("He's sqrt(2 / fan_in)", lambda i, o: math.sqrt(2.0 / i)),
    ("Xavier's sqrt(2 / (fan_in + fan_out))", lambda i, o: math.sqrt(2.0 / (i + o))),
    ("LeCun's sqrt(1 / fan_in)", lambda i, o: math.sqrt(1.0 / i)),
    ("sqrt(2 / fan_out)", lambda i, o: math.sqrt(2.0 / o)),
    ("2 / fan_in (a variance, not a std)", lambda i, o: 2.0 / i),
    ("1 (no scaling)", lambda i, o: 1.0),
    ("0.01 (the 'small random numbers' init)", lambda i, o: 0.01),
)


def check_he_weights(model, sizes, p: float, *, what: str) -> None:
    """Mean and spread of W1, W2, W3 and the normal shape of W1, against He-normal.

    Seven checks (three means, three spreads, one shape), each given ``p / 7``.
    """
    p_check = p / 7.0
    params = read_params(model, what=what)
    for k in (1, 2, 3):
        fan_in, fan_out = sizes[k - 1], sizes[k]
        W = params[f"W{k}"]
        if W.shape != (fan_in, fan_out) or W.dtype.kind != "f" or not np.all(np.isfinite(W)):
            fail(f"{what}.W{k} should be a finite float array of shape {(fan_in, fan_out)}; found shape {W.shape}, "
                 f"dtype {W.dtype}", TOPIC_INIT)
        w = W.astype(np.float64).ravel()
        n, sigma = w.size, math.sqrt(2.0 / fan_in)
        z, low, high = he_bounds(n, p_check)
        ratio = float(np.mean(w * w)) / sigma**2
        found_std = math.sqrt(float(np.mean(w * w)))
        if not low <= ratio <= high:
            guess = next((label for label, f in LIKELY_INITS
                          if low <= float(np.mean(w * w)) / f(fan_in, fan_out) ** 2 <= high), None)
            fail(f"{what}.W{k} ({fan_in} x {fan_out}) is not He-initialized: its entries have the wrong spread.\n"
                 f"  expected: root mean square {sigma:.6g} = sqrt(2 / fan_in) = sqrt(2 / {fan_in}), within "
                 f"[{sigma * math.sqrt(low):.6g}, {sigma * math.sqrt(high):.6g}] for {n} random draws\n"
                 f"  found:    {found_std:.6g} ({found_std / sigma:.3f} times He's)",
                 "He initialization for ReLU layers: rng.standard_normal((fan_in, fan_out)) * np.sqrt(2 / fan_in)"
                 + (f"; yours matches {guess}" if guess and not guess.startswith("He") else ""))
        mean_bound = z * sigma / math.sqrt(n)
        if abs(float(w.mean())) > mean_bound:
            fail(f"{what}.W{k} should have mean 0.\n  expected: |mean| <= {mean_bound:.3g} (for {n} draws with std "
                 f"{sigma:.4g})\n  found:    mean {float(w.mean()):.6g}",
                 "the weights are normal with mean 0: standard normal draws times the std (rng.random is uniform "
                 "on [0, 1))")
    W1 = params["W1"].astype(np.float64).ravel()
    sigma1 = math.sqrt(2.0 / sizes[0])
    fraction = float(np.mean(np.abs(W1) < sigma1))
    t = within_one_sigma_bound(W1.size, p_check)
    if abs(fraction - NORMAL_WITHIN_ONE_SIGMA) > t:
        fail(f"the entries of {what}.W1 do not look normally distributed.\n"
             f"  expected: {NORMAL_WITHIN_ONE_SIGMA:.4f} +- {t:.4f} of them within one std of 0 (normal)\n"
             f"  found:    {fraction:.4f}" + ("  (a uniform distribution gives 0.5774)"
                                              if abs(fraction - 0.5774) < 0.02 else ""),
             "the contract's He initialization is normal: rng.standard_normal(...) * np.sqrt(2 / fan_in), not "
             "uniform")


# ================================================================ initialization


@graded(0.5, visibility="public", oracle="property", topic=TOPIC_INIT)
def test_init_shapes_and_zero_biases(student):
    for sizes, model in (((784, 128, 64, 10), student.backprop.MNISTClassifier()),
                         ((5, 7, 3, 4), student.backprop.MNISTClassifier((5, 7, 3, 4), rng=np.random.default_rng(1)))):
        what = describe_sizes(sizes)
        params = read_params(model, what=what)
        for k in (1, 2, 3):
            W, b = params[f"W{k}"], params[f"b{k}"]
            expect_true(W.shape == (sizes[k - 1], sizes[k]),
                        f"{what}.W{k} has the wrong shape.\n  expected shape: {(sizes[k - 1], sizes[k])}\n"
                        f"  found shape:    {W.shape}", f"W{k} is (fan_in, fan_out) so that a_prev @ W{k} works")
            expect_true(W.dtype == np.float64, f"{what}.W{k} has dtype {W.dtype}, expected float64")
            expect_true(b.shape == (1, sizes[k]),
                        f"{what}.b{k} has the wrong shape.\n  expected shape: {(1, sizes[k])}\n"
                        f"  found shape:    {b.shape}",
                        f"biases are row vectors: np.zeros((1, {sizes[k]})), which broadcast over the rows of a batch")
            expect_true(b.dtype == np.float64, f"{what}.b{k} has dtype {b.dtype}, expected float64")
            expect_true(np.all(b == 0.0), f"{what}.b{k} should start at zero, but holds {b.ravel()[:5].tolist()}...",
                        "biases start at zero: np.zeros((1, d))")


@graded(1, visibility="public", oracle="property", topic=TOPIC_INIT)
def test_init_he_statistics(student, rng, tol):
    sizes = (784, 128, 64, 10)
    model = student.backprop.MNISTClassifier(sizes, rng=rng)
    check_he_weights(model, sizes, tol.false_failure_probability, what=describe_sizes(sizes))


@graded(0.5, visibility="public", oracle="property", topic=TOPIC_INIT)
def test_init_draws_from_rng(student):
    sizes = (6, 5, 4, 3)
    first = read_params(student.backprop.MNISTClassifier(sizes, rng=np.random.default_rng(42)))
    again = read_params(student.backprop.MNISTClassifier(sizes, rng=np.random.default_rng(42)))
    other = read_params(student.backprop.MNISTClassifier(sizes, rng=np.random.default_rng(43)))
    for name in ("W1", "W2", "W3"):
        expect_true(first[name].shape == again[name].shape and np.array_equal(first[name], again[name]),
                    f"two models built with rng=np.random.default_rng(42) have different {name}: the weights must "
                    "come from rng alone", "draw every weight from the rng argument (rng.standard_normal), never "
                    "from np.random.randn; create np.random.default_rng() only when rng is None")
    expect_true(not np.array_equal(first["W1"], other["W1"]),
                "models built with rng=np.random.default_rng(42) and default_rng(43) have the same W1: the "
                "weights must be drawn from rng", "do not seed a generator of your own inside __init__; use rng")


@graded(0.5, visibility="public", oracle="property", topic=TOPIC_INIT)
def test_layer_sizes_validation(student):
    for bad in ((784, 128, 10), (784, 128, 64, 32, 10), (784, 0, 64, 10), (784, 128, -64, 10), (0, 128, 64, 10)):
        expect_raises(ValueError, lambda bad=bad: student.backprop.MNISTClassifier(bad, rng=np.random.default_rng(0)),
                      what=f"MNISTClassifier(layer_sizes={bad})",
                      hint="layer_sizes must be exactly four positive ints; check it first and raise ValueError")


# ================================================================ forward and loss


@graded(1, visibility="public", oracle="golden", topic=TOPIC_FORWARD)
def test_forward_probabilities(student, golden, tol):
    params, X, _ = golden_problem()
    expected = golden("backprop/forward/small",
                      lambda ref: reference_forward(ref, GOLDEN_SIZES, params, X))
    model = new_model(student.backprop, GOLDEN_SIZES)
    set_params(model, params)
    what = f"{describe_sizes(GOLDEN_SIZES)}.forward(X) for X of shape {X.shape}"
    probs = expect_probs(model.forward(X), GOLDEN_M, GOLDEN_SIZES[3], what=what)
    expect_array(probs, expected, what=what, rtol=tol.rtol, atol=tol.atol,
                 hint="z1 = X @ W1 + b1, a1 = relu(z1), z2 = a1 @ W2 + b2, a2 = relu(z2), z3 = a2 @ W3 + b3, "
                      "probs = softmax(z3) row by row")


def huge_logit_problem():
    """A 3-3-3-3 network whose logits are the rows below (up to 2e4 in size), and its exact softmax.

    W1 = W2 = W3 = identity and zero hidden biases pass a non-negative X
    straight through; b3 = -1e4 shifts every logit. exp(1e4) overflows and
    exp(-1e4) underflows to 0, so only a stable softmax gets these right.
    """
    eye = np.eye(3)
    params = {"W1": eye.copy(), "b1": np.zeros((1, 3)), "W2": eye.copy(), "b2": np.zeros((1, 3)),
              "W3": eye.copy(), "b3": np.full((1, 3), -1e4)}
    X = np.array([[0.0, 0.0, 0.0],             # logits (-1e4, -1e4, -1e4): all underflow
                  [2e4, 2e4, 0.0],             # (1e4, 1e4, -1e4): overflow
                  [3e4, 0.0, 1e4],             # (2e4, -1e4, 0)
                  [1e4 + 1.0, 1e4, 1e4 - 1.0],  # (1, 0, -1): ordinary values
                  [1e4, 1e4 + 700.0, 1e4]])    # (0, 700, 0): exp(700) is near the float64 limit
    logits = X - 1e4
    return params, X, stable_softmax(logits), logits


@graded(1, visibility="public", oracle="property", topic=TOPIC_STABLE)
def test_forward_stable_for_huge_logits(student):
    params, X, expected, logits = huge_logit_problem()
    model = new_model(student.backprop, (3, 3, 3, 3))
    set_params(model, params)
    what = "forward(X) with logits as large as 2e4 (W1 = W2 = W3 = I, b3 = -1e4)"
    found = model.forward(X)
    if type(found) is np.ndarray and found.shape == expected.shape:
        bad = np.flatnonzero(~np.all(np.isfinite(found.astype(np.float64)), axis=1))
        if bad.size:
            r = int(bad[0])
            fail(f"{what} returned non-finite probabilities.\n  row {r}: logits {logits[r].tolist()}\n"
                 f"  expected: {expected[r].tolist()}\n  found:    {found[r].tolist()}", HINT_STABLE)
    probs = expect_probs(found, X.shape[0], 3, what=what)
    expect_array(probs, expected, what=what, rtol=1e-9, atol=1e-12, hint=HINT_STABLE)


LOSS_PROBS = np.array([[0.7, 0.2, 0.1],
                       [0.25, 0.25, 0.5],
                       [0.0, 0.6, 0.4],       # the true class has probability 0: the 1e-8 keeps the loss finite
                       [0.1, 0.3, 0.6]])
LOSS_Y = one_hot([0, 2, 0, 1], 3)


def loss_hint(found: float, probs, Y) -> str:
    m = Y.shape[0]
    with np.errstate(divide="ignore"):
        no_eps = float(-np.mean(np.sum(Y * np.log(probs), axis=1)))
    right = contract_loss(probs, Y)
    if math.isinf(found) or (math.isfinite(no_eps) and math.isclose(found, no_eps, rel_tol=1e-12)):
        return "add 1e-8 inside the log, log(probs + 1e-8): a probability of 0 must not give log(0) = -inf"
    if math.isclose(found, m * right, rel_tol=1e-9):
        return f"yours is the sum over the {m} rows; the loss is their mean"
    if math.isclose(found, -right, rel_tol=1e-9):
        return "cross-entropy is minus the mean log-probability of the true class"
    return "loss = -mean(sum(Y * log(probs + 1e-8), axis=1)): the log-probability of each row's true class, averaged"


@graded(1, visibility="public", oracle="golden", topic=TOPIC_LOSS)
def test_loss_value(student, golden, tol):
    expected = golden("backprop/loss/table",
                      lambda ref: new_model(ref.backprop, (3, 4, 4, 3)).loss(LOSS_PROBS.copy(), LOSS_Y.copy()))
    model = new_model(student.backprop, (3, 4, 4, 3))
    found = model.loss(LOSS_PROBS.copy(), LOSS_Y.copy())
    hint = loss_hint(float(found), LOSS_PROBS, LOSS_Y) if isinstance(found, (float, np.floating)) else None
    expect_scalar(found, expected, what="loss(probs, Y) for 4 rows, one with probability 0 on its true class",
                  rtol=tol.rtol, atol=tol.atol, hint=hint)


# ================================================================ gradients


@graded(1.5, visibility="public", oracle="golden", topic=TOPIC_BACKWARD)
def test_gradients_values(student, golden, tol):
    params, X, Y = golden_problem()
    expected = golden("backprop/gradients/small",
                      lambda ref: reference_gradients(ref, GOLDEN_SIZES, params, X, Y))
    model = new_model(student.backprop, GOLDEN_SIZES)
    set_params(model, params)
    expect_gradients(model.gradients(X, Y), expected, m=GOLDEN_M, rtol=tol.rtol, atol=tol.atol,
                     what=f"{describe_sizes(GOLDEN_SIZES)}.gradients(X, Y) for a batch of {GOLDEN_M}")


@graded(1, visibility="public", oracle="property", topic=TOPIC_GRADCHECK)
def test_gradients_match_numerical(student, rng, feedback):
    sizes, m = (5, 4, 3, 3), 6
    params, X, Y = draw_problem(sizes, m, rng)
    model = new_model(student.backprop, sizes)
    set_params(model, params)
    what = f"{describe_sizes(sizes)}.gradients(X, Y)"
    analytic = expect_gradient_structure(model.gradients(X, Y), {k: v.shape for k, v in params.items()},
                                         what=what)
    set_params(model, params)
    numeric = harness_numerical_gradients(student, model, params, X, Y)
    feedback["relative_errors"] = {"series": {"your gradients vs central differences": {
        name: cs231n_relative_error(analytic[name], numeric[0][name]) for name in PARAMS}}}
    expect_matches_numerical(analytic, numeric, what=what, m=m)


@graded(0.5, visibility="public", oracle="property", topic=TOPIC_BACKWARD)
def test_gradients_leave_parameters_unchanged(student, rng):
    sizes, m = (6, 5, 4, 3), 5
    params, X, Y = draw_problem(sizes, m, rng)
    model = new_model(student.backprop, sizes)
    set_params(model, params)
    what = f"{describe_sizes(sizes)}.gradients(X, Y)"
    first = model.gradients(X, Y)
    after = read_params(model, what="the model")
    for name in PARAMS:
        expect_true(after[name].shape == params[name].shape and np.array_equal(after[name], params[name]),
                    f"{what} changed the model's parameter {name}; gradients must only compute, not update",
                    "gradients returns the gradients; only step (and backward) change the parameters")
    expect_true(isinstance(first, dict) and set(first) == set(PARAMS),
                f"{what} should return a dict with keys {', '.join(PARAMS)}")
    first = {k: np.array(v, copy=True) for k, v in first.items()}
    second = model.gradients(X, Y)
    expect_true(isinstance(second, dict) and set(second) == set(PARAMS),
                f"{what} called a second time should return a dict with keys {', '.join(PARAMS)}")
    for name in PARAMS:
        expect_array(second[name], first[name], what=f"grads['{name}'] from {what} called a second time on the "
                     "same batch (it should equal the first call's)", rtol=1e-12, atol=1e-15,
                     hint="compute fresh gradients on each call; do not add to gradients kept from an earlier call")


@graded(0.5, visibility="public", oracle="property", topic=TOPIC_BACKWARD)
def test_step_update(student, rng):
    sizes = (4, 5, 3, 2)
    params, _, _ = draw_problem(sizes, 3, rng)
    grads = {k: rng.standard_normal(v.shape) for k, v in params.items()}
    lr = 0.3
    model = new_model(student.backprop, sizes)
    set_params(model, params)
    sent = {k: v.copy() for k, v in grads.items()}
    model.step(sent, lr)
    after = read_params(model, what="the model after step(grads, lr=0.3)")
    for name in PARAMS:
        expect_array(after[name], params[name] - lr * grads[name], what=f"{name} after step(grads, lr=0.3)",
                     rtol=1e-12, atol=1e-15, hint=HINT_STEP)
    for name in PARAMS:
        expect_true(np.array_equal(sent[name], grads[name]),
                    f"step(grads, lr) changed grads['{name}']; it must leave its argument as it was",
                    "compute param - lr * g without writing into g (no g *= lr)")


@graded(1, visibility="public", oracle="property", topic=TOPIC_BACKWARD)
def test_backward_is_gradients_then_step(student, rng):
    sizes, m, lr = (6, 5, 4, 3), 8, 0.05
    params, X, Y = draw_problem(sizes, m, rng)
    model = new_model(student.backprop, sizes)
    set_params(model, params)
    grads = model.gradients(X, Y)
    expect_true(isinstance(grads, dict) and set(grads) == set(PARAMS),
                f"gradients(X, Y) should return a dict with keys {', '.join(PARAMS)}")
    grads = {k: np.array(v, dtype=np.float64, copy=True) for k, v in grads.items()}
    set_params(model, params)
    model.forward(X)
    what = f"{describe_sizes(sizes)}.backward(X, Y, lr={lr}) after forward(X)"
    returned = model.backward(X, Y, lr)
    if returned is None:
        fail(f"{what} returned None; it should return the dict of gradients it applied",
             "end backward with: return grads")
    expect_gradients(returned, {"yours": grads}, what=what + " (compared with your gradients(X, Y))", m=m,
                     rtol=1e-9, atol=1e-12)
    after = read_params(model, what="the model after backward")
    for name in PARAMS:
        expect_array(after[name], params[name] - lr * grads[name], what=f"{name} after {what}",
                     rtol=1e-9, atol=1e-12,
                     hint="backward computes the gradients and then applies step(grads, lr): param -= lr * grad")


# ================================================================ gradient checking tools


def quadratic_tolerance(f: Quadratic, x: np.ndarray, h: float):
    """``(rtol, atol)`` for central differences of a quadratic: no truncation error, only rounding.

    ``f`` sums ``N`` products; its rounding error is at most ``N * eps * F``
    with ``F`` the sum of their absolute values, and the difference quotient
    divides two such errors by ``2h``. Rounding ``x +- h`` to a float changes
    the step by at most ``eps * |x| / h`` relative.
    """
    F = float(np.sum(np.abs(x) * (np.abs(f.A) @ np.abs(x))) + np.sum(np.abs(f.c * x))) + 1.0
    N = x.size * (x.shape[0] + 2)
    return 4.0 * EPS * (float(np.abs(x).max()) + h) / h, 2.0 * N * EPS * F / h


def sin_product_tolerance(f: SinProduct, x: np.ndarray, h: float):
    """Rounding as for the quadratic, plus the truncation ``h**2 / 6 * max|f'''|``.

    ``|f'''| <= |w_i| + scale**-3`` (a sine term and the cosine product).
    """
    N = 2 * x.size + 2
    F = float(np.sum(np.abs(f.w))) + 1.0
    truncation = h * h / 6.0 * (np.abs(f.w) + f.scale ** -3)
    return 4.0 * EPS * (float(np.abs(x).max()) + h) / h, truncation + 2.0 * N * EPS * F / h


def expect_numerical(found, expected, rtol, atol, *, what: str, hint: str) -> None:
    expected = np.asarray(expected, dtype=np.float64)
    if type(found) is np.ndarray and found.shape == expected.shape and found.dtype.kind == "f":
        err = np.abs(found.astype(np.float64) - expected)
        limit = atol + rtol * np.abs(expected)
        if np.all(err <= limit):
            return
        idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(np.nan_to_num(err - limit, nan=np.inf))),
                                                     expected.shape))
        allowed = float(np.broadcast_to(limit, expected.shape)[idx])
        fail(f"{what} is wrong at index {idx}.\n  expected: {float(expected[idx])!r} (the analytic derivative)\n"
             f"  found:    {float(found[idx])!r}\n  allowed error there: {allowed:.3g}"
             " (the rounding and truncation error of central differences)", hint)
    expect_array(found, expected, what=what, rtol=rtol, atol=float(np.max(atol)), hint=hint)


HINT_NUMERICAL = ("for each entry i: remember x[i], set x[i] = old + h and evaluate f(x), set x[i] = old - h and "
                  "evaluate f(x), put x[i] = old back; the derivative is (f_plus - f_minus) / (2 * h)")


@graded(1, visibility="public", oracle="property", topic=TOPIC_GRADCHECK)
def test_numerical_gradient_known_functions(student, rng):
    ng = student.backprop.numerical_gradient
    A = rng.standard_normal((4, 4))
    c = rng.standard_normal((4, 3))
    quad = Quadratic(A, c)
    x = rng.standard_normal((4, 3))
    rtol, atol = quadratic_tolerance(quad, x, 1e-5)
    expect_numerical(ng(quad, x.copy()), quad.gradient(x), rtol, atol, hint=HINT_NUMERICAL,
                     what="numerical_gradient(f, x) for f(x) = sum(x * (A @ x)) + sum(c * x), x of shape (4, 3)")
    w = rng.uniform(0.5, 2.0, size=6) * rng.choice([-1.0, 1.0], size=6)
    sp = SinProduct(w, 4.0)
    x = rng.uniform(-2.0, 2.0, size=6)
    rtol, atol = sin_product_tolerance(sp, x, 1e-5)
    expect_numerical(ng(sp, x.copy()), sp.gradient(x), rtol, atol, hint=HINT_NUMERICAL,
                     what="numerical_gradient(f, x) for f(x) = sum(w * sin(x)) + prod(cos(x / 4)), x of shape (6,)")


@graded(0.5, visibility="public", oracle="property", topic=TOPIC_GRADCHECK)
def test_relative_error_values(student):
    re = student.backprop.relative_error
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    b = np.array([[1.0, 2.5], [3.0, 4.0]])
    # |a-b| / (|a|+|b|) is 0 except 0.5 / 4.5 at (0, 1): the max is 1/9 (the mean would be 1/36).
    found = re(a.copy(), b.copy())
    hint = "max(|a - b| / maximum(1e-8, |a| + |b|)): the largest entry-wise relative difference"
    if isinstance(found, (float, np.floating)) and math.isclose(float(found), 1.0 / 36.0, rel_tol=1e-9):
        hint = "take the max over the entries, not the mean: one bad entry is enough to flag a bug"
    expect_scalar(found, 1.0 / 9.0, what="relative_error(a, b) for a = [[1, 2], [3, 4]], b = [[1, 2.5], [3, 4]]",
                  rtol=1e-12, atol=0.0, hint=hint)
    expect_scalar(re(a.copy(), a.copy()), 0.0, what="relative_error(a, a)", rtol=0.0, atol=0.0, hint=hint)


def kit_model(cls, sizes, params):
    """A kit network (``GraderMLP`` or ``BrokenMLP``) with the given parameters."""
    model = cls(sizes, rng=np.random.default_rng(0))
    for name in PARAMS:
        setattr(model, name, params[name].copy())
    return model


def kit_relative_errors(model, X, Y, h: float = 1e-5) -> dict:
    """What ``gradient_check`` should report for a kit model, computed by the harness.

    The same method as the contract's (central differences of ``loss(forward(X), Y)``, one entry moved by
    ``+-h`` at a time, then :func:`cs231n_relative_error`), with every moved copy of a parameter evaluated at
    once (:func:`kit_losses`): the same numbers up to rounding, in a fraction of the time.
    """
    analytic = model.gradients(X, Y)
    params = {name: getattr(model, name) for name in PARAMS}
    errors = {}
    for name in PARAMS:
        param = params[name]
        n = param.size
        moved = np.broadcast_to(param, (2 * n, *param.shape)).copy()
        flat, entries = moved.reshape(2 * n, n), np.arange(n)
        flat[entries, entries] += h
        flat[n + entries, entries] -= h
        losses = kit_losses({**params, name: moved}, X, Y)
        numeric = ((losses[:n] - losses[n:]) / (2.0 * h)).reshape(param.shape)
        errors[name] = cs231n_relative_error(analytic[name], numeric)
    return errors


def kit_losses(params: dict, X, Y) -> np.ndarray:
    """The kit models' ``loss(forward(X), Y)`` for a stack of parameter sets: each parameter is either one
    array or a stack of them along a leading axis (all stacks of one length ``k``); returns ``(k,)``."""
    h = np.asarray(X, dtype=np.float64)
    for k in (1, 2, 3):
        z = h @ params[f"W{k}"] + params[f"b{k}"]
        h = np.maximum(z, 0.0) if k < 3 else z
    probs = np.exp(h - np.logaddexp.reduce(h, axis=-1, keepdims=True))
    return -np.sum(Y * np.log(probs + 1e-8), axis=(-2, -1)) / Y.shape[0]


def draw_checkable_problem(sizes, m: int, rng):
    """A problem on which a correct ``gradient_check`` of the kit's ``GraderMLP`` is unambiguous.

    On top of :func:`draw_problem`'s margins (with dead first-layer units for
    ``BrokenMLP``): every gradient entry is at least 1e-4 in size (CS231n's
    relative error divides by ``|a| + |b|``, so a near-zero entry would turn
    rounding noise of ~1e-11 into a visible error), and the harness's own
    check reports below 1e-7 for every parameter, ten times under the 1e-6
    that the tests demand of a student's ``gradient_check``.
    """
    for _ in range(1000):
        # need_coactive only skips draws whose W2 gradient has exact zeros, which the next line rejects anyway
        # (most of them: a batch of 5 or 6 rows rarely has every pair of units on together): the same problem,
        # found without building a model for each of those draws.
        params, X, Y = draw_problem(sizes, m, rng, need_dead=True, need_coactive=True, min_prob=0.1)
        good = kit_model(GraderMLP, sizes, params)
        grads = good.gradients(X, Y)
        if min(float(np.abs(g).min()) for g in grads.values()) < 1e-4:
            continue
        if max(kit_relative_errors(good, X, Y).values()) < 1e-7:
            return params, X, Y
    raise RuntimeError("could not draw a problem for gradient_check")  # pragma: no cover


def gradient_check_problem():
    """A 5-6-4-3 kit network and a batch of 6 (fixed seed), see :func:`draw_checkable_problem`."""
    sizes = (5, 6, 4, 3)
    params, X, Y = draw_checkable_problem(sizes, 6, np.random.default_rng(314159))
    return sizes, params, X, Y


def expect_check_result(found, *, what: str) -> dict:
    """A dict from the six parameter names to non-negative floats."""
    if not isinstance(found, dict):
        fail(f"{what} should return a dict from parameter name to relative error, but returned "
             f"{type(found).__name__}")
    expect_equal(sorted(map(str, found)), sorted(PARAMS), what=f"the keys of {what}",
                 hint="one entry per key of model.gradients(X, Y)")
    out = {}
    for name in PARAMS:
        value = found[name]
        if isinstance(value, np.ndarray) and value.shape == ():
            value = value[()]
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            fail(f"{what}['{name}'] should be a number (relative_error of the two gradients), but is "
                 f"{type(value).__name__}")
        out[name] = float(value)
    return out


HINT_GRADCHECK = ("for each parameter name: numeric = numerical_gradient(lambda _: model.loss(model.forward(X), Y), "
                  "getattr(model, name)) on the model's own array (not a copy), then "
                  "relative_error(analytic[name], numeric)")


@graded(1, visibility="public", oracle="property", topic=TOPIC_GRADCHECK)
def test_gradient_check_finds_planted_bug(student, feedback):
    sizes, params, X, Y = gradient_check_problem()
    gc = student.backprop.gradient_check
    good = kit_model(GraderMLP, sizes, params)
    what = "gradient_check(model, X, Y) on the grader's correct 5-6-4-3 network"
    errors = expect_check_result(gc(good, X.copy(), Y.copy()), what=what)
    series = {"correct network": errors}
    feedback["relative_errors"] = {"title": "What your gradient_check reports on the grader's networks",
                                   "series": series}
    for name in PARAMS:
        expect_true(0.0 <= errors[name] < 1e-6,
                    f"{what} reports relative error {errors[name]:.3g} for {name}; the network is correct, so the "
                    f"analytic and numerical gradients agree to better than 1e-6", HINT_GRADCHECK)
    for name in PARAMS:
        value = getattr(good, name)
        expect_array(value, params[name], what=f"the correct network's {name} after {what}", rtol=1e-12, atol=1e-15,
                     hint="numerical_gradient must put every entry back after perturbing it")
    broken = kit_model(BrokenMLP, sizes, params)
    what = "gradient_check(model, X, Y) on the grader's network that forgets layer 1's ReLU mask in backprop"
    errors = expect_check_result(gc(broken, X.copy(), Y.copy()), what=what)
    series["network without layer 1's ReLU mask"] = errors
    for name in ("W1", "b1"):
        expect_true(errors[name] > 1e-2,
                    f"{what} reports relative error {errors[name]:.3g} for {name}: this gradient is wrong, and "
                    f"a gradient check must show an error above 1e-2", HINT_GRADCHECK)
    for name in ("W2", "b2", "W3", "b3"):
        expect_true(0.0 <= errors[name] < 1e-6,
                    f"{what} reports relative error {errors[name]:.3g} for {name}, whose gradient is right "
                    "(expected below 1e-6)", HINT_GRADCHECK)
