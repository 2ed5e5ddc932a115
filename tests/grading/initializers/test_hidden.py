"""Part 1, hidden tests: weight initialization on other inputs.

``simulate_forward`` is compared with the live reference on the same seed for
every activation, with a number as ``init`` (the contract fixes those draws:
``rng.standard_normal((n, n)) * init``). With a function as ``init`` it is
checked against a replay of the contract's steps that calls the student's own
initializer, so a fault in an initializer is never charged to
``simulate_forward`` a second time. The statistical bounds are those of
test_public.py (see its docstring).
"""
import math
from functools import partial
from statistics import NormalDist

import numpy as np

from autograder.harness import expect_raises, expect_true, fail, graded

from .test_public import (
    HINT_RNG,
    HINT_SIMULATE,
    INITIALIZERS,
    TOPIC_METHODS,
    TOPIC_WHY,
    _as_samples,
    call_text,
    check_std_and_mean,
    expect_stats,
    expect_stats_list,
)

TOPIC_VANISHING = "2.1 Vanishing and exploding gradients"


@graded(1, visibility="hidden", oracle="property", topic=TOPIC_METHODS)
def test_initializers_std_on_very_uneven_layers(student, rng, tol):
    """Std and mean of all three initializers for a wide and a tall layer (1000 x 60 and 60 x 1000)."""
    p = tol.false_failure_probability / len(INITIALIZERS)
    for name in INITIALIZERS:
        check_std_and_mean(student, name, ((1000, 60), (60, 1000)), rng, p)


@graded(1, visibility="hidden", oracle="property", topic=TOPIC_METHODS)
def test_global_random_state_does_not_matter(student, rng):
    """Re-seeding NumPy's global generator (np.random.seed) between two calls with equal rngs changes nothing."""
    seed = int(rng.integers(2**63))
    saved = np.random.get_state()
    try:
        for name in INITIALIZERS:
            init = getattr(student.initializers, name)
            results = []
            for global_seed in (1, 2):
                np.random.seed(global_seed)
                results.append(_as_samples(init(30, 20, np.random.default_rng(seed)), 600, f"{name}(30, 20, rng)"))
            expect_true(np.array_equal(*results),
                        f"{name}(30, 20, rng) gave different weights for two generators with the same seed once the "
                        "global np.random state had changed: your code draws from np.random instead of rng",
                        HINT_RNG)
        stats = []
        for global_seed in (1, 2):
            np.random.seed(global_seed)
            stats.append(student.initializers.simulate_forward(3, 0.2, n_neurons=32, rng=np.random.default_rng(seed)))
        expect_true(_same(*stats),
                    f"{call_text(3, 0.2, n_neurons=32)} gave different statistics for two generators with the same "
                    "seed once the global np.random state had changed: it draws from np.random instead of rng",
                    HINT_RNG)
    finally:
        np.random.set_state(saved)


def _same(a, b) -> bool:
    """Equal results (lists, dicts, arrays and numbers, compared exactly; the structure is graded elsewhere)."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    try:
        return bool(np.array_equal(a, b, equal_nan=True))
    except TypeError:
        return a == b


@graded(1, visibility="hidden", oracle="property", topic=TOPIC_METHODS)
def test_initializers_reject_bad_fans(student):
    """fan_in < 1 or fan_out < 1 raises ValueError."""
    for name in INITIALIZERS:
        init = getattr(student.initializers, name)
        for fan_in, fan_out in ((0, 5), (5, 0), (-2, 3), (3, -1), (0, 0)):
            expect_raises(ValueError, partial(init, fan_in, fan_out, np.random.default_rng(0)),
                          what=f"{name}({fan_in}, {fan_out}, rng)",
                          hint="1.2: check fan_in >= 1 and fan_out >= 1 first and raise ValueError otherwise")


@graded(1, visibility="hidden", oracle="property", topic=TOPIC_WHY)
def test_simulate_forward_rejects_bad_input(student):
    """n_layers < 1 or an activation other than relu/tanh/sigmoid/linear raises ValueError."""
    simulate = student.initializers.simulate_forward
    for n_layers in (0, -3):
        expect_raises(ValueError, partial(simulate, n_layers, 0.1, n_neurons=8, rng=np.random.default_rng(0)),
                      what=call_text(n_layers, 0.1, n_neurons=8),
                      hint="1.1: check n_layers >= 1 and raise ValueError otherwise")
    for activation in ("softmax", "leaky_relu", "gelu"):
        expect_raises(ValueError, partial(simulate, 2, 0.1, n_neurons=8, activation=activation,
                                          rng=np.random.default_rng(0)),
                      what=call_text(2, 0.1, n_neurons=8, activation=activation),
                      hint="1.1: only 'relu', 'tanh', 'sigmoid' and 'linear' are allowed; raise ValueError (not "
                           "KeyError) for any other name")


# (n_layers, init, keyword arguments): numbers as init, so the reference's draws are fixed by the seed.
AGREEMENT_CASES = (
    (1, 0.5, {"n_neurons": 256, "batch_size": 1}),
    (7, math.sqrt(2.0 / 48), {"n_neurons": 48, "batch_size": 3}),
    (15, 1, {"n_neurons": 24, "batch_size": 2}),  # an int scale; relu and linear explode
    (4, 0.05, {}),  # the defaults: 256 neurons, batch 1
)


@graded(1, visibility="hidden", oracle="reference", topic=TOPIC_WHY)
def test_simulate_forward_agrees_with_reference_relu(student, reference, rng, tol):
    _check_agreement(student, reference, rng, tol, "relu")


@graded(1, visibility="hidden", oracle="reference", topic=TOPIC_WHY)
def test_simulate_forward_agrees_with_reference_tanh(student, reference, rng, tol):
    _check_agreement(student, reference, rng, tol, "tanh")


@graded(1, visibility="hidden", oracle="reference", topic=TOPIC_VANISHING)
def test_simulate_forward_agrees_with_reference_sigmoid(student, reference, rng, tol):
    _check_agreement(student, reference, rng, tol, "sigmoid")


@graded(1, visibility="hidden", oracle="reference", topic=TOPIC_WHY)
def test_simulate_forward_agrees_with_reference_linear(student, reference, rng, tol):
    _check_agreement(student, reference, rng, tol, "linear")


def _check_agreement(student, reference, rng, tol, activation):
    """Every case of AGREEMENT_CASES with ``activation`` (relu: also with the default activation) on one seed each."""
    for n_layers, init, kwargs in AGREEMENT_CASES:
        kwargs = dict(kwargs) if activation == "relu" and not kwargs else {**kwargs, "activation": activation}
        seed = int(rng.integers(2**63))
        expected = reference.initializers.simulate_forward(n_layers, init, **kwargs, rng=np.random.default_rng(seed))
        found = student.initializers.simulate_forward(n_layers, init, **kwargs, rng=np.random.default_rng(seed))
        expect_stats(found, expected, what=call_text(n_layers, init, **kwargs) + f" with rng seeded {seed}",
                     rtol=tol.rtol)


_HARNESS_ACTIVATIONS = {"relu": lambda z: np.maximum(z, 0.0), "tanh": np.tanh, "linear": lambda z: z}


def _reproducible_initializer(student):
    """The first of the student's initializers that gives equal (64, 64) weights for equal seeds, or ``None``."""
    for name in ("he_init", "lecun_init", "xavier_init"):
        init = getattr(student.initializers, name)
        try:
            first, again = (init(64, 64, np.random.default_rng(7)) for _ in range(2))
        except Exception:  # noqa: BLE001 - a broken initializer is graded by its own tests
            continue
        if isinstance(first, np.ndarray) and isinstance(again, np.ndarray) and first.shape == (64, 64) \
                and np.array_equal(first, again):
            return name, init
    return None, None


@graded(1, visibility="hidden", oracle="property", topic=TOPIC_WHY)
def test_simulate_forward_calls_init_with_rng(student, rng, tol):
    """With a function as init, W = init(n_neurons, n_neurons, rng) for each layer, after x is drawn from rng.

    The expected statistics replay the contract's steps with your own
    initializer (he_init, or lecun_init/xavier_init when he_init does not
    return reproducible weights), so only simulate_forward is graded here.
    """
    name, init = _reproducible_initializer(student)
    if init is None:  # no initializer to replay with: only the structure can be checked
        found = student.initializers.simulate_forward(3, student.initializers.he_init, n_neurons=16, rng=rng)
        expect_stats_list(found, 3, what="simulate_forward(3, he_init, n_neurons=16, rng)")
        return
    for activation in ("relu", "tanh", "linear"):
        n_layers, n, batch = 5, 40, 3
        seed = int(rng.integers(2**63))
        what = f"simulate_forward({n_layers}, {name}, n_neurons={n}, activation={activation!r}, batch_size={batch}, " \
               f"rng) with rng seeded {seed}"
        found = student.initializers.simulate_forward(n_layers, init, n_neurons=n, activation=activation,
                                                      batch_size=batch, rng=np.random.default_rng(seed))
        replay = np.random.default_rng(seed)
        x = replay.standard_normal((batch, n))
        expected = []
        for _ in range(n_layers):
            x = _HARNESS_ACTIVATIONS[activation](x @ init(n, n, replay))
            expected.append({"mean": float(np.mean(x)), "std": float(np.std(x))})
        expect_stats(found, expected, what=what, rtol=tol.rtol,
                     hint=f"the expected values call your own {name}(n_neurons, n_neurons, rng) once per layer with "
                          "the rng that simulate_forward received, after x was drawn from it; ")


# Bands for log(std of layer L / std of layer 1) in simulate_forward(50, scale, n_neurons=128, rng) (batch 1),
# measured on 600,000 runs of an exact-in-distribution model of the reference: given a layer's activations x,
# x @ W has i.i.d. N(0, scale**2 * |x|**2) entries, so a layer needs 128 fresh normals instead of a 128 x 128
# matrix (runs of the reference give the same means; tests/project/test_suite_stats.py checks the constants).
# 128 neurons rather than the lecture's 256: a quarter of the draws, the same behaviour over depth.
# (mean, sd) per (initializer, L):
DEPTH_NEURONS = 128
LOG_RATIO = {
    ("he_relu", 10): (-0.0897, 0.2997),
    ("he_relu", 50): (-0.4861, 0.7012),
    ("xavier_tanh", 10): (-1.0284, 0.1182),
    ("xavier_tanh", 50): (-1.9473, 0.2693),
}
# The log-ratio is a sum of per-layer terms and close to normal (|skew| <= 0.29, excess kurtosis <= 0.10), but
# its lower tail is a little heavier: the simulated 1e-5 quantiles lie up to 19% further out than a normal's.
# The band is mean +- 1.5 * z * sd, z = Phi^-1(1 - p_check / 2) for the p_check = p / 4 of each of the four
# checks (about 9.5 sd on each side), the 1.5 covering that tail and the error of the estimates. The bands
# are wide ([0.05, 15.8] for He at 10 layers) but collapse and explosion are far outside: ReLU dropped
# (linear layers with He's scale) doubles the variance per layer, a 50-layer ratio of 2**24.5; the exact
# comparisons with the reference grade the details.
BAND_MARGIN = 1.5


def log_ratio_band(key, p_check: float) -> tuple[float, float]:
    """The band for ``log(std_L / std_1)`` (see LOG_RATIO)."""
    mean, sd = LOG_RATIO[key]
    half = BAND_MARGIN * NormalDist().inv_cdf(1.0 - p_check / 2.0) * sd
    return mean - half, mean + half


@graded(1, visibility="hidden", oracle="property", topic=TOPIC_VANISHING)
def test_activation_scale_over_depth(student, rng, tol):
    """He-scaled ReLU and Xavier-scaled tanh keep their activation scale over 10 and 50 layers of 128 neurons; 0.01
    collapses, 1.0 explodes.

    He's std for 128 inputs is sqrt(2/128), Xavier's sqrt(2/256). The
    collapse and explosion checks follow from the He band: ReLU is positively
    homogeneous, so with the same draws scale s multiplies the layer-10/layer-1
    ratio by (s / sqrt(2/128))**9 (1e-9.9 for 0.01, 1e+8.1 for 1.0) and the
    thresholds 1e-4 and 1e+4 are orders of magnitude inside.
    """
    p_check = tol.false_failure_probability / 4
    n = DEPTH_NEURONS
    for key, scale, activation in (("he_relu", math.sqrt(2.0 / n), "relu"),
                                   ("xavier_tanh", math.sqrt(2.0 / (2 * n)), "tanh")):
        what = call_text(50, scale, n_neurons=n, activation=activation)
        stats = expect_stats_list(student.initializers.simulate_forward(50, scale, n_neurons=n, activation=activation,
                                                                        rng=rng),
                                  50, what=what)
        for layers in (10, 50):
            low, high = log_ratio_band((key, layers), p_check)
            ratio = stats[layers - 1]["std"] / stats[0]["std"] if stats[0]["std"] > 0 else math.nan
            if not math.exp(low) <= ratio <= math.exp(high):
                fail(f"{what}: the std of layer {layers} divided by the std of layer 1 is outside the expected band."
                     f"\n  expected: between {math.exp(low):.3g} and {math.exp(high):.3g} (typically "
                     f"{math.exp(LOG_RATIO[key, layers][0]):.3g})\n  found:    {ratio:.6g}",
                     "1.2: with this scale the activations keep their size over depth; check the activation "
                     f"function ({activation}) and that each layer uses the previous layer's output. {HINT_SIMULATE}")
    for scale, limit, word in ((0.01, 1e-4, "collapse"), (1.0, 1e4, "explode")):
        what = call_text(10, scale, n_neurons=n, activation="relu")
        stats = expect_stats_list(student.initializers.simulate_forward(10, scale, n_neurons=n, rng=rng), 10,
                                  what=what)
        ratio = stats[9]["std"] / stats[0]["std"] if stats[0]["std"] > 0 else math.nan
        ok = ratio < limit if word == "collapse" else limit < ratio < math.inf
        expect_true(ok, f"{what}: the activations should {word} over 10 ReLU layers (std of layer 10 / std of layer "
                        f"1 {'<' if word == 'collapse' else '>'} {limit:g}), but the ratio is {ratio:.6g}",
                    f"1.1: a weight scale of {scale} is far from sqrt(2/{n}) = {math.sqrt(2.0 / n):.3g}, so each layer "
                    f"multiplies the activations' size by about {scale * math.sqrt(n / 2):.3g}")
