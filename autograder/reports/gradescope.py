"""A student's result in Gradescope's ``results.json`` schema (see ``design/anchors.md``).

Public tests are ``visible`` with the full feedback; hidden tests are
``after_published`` and their output says only ``passed`` or ``failed``.
"""
from __future__ import annotations

from autograder.results import PartResult, StudentResult, TestResult

TEST_VISIBILITY = {"public": "visible", "hidden": "after_published"}


def _number(value: float) -> float | int:
    value = round(float(value), 6)
    return int(value) if value.is_integer() else value


def test_output(test: TestResult) -> str:
    """What a student may read about one test: everything for a public test, the verdict alone for a hidden one."""
    verdict = "passed" if test.passed else "failed"
    if test.visibility != "public" or test.passed:
        return verdict
    text = f"{verdict}: {test.message}" if test.message else verdict
    return f"{text}\nHint: {test.hint}" if test.hint else text


def part_summary(part: PartResult) -> str:
    """One line per part: points, status, and which file was graded."""
    line = f"{part.part}: {_number(part.score)}/{_number(part.max_score)}"
    if part.status != "ok":
        line += f" [{part.status}] {part.message}"
    if part.source:
        line += f" (graded: {part.source})"
    return line


def gradescope_results(result: StudentResult, *, timing: bool = False) -> dict:
    """The ``results.json`` document for ``result`` (JSON-able; key order fixed).

    ``execution_time`` (optional in Gradescope's schema) is included only with
    ``timing``: without it the document depends on the grades alone, so a
    re-run or a resumed batch writes byte-identical files.
    """
    tests = []
    number = 0
    for part in result.parts.values():
        for test in part.tests:
            number += 1
            tests.append({
                "name": f"{part.part}: {test.name}",
                "number": str(number),
                "score": _number(test.points),
                "max_score": _number(test.max_points),
                "status": "passed" if test.passed else "failed",
                "output": test_output(test),
                "output_format": "text",
                "tags": [part.part],
                "visibility": TEST_VISIBILITY.get(test.visibility, "after_published"),
            })
    header = f"Total: {_number(result.total)}/{_number(result.max_total)} ({result.status})"
    lines = [header, *(part_summary(p) for p in result.parts.values())]
    if result.message:
        lines.append(f"Note: {result.message}")
    document = {
        "score": _number(result.total),
        "execution_time": round(float(result.duration), 2),
        "output": "\n".join(lines),
        "output_format": "text",
        "test_output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "extra_data": {
            "status": result.status,
            "isolation": result.isolation,
            "parts": {p.part: {"status": p.status, "score": _number(p.score), "max_score": _number(p.max_score),
                               "source": p.source} for p in result.parts.values()},
        },
        "tests": tests,
    }
    if not timing:
        del document["execution_time"]
    return document
