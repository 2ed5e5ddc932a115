"""Known implementations kept in the repository to prove the suites right.

* Faulty variants: ``tests/variants/faulty/<part>.toml``, one ``[[faulty]]``
  table each::

      [[faulty]]
      name = "xavier_uses_fan_in_only"        # unique, [a-z0-9_]
      description = "Xavier std from fan_in alone"
      replace = [["np.sqrt(2.0 / (fan_in + fan_out))", "np.sqrt(2.0 / fan_in)"]]

  Each ``[old, new]`` pair is applied to the reference ``solutions/<part>.py``;
  ``old`` must occur exactly once. A faulty variant must lose points on its
  part and keep full marks on every other part.
* Correct variants: ``tests/variants/correct/<name>/<part>.py`` (or ``.ipynb``),
  written differently from the reference; each must get full marks.

A variant becomes a whole submission folder: the reference modules with the
variant's module in place of one part.
"""
from __future__ import annotations

import re
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path

from autograder import PART_IDS
from autograder.errors import ConfigError

_NAME = re.compile(r"^[a-z0-9_]+$")


@dataclass(frozen=True)
class Variant:
    """One known implementation of one part."""

    name: str
    part: str
    kind: str  # "faulty" | "correct"
    description: str
    source_file: Path  # where it is defined (toml or module file)
    replace: tuple[tuple[str, str], ...] = ()

    @property
    def id(self) -> str:
        return f"{self.kind}-{self.part}-{self.name}"


def variants_dir(course) -> Path:
    return course.root / "tests" / "variants"


def load_faulty(course) -> list[Variant]:
    """All faulty variants, in file then definition order.

    Raises:
        ConfigError: for a malformed table, a duplicate name, or an unknown part file.
    """
    found, seen = [], set()
    for path in sorted((variants_dir(course) / "faulty").glob("*.toml")):
        part = path.stem
        if part not in PART_IDS:
            raise ConfigError(path, None, f"file name must be a part id ({', '.join(PART_IDS)})")
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        for i, table in enumerate(data.get("faulty", [])):
            where = f"faulty[{i}]"
            unknown = set(table) - {"name", "description", "replace"}
            if unknown:
                raise ConfigError(path, f"{where}.{sorted(unknown)[0]}", "unknown key")
            name = table.get("name", "")
            if not _NAME.match(name):
                raise ConfigError(path, f"{where}.name", f"must match [a-z0-9_]+, got {name!r}")
            if (part, name) in seen:
                raise ConfigError(path, f"{where}.name", f"duplicate variant {name!r}")
            seen.add((part, name))
            pairs = table.get("replace")
            if not pairs or not all(isinstance(p, list) and len(p) == 2 and all(isinstance(s, str) for s in p)
                                    for p in pairs):
                raise ConfigError(path, f"{where}.replace", "must be a non-empty list of [old, new] strings")
            found.append(Variant(name=name, part=part, kind="faulty", description=table.get("description", ""),
                                 source_file=path, replace=tuple((a, b) for a, b in pairs)))
    return found


def load_correct(course) -> list[Variant]:
    """All correct variants: every ``<part>.py``/``<part>.ipynb`` under ``tests/variants/correct/<name>/``."""
    found = []
    for folder in sorted(p for p in (variants_dir(course) / "correct").glob("*") if p.is_dir()):
        for module in sorted(folder.iterdir()):
            if module.stem in PART_IDS and module.suffix in (".py", ".ipynb"):
                doc = (folder / "README.md").read_text(encoding="utf-8").strip() if (folder / "README.md").exists() \
                    else ""
                found.append(Variant(name=folder.name, part=module.stem, kind="correct", description=doc,
                                     source_file=module))
    return found


def apply_replacements(text: str, variant: Variant) -> str:
    """The reference text with the variant's replacements applied.

    Raises:
        ValueError: when an ``old`` string does not occur exactly once.
    """
    for old, new in variant.replace:
        count = text.count(old)
        if count != 1:
            raise ValueError(f"{variant.source_file}: variant {variant.name!r}: {old!r} occurs {count} times "
                             f"in solutions/{variant.part}.py (must be exactly once)")
        text = text.replace(old, new)
    return text


def materialize(course, variant: Variant, target: Path) -> Path:
    """Write a whole submission folder for ``variant`` into ``target`` (created) and return it.

    The other parts are the reference modules, so only the variant's part can lose points.
    """
    target.mkdir(parents=True, exist_ok=True)
    for part in PART_IDS:
        if part != variant.part:
            shutil.copy2(course.solutions / f"{part}.py", target / f"{part}.py")
    if variant.kind == "faulty":
        text = (course.solutions / f"{variant.part}.py").read_text(encoding="utf-8")
        (target / f"{variant.part}.py").write_text(apply_replacements(text, variant), encoding="utf-8")
    else:
        shutil.copy2(variant.source_file, target / variant.source_file.name)
    return target
