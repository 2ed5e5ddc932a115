# Alice's clipping: explicit loops, no epsilon in the coefficient (the contract allows it).
import math

import numpy as np


def global_norm(grads):
    total = 0.0
    for g in grads.values():
        total += float((g.astype(np.float64) ** 2).sum())
    return math.sqrt(total)


def clip_by_value(grads, clip_value):
    if clip_value <= 0:
        raise ValueError("clip_value must be > 0")
    return {k: np.clip(v, -clip_value, clip_value) for k, v in grads.items()}


def _check_finite(grads):
    for k, v in grads.items():
        if not np.isfinite(v).all():
            raise FloatingPointError(f"non-finite values in {k}")


def clip_by_norm(grads, max_norm):
    if max_norm <= 0:
        raise ValueError("max_norm must be > 0")
    _check_finite(grads)
    out = {}
    for k, v in grads.items():
        n = float(np.linalg.norm(v.astype(np.float64).ravel()))
        out[k] = v * (max_norm / n) if n > max_norm else v.copy()
    return out


def clip_by_global_norm(grads, max_norm):
    if max_norm <= 0:
        raise ValueError("max_norm must be > 0")
    _check_finite(grads)
    total = global_norm(grads)
    if total > max_norm:
        return {k: v * (max_norm / total) for k, v in grads.items()}, total
    return {k: v.copy() for k, v in grads.items()}, total
