"""The statistical bounds of the Part 1 (initializers) suites, checked numerically.

Each graded statistical test may fail a correct initializer by chance with
probability at most ``false_failure_probability`` (1e-9); these tests check
the derivations behind that promise (documented in
``tests/grading/initializers/test_public.py`` and ``test_hidden.py``) on
cases where the probabilities are large enough to measure, and check that
the usual mistakes fall far outside the bounds.
"""
import math

import numpy as np
import pytest

from tests.grading.initializers.test_hidden import BAND_MARGIN, DEPTH_NEURONS, LOG_RATIO, log_ratio_band
from tests.grading.initializers.test_public import (
    FORMULAS,
    ks_bound,
    ks_distance_to_normal,
    mean_bound,
    normal_quantile,
    std_ratio_band,
)

P = 1e-9
N_NEURONS = DEPTH_NEURONS


def test_normal_quantile_matches_tables():
    assert normal_quantile(0.05) == pytest.approx(1.959964, abs=1e-6)
    assert normal_quantile(1e-9) == pytest.approx(6.109410, abs=1e-5)


def _chi2_quantile(k: int, q: float) -> float:
    """Wilson-Hilferty approximation of the chi-square quantile (relative error far below 1e-4 for k >= 1000)."""
    z = normal_quantile(2 * min(q, 1 - q)) * (1 if q > 0.5 else -1)
    return k * (1 - 2 / (9 * k) + z * math.sqrt(2 / (9 * k))) ** 3


@pytest.mark.parametrize("n", [1200, 60000, 120000])
def test_std_band_contains_the_chi_square_quantiles(n):
    """Laurent-Massart is conservative: the band holds the exact (Wilson-Hilferty) p/2 quantiles of s / sigma."""
    p_check = P / 4
    low, high = std_ratio_band(n, p_check)
    exact_low = math.sqrt(_chi2_quantile(n - 1, p_check / 2) / n)
    exact_high = math.sqrt(_chi2_quantile(n - 1, 1 - p_check / 2) / n)
    assert low <= exact_low < 1 < exact_high <= high
    assert high - low < 1.25 * (exact_high - exact_low)  # and not much wider than it needs to be


def test_std_band_false_failure_rate_is_below_its_budget():
    """At a measurable p_check (1%), s / sigma leaves the band less often than p_check."""
    rng = np.random.default_rng(1)
    n, p_check, trials = 1000, 0.01, 200_000
    ratio = np.sqrt(rng.chisquare(n - 1, size=trials) / n)  # n * s**2 / sigma**2 ~ chi2(n - 1)
    low, high = std_ratio_band(n, p_check)
    assert np.mean((ratio < low) | (ratio > high)) < p_check


def test_mean_bound_false_failure_rate_matches_its_budget():
    rng = np.random.default_rng(2)
    n, sigma, p_check = 500, 0.3, 0.01
    means = rng.standard_normal((20_000, n)).mean(axis=1) * sigma
    rate = np.mean(np.abs(means) > mean_bound(n, sigma, p_check))
    assert rate < p_check + 4 * math.sqrt(p_check / 20_000)


# Mistakes the std tests must catch: (initializer, wrong std) for the public shapes.
MISTAKES = {
    "xavier_init": [lambda i, o: math.sqrt(2 / i), lambda i, o: math.sqrt(2 / o), lambda i, o: math.sqrt(1 / (i + o)),
                    lambda i, o: 2 / (i + o)],
    "he_init": [lambda i, o: math.sqrt(1 / i), lambda i, o: math.sqrt(2 / o), lambda i, o: math.sqrt(2 / (i + o)),
                lambda i, o: 2 / i],
    "lecun_init": [lambda i, o: math.sqrt(1 / o), lambda i, o: math.sqrt(2 / i), lambda i, o: 1 / i],
}


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_std_band_catches_the_usual_mistakes(name):
    """In the public test's shapes (200 x 300 and 300 x 200), every mistake is >= 10 sds outside the band once."""
    _, right = FORMULAS[name]
    shapes = ((200, 300), (300, 200))
    for wrong in MISTAKES[name]:
        distances = []
        for fan_in, fan_out in shapes:
            n = fan_in * fan_out
            low, high = std_ratio_band(n, P / 4)
            ratio = wrong(fan_in, fan_out) / right(fan_in, fan_out)
            sd = ratio / math.sqrt(2 * n)  # the sample std's spread around the wrong std
            distances.append(max(low - ratio, ratio - high) / sd)
        assert max(distances) >= 10


def test_ks_bound_is_conservative_with_estimated_mean_and_std():
    """Standardizing by the sample's own mean and std only shrinks the KS distance: rejections stay below p_check."""
    rng = np.random.default_rng(3)
    n, p_check = 500, 0.05
    bound = ks_bound(n, p_check)
    distances = [ks_distance_to_normal(rng.standard_normal(n) * 0.1 + 0.02) for _ in range(2000)]
    assert np.mean(np.array(distances) > bound) < p_check / 5


@pytest.mark.parametrize("kind", ["normal", "ties", "on_grid", "outside_grid", "heavy_tails"])
def test_ks_distance_counts_without_sorting_as_a_sorted_search_does(kind):
    """The KS distance counts the values below and at each grid point by arithmetic (no sort of 120,000
    values): the counts equal those of a binary search in the sorted values, ties and grid points included."""
    from tests.grading.initializers.test_public import _GRID, _counts_up_to_grid

    rng = np.random.default_rng(5)
    values = {"normal": rng.standard_normal(5000), "ties": rng.integers(-6, 7, 5000) * 0.5,
              "on_grid": rng.choice(_GRID, 5000), "heavy_tails": rng.standard_t(1.5, 5000),
              "outside_grid": np.concatenate([rng.uniform(-9, 9, 4000), [-6.0, 6.0, -np.nextafter(6, 0)]])}[kind]
    ordered = np.sort(values)
    below, at = _counts_up_to_grid(values)
    np.testing.assert_array_equal(below, np.searchsorted(ordered, _GRID, side="left"))
    np.testing.assert_array_equal(at, np.searchsorted(ordered, _GRID, side="right"))


@pytest.mark.parametrize("draw", ["uniform", "laplace", "truncated_at_2"])
def test_ks_bound_catches_non_normal_weights(draw):
    rng = np.random.default_rng(4)
    n = 300 * 400
    if draw == "uniform":
        values = rng.uniform(-1, 1, n)
    elif draw == "laplace":
        values = rng.laplace(size=n)
    else:
        values = rng.standard_normal(3 * n)
        values = values[np.abs(values) < 2][:n]
    assert ks_distance_to_normal(values) > 1.5 * ks_bound(n, P / 3)


def _model_log_ratios(activation: str, scale: float, layers: int, runs: int, rng) -> np.ndarray:
    """log(std of layer ``layers`` / std of layer 1) of simulate_forward(layers, scale, N_NEURONS neurons, batch 1).

    Exact in distribution: given a layer's activations x, x @ W has i.i.d.
    N(0, scale**2 * |x|**2) entries, so each layer needs N_NEURONS fresh normals.
    """
    x = rng.standard_normal((runs, N_NEURONS))
    first = None
    for _ in range(layers):
        z = rng.standard_normal((runs, N_NEURONS)) * (scale * np.linalg.norm(x, axis=1, keepdims=True))
        x = {"relu": lambda v: np.maximum(v, 0.0), "tanh": np.tanh, "linear": lambda v: v}[activation](z)
        first = x.std(axis=1) if first is None else first
    return np.log(x.std(axis=1) / first)


CONFIGS = {"he_relu": ("relu", math.sqrt(2 / N_NEURONS)), "xavier_tanh": ("tanh", math.sqrt(1 / N_NEURONS))}


@pytest.mark.parametrize("key", sorted(LOG_RATIO))
def test_log_ratio_constants_match_the_model(key):
    """The (mean, sd) constants of the hidden depth test agree with a fresh sample of the model."""
    name, layers = key
    runs = 3000
    sample = _model_log_ratios(*CONFIGS[name], layers, runs, np.random.default_rng(5))
    mean, sd = LOG_RATIO[key]
    assert abs(sample.mean() - mean) < 5 * sd / math.sqrt(runs)
    assert abs(sample.std() / sd - 1) < 5 / math.sqrt(2 * runs)
    low, high = log_ratio_band(key, P / 4)
    assert low < sample.min() and sample.max() < high
    assert (high - low) / 2 == pytest.approx(BAND_MARGIN * normal_quantile(P / 4) * sd)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_model_matches_the_reference(name):
    """The cheap model and the reference's simulate_forward have the same log-ratio mean at 10 layers."""
    from autograder.config import load_course
    from autograder.harness.inprocess import load_part_module

    reference = load_part_module(load_course().solutions, "initializers")
    activation, scale = CONFIGS[name]
    runs = 150
    ratios = []
    for seed in range(runs):
        stats = reference.simulate_forward(10, scale, n_neurons=N_NEURONS, activation=activation,
                                           rng=np.random.default_rng([77, seed]))
        ratios.append(math.log(stats[9]["std"] / stats[0]["std"]))
    mean, sd = LOG_RATIO[name, 10]
    assert abs(np.mean(ratios) - mean) < 5 * sd / math.sqrt(runs)


def test_collapse_and_explosion_are_far_from_their_thresholds():
    """ReLU is positively homogeneous: scale s multiplies the 10-layer ratio by (s / He's scale)**9 on the same draws.

    Even at the He band's edge, scale 0.01 stays below 1e-4 and scale 1.0 above 1e4 by orders of magnitude.
    """
    he = math.sqrt(2 / N_NEURONS)
    low, high = log_ratio_band(("he_relu", 10), P / 4)
    assert 9 * math.log(0.01 / he) + high < math.log(1e-4) - 5
    assert 9 * math.log(1.0 / he) + low > math.log(1e4) + 5


def test_depth_band_catches_dropping_relu():
    """Linear layers with He's scale double the variance per layer: 50 of them land far above the He/ReLU band."""
    _, high = log_ratio_band(("he_relu", 50), P / 4)
    sample = _model_log_ratios("linear", math.sqrt(2 / N_NEURONS), 50, 2000, np.random.default_rng(6))
    assert sample.mean() == pytest.approx(49 * 0.5 * math.log(2), abs=0.2)
    assert sample.min() > high + 5 * sample.std()


def test_distinct_rows_counts_as_numpy_unique_does():
    from tests.grading.initializers.test_public import distinct_rows

    rng = np.random.default_rng(8)
    W = rng.standard_normal((30, 40))
    W[5], W[:, 3] = W[7], W[:, 9]
    W[10], W[11] = -0.0, 0.0  # equal by value
    for array in (W, W.T, np.round(W, 1), np.zeros((3, 2))):
        assert distinct_rows(array) == np.unique(array, axis=0).shape[0]
    assert distinct_rows(W) == 28
