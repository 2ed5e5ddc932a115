"""Golden values: what the reference returns on the public tests' inputs.

A public test asks ``golden("clipping/global_norm/random", lambda ref: ref.clipping.global_norm(g))``.
Instructor side (the reference is present) the recipe runs on the live
reference. ``autograder release`` runs the public suites in *record* mode and
writes every value to ``golden.json`` in the handout; students' ``check``
*replays* that file, so the reference never leaves the instructor.
"""
from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

GOLDEN_FILE = "golden.json"
MODES = ("live", "record", "replay")


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


class GoldenStore:
    """Answers ``golden(name, recipe)`` in one of three modes.

    Args:
        mode: ``"live"`` (run the recipe on ``reference``), ``"record"`` (the
            same, and remember the value for :meth:`save`) or ``"replay"``
            (read the value from ``path``).
        path: the ``golden.json`` file (replay: read; record: written by :meth:`save`).
        reference: the reference :class:`~autograder.harness.student.Student` (live and record modes).
    """

    def __init__(self, mode: str, path: Path | None = None, reference=None):
        if mode not in MODES:
            raise ValueError(f"golden mode must be one of {MODES}, got {mode!r}")
        if mode != "replay" and reference is None:
            raise ValueError(f"golden mode {mode!r} needs the reference solutions")
        self.mode, self.path, self.reference = mode, path, reference
        self._values: dict[str, object] = {}
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
            self._values[name] = recipe(self.reference)
        return self._values[name]

    def save(self, path: Path | None = None) -> Path:
        """Write every value recorded so far, sorted by name, to ``path`` (default: ``self.path``)."""
        target = Path(path or self.path)
        encoded = {name: to_json(self._values[name]) for name in sorted(self._values)}
        target.write_text(json.dumps(encoded, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        return target
