# Bob's initializers: Xavier uses fan_in only (a common slip), the rest is right.
import numpy as np


def xavier_init(fan_in, fan_out, rng=None):
    if fan_in < 1 or fan_out < 1:
        raise ValueError("bad fan")
    rng = rng or np.random.default_rng()
    return rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)


def he_init(fan_in, fan_out, rng=None):
    if fan_in < 1 or fan_out < 1:
        raise ValueError("bad fan")
    rng = rng or np.random.default_rng()
    return rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)


def lecun_init(fan_in, fan_out, rng=None):
    if fan_in < 1 or fan_out < 1:
        raise ValueError("bad fan")
    rng = rng or np.random.default_rng()
    return rng.standard_normal((fan_in, fan_out)) * np.sqrt(1.0 / fan_in)


def simulate_forward(n_layers, init, n_neurons=256, activation="relu", batch_size=1, rng=None):
    if n_layers < 1:
        raise ValueError("n_layers")
    acts = {"relu": lambda z: np.maximum(z, 0), "tanh": np.tanh, "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
            "linear": lambda z: z}
    if activation not in acts:
        raise ValueError(activation)
    rng = rng or np.random.default_rng()
    x = rng.standard_normal((batch_size, n_neurons))
    stats = []
    for _ in range(n_layers):
        W = init(n_neurons, n_neurons, rng) if callable(init) else rng.standard_normal((n_neurons, n_neurons)) * init
        x = acts[activation](x @ W)
        stats.append({"mean": float(np.mean(x)), "std": float(np.std(x))})
    return stats
