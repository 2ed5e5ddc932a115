"""Part 4 written with the standard library only: lists, math.isfinite and statistics.pstdev."""
import math
import statistics

NOT_DECREASING = "Loss did not decrease - check learning rate"
NAN_LOSS = "NaN in loss - numerical instability"
PLATEAU = "Loss plateaued - try lower learning rate"
OVERFITTING = "Overfitting detected - add regularization"
HEALTHY = "Training looks healthy!"


def _all_finite(values):
    return all(math.isfinite(v) for v in values)


def debug_training(loss_history, val_loss_history=None):
    losses = [float(v) for v in loss_history]
    if not losses:
        raise ValueError("need at least one training loss")
    first, last = losses[0], losses[-1]
    ends_ok = math.isfinite(first) and math.isfinite(last)
    found = []
    if ends_ok and not last < first:
        found.append(NOT_DECREASING)
    if not _all_finite(losses):
        found.append(NAN_LOSS)
    if len(losses) >= 10:
        window = losses[len(losses) - 10:]
        if _all_finite(window) and statistics.pstdev(window) < 0.001:
            found.append(PLATEAU)
    if val_loss_history is not None:
        val = [float(v) for v in val_loss_history]
        if len(val) > 1 and _all_finite(val) and ends_ok and last < first:
            best = min(val)
            if (val[-1] - best) > abs(best) / 10:
                found.append(OVERFITTING)
    if not found:
        found.append(HEALTHY)
    return found
