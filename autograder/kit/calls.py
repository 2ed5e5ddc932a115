"""Many calls into student code in a single request (``Backend.run_kit("calls.each", ...)``).

A suite that checks a function on hundreds of small cases would otherwise
pay one round trip into the sandbox per case. The outcome of each call is
kept, so the suite still judges the cases one by one, in order. The same
goes for setting or reading several attributes of a student's object.
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


def _outcome(function, *args) -> list:
    """``["ok", function(*args)]``, or ``["raised", type name, message]`` for an ``Exception`` (anything else,
    such as ``SystemExit``, propagates as it would from a single call)."""
    try:
        return ["ok", function(*args)]
    except Exception as exc:  # noqa: BLE001 - the suite judges each call's exception itself
        return ["raised", type(exc).__name__, _message(exc)]


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
    return [_outcome(function, *args) for args in calls]


def each_with_attribute(obj, name: str, values: list, method: str, args: list) -> list:
    """For each of ``values``: ``setattr(obj, name, value)``, then ``getattr(obj, method)(*args)``.

    A suite that perturbs one parameter of a student's model at a time (central
    differences) needs one request per parameter instead of three per entry.
    The attribute keeps the last value; ``args`` are the same objects for every
    call, as they would be in a loop.

    Returns:
        One outcome per value, as :func:`each` gives them (an exception from
        ``setattr`` or ``getattr`` is that value's outcome too).

    Raises:
        ValueError: ``values`` or ``args`` is not a list, or ``values`` is too long.
    """
    if not isinstance(values, list) or len(values) > MAX_CALLS or not isinstance(args, list):
        raise ValueError(f"values must be a list of at most {MAX_CALLS} values and args a list")
    if not (isinstance(name, str) and isinstance(method, str)):
        raise ValueError("name and method must be str")
    def set_and_call(value):
        setattr(obj, name, value)
        return getattr(obj, method)(*args)

    return [_outcome(set_and_call, value) for value in values]


MAX_ATTRIBUTES = 100


def set_attributes(obj, items: list) -> None:
    """``setattr(obj, name, value)`` for each ``[name, value]`` of ``items``, in order; the first exception
    propagates, as it would from the same assignments written one after the other.

    Raises:
        ValueError: ``items`` is not a list of at most ``MAX_ATTRIBUTES`` ``[str, value]`` pairs.
    """
    if not isinstance(items, list) or len(items) > MAX_ATTRIBUTES or not all(
            isinstance(item, list) and len(item) == 2 and isinstance(item[0], str) for item in items):
        raise ValueError(f"items must be a list of at most {MAX_ATTRIBUTES} [name, value] pairs")
    for name, value in items:
        setattr(obj, name, value)


def get_attributes(obj, names: list) -> list:
    """For each name: ``["ok", getattr(obj, name)]``, or ``["missing", message]`` when reading it raises
    ``AttributeError``; any other exception propagates, as from a single read.

    Raises:
        ValueError: ``names`` is not a list of at most ``MAX_ATTRIBUTES`` strings.
    """
    if not isinstance(names, list) or len(names) > MAX_ATTRIBUTES or not all(isinstance(n, str) for n in names):
        raise ValueError(f"names must be a list of at most {MAX_ATTRIBUTES} strings")
    out = []
    for name in names:
        try:
            out.append(["ok", getattr(obj, name)])
        except AttributeError as exc:
            out.append(["missing", _message(exc)])
    return out
