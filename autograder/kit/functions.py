"""Scalar test functions with known gradients, for grading ``numerical_gradient``.

Each is a small class: calling it evaluates ``f(x)``; ``.gradient(x)`` is the
analytic answer. Their state is plain arrays (``STATE``), so a sandbox can
copy them into a worker by value.
"""
from __future__ import annotations

import numpy as np


class Quadratic:
    """``f(x) = sum(x * (A @ x)) + sum(c * x)`` for a 1-D or 2-D ``x`` (``A`` acts on the first axis)."""

    STATE = ("A", "c")

    def __init__(self, A, c):
        self.A, self.c = np.asarray(A, dtype=np.float64), np.asarray(c, dtype=np.float64)

    def __call__(self, x):
        return float(np.sum(x * (self.A @ x)) + np.sum(self.c * x))

    def gradient(self, x):
        return (self.A + self.A.T) @ x + self.c


class SinProduct:
    """``f(x) = sum(sin(x) * w) + prod(cos(x / scale))`` (smooth, every entry matters)."""

    STATE = ("w", "scale")

    def __init__(self, w, scale=4.0):
        self.w, self.scale = np.asarray(w, dtype=np.float64), float(scale)

    def __call__(self, x):
        return float(np.sum(np.sin(x) * self.w) + np.prod(np.cos(x / self.scale)))

    def gradient(self, x):
        c = np.cos(x / self.scale)
        prod_others = np.array([np.prod(np.delete(c.ravel(), i)) for i in range(c.size)]).reshape(x.shape)
        return np.cos(x) * self.w - np.sin(x / self.scale) / self.scale * prod_others


class Cubic:
    """``f(x) = sum(x ** 3) / 3``: central differences are exact up to ``h**2`` terms, forward ones are not."""

    STATE = ()

    def __call__(self, x):
        return float(np.sum(x ** 3) / 3.0)

    def gradient(self, x):
        return x ** 2


class ModelLoss:
    """``f(_) = model.loss(model.forward(X), Y)``: ignores its argument and reads the model's parameters.

    Used to check that ``numerical_gradient`` perturbs ``x`` in place when ``x``
    *is* a model parameter.
    """

    STATE = ("model", "X", "Y")

    def __init__(self, model, X, Y):
        self.model, self.X, self.Y = model, X, Y

    def __call__(self, _x):
        return self.model.loss(self.model.forward(self.X), self.Y)
