"""Weight initializers drawn with rng.normal(loc, scale, size), activations chosen with if/elif."""
import math

import numpy as np


def _check_fans(fan_in, fan_out):
    if fan_in <= 0 or fan_out <= 0:
        raise ValueError("fan_in and fan_out must both be at least 1")


def _generator(rng):
    if rng is None:
        return np.random.default_rng()
    return rng


def xavier_init(fan_in, fan_out, rng=None):
    _check_fans(fan_in, fan_out)
    return _generator(rng).normal(0.0, math.sqrt(2.0 / (fan_in + fan_out)), size=(fan_in, fan_out))


def he_init(fan_in, fan_out, rng=None):
    _check_fans(fan_in, fan_out)
    return _generator(rng).normal(0.0, math.sqrt(2.0 / fan_in), size=(fan_in, fan_out))


def lecun_init(fan_in, fan_out, rng=None):
    _check_fans(fan_in, fan_out)
    return _generator(rng).normal(loc=0.0, scale=1.0 / math.sqrt(fan_in), size=(fan_in, fan_out))


def _activate(name, z):
    if name == "relu":
        return np.where(z > 0, z, 0.0)
    elif name == "tanh":
        return np.tanh(z)
    elif name == "sigmoid":
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-z))
    return z


def simulate_forward(n_layers, init, n_neurons=256, activation="relu", batch_size=1, rng=None):
    if activation not in ("relu", "tanh", "sigmoid", "linear"):
        raise ValueError("unknown activation: " + str(activation))
    if n_layers < 1:
        raise ValueError("n_layers must be >= 1")
    rng = _generator(rng)
    x = rng.normal(size=(batch_size, n_neurons))
    history = []
    layer = 0
    while layer < n_layers:
        if callable(init):
            weights = init(n_neurons, n_neurons, rng)
        else:
            weights = rng.normal(0.0, 1.0, size=(n_neurons, n_neurons)) * init
        x = _activate(activation, np.dot(x, weights))
        history.append(dict(mean=float(x.mean()), std=float(x.std())))
        layer += 1
    return history
