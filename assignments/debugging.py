"""Part 4: the training debug analyzer.

Reads a loss curve (and optionally a validation curve) and names the common
training problems from the lecture, in a fixed order.
"""
import numpy as np

NOT_DECREASING = "Loss did not decrease - check learning rate"
NAN_LOSS = "NaN in loss - numerical instability"
PLATEAU = "Loss plateaued - try lower learning rate"
OVERFITTING = "Overfitting detected - add regularization"
HEALTHY = "Training looks healthy!"


def debug_training(loss_history, val_loss_history=None):
    """Diagnose a training run from its loss history.

    The checks, in this order (a history is a list, tuple or array of floats):

    1. ``NOT_DECREASING`` when the first and last training losses are both
       finite and ``last >= first``.
    2. ``NAN_LOSS`` when any training loss is ``nan``, ``inf`` or ``-inf``.
    3. ``PLATEAU`` when there are at least 10 training losses, the last 10 are
       all finite, and their population standard deviation (``np.std``) is
       below ``1e-3``.
    4. ``OVERFITTING`` when a validation history with at least 2 values is
       given, all of them finite, the training loss fell
       (``train[-1] < train[0]``, both finite), and the last validation loss
       is more than 10% above the best one:
       ``val[-1] - min(val) > 0.1 * abs(min(val))``.

    The two histories may have different lengths.

    Args:
        loss_history: training losses, one per epoch (non-empty).
        val_loss_history: validation losses, or ``None``.

    Returns:
        The messages found, in the order above, or ``[HEALTHY]`` when none.

    Raises:
        ValueError: if ``loss_history`` is empty.
    """
    # YOUR CODE HERE
    raise NotImplementedError()
