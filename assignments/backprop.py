"""Part 3: backpropagation and gradient checking.

``MNISTClassifier`` is a three-layer perceptron (dense, ReLU, dense, ReLU,
dense, softmax) trained with mean cross-entropy. Its analytic gradients are
checked against central finite differences with ``gradient_check``.
"""
import numpy as np


class MNISTClassifier:
    """A 784-128-64-10 multilayer perceptron (sizes configurable).

    Attributes:
        W1, W2, W3: weights of shapes ``(d0, d1)``, ``(d1, d2)``, ``(d2, d3)``,
            He-initialized (normal, std ``sqrt(2 / fan_in)``) from ``rng``.
        b1, b2, b3: biases of shapes ``(1, d1)``, ``(1, d2)``, ``(1, d3)``, zeros.

    Args:
        layer_sizes: exactly four positive ints ``(d0, d1, d2, d3)``.
        rng: a ``numpy.random.Generator``; ``None`` means ``np.random.default_rng()``.
            The weights are drawn in the order W1, W2, W3.

    Raises:
        ValueError: if ``layer_sizes`` is not four positive ints.
    """

    def __init__(self, layer_sizes=(784, 128, 64, 10), rng=None):
        # YOUR CODE HERE
        raise NotImplementedError()

    def forward(self, X):
        """Compute class probabilities for a batch.

        Args:
            X: array of shape ``(m, d0)``.

        Returns:
            ``probs`` of shape ``(m, d3)``; each row sums to 1. Numerically
            stable for any finite logits: no overflow warning and no ``nan``
            (subtract each row's maximum logit before ``exp``). Caches the
            activations that ``backward`` needs.

        Making it fast (optional, not graded; the grader uses float64):

        * Let the precision follow the data. NumPy upcasts a float32 batch
          times float64 weights to float64; converting the weights instead
          (``W.astype(X.dtype, copy=False)``, free when the dtypes already
          match) keeps a float32 batch in float32, which halves the memory
          traffic and doubles the matrix-product throughput. Any other input
          is best computed in float64, exactly as the formulas say.
        * Update in place: ``X @ W1`` allocates one new array; ``+= b1`` and
          ``np.maximum(..., out=...)`` can reuse it, where ``X @ W1 + b1``
          followed by ``np.maximum`` allocates and fills three.
        * ReLU's output is enough for the backward pass: ``a > 0`` exactly
          where ``z > 0``, so ``z`` need not be kept.
        """
        # YOUR CODE HERE
        raise NotImplementedError()

    def loss(self, probs, Y):
        """Mean cross-entropy ``-mean(sum(Y * log(probs + 1e-8), axis=1))``.

        Args:
            probs: array of shape ``(m, d3)`` from ``forward``.
            Y: one-hot labels of shape ``(m, d3)``.

        Returns:
            float.
        """
        # YOUR CODE HERE
        raise NotImplementedError()

    def gradients(self, X, Y):
        """Gradient of ``loss(forward(X), Y)`` with respect to every parameter.

        Runs ``forward(X)`` first. The loss is the *mean* over the ``m`` rows,
        so every gradient carries the factor ``1/m``. ReLU's derivative is 1
        where its input is positive and 0 elsewhere.

        Args:
            X: array of shape ``(m, d0)``.
            Y: one-hot labels of shape ``(m, d3)``.

        Returns:
            dict with keys ``"W1","b1","W2","b2","W3","b3"``, each array shaped
            like its parameter. The parameters are not changed.

        Making it fast (optional, not graded): push the whole batch through
        each layer in one matrix product (no loop over examples); transposes
        such as ``X.T`` are views that BLAS reads without a copy; apply the
        ReLU masks in place; keep the precision of the forward pass (for a
        float32 batch, convert ``Y`` rather than upcasting ``probs``).
        """
        # YOUR CODE HERE
        raise NotImplementedError()

    def step(self, grads, lr):
        """Apply one SGD update ``param -= lr * grads[name]`` for every key of ``grads``.

        Args:
            grads: dict from parameter name to an array of that parameter's shape.
            lr: learning rate (float).

        Update in place (``-=``): each parameter stays the same array with
        the same dtype, nothing is reallocated, and code holding a reference
        to ``model.W1`` sees the new values.
        """
        # YOUR CODE HERE
        raise NotImplementedError()

    def backward(self, X, Y, lr=0.01):
        """Backpropagate through the activations cached by the last ``forward(X)`` and update.

        Computes the same gradients as ``gradients(X, Y)``, applies
        ``step(grads, lr)`` and returns the gradients it applied.

        Args:
            X: the batch last passed to ``forward``, shape ``(m, d0)``.
            Y: one-hot labels of shape ``(m, d3)``.
            lr: learning rate.

        Returns:
            dict of gradients as in ``gradients``.
        """
        # YOUR CODE HERE
        raise NotImplementedError()


def numerical_gradient(f, x, h=1e-5):
    """Central-difference gradient of a scalar function ``f`` at the array ``x``.

    For every entry ``x[i]``: ``(f(x + h e_i) - f(x - h e_i)) / (2h)``, where
    the entry is perturbed in place and restored afterwards, so ``x`` is
    unchanged when the function returns. ``f`` is called as ``f(x)``; since
    ``x`` is changed in place, ``f`` may ignore its argument and read an array
    (such as a model parameter) that ``x`` is.

    Args:
        f: callable returning a float.
        x: float64 array of any shape (modified during the call, restored after).
        h: step size.

    Returns:
        float64 array shaped like ``x``.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def relative_error(a, b):
    """Largest relative difference between two arrays, as in CS231n.

    ``max(|a - b| / maximum(1e-8, |a| + |b|))``: 0 when both are zero.
    Below 1e-7 is excellent; above 1e-2 means a bug.

    Returns:
        float.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def gradient_check(model, X, Y, h=1e-5):
    """Compare a model's analytic gradients with numerical ones, parameter by parameter.

    Args:
        model: an object with ``forward``, ``loss``, ``gradients`` and the
            parameters ``W1, b1, W2, b2, W3, b3`` as attributes.
        X: array of shape ``(m, d0)``; Y: one-hot labels ``(m, d3)``.
        h: finite-difference step.

    Returns:
        dict from parameter name (the keys of ``model.gradients(X, Y)``) to the
        ``relative_error`` between the analytic gradient and the numerical
        gradient of ``model.loss(model.forward(X), Y)``. The model's
        parameters are unchanged afterwards.
    """
    # YOUR CODE HERE
    raise NotImplementedError()
