"""Part 3 with the parameters kept in one dict, exposed as properties.

W1 .. b3 are properties over ``self.params`` (with setters), the forward
cache is a dict, backpropagation is one loop over the layers from the top,
dz3 is ``probs - Y`` and the 1/m is applied to each gradient at the end,
step writes new arrays through the setters, numerical_gradient walks
``x.flat``.
"""
import numpy as np


def _param(name):
    def get(self):
        return self.params[name]

    def put(self, value):
        self.params[name] = value

    return property(get, put)


class MNISTClassifier:
    W1, b1, W2, b2, W3, b3 = (_param(n) for n in ("W1", "b1", "W2", "b2", "W3", "b3"))

    def __init__(self, layer_sizes=(784, 128, 64, 10), rng=None):
        sizes = tuple(layer_sizes)
        ok = len(sizes) == 4 and all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0
                                     for d in sizes)
        if not ok:
            raise ValueError(f"bad layer_sizes {layer_sizes!r}")
        rng = np.random.default_rng() if rng is None else rng
        weights = [rng.standard_normal((sizes[i], sizes[i + 1])) * np.sqrt(2 / sizes[i]) for i in range(3)]
        self.params = {}
        for i, W in enumerate(weights, start=1):
            self.params[f"W{i}"] = W
            self.params[f"b{i}"] = np.zeros((1, W.shape[1]))
        self.cache = {}

    def forward(self, X):
        a = X
        self.cache = {"a0": X}
        for i in (1, 2, 3):
            z = a @ self.params[f"W{i}"] + self.params[f"b{i}"]
            self.cache[f"z{i}"] = z
            a = np.maximum(0, z) if i < 3 else z
            self.cache[f"a{i}"] = a
        logits = a - np.amax(a, axis=1, keepdims=True)
        e = np.exp(logits)
        probs = e / np.sum(e, axis=1, keepdims=True)
        self.cache["probs"] = probs
        return probs

    def loss(self, probs, Y):
        per_row = -np.sum(Y * np.log(probs + 1e-8), axis=1)
        return float(per_row.mean())

    def gradients(self, X, Y):
        probs = self.forward(X)
        m = X.shape[0]
        grads = {}
        delta = probs - Y
        for i in (3, 2, 1):
            grads[f"W{i}"] = self.cache[f"a{i - 1}"].T @ delta / m
            grads[f"b{i}"] = delta.sum(axis=0, keepdims=True) / m
            if i > 1:
                delta = (delta @ self.params[f"W{i}"].T) * (self.cache[f"z{i - 1}"] > 0).astype(float)
        return {k: grads[k] for k in ("W1", "b1", "W2", "b2", "W3", "b3")}

    def step(self, grads, lr):
        for name, g in grads.items():
            setattr(self, name, getattr(self, name) - lr * g)

    def backward(self, X, Y, lr=0.01):
        grads = self.gradients(X, Y)
        self.step(grads, lr)
        return grads


def numerical_gradient(f, x, h=1e-5):
    grad = np.zeros(x.size)
    for i in range(x.size):
        keep = float(x.flat[i])
        x.flat[i] = keep + h
        fp = f(x)
        x.flat[i] = keep - h
        fm = f(x)
        x.flat[i] = keep
        grad[i] = (fp - fm) / (2 * h)
    return grad.reshape(x.shape)


def relative_error(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float((np.abs(a - b) / np.clip(np.abs(a) + np.abs(b), 1e-8, None)).max())


def gradient_check(model, X, Y, h=1e-5):
    analytic = model.gradients(X, Y)
    out = {}
    for name in sorted(analytic):
        target = getattr(model, name)
        numeric = numerical_gradient(lambda _x: model.loss(model.forward(X), Y), target, h)
        out[name] = relative_error(analytic[name], numeric)
    return out
