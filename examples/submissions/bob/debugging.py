# Bob's analyzer: the lecture's checks as printed (val[-1] > val[0]; NaN only).
import numpy as np

NOT_DECREASING = "Loss did not decrease - check learning rate"
NAN_LOSS = "NaN in loss - numerical instability"
PLATEAU = "Loss plateaued - try lower learning rate"
OVERFITTING = "Overfitting detected - add regularization"
HEALTHY = "Training looks healthy!"


def debug_training(loss_history, val_loss_history=None):
    if len(loss_history) == 0:
        raise ValueError("empty")
    issues = []
    if loss_history[-1] >= loss_history[0]:
        issues.append(NOT_DECREASING)
    if any(np.isnan(loss_history)):
        issues.append(NAN_LOSS)
    recent = loss_history[-10:]
    if len(recent) == 10 and np.std(recent) < 0.001:
        issues.append(PLATEAU)
    if val_loss_history is not None:
        if val_loss_history[-1] > val_loss_history[0] and loss_history[-1] < loss_history[0]:
            issues.append(OVERFITTING)
    return issues if issues else [HEALTHY]
