"""Part 3, hidden tests: backpropagation and gradient checking on random and edge inputs.

Tolerances and the reasons for them are in test_public.py's docstring. Here:

* Values are compared with the live reference on inputs drawn from the
  per-test ``rng`` (``rtol = 1e-9, atol = 1e-12``); gradients may match
  either reading of the contract (``dz3 = (probs - Y) / m``, or the exact
  gradient with the ``1e-8`` inside the log), see ``reference_gradients``.
* ``numerical_gradient`` of ``Cubic`` (``f = sum(x**3) / 3``) with step ``h``
  is exactly ``x**2 + h**2 / 3`` for central differences (forward ones give
  ``x**2 + x h + h**2 / 3``); the allowed error is the rounding of ``f``
  divided by ``h``.
* The real-data test trains the student's ``MNISTClassifier`` with the
  grader's own SGD loop (``autograder.kit.training.sgd``, run beside the
  student's code) on 4,000 of the 5,000 real MNIST digits and asks for 75%
  accuracy on the other 1,000, computed here from ``forward``'s
  probabilities (the held-out labels never reach the student's process).
  With a 784-64-32-10 network, 3 epochs, batches of 32 and ``lr = 0.2`` the
  reference reached 91.5% on average over 2,000 seeds (std 1.45%, 1st
  percentile 86.6%, worst 81.9%), so 75% sits 6.9 points below the worst
  seed; a model that learns nothing scores about 10%. Training takes about
  0.11 s of one CPU (a per-example loop ~1 s), so the 14 s limit on the call
  leaves room for slow but correct code.
"""
from __future__ import annotations

import math
from functools import partial

import numpy as np

from autograder.harness import (
    expect_array,
    expect_equal,
    expect_raises,
    expect_scalar,
    expect_true,
    fail,
    graded,
)
from autograder.kit.functions import Cubic, ModelLoss, Quadratic
from autograder.kit.models import BrokenMLP, GraderMLP
from autograder.kit.training import accuracy

from .test_public import (
    EPS,
    HINT_GRADCHECK,
    HINT_NUMERICAL,
    HINT_RELU,
    HINT_STABLE,
    PARAMS,
    TOPIC_BACKWARD,
    TOPIC_FORWARD,
    TOPIC_GRADCHECK,
    TOPIC_INIT,
    TOPIC_LOSS,
    cs231n_relative_error,
    describe_sizes,
    draw_checkable_problem,
    draw_problem,
    expect_check_result,
    expect_gradients,
    expect_probs,
    kit_model,
    kit_relative_errors,
    loss_hint,
    new_model,
    one_hot,
    quadratic_tolerance,
    read_params,
    reference_forward,
    reference_gradients,
    set_params,
)

TOPIC_TRAIN = "4.1 Complete training pipeline (trained here on real MNIST digits)"
MNIST_SIZES = (784, 64, 32, 10)
MNIST_EPOCHS, MNIST_BATCH, MNIST_LR = 3, 32, 0.2
MNIST_TEST, MNIST_THRESHOLD = 1000, 0.75
# One call (the whole training run): ~0.11 s of one CPU for the reference, ~1 s for a per-example loop.
MNIST_TIMEOUT = 14.0


def random_params(sizes, rng, *, bias_scale: float = 0.1) -> dict:
    """He-scaled weights and small random biases (no margins needed: compared with the reference)."""
    params = {}
    for k in range(3):
        fan_in, fan_out = sizes[k], sizes[k + 1]
        params[f"W{k + 1}"] = rng.standard_normal((fan_in, fan_out)) * math.sqrt(2.0 / fan_in)
        params[f"b{k + 1}"] = rng.standard_normal((1, fan_out)) * bias_scale
    return params


def digit_like_batch(m: int, rng) -> np.ndarray:
    """``m`` rows of 784 values in [0, 1], four in five of them exactly 0 (as MNIST's background pixels)."""
    return rng.uniform(0.0, 1.0, (m, 784)) * (rng.random((m, 784)) < 0.2)


def gradient_cases(rng):
    """``(label, sizes, params, X, Y)``: one example, a wider batch, and the MNIST shape with sparse inputs."""
    cases = []
    sizes = (5, 4, 3, 2)
    params, X, Y = draw_problem(sizes, 1, rng, margin=0.0, min_prob=0.0)
    cases.append(("a batch of one example", sizes, params, X, Y))
    sizes = (12, 10, 8, 5)
    params, X, Y = draw_problem(sizes, 20, rng, margin=0.0, min_prob=0.0, weight_scale=1.0)
    cases.append(("a batch of 20", sizes, params, X, Y))
    params = random_params(MNIST_SIZES, rng)
    X = digit_like_batch(16, rng)
    Y = one_hot(rng.integers(0, 10, 16), 10)
    cases.append(("16 digit-like rows", MNIST_SIZES, params, X, Y))
    return cases


# ================================================================ construction


@graded(0.5, visibility="hidden", oracle="property", topic=TOPIC_INIT)
def test_layer_sizes_non_integral_and_width_one(student):
    """A size that is not an integer (128.5) raises ValueError; a layer of width 1 is a positive int and is accepted."""
    for bad in ((784, 128.5, 64, 10), (6, 5, 4, 2.5), (0.5, 4, 3, 2)):
        expect_raises(ValueError, partial(student.backprop.MNISTClassifier, bad, rng=np.random.default_rng(0)),
                      what=f"MNISTClassifier(layer_sizes={bad})",
                      hint="layer_sizes must be four positive ints: a size with a fractional part is not an int; "
                           "check it first and raise ValueError")
    for sizes in ((3, 1, 2, 1), (1, 1, 1, 1), (1, 4, 1, 3)):
        what = describe_sizes(sizes)
        try:
            model = student.backprop.MNISTClassifier(sizes, rng=np.random.default_rng(0))
        except Exception as exc:
            if getattr(exc, "status", "ok") != "ok":  # timeouts and crashes are reported as such
                raise
            fail(f"{what} raised {getattr(exc, 'original_type', '') or type(exc).__name__}: {exc}\n"
                 "  expected: a model (1 is a positive int, so a layer of width 1 is allowed)",
                 "reject sizes below 1 (d < 1), not sizes of 1")
        params = read_params(model, what=what)
        for k in (1, 2, 3):
            expected = {f"W{k}": (sizes[k - 1], sizes[k]), f"b{k}": (1, sizes[k])}
            for name, shape in expected.items():
                expect_true(params[name].shape == shape,
                            f"{what}.{name} has the wrong shape.\n  expected shape: {shape}\n"
                            f"  found shape:    {params[name].shape}")


# ================================================================ values against the reference


@graded(1.5, visibility="hidden", oracle="reference", topic=TOPIC_BACKWARD)
def test_gradients_match_reference(student, reference, rng, tol):
    for label, sizes, params, X, Y in gradient_cases(rng):
        expected = reference_gradients(reference, sizes, params, X, Y)
        model = new_model(student.backprop, sizes)
        set_params(model, params)
        expect_gradients(model.gradients(X, Y), expected, m=X.shape[0], rtol=tol.rtol, atol=tol.atol,
                         what=f"{describe_sizes(sizes)}.gradients(X, Y) for {label}")


@graded(1, visibility="hidden", oracle="reference", topic=TOPIC_BACKWARD)
def test_relu_derivative_at_zero(student, reference, rng, tol):
    sizes, m = (4, 5, 4, 3), 6
    params, X, Y = draw_problem(sizes, m, rng, margin=0.0, min_prob=0.0, weight_scale=1.0)
    params["b1"][:] = 0.0  # biases are zero at initialization ...
    params["b2"][:] = 0.0
    X[2] = 0.0             # ... so a blank input row gives z1 = 0 exactly in that row,
    params["W2"][:, 1] = 0.0  # and a unit with no incoming weights gives z2[:, 1] = 0 exactly.
    expected = reference_gradients(reference, sizes, params, X, Y)
    model = new_model(student.backprop, sizes)
    set_params(model, params)
    expect_gradients(model.gradients(X, Y), expected, m=m, rtol=tol.rtol, atol=tol.atol,
                     what=f"{describe_sizes(sizes)}.gradients(X, Y) where some ReLU inputs are exactly 0",
                     value_hint=f"{HINT_RELU}. At z == 0 the derivative is 0: use (z > 0), not (z >= 0). Here row 2 "
                                "of X is all zeros and the biases are 0 (as right after initialization), so z1 is "
                                "exactly 0 in that row; and column 1 of W2 is zero, so z2[:, 1] is exactly 0")


@graded(1, visibility="hidden", oracle="reference", topic=TOPIC_LOSS)
def test_loss_matches_reference(student, reference, rng, tol):
    cases = []
    probs = rng.dirichlet(np.ones(10), size=1)
    cases.append(("one row", probs, one_hot(rng.integers(0, 10, 1), 10)))
    probs = rng.dirichlet(np.full(10, 0.5), size=9)
    labels = rng.integers(0, 10, 9)
    probs[0, labels[0]] = 0.0      # a zero on the true class (renormalized below)
    probs[1, labels[1]] = 1e-12    # far below the 1e-8
    probs[2, labels[2]] = 3e-8     # comparable with the 1e-8
    probs /= probs.sum(axis=1, keepdims=True)
    cases.append(("9 rows, three with true-class probability 0, 1e-12 and 3e-8", probs, one_hot(labels, 10)))
    for label, probs, Y in cases:
        expected = new_model(reference.backprop, (3, 4, 4, 10)).loss(probs.copy(), Y.copy())
        found = new_model(student.backprop, (3, 4, 4, 10)).loss(probs.copy(), Y.copy())
        hint = loss_hint(float(found), probs, Y) if isinstance(found, (float, np.floating)) else None
        expect_scalar(found, expected, what=f"loss(probs, Y) for {label}", rtol=tol.rtol, atol=tol.atol, hint=hint)


@graded(1, visibility="hidden", oracle="reference", topic=TOPIC_FORWARD)
def test_forward_matches_reference(student, reference, rng, tol):
    cases = []
    sizes = (12, 10, 8, 5)
    cases.append(("a batch of 20", sizes, random_params(sizes, rng), rng.standard_normal((20, 12))))
    cases.append(("one example", sizes, random_params(sizes, rng), rng.standard_normal((1, 12))))
    cases.append(("3 digit-like rows", MNIST_SIZES, random_params(MNIST_SIZES, rng), digit_like_batch(3, rng)))
    sizes = (6, 5, 4, 3)
    params = random_params(sizes, rng)
    params["W3"] *= 1e5  # logits in the tens of thousands
    cases.append(("W3 scaled by 1e5 (logits ~1e5)", sizes, params, rng.standard_normal((8, 6))))
    for label, sizes, params, X in cases:
        expected = reference_forward(reference, sizes, params, X)
        model = new_model(student.backprop, sizes)
        set_params(model, params)
        what = f"{describe_sizes(sizes)}.forward(X) for {label}"
        probs = expect_probs(model.forward(X.copy()), X.shape[0], sizes[3], what=what)
        expect_array(probs, expected, what=what, rtol=tol.rtol, atol=tol.atol,
                     hint=HINT_STABLE if "1e5" in label else None)


@graded(0.5, visibility="hidden", oracle="reference", topic=TOPIC_BACKWARD)
def test_backward_matches_reference(student, reference, rng, tol):
    sizes, m = (6, 5, 4, 3), 5
    params, X, Y = draw_problem(sizes, m, rng, margin=0.0, min_prob=0.0)
    X_other = rng.standard_normal((3, 6))
    expected = reference_gradients(reference, sizes, params, X, Y)
    model = new_model(student.backprop, sizes)
    set_params(model, params)
    model.forward(X_other)
    model.forward(X)
    what = f"{describe_sizes(sizes)}.backward(X, Y) (default lr) after forward(X)"
    returned = model.backward(X, Y)
    if returned is None:
        fail(f"{what} returned None; it should return the dict of gradients it applied",
             "end backward with: return grads")
    grads = expect_gradients(returned, expected, what=what, m=m, rtol=tol.rtol, atol=tol.atol)
    after = read_params(model, what="the model after backward")
    for name in PARAMS:
        expect_array(after[name], params[name] - 0.01 * grads[name], what=f"{name} after {what}",
                     rtol=1e-9, atol=1e-12, hint="backward's default learning rate is lr=0.01; it applies "
                     "step(grads, lr) once")


# ================================================================ numerical_gradient, relative_error, gradient_check


def cubic_tolerance(x: np.ndarray, h: float) -> np.ndarray:
    """Rounding of ``f = sum(x**3) / 3`` (``N`` terms, each below ``(|x| + h)**3``) divided by ``h``,
    plus the relative change of the step when ``x +- h`` is rounded to a float."""
    F = float(np.sum((np.abs(x) + h) ** 3)) / 3.0 + 1.0
    N = x.size + 4
    return 2.0 * N * EPS * F / h + 4.0 * EPS * (np.abs(x) + h) / h * x * x


@graded(1, visibility="hidden", oracle="property", topic=TOPIC_GRADCHECK)
def test_numerical_gradient_central_differences(student, rng):
    ng = student.backprop.numerical_gradient
    for shape, h in (((3, 4), 1e-3), ((2, 3, 2), 1e-2), ((7,), None)):
        x = rng.uniform(0.5, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
        step = 1e-5 if h is None else h
        expected = x * x + step * step / 3.0   # exact for central differences of sum(x**3) / 3
        found = ng(Cubic(), x.copy()) if h is None else ng(Cubic(), x.copy(), h)
        call = f"numerical_gradient(f, x{'' if h is None else f', h={h:g}'})"
        what = f"{call} for f(x) = sum(x**3) / 3, x of shape {shape}"
        hint = HINT_NUMERICAL
        if type(found) is np.ndarray and found.shape == x.shape and found.dtype.kind == "f":
            forward = x * x + x * step + step * step / 3.0
            if h is not None and np.allclose(found, forward, rtol=1e-6, atol=0):
                hint = ("yours are forward differences (f(x + h) - f(x)) / h; use central ones, "
                        "(f(x + h) - f(x - h)) / (2h), whose error is h**2 instead of h")
            elif h is not None and np.allclose(found, x * x + 1e-10 / 3.0, rtol=1e-9, atol=1e-9):
                hint = f"yours looks computed with h = 1e-5: use the h argument ({h:g} here)"
        if type(found) is np.ndarray and found.dtype != np.float64:
            fail(f"{what} should return float64, found dtype {found.dtype}", "np.zeros(x.shape) is float64")
        expect_array(found, expected, what=what + f" (exactly x**2 + h**2 / 3 for central differences, h = {step:g})",
                     rtol=0.0, atol=float(np.max(cubic_tolerance(x, step))), hint=hint)


@graded(1, visibility="hidden", oracle="property", topic=TOPIC_GRADCHECK)
def test_numerical_gradient_restores_x(student, rng):
    ng = student.backprop.numerical_gradient
    quad = Quadratic(rng.standard_normal((5, 5)), rng.standard_normal((5, 2)))
    x = rng.standard_normal((5, 2))
    sent = x.copy()
    found = ng(quad, sent)
    expect_array(sent, x, what="x after numerical_gradient(f, x)", rtol=1e-12, atol=1e-15,
                 hint="x must be unchanged afterwards: after evaluating f(x + h) and f(x - h), put the saved "
                      "value back (x[i] = old)")
    rtol, atol = quadratic_tolerance(quad, x, 1e-5)
    expect_array(found, quad.gradient(x), what="numerical_gradient(f, x) for a quadratic f, x of shape (5, 2)",
                 rtol=rtol, atol=atol, hint=HINT_NUMERICAL)

    sizes = (4, 3, 5, 3)
    params, X, Y = draw_checkable_problem(sizes, 5, rng)
    net = kit_model(GraderMLP, sizes, params)
    analytic = net.gradients(X, Y)["W1"]
    f = ModelLoss(net, X, Y)  # f ignores its argument and reads net.W1
    numeric = ng(f, net.W1)
    what = "numerical_gradient(f, model.W1) where f(_) = model.loss(model.forward(X), Y) reads model.W1"
    if type(numeric) is np.ndarray and numeric.shape == analytic.shape and np.all(numeric == 0.0):
        fail(f"{what} returned all zeros: f did not see the perturbations",
             "perturb the entries of x itself, in place (x[i] = old + h), not a copy of x: f may read the very "
             "array that x is")
    for name in PARAMS:
        expect_array(getattr(net, name), params[name], what=f"model.{name} after {what}", rtol=1e-12, atol=1e-15,
                     hint="put every entry of x back after perturbing it")
    if type(numeric) is not np.ndarray or numeric.shape != analytic.shape:
        expect_array(numeric, analytic, what=what)
    error = cs231n_relative_error(analytic, numeric)
    expect_true(error < 1e-6, f"{what} differs from the analytic gradient of the grader's correct network.\n"
                f"  relative error (CS231n): {error:.3g}, expected below 1e-6", HINT_NUMERICAL)


@graded(1, visibility="hidden", oracle="property", topic=TOPIC_GRADCHECK)
def test_relative_error_edge_cases(student, rng):
    re = student.backprop.relative_error
    zeros = np.zeros((3, 2))
    cases = [
        ("both all zeros", zeros, zeros.copy(), 0.0,
         "with the floor maximum(1e-8, |a| + |b|) two zeros give 0 / 1e-8 = 0, not 0 / 0 = nan"),
        ("a = [1e-10, 0], b = [0, 0] (below the 1e-8 floor)", np.array([1e-10, 0.0]), np.zeros(2), 1e-2,
         "divide by maximum(1e-8, |a| + |b|): tiny values are compared with 1e-8, not with themselves"),
        ("a = [-1, 2], b = [1, 2] (opposite signs)", np.array([-1.0, 2.0]), np.array([1.0, 2.0]), 1.0,
         "the denominator is |a| + |b| (absolute values first), not |a + b|"),
    ]
    a = rng.uniform(1.0, 2.0, (2, 3, 4))
    b = a.copy()
    b[1, 2, 3] *= 1.5  # one entry 1.5x larger: relative error 0.5 / 2.5 = 0.2 there, 0 elsewhere
    cases.append(("3-D arrays with one differing entry", a, b, 0.2,
                  "the max over all entries (any shape), not the mean"))
    for label, x, y, expected, hint in cases:
        found = re(x.copy(), y.copy())
        expect_scalar(found, expected, what=f"relative_error(a, b) for {label}", rtol=1e-12, atol=0.0, hint=hint)
        expect_true(isinstance(found, (float, np.floating)) and not isinstance(found, np.ndarray),
                    f"relative_error(a, b) should return a float, returned {type(found).__name__}",
                    "return float(np.max(...))")


@graded(1, visibility="hidden", oracle="property", topic=TOPIC_GRADCHECK)
def test_gradient_check_reports_relative_errors(student, rng):
    sizes, m = (4, 5, 3, 4), 9
    params, X, Y = draw_checkable_problem(sizes, m, rng)
    gc = student.backprop.gradient_check
    broken = kit_model(BrokenMLP, sizes, params)
    expected = kit_relative_errors(kit_model(BrokenMLP, sizes, params), X, Y)
    what = f"gradient_check(model, X, Y) on the grader's {'-'.join(map(str, sizes))} network that forgets " \
           f"layer 1's ReLU mask, batch of {m}"
    found = expect_check_result(gc(broken, X.copy(), Y.copy()), what=what)
    for name in ("W1", "b1"):
        expect_scalar(found[name], expected[name], what=f"the relative error for {name} from {what}", rtol=1e-6,
                      atol=0.0,
                      hint="relative_error(analytic, numeric) with the max over the entries; " + HINT_GRADCHECK)
    for name in ("W2", "b2", "W3", "b3"):
        expect_true(0.0 <= found[name] < 1e-6,
                    f"{what} reports relative error {found[name]:.3g} for {name}, whose gradient is right "
                    "(expected below 1e-6)", HINT_GRADCHECK)
    for name in PARAMS:
        expect_array(getattr(broken, name), params[name], what=f"model.{name} after {what}", rtol=1e-12, atol=1e-15,
                     hint="gradient_check must leave the model's parameters as they were")
    good = kit_model(GraderMLP, sizes, params)
    found = expect_check_result(gc(good, X.copy(), Y.copy()), what="gradient_check on the correct network")
    expect_equal(sorted(found), sorted(PARAMS), what="the keys of gradient_check(model, X, Y)")
    for name in PARAMS:
        expect_true(0.0 <= found[name] < 1e-6,
                    f"gradient_check(model, X, Y) on the grader's correct network reports {found[name]:.3g} for "
                    f"{name} (expected below 1e-6)", HINT_GRADCHECK)


# ================================================================ real data


@graded(3, visibility="hidden", oracle="property", timeout=MNIST_TIMEOUT, topic=TOPIC_TRAIN)
def test_mnist_sample_accuracy(student, rng, mnist_sample, feedback):
    X, y = mnist_sample
    order = rng.permutation(len(X))
    test, train = order[:MNIST_TEST], order[MNIST_TEST:]
    X_train, Y_train = X[train], one_hot(y[train], 10)
    X_test, y_test = X[test], y[test]       # y_test stays here: only X_test is sent to the student's code
    model = student.backprop.MNISTClassifier(MNIST_SIZES, rng=np.random.default_rng(rng.integers(2**32)))
    student.run_kit("training.sgd", model, X_train, Y_train, epochs=MNIST_EPOCHS, batch_size=MNIST_BATCH,
                    lr=MNIST_LR, rng=np.random.default_rng(rng.integers(2**32)))
    setup = (f"after the grader's SGD loop ({MNIST_EPOCHS} epochs, batches of {MNIST_BATCH}, lr={MNIST_LR}, through "
             f"your gradients and step) on {len(train)} real MNIST digits")
    probs = model.forward(X_test)
    if type(probs) is np.ndarray and probs.shape == (MNIST_TEST, 10) and not np.all(np.isfinite(probs)):
        fail(f"{setup}, forward(X_test) returns nan or inf: the training diverged",
             "check step's sign (param -= lr * grad), the 1/m in the gradients (without it the steps are "
             f"{MNIST_BATCH} times too large) and a stable softmax")
    probs = expect_probs(probs, MNIST_TEST, 10, what=f"forward(X_test) {setup}")
    acc = accuracy(probs, y_test)
    feedback.update({"accuracy": acc, "threshold": MNIST_THRESHOLD, "held_out": MNIST_TEST})
    expect_true(acc >= MNIST_THRESHOLD,
                f"{setup}, your model classifies {acc:.1%} of {MNIST_TEST} held-out digits correctly.\n"
                f"  expected: at least {MNIST_THRESHOLD:.0%} (a correct model reaches about 91%)\n"
                f"  found:    {acc:.1%}",
                "if the gradient tests pass, check step (param -= lr * grad for every key) and the initialization; "
                "a model that learns nothing scores about 10%")
