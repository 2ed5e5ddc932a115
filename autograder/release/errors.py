"""The one exception of the release builder: what is wrong, and in which file and line."""
from __future__ import annotations

from autograder.errors import AutograderError


class ReleaseError(AutograderError):
    """A source the handout is built from is wrong, or the handout cannot be written.

    Args:
        path: the file (or folder) at fault.
        line: its 1-based line number, or ``None`` when the problem is the whole file.
        problem: what is wrong and how to fix it.
    """

    def __init__(self, path, line: int | None, problem: str):
        self.path, self.line, self.problem = str(path), line, problem
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {problem}")
