"""Gradient clipping with explicit Python loops over every entry."""
import math

import numpy as np


def _squares(g):
    return [float(v) * float(v) for v in np.ravel(g)]


def global_norm(grads):
    squares = []
    for name in grads:
        squares.extend(_squares(grads[name]))
    return math.sqrt(math.fsum(squares))


def clip_by_value(grads, clip_value):
    if clip_value <= 0:
        raise ValueError("clip_value must be > 0")
    result = {}
    for name in grads:
        out = np.array(grads[name], copy=True)
        for index in np.ndindex(out.shape):
            if out[index] > clip_value:
                out[index] = clip_value
            elif out[index] < -clip_value:
                out[index] = -clip_value
        result[name] = out
    return result


def _check_finite(grads):
    for name in grads:
        for v in np.ravel(grads[name]):
            if not math.isfinite(float(v)):
                raise FloatingPointError("gradient '" + name + "' contains " + repr(float(v)))


def _scaled(g, factor):
    out = np.array(g, copy=True)
    for index in np.ndindex(out.shape):
        out[index] = out[index] * factor
    return out


def clip_by_norm(grads, max_norm):
    if max_norm <= 0:
        raise ValueError("max_norm must be > 0")
    _check_finite(grads)
    result = {}
    for name in grads:
        norm = math.sqrt(math.fsum(_squares(grads[name])))
        if norm > max_norm:
            result[name] = _scaled(grads[name], max_norm / norm)
        else:
            result[name] = np.array(grads[name], copy=True)
    return result


def clip_by_global_norm(grads, max_norm):
    if max_norm <= 0:
        raise ValueError("max_norm must be > 0")
    _check_finite(grads)
    total = global_norm(grads)
    coef = max_norm / (total + 1e-6)
    result = {}
    for name in grads:
        if coef < 1:
            result[name] = _scaled(grads[name], coef)
        else:
            result[name] = np.array(grads[name], copy=True)
    return (result, total)
