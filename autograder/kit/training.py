"""The grader's training loop, used to train a student's ``MNISTClassifier`` in Part 3's real-data test."""
from __future__ import annotations

import numpy as np


def sgd(model, X, Y, *, epochs, batch_size, lr, rng):
    """Plain mini-batch SGD through ``model.gradients`` and ``model.step``; returns the model."""
    n = len(X)
    for _ in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            model.step(model.gradients(X[idx], Y[idx]), lr)
    return model


def accuracy(probs, labels) -> float:
    """Fraction of rows of ``probs`` whose argmax equals the integer ``labels``."""
    return float(np.mean(np.argmax(probs, axis=1) == np.asarray(labels)))
