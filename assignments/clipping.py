"""Part 2: gradient clipping.

Exploding gradients make one bad step undo many good ones. Clipping bounds
the size of an update. ``grads`` is always a mapping from parameter name to a
NumPy array, for example ``{"dw1": ..., "dw2": ...}``.

Every function returns a new dict of new arrays with the same keys, shapes and
dtypes as ``grads``, and never modifies ``grads`` or its arrays.
"""
import numpy as np


def global_norm(grads):
    """Return the L2 norm of all gradients taken together.

    Args:
        grads: mapping from name to array.

    Returns:
        float: ``sqrt`` of the sum of squares of every entry of every array;
        ``0.0`` for an empty mapping.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def clip_by_value(grads, clip_value):
    """Clip every entry to the interval ``[-clip_value, clip_value]``.

    Args:
        grads: mapping from name to array.
        clip_value: positive bound.

    Returns:
        A new dict of new arrays (same keys, shapes and dtypes).

    Raises:
        ValueError: if ``clip_value <= 0``.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def clip_by_norm(grads, max_norm):
    """Rescale each array on its own so that its L2 norm is at most ``max_norm``.

    An array whose norm ``n`` exceeds ``max_norm`` is multiplied by
    ``max_norm / n``; the others are returned unchanged (as copies).

    Args:
        grads: mapping from name to array.
        max_norm: positive bound on each array's norm.

    Returns:
        A new dict of new arrays (same keys, shapes and dtypes).

    Raises:
        ValueError: if ``max_norm <= 0``.
        FloatingPointError: if the global norm of ``grads`` is not finite
            (an ``inf`` or ``nan`` entry); the message names the offending key.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def clip_by_global_norm(grads, max_norm):
    """Rescale all gradients together when their global norm is too large.

    With ``total = global_norm(grads)`` and ``coef = max_norm / (total + 1e-6)``,
    every array is multiplied by ``coef`` when ``coef < 1``; otherwise the
    arrays are returned unchanged (as copies). The direction of the whole
    gradient is kept; only its length shrinks.

    Args:
        grads: mapping from name to array.
        max_norm: positive bound on the global norm.

    Returns:
        ``(clipped, total)``: a new dict of new arrays (same keys, shapes and
        dtypes) and ``total``, the global norm *before* clipping, as a float.

    Raises:
        ValueError: if ``max_norm <= 0``.
        FloatingPointError: if the global norm is not finite (an ``inf`` or
            ``nan`` entry); the message names the offending key.
    """
    # YOUR CODE HERE
    raise NotImplementedError()
