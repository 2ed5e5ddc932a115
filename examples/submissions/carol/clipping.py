# Carol's clipping: exits the interpreter half-way through a call, and loops forever in another.
import sys

import numpy as np


def global_norm(grads):
    return float(np.sqrt(sum(np.sum(g * g) for g in grads.values())))


def clip_by_value(grads, clip_value):
    while True:  # forgot the exit condition
        pass


def clip_by_norm(grads, max_norm):
    sys.exit("giving up")


def clip_by_global_norm(grads, max_norm):
    total = global_norm(grads)
    coef = max_norm / (total + 1e-6)
    return {k: g * min(coef, 1.0) for k, g in grads.items()}, total
