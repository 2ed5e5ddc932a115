"""Part 1: weight initialization.

Deep networks only train when each layer keeps its activations at a sensible
scale. These initializers pick the standard deviation of a layer's weights
from its fan-in and fan-out, and ``simulate_forward`` repeats the lecture's
experiment of pushing one input through many layers.
"""
import numpy as np

ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear")


def xavier_init(fan_in, fan_out, rng=None):
    """Xavier (Glorot) normal initialization, suited to tanh and sigmoid.

    Args:
        fan_in: number of inputs of the layer (int >= 1).
        fan_out: number of outputs of the layer (int >= 1).
        rng: a ``numpy.random.Generator``; ``None`` means ``np.random.default_rng()``.
            All randomness is drawn from it, so the same seed gives the same weights.

    Returns:
        float64 array of shape ``(fan_in, fan_out)``, entries i.i.d. normal
        with mean 0 and std ``sqrt(2 / (fan_in + fan_out))``.

    Raises:
        ValueError: if ``fan_in < 1`` or ``fan_out < 1``.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def he_init(fan_in, fan_out, rng=None):
    """He (Kaiming) normal initialization, suited to ReLU.

    Args:
        fan_in: number of inputs of the layer (int >= 1).
        fan_out: number of outputs of the layer (int >= 1).
        rng: a ``numpy.random.Generator``; ``None`` means ``np.random.default_rng()``.

    Returns:
        float64 array of shape ``(fan_in, fan_out)``, entries i.i.d. normal
        with mean 0 and std ``sqrt(2 / fan_in)``.

    Raises:
        ValueError: if ``fan_in < 1`` or ``fan_out < 1``.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def lecun_init(fan_in, fan_out, rng=None):
    """LeCun normal initialization.

    Args:
        fan_in: number of inputs of the layer (int >= 1).
        fan_out: number of outputs of the layer (int >= 1).
        rng: a ``numpy.random.Generator``; ``None`` means ``np.random.default_rng()``.

    Returns:
        float64 array of shape ``(fan_in, fan_out)``, entries i.i.d. normal
        with mean 0 and std ``sqrt(1 / fan_in)``.

    Raises:
        ValueError: if ``fan_in < 1`` or ``fan_out < 1``.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def simulate_forward(n_layers, init, n_neurons=256, activation="relu", batch_size=1, rng=None):
    """Push a random batch through ``n_layers`` dense layers and record activation statistics.

    ``x`` starts as standard normal of shape ``(batch_size, n_neurons)``. Each
    layer computes ``x = act(x @ W)`` with no bias, where ``W`` is
    ``init(n_neurons, n_neurons, rng)`` when ``init`` is callable, or
    ``rng.standard_normal((n_neurons, n_neurons)) * init`` when ``init`` is a
    number. Draw order from ``rng``: ``x`` first, then ``W`` of layer 1, 2, ...

    Args:
        n_layers: number of layers (int >= 1).
        init: an initializer ``f(fan_in, fan_out, rng)`` or a number (the weight scale).
        n_neurons: width of every layer.
        activation: one of ``"relu"``, ``"tanh"``, ``"sigmoid"``, ``"linear"``.
        batch_size: number of rows of ``x``.
        rng: a ``numpy.random.Generator``; ``None`` means ``np.random.default_rng()``.

    Returns:
        A list of ``n_layers`` dicts ``{"mean": float, "std": float}``: NumPy's
        ``mean`` and ``std`` over all activations of that layer.

    Raises:
        ValueError: if ``n_layers < 1`` or ``activation`` is not one of the four names.
    """
    # YOUR CODE HERE
    raise NotImplementedError()
