"""Load ``course.toml`` into one frozen, validated :class:`Course`.

Every key is checked: an unknown key (a typo), a missing required key or a
value of the wrong type raises :class:`~autograder.errors.ConfigError` naming
the file and the dotted key.
"""
from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from autograder import PART_IDS
from autograder.errors import ConfigError

COURSE_FILE = "course.toml"


@dataclass(frozen=True)
class Limits:
    """Resource limits for one worker (seconds, megabytes, kilobytes, counts)."""

    call_seconds: float = 10.0
    part_seconds: float = 60.0
    memory_mb: int = 2048
    output_kb: int = 1024
    processes: int = 64
    tmpfs_mb: int = 64


@dataclass(frozen=True)
class Tolerances:
    rtol: float = 1e-9
    atol: float = 1e-12
    clip_rtol: float = 1e-6
    history_rtol: float = 1e-6
    false_failure_probability: float = 1e-9


@dataclass(frozen=True)
class Part:
    id: str
    title: str
    points: float
    call_seconds: float
    part_seconds: float


@dataclass(frozen=True)
class Course:
    """The whole course configuration; paths are absolute."""

    root: Path
    id: str
    name: str
    assignment: str
    solutions: Path
    suites: Path
    handout: Path
    notebooks: Path
    mnist_dir: Path
    sample: str
    limits: Limits
    tolerances: Tolerances
    seed: int
    parts: dict[str, Part] = field(default_factory=dict)
    feedback_figures: str = "failed"

    @property
    def max_total(self) -> float:
        return sum(p.points for p in self.parts.values())


_SCHEMA = {
    "course": {"id": (str, True), "name": (str, True), "assignment": (str, True)},
    "paths": {"solutions": (str, True), "suites": (str, True), "handout": (str, True), "notebooks": (str, True)},
    "data": {"mnist_dir": (str, True), "sample": (str, True)},
    "limits": {
        "call_seconds": (float, False),
        "part_seconds": (float, False),
        "memory_mb": (int, False),
        "output_kb": (int, False),
        "processes": (int, False),
        "tmpfs_mb": (int, False),
    },
    "tolerances": {
        "rtol": (float, False),
        "atol": (float, False),
        "clip_rtol": (float, False),
        "history_rtol": (float, False),
        "false_failure_probability": (float, False),
    },
    "seeds": {"base": (int, True)},
    "feedback": {"figures": (str, False)},
}
FIGURE_POLICIES = ("failed", "all", "none")
_PART_SCHEMA = {
    "title": (str, True),
    "points": (float, True),
    "call_seconds": (float, False),
    "part_seconds": (float, False),
}


def _check_table(path, prefix, table, schema):
    if not isinstance(table, dict):
        raise ConfigError(path, prefix, f"must be a table, got {type(table).__name__}")
    for key in table:
        if key not in schema:
            known = ", ".join(sorted(schema))
            raise ConfigError(path, f"{prefix}.{key}", f"unknown key (known keys: {known})")
    out = {}
    for key, (kind, required) in schema.items():
        dotted = f"{prefix}.{key}"
        if key not in table:
            if required:
                raise ConfigError(path, dotted, "missing required key")
            continue
        value = table[key]
        ok = isinstance(value, kind) and not isinstance(value, bool)
        if kind is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            value = float(value) if ok else value
        if not ok:
            raise ConfigError(path, dotted, f"must be {kind.__name__}, got {value!r}")
        if kind in (int, float) and not value > 0:
            raise ConfigError(path, dotted, f"must be positive, got {value!r}")
        if kind is str and not value.strip():
            raise ConfigError(path, dotted, "must not be empty")
        out[key] = value
    return out


def find_course_root(start: Path | None = None) -> Path:
    """Return the nearest folder at or above ``start`` (default: cwd) holding ``course.toml``."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / COURSE_FILE).is_file():
            return folder
    raise ConfigError(here / COURSE_FILE, None, "no course.toml here or in any parent folder")


def default_course_file() -> Path:
    """The course this package was installed from (the checkout beside ``autograder/``)."""
    return Path(__file__).resolve().parent.parent / COURSE_FILE


def load_course(path: str | os.PathLike | None = None) -> Course:
    """Parse and validate a ``course.toml``.

    Args:
        path: the file; ``None`` means ``$AUTOGRADER_COURSE`` or the course beside this package.

    Raises:
        ConfigError: naming the file and the key for any missing, unknown or mistyped entry.
    """
    path = Path(path or os.environ.get("AUTOGRADER_COURSE") or default_course_file()).resolve()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(path, None, "file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, None, f"not valid TOML: {exc}") from None
    known = set(_SCHEMA) | {"parts"}
    for key in raw:
        if key not in known:
            raise ConfigError(path, key, f"unknown table (known: {', '.join(sorted(known))})")
    tables = {name: _check_table(path, name, raw.get(name, {}), schema) for name, schema in _SCHEMA.items()}
    limits = Limits(**tables["limits"])
    parts_raw = raw.get("parts")
    if not isinstance(parts_raw, dict):
        raise ConfigError(path, "parts", "missing: one [parts.<id>] table per part")
    for pid in parts_raw:
        if pid not in PART_IDS:
            raise ConfigError(path, f"parts.{pid}", f"unknown part (parts are {', '.join(PART_IDS)})")
    parts = {}
    for pid in PART_IDS:
        if pid not in parts_raw:
            raise ConfigError(path, f"parts.{pid}", "missing part")
        t = _check_table(path, f"parts.{pid}", parts_raw[pid], _PART_SCHEMA)
        parts[pid] = Part(
            id=pid,
            title=t["title"],
            points=t["points"],
            call_seconds=t.get("call_seconds", limits.call_seconds),
            part_seconds=t.get("part_seconds", limits.part_seconds),
        )
    figures = tables["feedback"].get("figures", "failed")
    if figures not in FIGURE_POLICIES:
        raise ConfigError(path, "feedback.figures", f"must be one of {', '.join(FIGURE_POLICIES)}, got {figures!r}")
    root = path.parent
    p = tables["paths"]
    return Course(
        root=root,
        id=tables["course"]["id"],
        name=tables["course"]["name"],
        assignment=tables["course"]["assignment"],
        solutions=root / p["solutions"],
        suites=root / p["suites"],
        handout=root / p["handout"],
        notebooks=root / p["notebooks"],
        mnist_dir=Path(os.path.expandvars(os.path.expanduser(tables["data"]["mnist_dir"]))),
        sample=tables["data"]["sample"],
        limits=limits,
        tolerances=Tolerances(**tables["tolerances"]),
        seed=tables["seeds"]["base"],
        parts=parts,
        feedback_figures=figures,
    )


_PATH_LINE = re.compile(r"""^(?P<key>\w+)\s*=\s*"[^"]*"\s*(?:#.*)?$""")


def rewrite_paths(text: str, paths: dict[str, tuple[str, str | None]]) -> tuple[str, list[str]]:
    """``course.toml`` text with entries of its ``[paths]`` table replaced, everything else kept as it is.

    Args:
        text: the file's text.
        paths: key -> (new value, comment to put after it or ``None``).

    Returns:
        ``(new text, keys of paths that [paths] lacks)``.
    """
    lines = text.split("\n")
    table = None
    replaced = set()
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("["):
            table = stripped
            continue
        match = _PATH_LINE.match(stripped)
        if table == "[paths]" and match and match["key"] in paths:
            value, comment = paths[match["key"]]
            entry = f'{match["key"]} = "{value}"'
            lines[index] = f"{entry:<34}# {comment}" if comment else entry
            replaced.add(match["key"])
    return "\n".join(lines), sorted(set(paths) - replaced)
