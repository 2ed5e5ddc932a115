"""The ``graded`` marker: a test's points, visibility and oracle, declared in one place."""
from __future__ import annotations

import inspect
from dataclasses import dataclass

import pytest

VISIBILITIES = ("public", "hidden")
ORACLES = ("property", "golden", "reference")


@dataclass(frozen=True)
class Graded:
    """What a graded test is worth and how it knows the right answer.

    Attributes:
        points: marks for passing (> 0).
        visibility: ``"public"`` (in the handout, run by ``check``) or ``"hidden"``
            (instructor side only; students see its name and result, never its inputs).
        oracle: ``"property"`` (needs no reference), ``"golden"`` (values the
            reference computed when the handout was built) or ``"reference"``
            (the live reference on hidden inputs).
        timeout: wall-clock seconds for any one call into student code in
            this test; ``None`` means the part's ``call_seconds``.
        topic: the lecture topic a failure points the student to.
    """

    points: float
    visibility: str
    oracle: str
    timeout: float | None = None
    topic: str | None = None


def _graded_signature(points, *, visibility, oracle, timeout=None, topic=None):
    """Bound to the marker's arguments so a typo is an error, not a silent default."""


def graded(points, *, visibility, oracle, timeout=None, topic=None):
    """Mark a test as graded; see :class:`Graded` for the meaning of each argument."""
    spec = Graded(points, visibility, oracle, timeout, topic)
    _validate(spec, "graded(...)")
    return pytest.mark.graded(points, visibility=visibility, oracle=oracle, timeout=timeout, topic=topic)


def _validate(spec: Graded, where: str) -> None:
    if not (isinstance(spec.points, (int, float)) and spec.points > 0):
        raise ValueError(f"{where}: points must be a positive number, got {spec.points!r}")
    if spec.visibility not in VISIBILITIES:
        raise ValueError(f"{where}: visibility must be one of {VISIBILITIES}, got {spec.visibility!r}")
    if spec.oracle not in ORACLES:
        raise ValueError(f"{where}: oracle must be one of {ORACLES}, got {spec.oracle!r}")
    if spec.visibility == "public" and spec.oracle == "reference":
        raise ValueError(f"{where}: a public test cannot use the live reference (students do not have it)")


def evaluate_graded(item) -> Graded | None:
    """Read the ``graded`` marker of a collected test; ``None`` when it has none.

    Raises:
        ValueError: naming the test when the marker's arguments are wrong.
    """
    marks = list(item.iter_markers("graded"))
    if not marks:
        return None
    if len(marks) > 1:
        raise ValueError(f"{item.nodeid}: more than one graded marker")
    mark = marks[0]
    try:
        bound = inspect.signature(_graded_signature).bind(*mark.args, **mark.kwargs)
    except TypeError as exc:
        raise ValueError(f"{item.nodeid}: bad graded marker: {exc}") from None
    bound.apply_defaults()
    spec = Graded(**bound.arguments)
    _validate(spec, item.nodeid)
    return spec
