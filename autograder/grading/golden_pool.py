"""Golden values shared between the students of a batch.

Every student's grading runs the public tests' golden recipes on the same
reference with the same inputs (the handout replays one recorded file for
every student's ``check``), so a batch need not run them again for each
student. Each grading process reports the values it computed; once two
processes that graded different students agree on a value, byte for byte,
later processes are given it instead of running its recipe. Agreement of
two keeps one misbehaving process from deciding anyone else's expected
values; a value two processes disagree on is never shared (its recipe would
depend on the student, or not be deterministic). Values are only ever taken
from processes whose student code ran in the sandbox (the batch's
``require`` policy).
"""
from __future__ import annotations

import json

MAX_NAME = 200


class GoldenPool:
    """Values offered by grading processes, and those agreed on (see the module docstring)."""

    def __init__(self):
        self._agreed: dict[str, object] = {}
        self._offered: dict[str, tuple[str, str]] = {}  # name -> (student, canonical JSON text)
        self._disputed: set[str] = set()

    def known(self) -> dict:
        """name -> value in ``golden.to_json`` form, for the next grading processes."""
        return dict(self._agreed)

    def offer(self, student: str, values) -> None:
        """Take what ``student``'s grading process computed; a malformed offer is ignored."""
        if type(values) is not dict:
            return
        for name, value in values.items():
            if type(name) is not str or not 0 < len(name) <= MAX_NAME or name in self._agreed \
                    or name in self._disputed:
                continue
            try:
                text = json.dumps(value, sort_keys=True, allow_nan=True)
            except (TypeError, ValueError):
                continue
            first = self._offered.get(name)
            if first is None:
                self._offered[name] = (student, text)
            elif first[1] != text:
                self._disputed.add(name)
                del self._offered[name]
            elif first[0] != student:
                self._agreed[name] = value
                del self._offered[name]

    @property
    def disputed(self) -> frozenset[str]:
        """Names two processes gave different values for: never shared in this batch."""
        return frozenset(self._disputed)
