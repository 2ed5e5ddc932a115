"""Exceptions the engine raises for bad input, each naming where the problem is."""


class AutograderError(Exception):
    """Base class: a problem the user can fix, with a message that says how."""


class ConfigError(AutograderError):
    """``course.toml`` is missing, malformed, or has a bad key or value."""

    def __init__(self, path, key, problem):
        self.path, self.key, self.problem = str(path), key, problem
        where = f"{self.path}: [{key}]" if key else self.path
        super().__init__(f"{where}: {problem}")


class DataError(AutograderError):
    """A data file is missing, corrupt or does not match its checksum."""


class SubmissionError(AutograderError):
    """A submission cannot be read (broken notebook, unsafe zip, bad encoding)."""


class IsolationUnavailable(AutograderError):
    """The sandbox the caller asked for cannot be set up on this machine."""


# What student code did, as seen by the trusted harness. These are not bugs
# of the grader: the harness turns each into a failed test with a message.


class StudentCodeProblem(Exception):
    """Base class for a failure caused by the student's code rather than its values."""

    status = "crashed"


class StudentLoadError(StudentCodeProblem):
    """A part's module could not be loaded.

    ``status`` is ``"missing"`` (no such file), ``"invalid"`` (unreadable:
    broken notebook, bad encoding, syntax error), ``"crashed"`` (its import
    raised or killed the worker) or ``"timeout"``.
    """

    def __init__(self, part, status, message):
        self.part, self.status = part, status
        super().__init__(message)


class StudentTimeout(StudentCodeProblem):
    """A call into student code ran past its wall-clock deadline and was killed."""

    status = "timeout"

    def __init__(self, what, seconds):
        self.what, self.seconds = what, seconds
        super().__init__(f"{what} did not finish within {seconds:g} s (an endless loop, or far too slow?)")


class StudentCrashed(StudentCodeProblem):
    """The worker running student code died (exit, signal, memory limit) or broke the protocol."""

    status = "crashed"


class StudentRaised(StudentCodeProblem):
    """Mixed into a copy of a builtin exception the student's code raised in a worker.

    The harness re-raises, say, a ``ValueError`` from the worker as an object
    that is both a ``ValueError`` and a ``StudentRaised``, so ``pytest.raises``
    works and the report can show the student's own traceback.
    """

    status = "ok"
    original_type = ""  # the exception's class name in the worker, e.g. "ValueError"
    student_traceback = ""
