"""Run every benchmark, one after the other, and print their tables.

    python benchmarks/run_all.py [--quick] [--threads N]

(a) ``epoch_vs_torch.py``: reference epoch time vs PyTorch (CPU), batch 32/128/512, float64/float32.
(b) ``gflops.py``: GFLOP/s of the reference's training step vs NumPy's matmul peak.
``accuracy.py``: test accuracy of the reference on real MNIST.
``grading_speed.py``: seconds per student of the sandboxed grader (``--jobs 1``/``2``), Part 5 alone,
and nbgrader's ``autograde`` vs ours on the same notebook submissions (one BLAS thread; ~3-4 minutes).

(a) and (b) run twice when ``OPENBLAS_CORETYPE`` or ``OPENBLAS_L2_SIZE`` is set
(some machines set them because old OpenBLAS builds fail on their
processors, and they slow a current NumPy): once as they are, once with both
removed from that benchmark's environment alone. Each run prints the kernel
OpenBLAS chose. Nothing here changes them for anything else.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def run(script: str, args: list[str], env: dict[str, str], label: str) -> int:
    print(f"\n=== {script} {' '.join(args)}  [{label}]", flush=True)
    start = time.perf_counter()
    code = subprocess.call([sys.executable, str(HERE / script), *args], env=env)
    print(f"=== {script}: exit {code}, {time.perf_counter() - start:.0f} s", flush=True)
    return code


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and seeds (a rough look)")
    parser.add_argument("--threads", type=int, help="BLAS/OpenMP threads for NumPy and PyTorch")
    parser.add_argument("--students", type=int, help="students per batch in grading_speed.py (default: its own)")
    args = parser.parse_args(argv)

    common = ["--threads", str(args.threads)] if args.threads else []
    speed = common + (["--repeats", "3"] if args.quick else [])
    as_is = dict(os.environ)
    unset = {k: v for k, v in os.environ.items() if k not in BLAS_VARS}
    set_now = [f"{v}={os.environ[v]}" for v in BLAS_VARS if v in os.environ]
    envs = [(as_is, "environment as-is: " + (", ".join(set_now) or f"{' and '.join(BLAS_VARS)} unset"))]
    if set_now:
        envs.append((unset, f"{' and '.join(BLAS_VARS)} unset for this command"))
    else:
        print(f"{' and '.join(BLAS_VARS)} are not set here: the as-is runs are also the runs without them.")
    failures = 0
    for script in ("epoch_vs_torch.py", "gflops.py"):
        for env, label in envs:
            failures += run(script, speed, env, label) != 0
    accuracy = common + (["--seeds", "1"] if args.quick else [])
    failures += run("accuracy.py", accuracy, as_is, "environment as-is") != 0
    # grading runs one BLAS thread per process (parallelism is across students): --threads does not apply
    grading = ["--students", str(args.students)] if args.students else []
    if args.quick:
        grading = (grading or ["--students", "4"]) + ["--nbgrader-demo-students", "1", "--part5-repeats", "1",
                                                      "--nbgrader-rounds", "1"]
    failures += run("grading_speed.py", grading, as_is, "environment as-is, one BLAS thread per process") != 0
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
