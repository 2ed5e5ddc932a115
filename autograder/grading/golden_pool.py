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

A batch can also start from the values of the course's handout
(``autograder release`` records them from the reference, with a fingerprint
of the solutions, suites and kit they came from): when that fingerprint is
the one of the course as it is now, its values count as agreed from the
start and no grading process runs those recipes. The handout is the
instructor's own output, as trusted as the suites themselves; a handout
built from other sources is ignored.
"""
from __future__ import annotations

import json

from autograder.config import COURSE_FILE

MAX_NAME = 200


class GoldenPool:
    """Values offered by grading processes, and those agreed on (see the module docstring).

    Args:
        agreed: name -> value in ``golden.to_json`` form, known from the start (a matching handout's).
    """

    def __init__(self, agreed: dict | None = None):
        self._agreed: dict[str, object] = dict(agreed or {})
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


HANDOUT_TESTS = "tests"  # autograder.release.handout.TESTS_DIR: where a handout keeps its golden.json


def handout_golden(course) -> dict:
    """The golden values of ``course``'s handout when they were recorded from the course as it is now
    (:func:`autograder.harness.golden.recorded_values`); ``{}`` otherwise."""
    from autograder.harness.golden import GOLDEN_FILE, recipe_fingerprint, recorded_values

    try:
        fingerprint = recipe_fingerprint(course.solutions, course.suites, course.root / COURSE_FILE)
    except OSError:
        return {}
    return recorded_values(course.handout / HANDOUT_TESTS / GOLDEN_FILE, fingerprint)
