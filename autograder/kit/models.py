"""Grader-supplied models with the Part 3 interface (``forward``, ``loss``, ``gradients``, ``step``).

``GraderMLP`` is a correct dense ReLU network with a softmax output;
``BrokenMLP`` has a planted backpropagation bug that a working
``gradient_check`` must expose. When Part 5 is graded, this module stands in
for the student's ``backprop`` (``MNISTClassifier`` is ``GraderMLP``).
"""
from __future__ import annotations

import numpy as np


class GraderMLP:
    """Dense ReLU network with a softmax output and mean cross-entropy loss.

    Args:
        layer_sizes: four positive ints ``(d0, d1, d2, d3)``.
        rng: ``numpy.random.Generator`` for the He-normal weights (drawn W1, W2, W3).
        dtype: of the parameters (the same draws, rounded for ``float32``). The model computes in its
            parameters' dtype: ``forward`` and ``gradients`` convert ``X`` and ``Y`` to it (a no-op for
            float64 data and a float64 model).
    """

    STATE = ("W1", "b1", "W2", "b2", "W3", "b3")

    def __init__(self, layer_sizes=(784, 128, 64, 10), rng=None, dtype=np.float64):
        rng = np.random.default_rng() if rng is None else rng
        sizes = [int(d) for d in layer_sizes]
        if len(sizes) != 4 or min(sizes) < 1:
            raise ValueError(f"layer_sizes must be four positive ints, got {layer_sizes!r}")
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {dtype}")
        for k, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=False), start=1):
            W = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(fan_in, fan_out))
            setattr(self, f"W{k}", W if dtype == np.float64 else W.astype(dtype))
            setattr(self, f"b{k}", np.zeros((1, fan_out), dtype=dtype))

    def _layers(self):
        return [(self.W1, self.b1), (self.W2, self.b2), (self.W3, self.b3)]

    def forward(self, X):
        """Class probabilities ``(m, d3)``; keeps the layer inputs for ``gradients``."""
        self._inputs, self._pre = [], []
        h = np.asarray(X, dtype=self.W1.dtype)
        for k, (W, b) in enumerate(self._layers()):
            self._inputs.append(h)
            z = h @ W + b
            self._pre.append(z)
            h = np.maximum(z, 0.0) if k < 2 else z
        log_norm = np.logaddexp.reduce(h, axis=1, keepdims=True)
        return np.exp(h - log_norm)

    def loss(self, probs, Y):
        """``-mean(sum(Y * log(probs + 1e-8), axis=1))``."""
        return float(-np.sum(Y * np.log(probs + 1e-8)) / Y.shape[0])

    def _backward_delta(self, delta, k):
        """Gradient w.r.t. the pre-activation of layer ``k`` given the one of layer ``k+1``."""
        W_next = self._layers()[k + 1][0]
        return (delta @ W_next.T) * (self._pre[k] > 0)

    def gradients(self, X, Y):
        """Dict of gradients keyed ``W1..b3``; parameters untouched."""
        probs = self.forward(X)
        delta = (probs - np.asarray(Y, dtype=probs.dtype)) / probs.shape[0]
        grads = {}
        for k in (2, 1, 0):
            grads[f"W{k + 1}"] = self._inputs[k].T @ delta
            grads[f"b{k + 1}"] = delta.sum(axis=0, keepdims=True)
            if k:
                delta = self._backward_delta(delta, k - 1)
        return {name: grads[name] for name in self.STATE}

    def step(self, grads, lr):
        """In-place SGD: ``param -= lr * grads[name]``."""
        for name, g in grads.items():
            getattr(self, name)[...] -= lr * g

    def backward(self, X, Y, lr=0.01):
        grads = self.gradients(X, Y)
        self.step(grads, lr)
        return grads


class BrokenMLP(GraderMLP):
    """A ``GraderMLP`` whose first hidden layer forgets the ReLU mask in backpropagation."""

    def _backward_delta(self, delta, k):
        W_next = self._layers()[k + 1][0]
        if k == 0:
            return delta @ W_next.T  # planted bug: no ReLU derivative
        return (delta @ W_next.T) * (self._pre[k] > 0)


# Part 5 imports ``MNISTClassifier`` from ``backprop``: this module stands in for it.
MNISTClassifier = GraderMLP
