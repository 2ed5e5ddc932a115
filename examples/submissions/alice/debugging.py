# Alice's analyzer: plain Python on lists.
import math
import statistics

NOT_DECREASING = "Loss did not decrease - check learning rate"
NAN_LOSS = "NaN in loss - numerical instability"
PLATEAU = "Loss plateaued - try lower learning rate"
OVERFITTING = "Overfitting detected - add regularization"
HEALTHY = "Training looks healthy!"


def debug_training(loss_history, val_loss_history=None):
    losses = [float(v) for v in loss_history]
    if not losses:
        raise ValueError("empty loss history")
    found = []
    ends_ok = math.isfinite(losses[0]) and math.isfinite(losses[-1])
    if ends_ok and losses[-1] >= losses[0]:
        found.append(NOT_DECREASING)
    if not all(math.isfinite(v) for v in losses):
        found.append(NAN_LOSS)
    tail = losses[-10:]
    if len(losses) >= 10 and all(math.isfinite(v) for v in tail) and statistics.pstdev(tail) < 1e-3:
        found.append(PLATEAU)
    if val_loss_history is not None:
        val = [float(v) for v in val_loss_history]
        if len(val) >= 2 and all(math.isfinite(v) for v in val) and ends_ok and losses[-1] < losses[0]:
            best = min(val)
            if val[-1] - best > 0.1 * abs(best):
                found.append(OVERFITTING)
    return found or [HEALTHY]
