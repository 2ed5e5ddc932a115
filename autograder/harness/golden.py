"""Golden values: what the reference returns on the public tests' inputs.

A public test asks ``golden("clipping/global_norm/random", lambda ref: ref.clipping.global_norm(g))``.
Instructor side (the reference is present) the recipe runs on the live
reference. ``autograder release`` runs the public suites in *record* mode and
writes every value to ``golden.json`` in the handout; students' ``check``
*replays* that file, so the reference never leaves the instructor.

A batch grades many students with the same recipes on the same inputs: a
live store can start from values already computed elsewhere (``known``, in
:func:`to_json` form) and reports the ones it computed itself (:meth:`computed`).
"""
from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

GOLDEN_FILE = "golden.json"
MODES = ("live", "record", "replay")
# In a handout's golden.json: the recipe_fingerprint of what its values were recorded from (never a value's name).
SOURCE_KEY = "__recorded_from__"
_HIDDEN_SUITE = "test_hidden.py"


def recipe_fingerprint(solutions: Path, suites: Path, course_file: Path) -> str:
    """A sha256 of everything the public suites' golden values are computed from.

    The reference solutions, every ``.py`` file of the suites but the hidden
    ones (the public tests and their packages), ``course.toml`` (the tests'
    seeds), and the kit and harness modules that the recipes run with.
    """
    package = Path(__file__).resolve().parent.parent
    files = [(f"solutions/{p.relative_to(solutions)}", p) for p in Path(solutions).rglob("*.py")]
    files += [(f"suites/{p.relative_to(suites)}", p) for p in Path(suites).rglob("*.py") if p.name != _HIDDEN_SUITE]
    files += [(f"autograder/{p.relative_to(package)}", p)
              for folder in ("kit", "harness") for p in (package / folder).glob("*.py")]
    digest = hashlib.sha256()
    for name, path in sorted((n, p) for n, p in files if "__pycache__" not in Path(n).parts):
        digest.update(name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    digest.update(b"course.toml\0" + Path(course_file).read_bytes())
    return digest.hexdigest()


def recorded_values(path: Path, fingerprint: str) -> dict:
    """The values of a handout's ``golden.json`` (in :func:`to_json` form), if it was recorded from what
    ``fingerprint`` describes (see :func:`recipe_fingerprint`); ``{}`` when it is missing, unreadable or was
    recorded from other solutions, suites or kit."""
    try:
        stored = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if type(stored) is not dict or stored.get(SOURCE_KEY) != fingerprint:
        return {}
    return {name: value for name, value in stored.items() if name != SOURCE_KEY}


def to_json(value):
    """Encode arrays, tuples, dicts, lists and scalars as JSON-able data, losslessly."""
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value)
        return {"__array__": data.dtype.str, "shape": list(data.shape),
                "b64": base64.b64encode(data.tobytes()).decode("ascii")}
    if isinstance(value, tuple):
        return {"__tuple__": [to_json(v) for v in value]}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("golden dicts need string keys")
        return {"__dict__": {k: to_json(v) for k, v in value.items()}}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"cannot store a golden value of type {type(value).__name__}")


def from_json(data):
    """Inverse of :func:`to_json`."""
    if isinstance(data, list):
        return [from_json(v) for v in data]
    if isinstance(data, dict):
        if "__array__" in data:
            raw = base64.b64decode(data["b64"])
            return np.frombuffer(raw, dtype=np.dtype(data["__array__"])).reshape(data["shape"]).copy()
        if "__tuple__" in data:
            return tuple(from_json(v) for v in data["__tuple__"])
        if "__dict__" in data:
            return {k: from_json(v) for k, v in data["__dict__"].items()}
        raise ValueError(f"unknown golden entry with keys {sorted(data)}")
    return data


def same_value(found, expected, rtol: float = 1e-12) -> bool:
    """Whether two decoded golden values agree: same types, shapes and dtypes, numbers within ``rtol``
    (BLAS rounding may differ between machines and memory layouts), NaN equal to NaN."""
    if isinstance(expected, np.ndarray):
        return (isinstance(found, np.ndarray) and found.dtype == expected.dtype and found.shape == expected.shape
                and bool(np.allclose(found, expected, rtol=rtol, atol=0.0, equal_nan=True)))
    if isinstance(expected, float):
        return isinstance(found, float) and bool(np.isclose(found, expected, rtol=rtol, atol=0.0, equal_nan=True))
    if isinstance(expected, (list, tuple)):
        return (type(found) is type(expected) and len(found) == len(expected)
                and all(same_value(f, e, rtol) for f, e in zip(found, expected, strict=True)))
    if isinstance(expected, dict):
        return (isinstance(found, dict) and found.keys() == expected.keys()
                and all(same_value(found[k], expected[k], rtol) for k in expected))
    return type(found) is type(expected) and found == expected


class GoldenStore:
    """Answers ``golden(name, recipe)`` in one of three modes.

    Args:
        mode: ``"live"`` (run the recipe on ``reference``), ``"record"`` (the
            same, and remember the value for :meth:`save`) or ``"replay"``
            (read the value from ``path``).
        path: the ``golden.json`` file (replay: read; record: written by :meth:`save`).
        reference: the reference :class:`~autograder.harness.student.Student` (live and record modes).
        known: live mode only: name -> value in :func:`to_json` form, answered without running the recipe
            (values the same recipes gave on the same reference elsewhere; a value that cannot be decoded is
            computed instead).
    """

    def __init__(self, mode: str, path: Path | None = None, reference=None, known: dict | None = None):
        if mode not in MODES:
            raise ValueError(f"golden mode must be one of {MODES}, got {mode!r}")
        if mode != "replay" and reference is None:
            raise ValueError(f"golden mode {mode!r} needs the reference solutions")
        if known and mode != "live":
            raise ValueError("known golden values are for live mode only")
        self.mode, self.path, self.reference = mode, path, reference
        self._values: dict[str, object] = {}
        self._known = dict(known or {})
        self._computed: set[str] = set()
        if mode == "replay":
            if path is None or not Path(path).is_file():
                raise FileNotFoundError(f"golden values not found at {path}; rebuild the handout "
                                        "with `autograder release`")
            self._stored = json.loads(Path(path).read_text(encoding="utf-8"))

    def __call__(self, name: str, recipe: Callable):
        if self.mode == "replay":
            if name not in self._stored:
                raise KeyError(f"no golden value {name!r} in {self.path}; the handout is older than its tests")
            return from_json(self._stored[name])
        if name not in self._values:
            if name in self._known:
                try:
                    self._values[name] = from_json(self._known[name])
                    return self._values[name]
                except (TypeError, ValueError, KeyError, AttributeError):
                    pass
            self._values[name] = recipe(self.reference)
            self._computed.add(name)
        return self._values[name]

    def computed(self) -> dict:
        """The values this store's recipes computed (not those it was given), in :func:`to_json` form.

        A value that :func:`to_json` cannot encode is left out.
        """
        out = {}
        for name in sorted(self._computed):
            try:
                out[name] = to_json(self._values[name])
            except TypeError:
                continue
        return out

    def save(self, path: Path | None = None) -> Path:
        """Write every value recorded so far, sorted by name, to ``path`` (default: ``self.path``)."""
        target = Path(path or self.path)
        encoded = {name: to_json(self._values[name]) for name in sorted(self._values)}
        target.write_text(json.dumps(encoded, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        return target
