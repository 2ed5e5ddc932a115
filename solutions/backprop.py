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
        ### BEGIN SOLUTION
        sizes = tuple(layer_sizes)
        if len(sizes) != 4 or any(int(d) != d or d < 1 for d in sizes):
            raise ValueError(f"layer_sizes must be four positive ints, got {layer_sizes!r}")
        sizes = tuple(int(d) for d in sizes)
        rng = np.random.default_rng() if rng is None else rng
        self.W1 = rng.standard_normal((sizes[0], sizes[1])) * np.sqrt(2.0 / sizes[0])
        self.b1 = np.zeros((1, sizes[1]))
        self.W2 = rng.standard_normal((sizes[1], sizes[2])) * np.sqrt(2.0 / sizes[1])
        self.b2 = np.zeros((1, sizes[2]))
        self.W3 = rng.standard_normal((sizes[2], sizes[3])) * np.sqrt(2.0 / sizes[2])
        self.b3 = np.zeros((1, sizes[3]))
        ### END SOLUTION

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
        ### BEGIN SOLUTION
        X = np.asarray(X)
        dtype = np.float32 if X.dtype == np.float32 else np.float64
        W1, b1, W2, b2, W3, b3 = (p.astype(dtype, copy=False)
                                  for p in (self.W1, self.b1, self.W2, self.b2, self.W3, self.b3))
        a1 = X @ W1                     # z1, overwritten by a1 = relu(z1) in place
        a1 += b1
        np.maximum(a1, 0.0, out=a1)
        a2 = a1 @ W2
        a2 += b2
        np.maximum(a2, 0.0, out=a2)
        probs = a2 @ W3                 # the logits z3, turned into probabilities in place
        probs += b3
        probs -= probs.max(axis=1, keepdims=True)   # softmax is shift-invariant: now every exp() <= 1
        np.exp(probs, out=probs)
        probs /= probs.sum(axis=1, keepdims=True)
        self.X, self.a1, self.a2, self.probs = X, a1, a2, probs
        return probs
        ### END SOLUTION

    def loss(self, probs, Y):
        """Mean cross-entropy ``-mean(sum(Y * log(probs + 1e-8), axis=1))``.

        Args:
            probs: array of shape ``(m, d3)`` from ``forward``.
            Y: one-hot labels of shape ``(m, d3)``.

        Returns:
            float.
        """
        ### BEGIN SOLUTION
        return float(-np.mean(np.sum(Y * np.log(probs + 1e-8), axis=1)))
        ### END SOLUTION

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
        ### BEGIN SOLUTION
        probs = self.forward(X)
        X, a1, a2 = self.X, self.a1, self.a2
        dtype = probs.dtype             # the precision forward chose
        W2, W3 = self.W2.astype(dtype, copy=False), self.W3.astype(dtype, copy=False)
        m = X.shape[0]
        dz3 = np.subtract(probs, Y, dtype=dtype)    # softmax + cross-entropy: dL/dz3 = (probs - Y) / m
        dz3 /= m
        dz2 = dz3 @ W3.T                # transposes are views: BLAS reads them without a copy
        dz2 *= a2 > 0                   # ReLU derivative, in place
        dz1 = dz2 @ W2.T
        dz1 *= a1 > 0
        return {
            "W1": X.T @ dz1,
            "b1": dz1.sum(axis=0, keepdims=True),
            "W2": a1.T @ dz2,
            "b2": dz2.sum(axis=0, keepdims=True),
            "W3": a2.T @ dz3,
            "b3": dz3.sum(axis=0, keepdims=True),
        }
        ### END SOLUTION

    def step(self, grads, lr):
        """Apply one SGD update ``param -= lr * grads[name]`` for every key of ``grads``.

        Args:
            grads: dict from parameter name to an array of that parameter's shape.
            lr: learning rate (float).

        Update in place (``-=``): each parameter stays the same array with
        the same dtype, nothing is reallocated, and code holding a reference
        to ``model.W1`` sees the new values.
        """
        ### BEGIN SOLUTION
        for name, g in grads.items():
            param = getattr(self, name)
            param -= lr * g
        ### END SOLUTION

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
        ### BEGIN SOLUTION
        grads = self.gradients(X, Y)  # forward is deterministic: same cache as the last forward(X)
        self.step(grads, lr)
        return grads
        ### END SOLUTION


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
    ### BEGIN SOLUTION
    grad = np.zeros(x.shape, dtype=np.float64)
    for i in np.ndindex(x.shape):
        saved = x[i]
        x[i] = saved + h
        f_plus = f(x)
        x[i] = saved - h
        f_minus = f(x)
        x[i] = saved
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad
    ### END SOLUTION


def relative_error(a, b):
    """Largest relative difference between two arrays, as in CS231n.

    ``max(|a - b| / maximum(1e-8, |a| + |b|))``: 0 when both are zero.
    Below 1e-7 is excellent; above 1e-2 means a bug.

    Returns:
        float.
    """
    ### BEGIN SOLUTION
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    analytic = model.gradients(X, Y)
    errors = {}
    for name, grad in analytic.items():
        param = getattr(model, name)
        numeric = numerical_gradient(lambda _: model.loss(model.forward(X), Y), param, h)
        errors[name] = relative_error(grad, numeric)
    return errors
    ### END SOLUTION
