"""Weights drawn as (fan_out, fan_in) and transposed: other values than the reference, the same distribution."""
import numpy as np


def _check(fan_in, fan_out):
    if min(fan_in, fan_out) < 1:
        raise ValueError(f"fans must be positive, got ({fan_in}, {fan_out})")
    return fan_in, fan_out


def _weights(fan_in, fan_out, variance, rng):
    rng = rng if rng is not None else np.random.default_rng()
    draws = rng.standard_normal(size=(fan_out, fan_in))
    return np.ascontiguousarray(draws.T) * np.sqrt(variance)


def xavier_init(fan_in, fan_out, rng=None):
    fan_in, fan_out = _check(fan_in, fan_out)
    return _weights(fan_in, fan_out, 2.0 / (fan_in + fan_out), rng)


def he_init(fan_in, fan_out, rng=None):
    fan_in, fan_out = _check(fan_in, fan_out)
    return _weights(fan_in, fan_out, 2.0 / fan_in, rng)


def lecun_init(fan_in, fan_out, rng=None):
    fan_in, fan_out = _check(fan_in, fan_out)
    return _weights(fan_in, fan_out, 1.0 / fan_in, rng)


def relu(z):
    return np.maximum(z, 0)


def sigmoid(z):
    out = np.empty_like(z)
    positive = z >= 0
    out[positive] = 1.0 / (1.0 + np.exp(-z[positive]))
    e = np.exp(z[~positive])
    out[~positive] = e / (1.0 + e)
    return out


def identity(z):
    return z


ACTIVATIONS = {"relu": relu, "tanh": np.tanh, "sigmoid": sigmoid, "linear": identity}


def simulate_forward(n_layers, init, n_neurons=256, activation="relu", batch_size=1, rng=None):
    if n_layers < 1:
        raise ValueError(f"n_layers must be positive, got {n_layers}")
    try:
        act = ACTIVATIONS[activation]
    except KeyError:
        raise ValueError(f"unknown activation {activation!r}") from None
    rng = np.random.default_rng() if rng is None else rng
    make_w = init if callable(init) else (lambda fan_in, fan_out, gen: gen.standard_normal((fan_in, fan_out)) * init)
    x = rng.standard_normal((batch_size, n_neurons))
    stats = []
    for _ in range(n_layers):
        x = act(np.matmul(x, make_w(n_neurons, n_neurons, rng)))
        centred = x - x.mean()
        stats.append({"mean": float(np.mean(x)), "std": float(np.sqrt(np.mean(centred * centred)))})
    return stats
