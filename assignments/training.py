"""Part 5: training a classifier on MNIST with mini-batch SGD.

``train`` works with any model that has ``forward``, ``loss``, ``gradients``
and ``step`` as in Part 3, and can clip gradients by their global norm.

Speed notes (they matter on real data): index arrays select a batch without
a Python loop, the model updates its parameters in place, and evaluation
runs once per epoch on the whole set in one vectorised pass.
"""
import numpy as np
from clipping import clip_by_global_norm


def one_hot(labels, num_classes=10):
    """Encode integer class labels as one-hot rows.

    Args:
        labels: 1-D sequence of ``n`` ints in ``[0, num_classes)``.
        num_classes: number of classes.

    Returns:
        float64 array of shape ``(n, num_classes)`` with a single 1 per row.

    Raises:
        ValueError: if a label is outside ``[0, num_classes)``.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def minibatches(n, batch_size, rng):
    """Shuffle ``range(n)`` once and cut it into batches of indices.

    Takes one ``rng.permutation(n)`` and cuts it into consecutive index
    arrays of ``batch_size``; the last one may be shorter. Every index in
    ``0..n-1`` appears exactly once.

    Args:
        n: number of examples.
        batch_size: examples per batch (int >= 1).
        rng: a ``numpy.random.Generator``.

    Returns:
        list of int arrays.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def evaluate(model, X, Y):
    """Loss and accuracy of ``model`` on a labelled set.

    Args:
        model: an object with ``forward`` and ``loss``.
        X: inputs ``(m, d0)``; Y: one-hot labels ``(m, classes)``.

    Returns:
        ``(loss, accuracy)`` as floats: ``model.loss(model.forward(X), Y)`` and
        the fraction of rows whose argmax matches ``Y``'s argmax.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def train(model, X, Y, epochs=5, batch_size=32, lr=0.1, X_val=None, Y_val=None, max_grad_norm=None, rng=None):
    """Train ``model`` with mini-batch SGD and record its progress.

    Each epoch takes ``minibatches(len(X), batch_size, rng)``; for each batch it
    computes ``model.gradients(X[idx], Y[idx])``, clips them with
    ``clip_by_global_norm(grads, max_grad_norm)`` when ``max_grad_norm`` is
    set, and applies ``model.step(grads, lr)``. After each epoch it records
    ``evaluate`` on the whole training set, and on ``(X_val, Y_val)`` when given.

    Args:
        model: an object with ``forward``, ``loss``, ``gradients`` and ``step``.
        X, Y: training inputs ``(n, d0)`` and one-hot labels ``(n, classes)``.
        epochs, batch_size, lr: the SGD settings.
        X_val, Y_val: optional validation set.
        max_grad_norm: clip threshold, or ``None`` for no clipping.
        rng: a ``numpy.random.Generator`` for the shuffles; ``None`` means
            ``np.random.default_rng()``.

    Returns:
        ``{"loss": [...], "accuracy": [...], "val_loss": [...], "val_accuracy": [...]}``
        with one float per epoch (the validation lists are empty without
        validation data).
    """
    # YOUR CODE HERE
    raise NotImplementedError()
