# Alice's network: log-softmax, loops over layers.
import numpy as np


class MNISTClassifier:
    def __init__(self, layer_sizes=(784, 128, 64, 10), rng=None):
        sizes = list(layer_sizes)
        if len(sizes) != 4 or any((not isinstance(d, (int, np.integer))) or d < 1 for d in sizes):
            raise ValueError("layer_sizes must be four positive ints")
        rng = np.random.default_rng() if rng is None else rng
        for i in range(3):
            setattr(self, f"W{i + 1}", rng.standard_normal((sizes[i], sizes[i + 1])) * np.sqrt(2.0 / sizes[i]))
            setattr(self, f"b{i + 1}", np.zeros((1, sizes[i + 1])))

    def forward(self, X):
        self.cache = [X]
        h = X
        for i in (1, 2):
            z = h @ getattr(self, f"W{i}") + getattr(self, f"b{i}")
            self.cache.append(z)
            h = np.where(z > 0, z, 0.0)
            self.cache.append(h)
        logits = h @ self.W3 + self.b3
        log_probs = logits - logits.max(axis=1, keepdims=True)
        log_probs = log_probs - np.log(np.exp(log_probs).sum(axis=1, keepdims=True))
        self.probs = np.exp(log_probs)
        return self.probs

    def loss(self, probs, Y):
        return float(-np.mean(np.sum(Y * np.log(probs + 1e-8), axis=1)))

    def gradients(self, X, Y):
        probs = self.forward(X)
        X0, z1, a1, z2, a2 = self.cache
        delta = (probs - Y) / len(X)
        grads = {"W3": a2.T @ delta, "b3": delta.sum(0, keepdims=True)}
        delta = (delta @ self.W3.T) * (z2 > 0)
        grads["W2"], grads["b2"] = a1.T @ delta, delta.sum(0, keepdims=True)
        delta = (delta @ self.W2.T) * (z1 > 0)
        grads["W1"], grads["b1"] = X0.T @ delta, delta.sum(0, keepdims=True)
        return grads

    def step(self, grads, lr):
        for name in grads:
            setattr(self, name, getattr(self, name) - lr * grads[name])

    def backward(self, X, Y, lr=0.01):
        grads = self.gradients(X, Y)
        self.step(grads, lr)
        return grads


def numerical_gradient(f, x, h=1e-5):
    grad = np.zeros(x.shape)
    for i in np.ndindex(*x.shape):
        old = x[i]
        x[i] = old + h
        up = f(x)
        x[i] = old - h
        down = f(x)
        x[i] = old
        grad[i] = (up - down) / (2 * h)
    return grad


def relative_error(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float((np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))).max())


def gradient_check(model, X, Y, h=1e-5):
    analytic = model.gradients(X, Y)
    result = {}
    for name in analytic:
        param = getattr(model, name)
        numeric = numerical_gradient(lambda _: model.loss(model.forward(X), Y), param, h)
        result[name] = relative_error(analytic[name], numeric)
    return result
