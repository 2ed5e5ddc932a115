#!/usr/bin/env python3
"""Mutation audit of the graded suites: cosmic-ray mutates the reference, the part's suite must fail.

Usage:
    .venv/bin/python tools/mutation_audit.py                  # all five parts, 2 at a time
    .venv/bin/python tools/mutation_audit.py clipping debugging --jobs 1
    .venv/bin/python tools/mutation_audit.py --sample 150     # at most 150 mutants per part (fixed seed)
    .venv/bin/python tools/mutation_audit.py --json audit.json

Needs cosmic-ray (``pip install cosmic-ray``, >= 8.7). For each part:

1. ``solutions/*.py`` is copied into a scratch folder; cosmic-ray mutates the
   copy of ``<part>.py`` in place, one mutant at a time, and puts it back.
   ``solutions/`` itself is never written: the suites' ``reference`` fixture
   and the live ``golden`` values read it, so mutating it in place would
   compare every mutant with itself and let the reference and golden
   oracles pass any mutant. The script checks that ``solutions/`` is
   byte-for-byte the same before and after.
2. cosmic-ray's test command is the part's graded suite graded against the
   mutated copy, stopping at the first failure:
   ``python -m pytest tests/grading/<part> -x -q -p no:cacheprovider --student=<copy> -k "not mnist"``.
   The two slow real-MNIST tests (backprop's ``test_mnist_sample_accuracy``,
   training's ``test_train_mnist_accuracy``) are left out for speed; every
   mutant they would kill is also caught by a faster test, or is listed.
3. A mutant is *killed* when the suite fails (or times out), *survived*
   when every test passes. The score of a part is killed / (killed + survived).

Every surviving mutant is printed with its diff. A survivor whose change is
listed in ``EXPLAINED`` below (judged equivalent to the reference, or not
behaviour the contract states; docs/mutation-audit.md gives the reasons) is
reported as explained; any other survivor makes the exit status 1, so a
change to the reference or the suites that opens a hole in grading shows up.

With ``--sample N`` each part's mutants are sorted by position and operator
and ``N`` of them are drawn with ``random.Random(seed)`` (``--seed``, default
20261130); the rest are marked skipped in the cosmic-ray session.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("initializers", "clipping", "backprop", "debugging", "training")
DEFAULT_SEED = 20261130
SLOW_TESTS = "not mnist"

# Survivors judged equivalent (or outside the contract), keyed by
# (part, function, original line, mutated line), both lines stripped.
# The reasons are written out in docs/mutation-audit.md.
_FRESH = ("equivalent: the array is already new (np.clip / a product / astype to another dtype); copy=True only "
          "adds a second copy")
_CLIP_VALUE = "return {name: np.clip(g, -clip_value, clip_value).astype(g.dtype, copy=%s) for name, g in grads.items()}"
_CLIP_NORM = "clipped[name] = (g * (max_norm / norm)).astype(g.dtype, copy=%s)"
_CLIP_GLOBAL = "clipped = {name: (g * coef).astype(g.dtype, copy=%s) for name, g in grads.items()}"
_SIZES = "if len(sizes) != 4 or any(int(d) %s d or d < 1 for d in sizes):"
_DTYPE = "dtype = np.float32 if X.dtype %s np.float32 else np.float64"
_NOT_FLOAT64 = ("not contract behaviour: differs only for an X that is not float64 (the contract's arrays are float64; "
                "the float32 path is an optional, ungraded speed-up)")
_PARAMS = "W1, b1, W2, b2, W3, b3 = (p.astype(dtype, copy=%s)"
_GRAD_W = "W2, W3 = self.W2.astype(dtype, copy=%s), self.W3.astype(dtype, copy=%s)"
_RELU = ("equivalent: a = relu(z) >= 0, so a != 0 exactly where a > 0 (they differ only for nan activations, "
         "outside the contract's finite inputs)")
_VAL_GIVEN = "if X_val is not None %s Y_val is not None:"
EXPLAINED: dict[tuple[str, str, str, str], str] = {
    ("clipping", "clip_by_value", _CLIP_VALUE % "False", _CLIP_VALUE % "True"): _FRESH,
    ("clipping", "clip_by_norm", "if norm > max_norm:", "if norm >= max_norm:"):
        "equivalent: at norm == max_norm the factor max_norm / norm is exactly 1.0, and g * 1.0 is a copy of g",
    ("clipping", "clip_by_norm", _CLIP_NORM % "False", _CLIP_NORM % "True"): _FRESH,
    ("clipping", "clip_by_global_norm", "if coef < 1:", "if coef <= 1:"):
        "equivalent: at coef == 1 every array is multiplied by exactly 1.0, which gives a copy of it",
    ("clipping", "clip_by_global_norm", _CLIP_GLOBAL % "False", _CLIP_GLOBAL % "True"): _FRESH,
    ("backprop", "__init__", _SIZES % "!=", _SIZES % "<"):
        "equivalent: int(d) <= d for every d >= 1, so int(d) < d is int(d) != d there, and d < 1 raises anyway",
    ("backprop", "__init__", _SIZES % "!=", _SIZES % "is not"):
        "not contract behaviour: differs only for sizes that are not Python ints but equal one (784.0, "
        "np.int64(784)); the contract says neither that they are accepted nor that they are refused",
    ("backprop", "forward", _DTYPE % "==", _DTYPE % "is"): _NOT_FLOAT64,
    ("backprop", "forward", _DTYPE % "==", _DTYPE % "<"): _NOT_FLOAT64,
    ("backprop", "forward", _DTYPE % "==", _DTYPE % "<="): _NOT_FLOAT64,
    ("backprop", "forward", _PARAMS % "False", _PARAMS % "True"):
        "equivalent: forward only reads the converted parameters; copy=True only adds copies",
    ("backprop", "gradients", _GRAD_W % ("False", "False"), _GRAD_W % ("True", "False")):
        "equivalent: gradients only reads W2; copy=True only adds a copy",
    ("backprop", "gradients", _GRAD_W % ("False", "False"), _GRAD_W % ("False", "True")):
        "equivalent: gradients only reads W3; copy=True only adds a copy",
    ("backprop", "gradients", "dz2 *= a2 > 0                   # ReLU derivative, in place",
     "dz2 *= a2 != 0                   # ReLU derivative, in place"): _RELU,
    ("backprop", "gradients", "dz1 *= a1 > 0", "dz1 *= a1 != 0"): _RELU,
    ("debugging", "debug_training", "if train.size == 0:", "if train.size <= 0:"):
        "equivalent: an array's size is never negative",
    ("debugging", "debug_training",
     "if len(val) >= 2 and np.all(np.isfinite(val)) and ends_finite and last < first:",
     "if len(val) >= 1 and np.all(np.isfinite(val)) and ends_finite and last < first:"):
        "equivalent: with one validation value val[-1] - min(val) is 0, never > 0.1 * abs(min(val)) >= 0",
    ("training", "train", _VAL_GIVEN % "and", _VAL_GIVEN % "or"):
        "not contract behaviour: differs only when exactly one of X_val, Y_val is given, which the contract leaves "
        "open (the mutant then fails inside evaluate; raising would be as right as ignoring both)",
}


# ---------------------------------------------------------------- cosmic-ray plumbing


def cosmic_ray() -> list[str]:
    exe = Path(sys.executable).with_name("cosmic-ray")
    if not exe.exists():
        sys.exit("cosmic-ray is not installed in this environment: .venv/bin/pip install cosmic-ray")
    return [str(exe)]


def solutions_digest() -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((ROOT / "solutions").glob("*.py"))}


def test_command(part: str, student: Path) -> str:
    return shlex.join([sys.executable, "-m", "pytest", f"tests/grading/{part}", "-x", "-q", "-p", "no:cacheprovider",
                       f"--student={student}", "-k", SLOW_TESTS])


def write_config(part: str, work: Path, timeout: float) -> Path:
    student = work / "student"
    student.mkdir(parents=True)
    for module in sorted((ROOT / "solutions").glob("*.py")):
        shutil.copy2(module, student / module.name)
    config = work / "cosmic-ray.toml"
    config.write_text(
        "[cosmic-ray]\n"
        f"module-path = {json.dumps(str(student / f'{part}.py'))}\n"
        f"timeout = {timeout}\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(test_command(part, student))}\n"
        "\n[cosmic-ray.distributor]\nname = \"local\"\n",
        encoding="utf-8")
    return config


def run(cmd: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)


def sample_session(session: Path, n: int, seed: int) -> int:
    """Mark all but ``n`` mutants (drawn with a fixed seed from the position-sorted list) as skipped."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    with use_db(str(session), WorkDB.Mode.open) as db:
        items = sorted(db.pending_work_items, key=lambda w: [(m.start_pos, m.end_pos, m.operator_name, m.occurrence)
                                                            for m in w.mutations])
        if len(items) <= n:
            return len(items)
        keep = {w.job_id for w in random.Random(seed).sample(items, n)}
        for w in items:
            if w.job_id not in keep:
                db.set_result(w.job_id, WorkResult(output="not in the sample", worker_outcome=WorkerOutcome.SKIPPED))
    return n


def audit_part(part: str, scratch: Path, *, timeout: float, sample: int | None, seed: int) -> dict:
    """Run cosmic-ray on one part; return its counts and survivors."""
    started = time.monotonic()
    work = scratch / part
    config = write_config(part, work, timeout)
    session = work / "session.sqlite"
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    base = run(cosmic_ray() + ["baseline", str(config)], env)
    if base.returncode != 0:
        raise RuntimeError(f"{part}: the suite fails on the unmutated reference (cosmic-ray baseline):\n"
                           f"{base.stdout}{base.stderr}")
    init = run(cosmic_ray() + ["init", str(config), str(session)], env)
    if init.returncode != 0:
        raise RuntimeError(f"{part}: cosmic-ray init failed:\n{init.stdout}{init.stderr}")
    if sample is not None:
        sample_session(session, sample, seed)
    done = run(cosmic_ray() + ["exec", str(config), str(session)], env)
    if done.returncode != 0:
        raise RuntimeError(f"{part}: cosmic-ray exec failed:\n{done.stdout}{done.stderr}")
    dump = run(cosmic_ray() + ["dump", str(session)], env)
    return summarize(part, dump.stdout, (work / "student" / f"{part}.py"), time.monotonic() - started)


# ---------------------------------------------------------------- results


def solution_lines(source: str) -> set[int]:
    """1-based numbers of the lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION``."""
    inside, lines = False, set()
    for number, line in enumerate(source.splitlines(), start=1):
        if "### BEGIN SOLUTION" in line:
            inside = True
        elif "### END SOLUTION" in line:
            inside = False
        elif inside:
            lines.add(number)
    return lines


def changed_lines(diff: str) -> tuple[str, str]:
    """The (original, mutated) line of a one-line cosmic-ray diff, stripped."""
    old = [line[1:].strip() for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    new = [line[1:].strip() for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    return " / ".join(old), " / ".join(new)


def summarize(part: str, dump: str, module: Path, seconds: float) -> dict:
    solved = solution_lines((ROOT / "solutions" / f"{part}.py").read_text(encoding="utf-8"))
    counts = {"killed": 0, "survived": 0, "incompetent": 0, "skipped": 0, "timeouts": 0}
    survivors = []
    for line in dump.splitlines():
        item, result = json.loads(line)
        if result is None:
            raise RuntimeError(f"{part}: a mutant was not run: {item}")
        if result["worker_outcome"] == "skipped":
            counts["skipped"] += 1
            continue
        if result["worker_outcome"] == "no-test":
            continue
        outcome = result["test_outcome"]
        if outcome == "incompetent":
            counts["incompetent"] += 1
            continue
        if outcome == "killed":
            counts["killed"] += 1
            counts["timeouts"] += result.get("output") == "timeout"
            continue
        mutation = item["mutations"][0]
        diff = result["diff"].replace(str(module), f"solutions/{part}.py")
        old, new = changed_lines(diff)
        key = (part, mutation.get("definition_name") or "", old, new)
        survivors.append({
            "part": part, "line": mutation["start_pos"][0], "column": mutation["start_pos"][1],
            "operator": mutation["operator_name"], "function": key[1], "original": old, "mutated": new,
            "in_solution": mutation["start_pos"][0] in solved, "explained": EXPLAINED.get(key), "diff": diff,
        })
        counts["survived"] += 1
    survivors.sort(key=lambda s: (s["line"], s["column"], s["operator"]))
    tested = counts["killed"] + counts["survived"]
    return {"part": part, **counts, "tested": tested, "score": counts["killed"] / tested if tested else 1.0,
            "survivors": survivors, "seconds": round(seconds, 1)}


def print_report(results: list[dict]) -> int:
    unexplained = 0
    print("\npart           killed/tested  score    survived  explained  incompetent  skipped  time")
    for r in results:
        explained = sum(1 for s in r["survivors"] if s["explained"])
        print(f"{r['part']:<14} {r['killed']:>6}/{r['tested']:<6}  {r['score']:6.1%}   {r['survived']:>7}  "
              f"{explained:>9}  {r['incompetent']:>11}  {r['skipped']:>7}  {r['seconds']:>5.0f}s")
    killed, tested = sum(r["killed"] for r in results), sum(r["tested"] for r in results)
    print(f"{'all':<14} {killed:>6}/{tested:<6}  {killed / max(tested, 1):6.1%}")
    for r in results:
        for s in r["survivors"]:
            status = "explained" if s["explained"] else "UNEXPLAINED"
            unexplained += not s["explained"]
            where = "solution region" if s["in_solution"] else "outside the solution region"
            print(f"\n[{status}] {s['part']}.py:{s['line']}:{s['column']} in {s['function'] or 'module'} "
                  f"({where}) {s['operator']}\n    - {s['original']}\n    + {s['mutated']}")
            if s["explained"]:
                print(f"    why: {s['explained']}")
    print(f"\n{unexplained} unexplained survivor(s)")
    return unexplained


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("parts", nargs="*", metavar="part", help=f"parts to audit (default: all of {', '.join(PARTS)})")
    parser.add_argument("--jobs", type=int, default=2, help="parts audited at the same time (default 2)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per mutant's suite run (default 30)")
    parser.add_argument("--sample", type=int, default=None, help="at most this many mutants per part")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of --sample")
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this file")
    parser.add_argument("--keep", type=Path, default=None, help="keep the scratch folder (sessions, copies) here")
    args = parser.parse_args(argv)
    parts = args.parts or list(PARTS)
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")

    before = solutions_digest()
    scratch = Path(tempfile.mkdtemp(prefix="mutation-audit-")) if args.keep is None else args.keep
    scratch.mkdir(parents=True, exist_ok=True)
    print(f"cosmic-ray over solutions/ ({', '.join(parts)}), scratch {scratch}; test command per part:\n  "
          + test_command("PART", scratch / "PART" / "student").replace("PART", "<part>"), flush=True)
    try:
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = [pool.submit(audit_part, part, scratch, timeout=args.timeout, sample=args.sample,
                                   seed=args.seed) for part in parts]
            results = []
            for future in futures:
                results.append(future.result())
                r = results[-1]
                print(f"{r['part']}: {r['killed']}/{r['tested']} killed, {r['survived']} survived "
                      f"({r['seconds']:.0f} s)", flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)
    if solutions_digest() != before:
        print("ERROR: solutions/ changed during the audit: restore it with `git checkout -- solutions`",
              file=sys.stderr)
        return 2
    unexplained = print_report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
