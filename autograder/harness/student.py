"""The one door through which graded suites reach a student's code.

Suites write ``student.clipping.clip_by_global_norm(grads, 1.0)``; whether
that runs in this process (the reference in CI, a quick local check) or in a
sandboxed worker (grading others' code) is the backend's business. A suite
never reads a student's source text and never imports student modules itself.
"""
from __future__ import annotations

from typing import Any, Protocol

from autograder import PART_IDS
from autograder.harness.checks import fail
from autograder.kit.registry import STAND_INS

__all__ = ["STAND_INS", "Backend", "Student", "get_attributes", "set_attributes"]


class Backend(Protocol):
    """How a :class:`Student` reaches code. Implementations: in-process, sandboxed worker."""

    isolation: str  # a short description of the isolation in force, recorded in every result

    def module(self, part: str) -> Any:
        """Return a module-like object for ``part``.

        Raises:
            StudentLoadError: the module is missing, unreadable, crashed or hung at import.
        """

    def run_kit(self, part: str, function: str, args: tuple, kwargs: dict):
        """Run the kit function ``autograder.kit.<function>`` (e.g. ``"training.sgd"``) where ``part``'s code runs.

        Lets the grader's own loop drive a student object without a round trip
        per step. Arguments and results follow the same by-value rules as calls.
        """

    def set_call_deadline(self, seconds: float | None) -> None:
        """Wall-clock limit for each following call into the student's code (``None``: the part's default)."""

    def part_status(self, part: str) -> str:
        """``"ok"``, or why the part could not be graded: ``missing``/``invalid``/``crashed``/``timeout``."""

    def close(self) -> None:
        """Stop every worker and release every resource."""


class Student:
    """Attribute access by part id: ``student.backprop.MNISTClassifier(...)``.

    Args:
        backend: where the code runs.
        allowed: the part ids this facade may reach (a suite of one part only
            reaches that part).
    """

    def __init__(self, backend: Backend, allowed=PART_IDS):
        self._backend = backend
        self._allowed = tuple(allowed)

    def __getattr__(self, part: str):
        if part.startswith("_"):
            raise AttributeError(part)
        if part not in PART_IDS:
            raise AttributeError(f"no part {part!r}; parts are {', '.join(PART_IDS)}")
        if part not in self._allowed:
            raise AttributeError(f"this suite grades {', '.join(self._allowed)} and may not reach part {part!r}")
        return self._backend.module(part)

    def run_kit(self, function: str, *args, **kwargs):
        """Run grader-supplied ``autograder.kit.<function>`` beside this part's code (see Backend.run_kit)."""
        if len(self._allowed) != 1:
            raise RuntimeError("run_kit needs a facade limited to one part")
        return self._backend.run_kit(self._allowed[0], function, args, kwargs)

    @property
    def isolation(self) -> str:
        return self._backend.isolation


def set_attributes(obj, values: dict) -> None:
    """``setattr(obj, name, value)`` for each item of ``values``, in order (one request when ``obj`` lives in a
    sandboxed worker). The first exception propagates."""
    many = getattr(type(obj), "_set_attributes", None)
    if many is not None:
        many(obj, dict(values))
        return
    for name, value in values.items():
        setattr(obj, name, value)


def get_attributes(obj, names) -> dict:
    """``{name: getattr(obj, name)}`` for each of ``names`` that ``obj`` has (one request when ``obj`` lives in a
    sandboxed worker); a name whose read raises ``AttributeError`` is left out, any other exception propagates.

    Raises:
        GradingFailure: a sandboxed worker answered with something else than one outcome per name.
    """
    names = list(names)
    many = getattr(type(obj), "_get_attributes", None)
    if many is None:
        out = {}
        for name in names:
            try:
                out[name] = getattr(obj, name)
            except AttributeError:
                continue
        return out
    outcomes = many(obj, names)
    if type(outcomes) is not list or len(outcomes) != len(names) or not all(
            type(o) is list and len(o) == 2 and o[0] in ("ok", "missing") for o in outcomes):
        fail(f"reading {', '.join(names)} gave a malformed answer", "the object's attributes could not be read")
    return {name: outcome[1] for name, outcome in zip(names, outcomes, strict=True) if outcome[0] == "ok"}
