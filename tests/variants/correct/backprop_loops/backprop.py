"""Part 3 written with explicit Python loops where a student might use them.

Layers are a list walked in a loop (forward and backward), softmax is
computed row by row, the bias gradients are summed one example at a time
(dz3 = p - y, the 1/m applied at the end), step rebinds each parameter to a
new array, and numerical_gradient restores x by arithmetic (+h, -2h, +h)
instead of saving it.
"""
import math

import numpy as np

NAMES = ("W1", "b1", "W2", "b2", "W3", "b3")


class MNISTClassifier:
    def __init__(self, layer_sizes=(784, 128, 64, 10), rng=None):
        sizes = list(layer_sizes)
        if len(sizes) != 4:
            raise ValueError("need exactly four layer sizes")
        for d in sizes:
            if not isinstance(d, (int, np.integer)) or d <= 0:
                raise ValueError(f"layer sizes must be positive ints, got {d!r}")
        if rng is None:
            rng = np.random.default_rng()
        for k in range(1, 4):
            fan_in, fan_out = int(sizes[k - 1]), int(sizes[k])
            setattr(self, f"W{k}", rng.normal(0.0, math.sqrt(2.0 / fan_in), size=(fan_in, fan_out)))
            setattr(self, f"b{k}", np.zeros((1, fan_out)))

    def _layers(self):
        return [(self.W1, self.b1), (self.W2, self.b2), (self.W3, self.b3)]

    def forward(self, X):
        self.inputs = []          # the input of each layer
        self.pre = []             # its pre-activation
        h = X
        layers = self._layers()
        for i in range(len(layers)):
            W, b = layers[i]
            self.inputs.append(h)
            z = h @ W + b
            self.pre.append(z)
            h = np.where(z > 0, z, 0.0) if i < 2 else z
        probs = np.empty_like(h)
        for r in range(h.shape[0]):
            row = h[r] - max(h[r])
            e = np.exp(row)
            probs[r] = e / e.sum()
        self.out = probs
        return probs

    def loss(self, probs, Y):
        total = 0.0
        for r in range(Y.shape[0]):
            for c in range(Y.shape[1]):
                if Y[r, c] != 0:
                    total += Y[r, c] * math.log(probs[r, c] + 1e-8)
        return -total / Y.shape[0]

    def gradients(self, X, Y):
        probs = self.forward(X)
        m = X.shape[0]
        layers = self._layers()
        grads = {}
        delta = probs - Y                     # dL/dz3 times m; the 1/m is applied at the end
        for i in reversed(range(len(layers))):
            W, b = layers[i]
            grads[f"W{i + 1}"] = self.inputs[i].T @ delta / m
            db = np.zeros_like(b)
            for r in range(m):                # the bias gradient, one example at a time
                db[0] += delta[r]
            grads[f"b{i + 1}"] = db / m
            if i > 0:
                delta = (delta @ W.T) * (self.pre[i - 1] > 0)
        return {name: grads[name] for name in NAMES}

    def step(self, grads, lr):
        for name in grads:
            setattr(self, name, getattr(self, name) - lr * grads[name])

    def backward(self, X, Y, lr=0.01):
        grads = self.gradients(X, Y)
        self.step(grads, lr)
        return grads


def numerical_gradient(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    for flat in range(x.size):
        idx = np.unravel_index(flat, x.shape)
        x[idx] += h
        plus = f(x)
        x[idx] -= 2 * h
        minus = f(x)
        x[idx] += h
        grad[idx] = (plus - minus) / (2 * h)
    return grad


def relative_error(a, b):
    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    worst = 0.0
    for u, v in zip(a, b):
        worst = max(worst, abs(u - v) / max(1e-8, abs(u) + abs(v)))
    return float(worst)


def gradient_check(model, X, Y, h=1e-5):
    analytic = model.gradients(X, Y)
    result = {}
    for name in analytic:
        def f(_):
            return model.loss(model.forward(X), Y)
        result[name] = relative_error(analytic[name], numerical_gradient(f, getattr(model, name), h))
    return result
