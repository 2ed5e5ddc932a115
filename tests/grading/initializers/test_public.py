"""Part 1, public tests: weight initialization (lecture sections 1.1 and 1.2).

Initializers draw random weights, so their values cannot be compared with an
answer; these tests check what the contract says about them instead: the
shape and dtype, the mean and standard deviation of the entries, that they
are normal, and that the same ``rng`` seed gives the same weights.
``simulate_forward`` with a number as ``init`` is fully determined by the
seed, so it is compared with the reference's answers (``golden.json``).

How the statistical checks are made fair
----------------------------------------
Each statistical test may fail a correct initializer by bad luck with
probability at most ``p = course.tolerances.false_failure_probability``
(1e-9), whatever the seed. A test that makes ``k`` checks gives each one
``p / k`` (union bound). For ``n`` i.i.d. normal entries with std ``sigma``:

* sample mean: exactly ``N(0, sigma**2 / n)``, so
  ``|mean| <= z * sigma / sqrt(n)`` with ``z = Phi^-1(1 - p_check / 2)``
  (about 6.1 for 1e-9; computed with ``statistics.NormalDist``).
* sample std (``np.std``, ddof 0): ``n * s**2 / sigma**2`` is chi-square with
  ``n - 1`` degrees of freedom. The Laurent-Massart inequality bounds it on
  each side with probability ``p_check / 2`` without any normal
  approximation: ``k - 2 sqrt(k x) <= chi2 <= k + 2 sqrt(k x) + 2 x`` with
  ``x = ln(2 / p_check)``. For 200 x 300 weights and p_check = 1e-9/4 the
  ratio ``s / sigma`` must lie in [0.980, 1.020] (the normal approximation
  ``1 +- z / sqrt(2 n)`` gives +-0.018). The usual mistakes are far outside:
  Xavier from ``fan_in`` only is off by x1.58 or x1.29, He with ``sqrt(1 /
  fan_in)`` by x0.71, LeCun from ``fan_out`` by x0.82 or x1.22, a variance
  instead of a std by a factor of ten or more.
* normality: the Kolmogorov-Smirnov distance between the entries (centred and
  scaled by their own mean and std) and the standard normal CDF. The
  Dvoretzky-Kiefer-Wolfowitz inequality with Massart's constant gives
  ``P(D > eps) <= 2 exp(-2 n eps**2)``, so ``eps = sqrt(ln(2 / p_check) /
  (2 n))`` (0.0097 for 120,000 entries and p_check = 1e-9/3). Estimating the
  mean and std from the same data only makes ``D`` smaller (Lilliefors), so
  the bound is conservative. Uniform weights with the right std are at
  D ~ 0.058, Laplace ones at 0.062, a normal truncated at 2 std at 0.018.
"""
import math
from statistics import NormalDist

import numpy as np

from autograder.harness import expect_true, fail, graded

TOPIC_WHY = "1.1 Why initialization matters"
TOPIC_METHODS = "1.2 Proper initialization methods"

INITIALIZERS = ("xavier_init", "he_init", "lecun_init")
FORMULAS = {  # the contract's std of each initializer
    "xavier_init": ("sqrt(2 / (fan_in + fan_out))", lambda fan_in, fan_out: math.sqrt(2.0 / (fan_in + fan_out))),
    "he_init": ("sqrt(2 / fan_in)", lambda fan_in, fan_out: math.sqrt(2.0 / fan_in)),
    "lecun_init": ("sqrt(1 / fan_in)", lambda fan_in, fan_out: math.sqrt(1.0 / fan_in)),
}
# Stds students often get instead, to name the mistake in a failure's hint.
LIKELY_STDS = (
    ("sqrt(2 / (fan_in + fan_out)) (Xavier's)", lambda i, o: math.sqrt(2.0 / (i + o))),
    ("sqrt(1 / (fan_in + fan_out))", lambda i, o: math.sqrt(1.0 / (i + o))),
    ("sqrt(2 / fan_in) (He's)", lambda i, o: math.sqrt(2.0 / i)),
    ("sqrt(1 / fan_in) (LeCun's)", lambda i, o: math.sqrt(1.0 / i)),
    ("sqrt(2 / fan_out)", lambda i, o: math.sqrt(2.0 / o)),
    ("sqrt(1 / fan_out)", lambda i, o: math.sqrt(1.0 / o)),
    ("2 / (fan_in + fan_out), a variance rather than a std", lambda i, o: 2.0 / (i + o)),
    ("2 / fan_in, a variance rather than a std", lambda i, o: 2.0 / i),
    ("1 / fan_in, a variance rather than a std", lambda i, o: 1.0 / i),
    ("1 (no scaling at all)", lambda i, o: 1.0),
)
ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear")

HINT_RNG = ("1.2: draw every number from the rng argument (rng.standard_normal or rng.normal), never from "
            "np.random.randn / np.random.normal, and create np.random.default_rng() only when rng is None")
HINT_SIMULATE = ("1.1: x is drawn first, rng.standard_normal((batch_size, n_neurons)); then each layer draws its own "
                 "W (init(n_neurons, n_neurons, rng), or rng.standard_normal((n_neurons, n_neurons)) * init for a "
                 "number), computes x = act(x @ W) with no bias and records np.mean(x) and np.std(x) after the "
                 "activation")


# ---------------------------------------------------------------- statistical bounds (see the module docstring)


def normal_quantile(p_check: float) -> float:
    """``z`` with ``P(|N(0, 1)| > z) = p_check``."""
    return NormalDist().inv_cdf(1.0 - p_check / 2.0)


def std_ratio_band(n: int, p_check: float) -> tuple[float, float]:
    """Bounds on ``np.std(x) / sigma`` for ``n`` i.i.d. normal entries, missed with probability <= ``p_check``.

    ``n * s**2 / sigma**2`` is chi-square with ``k = n - 1`` degrees of freedom;
    Laurent & Massart (2000, Lemma 1) bound each tail by ``exp(-x)``; with
    ``x = ln(2 / p_check)`` both tails together are at most ``p_check``.
    """
    k, x = n - 1, math.log(2.0 / p_check)
    low = max(0.0, k - 2.0 * math.sqrt(k * x)) / n
    high = (k + 2.0 * math.sqrt(k * x) + 2.0 * x) / n
    return math.sqrt(low), math.sqrt(high)


def mean_bound(n: int, sigma: float, p_check: float) -> float:
    """Bound on ``|np.mean(x)|`` for ``n`` i.i.d. ``N(0, sigma**2)`` entries (the mean is ``N(0, sigma**2 / n)``)."""
    return normal_quantile(p_check) * sigma / math.sqrt(n)


def ks_bound(n: int, p_check: float) -> float:
    """Dvoretzky-Kiefer-Wolfowitz-Massart: ``P(sup |F_n - F| > eps) <= 2 exp(-2 n eps**2) = p_check``."""
    return math.sqrt(math.log(2.0 / p_check) / (2.0 * n))


_GRID = np.linspace(-6.0, 6.0, 2401)
_GRID_CDF = np.array([0.5 * (1.0 + math.erf(t / math.sqrt(2.0))) for t in _GRID])


def ks_distance_to_normal(values) -> float:
    """Kolmogorov-Smirnov distance between the standardized ``values`` and the standard normal CDF.

    Evaluated on a grid of 2401 points in [-6, 6] (from both sides of each
    point), so it never exceeds the exact distance and the DKW bound holds for
    it as well; the grid is fine enough (a step moves the normal CDF by at
    most 0.002) to see every departure that matters here.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    z = (x - x.mean()) / x.std()
    n = z.size
    if np.all(np.isfinite(z)):
        below, at = _counts_up_to_grid(z)  # F_n just left of each grid point, and at it (times n)
    else:
        z = np.sort(z)
        below, at = np.searchsorted(z, _GRID, side="left"), np.searchsorted(z, _GRID, side="right")
    return float(max(np.max(np.abs(below / n - _GRID_CDF)), np.max(np.abs(at / n - _GRID_CDF))))


_BOUNDS = np.concatenate([[-np.inf], _GRID, [np.inf]])
_STEP = (_GRID[-1] - _GRID[0]) / (_GRID.size - 1)


def _counts_up_to_grid(z) -> tuple[np.ndarray, np.ndarray]:
    """``(#{z < g}, #{z <= g})`` for each grid point ``g``, without sorting ``z`` (all finite).

    Each value's place among the grid points comes from arithmetic on the
    uniform grid, then is corrected against the grid itself, so the counts
    are exact.
    """
    le = np.clip(np.floor((z - _GRID[0]) / _STEP), -1, _GRID.size - 1).astype(np.int64) + 1  # ~#{g <= z}
    for _ in range(2):  # rounding can be off by one either way: _BOUNDS[le] <= z < _BOUNDS[le + 1] after this
        le -= z < _BOUNDS[le]
        le += z >= _BOUNDS[le + 1]
    lt = le - (_BOUNDS[le] == z)  # #{g < z}
    size = _GRID.size + 1
    return (np.cumsum(np.bincount(le, minlength=size))[:-1],  # z < g_j  <=>  #{g <= z} <= j
            np.cumsum(np.bincount(lt, minlength=size))[:-1])  # z <= g_j  <=>  #{g < z} <= j


def distinct_rows(array: np.ndarray) -> int:
    """How many different rows a 2-D float array has (by value: ``-0.0`` equals ``0.0``), as ``np.unique(array,
    axis=0)`` counts them for finite values, without its sort."""
    canonical = np.ascontiguousarray(array + 0.0)  # -0.0 + 0.0 is 0.0
    return len({row.tobytes() for row in canonical})


# ---------------------------------------------------------------- checks shared with test_hidden.py


def expect_weights(found, fan_in: int, fan_out: int, *, what: str) -> np.ndarray:
    """Type, shape, dtype and finiteness of an initializer's result."""
    if type(found) is not np.ndarray:
        fail(f"{what} should return a numpy.ndarray of shape {(fan_in, fan_out)}, but returned "
             f"{type(found).__name__}", TOPIC_METHODS)
    if found.shape != (fan_in, fan_out):
        transposed = found.shape == (fan_out, fan_in)
        fail(f"{what} has the wrong shape.\n  expected shape: {(fan_in, fan_out)} (fan_in, fan_out)\n"
             f"  found shape:    {found.shape}",
             "the weights of a layer are (fan_in, fan_out) so that x @ W works for x of shape (batch, fan_in)"
             + (" - yours look transposed" if transposed else ""))
    if found.dtype != np.float64:
        fail(f"{what} has dtype {found.dtype}, expected float64", "rng.standard_normal returns float64; "
             "do not convert the weights to another dtype")
    if not np.all(np.isfinite(found)):
        fail(f"{what} holds non-finite values (nan or inf)", TOPIC_METHODS)
    return found


def _as_samples(found, size: int, what: str) -> np.ndarray:
    """The entries of an initializer's result as float64 (shape and dtype are graded elsewhere)."""
    if not isinstance(found, np.ndarray) or found.size != size or found.dtype.kind != "f":
        fail(f"{what} should return a float ndarray with {size} entries, but returned {type(found).__name__}"
             + (f" of shape {found.shape}, dtype {found.dtype}" if isinstance(found, np.ndarray) else ""),
             TOPIC_METHODS)
    values = found.astype(np.float64).ravel()
    if not np.all(np.isfinite(values)):
        fail(f"{what} holds non-finite values (nan or inf)", TOPIC_METHODS)
    return values


def _likely_formula(found_std: float, fan_in: int, fan_out: int, low: float, high: float) -> str | None:
    for label, formula in LIKELY_STDS:
        if low <= found_std / formula(fan_in, fan_out) <= high:
            return label
    return None


def check_std_and_mean(student, name: str, shapes, rng, p: float) -> None:
    """Std and mean of ``name``'s weights for every ``(fan_in, fan_out)`` in ``shapes``, each within its bound.

    Every shape makes two checks, so each gets ``p / (2 * len(shapes))``.
    """
    formula_text, formula = FORMULAS[name]
    p_check = p / (2 * len(shapes))
    for fan_in, fan_out in shapes:
        what = f"{name}({fan_in}, {fan_out}, rng)"
        n = fan_in * fan_out
        values = _as_samples(getattr(student.initializers, name)(fan_in, fan_out, rng), n, what)
        sigma = formula(fan_in, fan_out)
        low, high = std_ratio_band(n, p_check)
        found_std = float(values.std())
        if not low <= found_std / sigma <= high:
            guess = _likely_formula(found_std, fan_in, fan_out, low, high)
            fail(f"the entries of {what} have the wrong standard deviation ({n} entries).\n"
                 f"  expected: {sigma:.6g} = {formula_text}, within the statistical band "
                 f"[{low * sigma:.6g}, {high * sigma:.6g}]\n"
                 f"  found:    {found_std:.6g} ({found_std / sigma:.3f} times the expected std)",
                 f"1.2: {name} uses std = {formula_text}"
                 + (f"; yours matches {guess}" if guess else "") + ", and multiplies standard normal draws by it")
        bound = mean_bound(n, sigma, p_check)
        found_mean = float(values.mean())
        if not abs(found_mean) <= bound:
            fail(f"the entries of {what} should have mean 0.\n"
                 f"  expected: |mean| <= {bound:.3g} (the statistical band for {n} draws with std {sigma:.4g})\n"
                 f"  found:    mean {found_mean:.6g}",
                 "1.2: the weights are normal with mean 0: standard normal draws times the std, nothing added "
                 "(rng.random is uniform on [0, 1), not normal)")


def expect_stats_list(found, n_layers: int, *, what: str) -> list:
    """``simulate_forward``'s result is a list of ``n_layers`` dicts with float ``"mean"`` and ``"std"``."""
    if type(found) is not list:
        fail(f"{what} should return a list with one dict per layer, but returned {type(found).__name__}",
             HINT_SIMULATE)
    if len(found) != n_layers:
        fail(f"{what} returned {len(found)} entries, expected {n_layers} (one per layer)",
             "1.1: append one {'mean': ..., 'std': ...} per layer, after computing that layer's activations")
    for layer, entry in enumerate(found, start=1):
        if not isinstance(entry, dict):
            fail(f"{what}: entry {layer - 1} (layer {layer}) should be a dict {{'mean': float, 'std': float}}, "
                 f"found {type(entry).__name__}", HINT_SIMULATE)
        for key in ("mean", "std"):
            if key not in entry:
                fail(f"{what}: the dict of layer {layer} has no key {key!r} (found keys {sorted(map(str, entry))})",
                     "1.1: each layer's statistics are {'mean': np.mean(x), 'std': np.std(x)}")
            value = entry[key]
            if isinstance(value, bool) or not isinstance(value, float):
                fail(f"{what}: layer {layer}'s {key!r} should be a float, found {type(value).__name__} {value!r}",
                     "1.1: convert with float(np.mean(x)); a 0-d or 1-element array, a float32 or an int is not "
                     "a float")
    return found


def expect_stats(found, expected: list, *, what: str, rtol: float, hint: str = "") -> None:
    """``simulate_forward``'s statistics equal ``expected`` layer by layer.

    Each layer's values are compared relative to that layer's scale, the
    expected std: ``|mean - mean_e| <= rtol * (|mean_e| + std_e)`` and
    ``|std - std_e| <= rtol * std_e``, so a collapsed (1e-40) or exploded
    (1e+40) layer is held to the same relative accuracy as a healthy one.
    """
    expect_stats_list(found, len(expected), what=what)
    for layer, (got, want) in enumerate(zip(found, expected, strict=True), start=1):
        scale = abs(want["std"])
        for key, allowed in (("mean", rtol * (abs(want["mean"]) + scale)), ("std", rtol * scale)):
            f, e = float(got[key]), float(want[key])
            if not abs(f - e) <= allowed:
                where = ("already in layer 1: check the draw of x, the first W and the activation" if layer == 1
                         else f"layers 1 to {layer - 1} agree: check that every layer draws a fresh W and feeds the "
                              "previous layer's output")
                fail(f"{what}: {key!r} of layer {layer} (of {len(expected)}) is wrong.\n"
                     f"  expected: {e!r}\n  found:    {f!r}\n"
                     f"  (allowed: |found - expected| <= {allowed:.3g}, a relative {rtol:g} of the layer's scale)",
                     f"{hint}{where}. {HINT_SIMULATE}")


def call_text(n_layers, init, **kwargs) -> str:
    """``simulate_forward(...)`` as text for a message."""
    shown = f"{init:.6g}" if isinstance(init, float) else repr(init) if not callable(init) else init.__name__
    extra = "".join(f", {key}={value!r}" for key, value in kwargs.items())
    return f"simulate_forward({n_layers}, {shown}{extra}, rng)"


# ---------------------------------------------------------------- the tests


@graded(1, visibility="public", oracle="property", topic=TOPIC_METHODS)
def test_initializers_shape_and_dtype(student, rng):
    """Each initializer returns float64 weights of shape (fan_in, fan_out), also for 1 and for non-square sizes."""
    for name in INITIALIZERS:
        init = getattr(student.initializers, name)
        for fan_in, fan_out in ((3, 5), (5, 3), (1, 1), (1, 10), (10, 1), (784, 128)):
            expect_weights(init(fan_in, fan_out, rng), fan_in, fan_out, what=f"{name}({fan_in}, {fan_out}, rng)")
        expect_weights(init(4, 6), 4, 6, what=f"{name}(4, 6) without an rng")


@graded(1.5, visibility="public", oracle="property", topic=TOPIC_METHODS)
def test_xavier_std_and_mean(student, rng, tol):
    """xavier_init's entries have std sqrt(2 / (fan_in + fan_out)) and mean 0 (both orders of a non-square layer)."""
    check_std_and_mean(student, "xavier_init", ((200, 300), (300, 200)), rng, tol.false_failure_probability)


@graded(1.5, visibility="public", oracle="property", topic=TOPIC_METHODS)
def test_he_std_and_mean(student, rng, tol):
    """he_init's entries have std sqrt(2 / fan_in) and mean 0."""
    check_std_and_mean(student, "he_init", ((200, 300), (300, 200)), rng, tol.false_failure_probability)


@graded(1, visibility="public", oracle="property", topic=TOPIC_METHODS)
def test_lecun_std_and_mean(student, rng, tol):
    """lecun_init's entries have std sqrt(1 / fan_in) and mean 0."""
    check_std_and_mean(student, "lecun_init", ((200, 300), (300, 200)), rng, tol.false_failure_probability)


@graded(1, visibility="public", oracle="property", topic=TOPIC_METHODS)
def test_initializers_draw_independent_normals(student, rng, tol):
    """The entries are normal (Kolmogorov-Smirnov distance within the DKW bound) and no row or column repeats."""
    fan_in, fan_out = 300, 400
    n = fan_in * fan_out
    bound = ks_bound(n, tol.false_failure_probability / len(INITIALIZERS))
    for name in INITIALIZERS:
        what = f"{name}({fan_in}, {fan_out}, rng)"
        found = getattr(student.initializers, name)(fan_in, fan_out, rng)
        values = _as_samples(found, n, what)
        distance = ks_distance_to_normal(values)
        if not distance <= bound:
            fail(f"the entries of {what} do not look normally distributed.\n"
                 f"  expected: Kolmogorov-Smirnov distance to a normal <= {bound:.4f} (the bound for {n} normal "
                 f"draws)\n  found:    {distance:.4f}",
                 "1.2: draw with rng.standard_normal (or rng.normal), not rng.uniform or rng.random, and do not "
                 "truncate or clip the draws")
        if found.ndim == 2 and found.shape == (fan_in, fan_out):
            for axis, label in ((0, "rows"), (1, "columns")):
                distinct = distinct_rows(found if axis == 0 else found.T)
                expect_true(distinct == found.shape[axis],
                            f"{what}: only {distinct} of its {found.shape[axis]} {label} are different; every entry "
                            "should be an independent draw",
                            "1.2: draw the whole (fan_in, fan_out) array at once instead of repeating one row or "
                            "column")


@graded(1, visibility="public", oracle="property", topic=TOPIC_METHODS)
def test_same_seed_gives_same_weights(student, rng):
    """The same rng seed gives the same weights, different seeds different ones, and rng=None fresh ones."""
    seed = int(rng.integers(2**63))
    for name in INITIALIZERS:
        init = getattr(student.initializers, name)
        first = _as_samples(init(40, 30, np.random.default_rng(seed)), 1200, f"{name}(40, 30, rng)")
        again = _as_samples(init(40, 30, np.random.default_rng(seed)), 1200, f"{name}(40, 30, rng)")
        expect_true(np.array_equal(first, again),
                    f"{name}(40, 30, rng) gave different weights for two generators made with the same seed "
                    f"(np.random.default_rng({seed}))", HINT_RNG)
        other = _as_samples(init(40, 30, np.random.default_rng(seed + 1)), 1200, f"{name}(40, 30, rng)")
        expect_true(not np.array_equal(first, other),
                    f"{name}(40, 30, rng) gave the same weights for generators with different seeds ({seed} and "
                    f"{seed + 1}): it does not draw from rng", HINT_RNG)
        fresh = [_as_samples(init(40, 30), 1200, f"{name}(40, 30)") for _ in range(2)]
        expect_true(not np.array_equal(*fresh),
                    f"{name}(40, 30) with rng=None gave the same weights twice; None means a fresh "
                    "np.random.default_rng() (unseeded)", HINT_RNG)


@graded(1, visibility="public", oracle="property", topic=TOPIC_WHY)
def test_simulate_forward_returns_one_dict_per_layer(student, rng):
    """simulate_forward returns a list of n_layers dicts {"mean": float, "std": float}, with std >= 0."""
    for n_layers, activation in ((1, "relu"), (4, "tanh"), (3, "sigmoid"), (2, "linear")):
        kwargs = {"n_neurons": 16, "activation": activation, "batch_size": 2}
        what = call_text(n_layers, 0.5, **kwargs)
        found = expect_stats_list(student.initializers.simulate_forward(n_layers, 0.5, **kwargs, rng=rng), n_layers,
                                  what=what)
        for layer, entry in enumerate(found, start=1):
            expect_true(math.isfinite(entry["mean"]) and math.isfinite(entry["std"]) and entry["std"] >= 0,
                        f"{what}: layer {layer} has mean {entry['mean']!r} and std {entry['std']!r}; expected "
                        "finite numbers and a std >= 0", HINT_SIMULATE)


LECTURE_SCALES = (0.01, 0.1, 1.0, 2.0)


def stds_for_picture(stats) -> list:
    """Each layer's ``"std"`` from a ``simulate_forward`` result, for the feedback picture ("nan" where unusable)."""
    values = []
    for entry in stats[:50] if isinstance(stats, list) else []:
        try:
            value = float(entry["std"])
        except (TypeError, KeyError, ValueError):
            value = math.nan
        values.append(value if math.isfinite(value) else str(value))
    return values


@graded(1, visibility="public", oracle="golden", topic=TOPIC_WHY)
def test_simulate_forward_lecture_scales(student, golden, tol, feedback):
    """The lecture's experiment (10 ReLU layers of 256 units, batch 1) for scales 0.01, 0.1, 1.0, 2.0, fixed seeds."""
    expected = golden("initializers/simulate_forward/lecture_scales", lambda ref: [
        ref.initializers.simulate_forward(10, scale, rng=np.random.default_rng(1401 + i))
        for i, scale in enumerate(LECTURE_SCALES)])
    found = [student.initializers.simulate_forward(10, scale, rng=np.random.default_rng(1401 + i))
             for i, scale in enumerate(LECTURE_SCALES)]
    feedback["std_per_layer"] = {"activation": "ReLU, 10 layers of 256 units", "series": [
        {"label": f"scale {scale}", "student": stds_for_picture(found[i]), "reference": stds_for_picture(expected[i])}
        for i, scale in enumerate(LECTURE_SCALES)]}
    for i, scale in enumerate(LECTURE_SCALES):
        expect_stats(found[i], expected[i],
                     what=f"simulate_forward(10, {scale}, rng=np.random.default_rng({1401 + i}))", rtol=tol.rtol)


SMALL_NET = {"n_neurons": 64, "batch_size": 4}


@graded(1, visibility="public", oracle="golden", topic=TOPIC_WHY)
def test_simulate_forward_each_activation(student, golden, tol):
    """tanh, sigmoid and linear layers (6 layers of 64 units, batch 4, scale 1/8), fixed seeds."""
    activations = ("tanh", "sigmoid", "linear")
    expected = golden("initializers/simulate_forward/activations", lambda ref: [
        ref.initializers.simulate_forward(6, 0.125, activation=act, rng=np.random.default_rng(1410 + i), **SMALL_NET)
        for i, act in enumerate(activations)])
    for i, act in enumerate(activations):
        found = student.initializers.simulate_forward(6, 0.125, activation=act, rng=np.random.default_rng(1410 + i),
                                                      **SMALL_NET)
        expect_stats(found, expected[i], what=call_text(6, 0.125, activation=act, **SMALL_NET), rtol=tol.rtol)

