# Carol's initializers: imports a package that is not installed, so the module crashes at import.
import numpy as np
import torch  # noqa: F401  (not available to the grader: this part cannot load)


def he_init(fan_in, fan_out, rng=None):
    return np.random.randn(fan_in, fan_out) * np.sqrt(2 / fan_in)
