# Alice's initializers: correct, written her own way.
import numpy as np


def _normal(fan_in, fan_out, std, rng):
    if fan_in < 1 or fan_out < 1:
        raise ValueError("fans must be positive")
    if rng is None:
        rng = np.random.default_rng()
    return rng.normal(0.0, std, size=(fan_in, fan_out))


def xavier_init(fan_in, fan_out, rng=None):
    return _normal(fan_in, fan_out, (2 / (fan_in + fan_out)) ** 0.5 if fan_in + fan_out > 0 else 1.0, rng)


def he_init(fan_in, fan_out, rng=None):
    return _normal(fan_in, fan_out, (2 / max(fan_in, 1)) ** 0.5, rng)


def lecun_init(fan_in, fan_out, rng=None):
    return _normal(fan_in, fan_out, (1 / max(fan_in, 1)) ** 0.5, rng)


ACTS = {
    "relu": lambda z: z * (z > 0),
    "tanh": np.tanh,
    "sigmoid": lambda z: np.exp(-np.logaddexp(0.0, -z)),
    "linear": lambda z: z,
}


def simulate_forward(n_layers, init, n_neurons=256, activation="relu", batch_size=1, rng=None):
    if n_layers < 1:
        raise ValueError("need at least one layer")
    if activation not in ACTS:
        raise ValueError(f"unknown activation {activation}")
    rng = rng if rng is not None else np.random.default_rng()
    x = rng.standard_normal((batch_size, n_neurons))
    out = []
    for _ in range(n_layers):
        if callable(init):
            W = init(n_neurons, n_neurons, rng)
        else:
            W = init * rng.standard_normal((n_neurons, n_neurons))
        x = ACTS[activation](np.dot(x, W))
        out.append({"mean": float(x.mean()), "std": float(x.std())})
    return out
