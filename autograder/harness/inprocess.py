"""Run student (or reference) modules in this process: for trusted code only.

Used for the reference in CI, for the known faulty and correct variants in
``validate``, and by ``check --no-sandbox``. Untrusted code goes through
:mod:`autograder.sandbox` instead.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

from autograder import PART_IDS
from autograder.errors import StudentLoadError
from autograder.kit.registry import STAND_INS, resolve_kit_function


def load_part_module(folder: Path, part: str, stand_ins: dict[str, str] | None = None):
    """Import ``folder/<part>.py`` under a private name, leaving ``sys.modules`` as it was.

    While it runs, ``folder`` is first on ``sys.path`` so the module can import
    its siblings (``from clipping import ...``); ``stand_ins`` maps a sibling
    name to the dotted name of a module to use in its place.

    Raises:
        StudentLoadError: ``missing`` when there is no file, ``invalid`` for a
            syntax or encoding error, ``crashed`` when the import raised.
    """
    folder = Path(folder)
    path = folder / f"{part}.py"
    if not path.is_file():
        raise StudentLoadError(part, "missing", f"{part}.py was not found in the submission")
    saved = {name: sys.modules.pop(name) for name in PART_IDS if name in sys.modules}
    sys.path.insert(0, str(folder))
    try:
        for name, dotted in (stand_ins or {}).items():
            sys.modules[name] = importlib.import_module(dotted)
        spec = importlib.util.spec_from_file_location(f"_submission_{part}_{id(folder):x}", path)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except (SyntaxError, UnicodeDecodeError) as exc:
            raise StudentLoadError(part, "invalid", f"{part}.py cannot be read: {exc}") from exc
        except BaseException as exc:  # noqa: BLE001 - any failure at import costs this part only
            raise StudentLoadError(part, "crashed", f"importing {part}.py raised {type(exc).__name__}: {exc}") \
                from exc
        return module
    finally:
        sys.path.remove(str(folder))
        for name in PART_IDS:
            sys.modules.pop(name, None)
        sys.modules.update(saved)


class InProcessBackend:
    """Modules of one folder, imported on first use, one part at a time.

    Args:
        folder: a folder holding ``<part>.py`` files.
        use_stand_ins: replace the siblings listed in ``STAND_INS`` by the grader's own.
    """

    isolation = "none (in-process; trusted code only)"

    def __init__(self, folder, use_stand_ins: bool = True):
        self.folder = Path(folder)
        self._use_stand_ins = use_stand_ins
        self._modules: dict[str, object] = {}
        self._errors: dict[str, StudentLoadError] = {}

    def module(self, part: str):
        if part in self._errors:
            raise self._errors[part]
        if part not in self._modules:
            stand_ins = STAND_INS.get(part) if self._use_stand_ins else None
            try:
                self._modules[part] = load_part_module(self.folder, part, stand_ins)
            except StudentLoadError as exc:
                self._errors[part] = exc
                raise
        return self._modules[part]

    def run_kit(self, part: str, function: str, args: tuple, kwargs: dict):
        return resolve_kit_function(function)(*args, **kwargs)

    def set_call_deadline(self, seconds):
        """In-process calls cannot be interrupted safely; deadlines apply only to sandboxed workers."""

    def part_status(self, part: str) -> str:
        return self._errors[part].status if part in self._errors else "ok"

    def close(self):
        self._modules.clear()
