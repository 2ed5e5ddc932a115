"""Benchmark (b): achieved GFLOP/s of the reference's training step vs NumPy's matmul peak.

One training step is ``model.gradients(X_batch, Y_batch)`` then
``model.step(grads, lr)`` on batches already gathered. Its useful work is
its eight matrix products (three forward; three weight gradients; two
backward products through W3 and W2; none through W1), for layer sizes
d = (784, 128, 64, 10) and batch m::

    FLOPs = 2 m (d0 d1 + d1 d2 + d2 d3)      forward
          + 2 m (d0 d1 + d1 d2 + d2 d3)      dW1, dW2, dW3
          + 2 m (d1 d2 + d2 d3)              dz2, dz1

(the element-wise work, ReLU, softmax, biases and the SGD update, is not
counted: it is what separates a step from its matrix products).

Printed side by side, measured in the same run:

* ``step``: the reference's step, FLOPs / time;
* ``same GEMMs``: the same eight products alone (``np.matmul`` into
  preallocated outputs), the best a NumPy step could reach with these shapes;
* ``peak``: a large square ``np.matmul`` (n = 2048), the machine's BLAS peak.

Goal: step >= 70% of peak at batch 512 in float32.

Usage: python benchmarks/gflops.py [--repeats N] [--solutions DIR] [--threads N]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from _common import SEED, blas_summary, cast_model, limit_threads, load_reference, print_table, sample_data

SIZES = (784, 128, 64, 10)
BATCH_SIZES = (32, 128, 512)
DTYPES = (np.float32, np.float64)
PEAK_N = 2048
GOAL = 0.70


def step_flops(m, d=SIZES):
    """Floating-point operations of the eight matrix products of one training step on a batch of ``m``."""
    d0, d1, d2, d3 = d
    layers = d0 * d1 + d1 * d2 + d2 * d3
    return 2 * m * (2 * layers + d1 * d2 + d2 * d3)


def _best_per_call(fn, calls, repeats):
    """Best (over ``repeats``) mean seconds per call of ``fn`` over ``calls`` calls."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def peak_gflops(dtype, repeats, n=PEAK_N):
    """GFLOP/s of one large square matmul (into a preallocated output)."""
    rng = np.random.default_rng(SEED)
    A, B = rng.random((n, n)).astype(dtype), rng.random((n, n)).astype(dtype)
    C = np.empty((n, n), dtype=dtype)
    seconds = _best_per_call(lambda: np.matmul(A, B, out=C), 3, repeats)
    return 2 * n**3 / seconds / 1e9


def same_gemms_seconds(m, dtype, repeats, d=SIZES):
    """Seconds for the step's eight matrix products alone, with the step's shapes and layouts."""
    rng = np.random.default_rng(SEED)
    d0, d1, d2, d3 = d
    X = rng.random((m, d0)).astype(dtype)
    W1, W2, W3 = (rng.random(s).astype(dtype) for s in ((d0, d1), (d1, d2), (d2, d3)))
    a1, a2, z3 = np.empty((m, d1), dtype), np.empty((m, d2), dtype), np.empty((m, d3), dtype)
    dz1, dz2, dz3 = np.empty((m, d1), dtype), np.empty((m, d2), dtype), rng.random((m, d3)).astype(dtype)
    g1, g2, g3 = np.empty((d0, d1), dtype), np.empty((d1, d2), dtype), np.empty((d2, d3), dtype)

    def products():
        np.matmul(X, W1, out=a1)
        np.matmul(a1, W2, out=a2)
        np.matmul(a2, W3, out=z3)
        np.matmul(a2.T, dz3, out=g3)
        np.matmul(dz3, W3.T, out=dz2)
        np.matmul(a1.T, dz2, out=g2)
        np.matmul(dz2, W2.T, out=dz1)
        np.matmul(X.T, dz1, out=g1)

    return _best_per_call(products, max(10, 4096 // m), repeats)


def step_seconds(backprop, m, dtype, repeats):
    """Seconds per reference training step (gradients + step) on pre-gathered real batches."""
    X, Y, _ = sample_data(dtype)
    model = cast_model(backprop.MNISTClassifier(rng=np.random.default_rng(SEED)), dtype)
    order = np.random.default_rng(SEED).permutation(len(X))
    batches = [(X[idx], Y[idx]) for idx in np.array_split(order[: len(X) // m * m], len(X) // m)]
    it = iter(())

    def one_step():
        nonlocal it
        batch = next(it, None)
        if batch is None:
            it = iter(batches)
            batch = next(it)
        grads = model.gradients(*batch)
        model.step(grads, 0.01)

    return _best_per_call(one_step, max(10, 4096 // m), repeats)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--solutions", help="benchmark the modules in this folder instead of solutions/")
    parser.add_argument("--threads", type=int, help="BLAS/OpenMP threads for NumPy and PyTorch (default: theirs)")
    args = parser.parse_args(argv)
    limiter = limit_threads(args.threads)  # noqa: F841 - keeps the limit in force until main returns

    backprop, _ = load_reference(args.solutions)
    print("(b) GFLOP/s of one reference training step vs NumPy matmul (same run)")
    print("   ", blas_summary())
    rows = []
    for dtype in DTYPES:
        peak = peak_gflops(dtype, args.repeats)
        for m in BATCH_SIZES:
            flops = step_flops(m)
            gemm = flops / same_gemms_seconds(m, dtype, args.repeats) / 1e9
            step_s = step_seconds(backprop, m, dtype, args.repeats)
            step = flops / step_s / 1e9
            goal = ("yes" if step / peak >= GOAL else "NO") if (dtype is np.float32 and m == 512) else ""
            rows.append([np.dtype(dtype).name, m, f"{step_s * 1e3:.3f}", f"{step:.1f}", f"{gemm:.1f}",
                         f"{peak:.1f}", f"{step / gemm:.0%}", f"{step / peak:.0%}", goal])
    print_table(["dtype", "batch", "step ms", "step GF/s", "same GEMMs GF/s", f"peak GF/s (n={PEAK_N})",
                 "step/GEMMs", "step/peak", f">={GOAL:.0%}"], rows)


if __name__ == "__main__":
    main()
