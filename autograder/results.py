"""Plain data for grading results: no I/O, no formatting.

A :class:`StudentResult` holds one :class:`PartResult` per part, each with its
:class:`TestResult` rows. Reports (CSV, Gradescope JSON, HTML) are pure
functions of these objects; ``to_dict``/``from_dict`` round-trip through JSON
so a resumed batch can reuse what was already graded.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

STATUSES = ("ok", "missing", "invalid", "crashed", "timeout")


@dataclass
class TestResult:
    """One graded test.

    ``message`` is the feedback for a failure (expected vs found); for hidden
    tests the reports show only ``name`` and whether it passed.
    """

    part: str
    name: str
    points: float  # earned
    max_points: float
    visibility: str  # "public" | "hidden"
    oracle: str  # "property" | "golden" | "reference"
    passed: bool
    message: str = ""
    hint: str | None = None
    duration: float = 0.0
    extra: dict = field(default_factory=dict)  # plot data for feedback (small, JSON-able)


@dataclass
class PartResult:
    part: str
    status: str  # one of STATUSES
    score: float
    max_score: float
    message: str = ""  # why the part could not be graded, when status != "ok"
    source: str = ""  # which file was graded, e.g. "clipping.py" or "clipping.ipynb"
    tests: list[TestResult] = field(default_factory=list)


@dataclass
class StudentResult:
    student: str
    parts: dict[str, PartResult]
    isolation: str
    duration: float = 0.0
    message: str = ""  # a problem with the whole submission (e.g. an unsafe zip)

    @property
    def total(self) -> float:
        return sum(p.score for p in self.parts.values())

    @property
    def max_total(self) -> float:
        return sum(p.max_score for p in self.parts.values())

    @property
    def status(self) -> str:
        """``ok``, or the first reason (in part order) a part could not be graded."""
        for part in self.parts.values():
            if part.status != "ok":
                return part.status
        return "ok"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> StudentResult:
        parts = {
            pid: PartResult(**{**p, "tests": [TestResult(**t) for t in p["tests"]]})
            for pid, p in data["parts"].items()
        }
        return cls(student=data["student"], parts=parts, isolation=data["isolation"],
                   duration=data.get("duration", 0.0), message=data.get("message", ""))


def part_result(part: str, max_score: float, tests: list[TestResult], status: str = "ok", message: str = "",
                source: str = "") -> PartResult:
    """Sum a part's tests into a :class:`PartResult`.

    ``status`` is the worst thing that happened while grading the part; a
    timeout in one test does not take away the points of the others.
    """
    score = sum(t.points for t in tests)
    return PartResult(part=part, status=status, score=round(score, 6), max_score=max_score, message=message,
                      source=source, tests=tests)
