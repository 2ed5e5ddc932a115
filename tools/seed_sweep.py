#!/usr/bin/env python3
"""Run the graded suites against the reference with many seeds: a correct implementation must never fail.

Usage: .venv/bin/python tools/seed_sweep.py [--seeds 200] [--jobs 2] [--slow-seeds 20]

Every graded test draws its inputs from ``rng`` seeded by (course seed,
--seed-offset, test id), so each offset is a fresh sample of inputs. Tests
whose names mention ``mnist`` train on real data and take seconds each; they
run for the first ``--slow-seeds`` offsets only. Prints one line per failing
(offset, test) and a summary; exit 1 on any failure.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


class _Collector:
    def __init__(self):
        self.failed, self.passed = [], 0

    def pytest_runtest_logreport(self, report):
        if report.when == "call" and report.passed:
            self.passed += 1
        elif report.failed:
            self.failed.append(report.nodeid)


def _run(offsets_and_slow):
    offsets, slow_offsets = offsets_and_slow
    results = []
    for offset in offsets:
        collector = _Collector()
        selector = [] if offset in slow_offsets else ["-k", "not mnist"]
        with contextlib.redirect_stdout(io.StringIO()):
            pytest.main([str(ROOT / "tests" / "grading"), "-q", "-p", "no:cacheprovider", f"--seed-offset={offset}",
                         *selector], plugins=[collector])
        results.append((offset, collector.passed, collector.failed))
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--slow-seeds", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    offsets = list(range(1, args.seeds + 1))
    slow = set(offsets[: args.slow_seeds])
    chunks = [(offsets[i:: args.jobs], slow) for i in range(args.jobs)]
    total_runs = total_failed = 0
    with ProcessPoolExecutor(args.jobs) as pool:
        for results in pool.map(_run, chunks):
            for offset, passed, failed in results:
                total_runs += passed + len(failed)
                total_failed += len(failed)
                for nodeid in failed:
                    print(f"seed offset {offset}: FAILED {nodeid}")
    print(f"{args.seeds} seed offsets ({args.slow_seeds} with the MNIST tests): "
          f"{total_runs} test runs, {total_failed} failures")
    return 1 if total_failed else 0


if __name__ == "__main__":
    sys.exit(main())
