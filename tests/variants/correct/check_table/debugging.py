"""Part 4 as a table of named checks, each a small predicate, evaluated in the contract's order."""
import numpy as np

NOT_DECREASING = "Loss did not decrease - check learning rate"
NAN_LOSS = "NaN in loss - numerical instability"
PLATEAU = "Loss plateaued - try lower learning rate"
OVERFITTING = "Overfitting detected - add regularization"
HEALTHY = "Training looks healthy!"

WINDOW = 10


def _fell(train):
    return bool(np.isfinite(train[[0, -1]]).all() and train[-1] < train[0])


def _not_decreasing(train, val):
    return bool(np.isfinite(train[[0, -1]]).all() and train[-1] >= train[0])


def _non_finite(train, val):
    return not np.isfinite(train).all()


def _plateau(train, val):
    if train.shape[0] < WINDOW:
        return False
    tail = train[train.shape[0] - WINDOW:]
    # population variance below 1e-6 is the same test as a population std below 1e-3
    return bool(np.isfinite(tail).all() and np.var(tail) < 1e-6)


def _overfitting(train, val):
    if val is None or val.shape[0] < 2 or not np.isfinite(val).all() or not _fell(train):
        return False
    best = val.min()
    return bool(val[-1] > best + 0.1 * np.abs(best))


CHECKS = (
    (NOT_DECREASING, _not_decreasing),
    (NAN_LOSS, _non_finite),
    (PLATEAU, _plateau),
    (OVERFITTING, _overfitting),
)


def debug_training(loss_history, val_loss_history=None):
    train = np.array(loss_history, dtype=float).reshape(-1)
    if train.shape[0] == 0:
        raise ValueError("loss_history must not be empty")
    val = None if val_loss_history is None else np.array(val_loss_history, dtype=float).reshape(-1)
    return [message for message, check in CHECKS if check(train, val)] or [HEALTHY]
