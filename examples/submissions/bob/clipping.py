# Bob's clipping: clips each tensor on its own in clip_by_global_norm, and rescales the caller's arrays in place.
import numpy as np


def global_norm(grads):
    return float(np.sqrt(sum(np.sum(g ** 2) for g in grads.values())))


def clip_by_value(grads, clip_value):
    if clip_value <= 0:
        raise ValueError("clip_value")
    return {k: np.clip(g, -clip_value, clip_value) for k, g in grads.items()}


def clip_by_norm(grads, max_norm):
    if max_norm <= 0:
        raise ValueError("max_norm")
    out = {}
    for k, g in grads.items():
        if not np.all(np.isfinite(g)):
            raise FloatingPointError(k)
        n = np.linalg.norm(g)
        out[k] = g * (max_norm / n) if n > max_norm else g.copy()
    return out


def clip_by_global_norm(grads, max_norm):
    if max_norm <= 0:
        raise ValueError("max_norm")
    total = global_norm(grads)
    if not np.isfinite(total):
        raise FloatingPointError("gradient norm is not finite")
    for k, g in grads.items():
        n = np.linalg.norm(g)
        if n > max_norm:
            g *= max_norm / n
    return grads, total
