"""Many calls of one student function in a single request (``Backend.run_kit("calls.each", ...)``).

A suite that checks a function on hundreds of small cases would otherwise
pay one round trip into the sandbox per case. The outcome of each call is
kept, so the suite still judges the cases one by one, in order.
"""
from __future__ import annotations

MAX_CALLS = 10_000
MAX_MESSAGE = 2_000


def _message(exc: Exception) -> str:
    """``str(exc)`` as a plain ``str`` of at most ``MAX_MESSAGE`` characters, whatever ``__str__`` does."""
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a student's exception may fail to print itself
        return "(the exception's message could not be shown)"
    return str.__str__(text)[:MAX_MESSAGE]


def each(function, calls: list) -> list:
    """``function(*args)`` for every ``args`` in ``calls``, in order; an ``Exception`` is kept, not raised.

    Args:
        function: the student's function.
        calls: a list of at most ``MAX_CALLS`` argument lists (positional arguments).

    Returns:
        One entry per call: ``["ok", value]``, or ``["raised", exception type name, message]``.
        Anything that is not an ``Exception`` (``SystemExit``, ``KeyboardInterrupt``) ends the run
        as it would end a single call.

    Raises:
        ValueError: ``calls`` is not a list of lists, or too long.
    """
    if not isinstance(calls, list) or len(calls) > MAX_CALLS or not all(isinstance(a, list) for a in calls):
        raise ValueError(f"calls must be a list of at most {MAX_CALLS} argument lists")
    outcomes = []
    for args in calls:
        try:
            outcomes.append(["ok", function(*args)])
        except Exception as exc:  # noqa: BLE001 - the suite judges each call's exception itself
            outcomes.append(["raised", type(exc).__name__, _message(exc)])
    return outcomes
