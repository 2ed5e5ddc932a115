#!/usr/bin/env python3
"""Grade one known variant in-process with the suites and print its score per part.

Usage: .venv/bin/python tools/try-variant.py faulty-clipping-per_tensor   (or just a part name: all of its variants)
For suite authors; `autograder validate` is the real check.
"""
import subprocess
import sys
import tempfile
from pathlib import Path

from autograder.config import load_course
from autograder.grading.variants import load_correct, load_faulty, materialize


def main(selector: str) -> int:
    course = load_course()
    variants = [v for v in load_faulty(course) + load_correct(course) if selector in (v.id, v.part, v.kind)]
    if not variants:
        print(f"no variant matches {selector!r}")
        return 2
    for variant in variants:
        with tempfile.TemporaryDirectory() as tmp:
            folder = materialize(course, variant, Path(tmp) / "submission")
            proc = subprocess.run(
                [sys.executable, "-m", "pytest", str(course.suites), "-q", "--no-header", "-p", "no:randomly",
                 f"--student={folder}", "--tb=no", "-rf"],
                capture_output=True, text=True, cwd=course.root)
            failed = [line.split(" ")[1] for line in proc.stdout.splitlines() if line.startswith("FAILED")]
            print(f"{variant.id}: {proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr}")
            for name in failed:
                print(f"    {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "faulty"))
