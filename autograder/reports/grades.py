"""``grades.csv``: one row per student, points per part, total, max_total, status."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from autograder import PART_IDS
from autograder.results import StudentResult


def format_points(value: float) -> str:
    """A number of points as the CSV writes it: at most 6 decimals, no trailing zeros (``20``, ``12.5``)."""
    text = f"{round(float(value), 6):.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def grades_csv(results: Iterable[StudentResult], part_ids: Sequence[str] = PART_IDS) -> str:
    """The gradebook as CSV text, rows sorted by student id.

    A part a student's result does not have (graded with ``--part``) is an empty cell.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", *part_ids, "total", "max_total", "status"])
    for result in sorted(results, key=lambda r: r.student):
        cells = [format_points(result.parts[p].score) if p in result.parts else "" for p in part_ids]
        writer.writerow([result.student, *cells, format_points(result.total), format_points(result.max_total),
                         result.status])
    return buffer.getvalue()
