"""Vectorized clipping without the 1e-6 in the global coefficient, computing norms in each array's own dtype."""
import math

import numpy as np


def _norm(g):
    return float(np.linalg.norm(g.ravel()))  # float32 arrays accumulate in float32


def global_norm(grads):
    return math.sqrt(sum(_norm(g) ** 2 for g in grads.values()))


def clip_by_value(grads, clip_value):
    if not clip_value > 0:
        raise ValueError("clip_value must be positive")
    return {k: np.minimum(np.maximum(g, -clip_value), clip_value) for k, g in grads.items()}


def _total_or_raise(grads):
    total = global_norm(grads)
    if not math.isfinite(total):
        bad = [k for k, g in grads.items() if not np.isfinite(g).all()]
        raise FloatingPointError(f"non-finite gradient norm; check {', '.join(bad)}")
    return total


def clip_by_norm(grads, max_norm):
    if not max_norm > 0:
        raise ValueError("max_norm must be positive")
    _total_or_raise(grads)
    out = {}
    for k, g in grads.items():
        n = _norm(g)
        out[k] = g * (max_norm / n) if n > max_norm else np.array(g)
    return out


def clip_by_global_norm(grads, max_norm):
    if not max_norm > 0:
        raise ValueError("max_norm must be positive")
    total = _total_or_raise(grads)
    if total > max_norm:
        scale = max_norm / total
        return {k: g * scale for k, g in grads.items()}, total
    return {k: np.array(g) for k, g in grads.items()}, total
