"""``RemoteBackend``: every part of one submission in its own sandboxed worker, reached through proxies.

Suites cannot tell it from :class:`~autograder.harness.inprocess.InProcessBackend`
for everything ``docs/architecture.md`` lists: plain values and arrays pass by
value and are copied back after each call (an input the student mutates is
seen mutated; one array passed twice stays one array), a ``Generator`` is
advanced to the worker's state, kit objects come back with their new state
(a ``GraderMLP`` trained by the student's ``train`` comes back trained),
student objects stay in the worker behind :class:`RemoteHandle` proxies,
student functions can be passed back in, and what goes wrong becomes
``StudentRaised`` (also the builtin exception type the student raised),
``StudentTimeout``, ``StudentCrashed`` or ``StudentLoadError``.

The worker is never trusted: its answers are decoded by the whitelisting
codec, its copy-backs may only touch the objects the harness sent, and a
malformed answer kills it (``StudentCrashed``).
"""
from __future__ import annotations

import builtins
import os
import shutil
import stat
import tempfile
import time
import weakref
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from autograder import PART_IDS
from autograder.config import Limits
from autograder.errors import (
    IsolationUnavailable,
    StudentCrashed,
    StudentLoadError,
    StudentRaised,
    StudentTimeout,
)
from autograder.kit.registry import kit_name, resolve_kit_function
from autograder.sandbox import codec
from autograder.sandbox.isolation import SANDBOX_GID, SANDBOX_UID, WorkerLimits, unreadable_by
from autograder.sandbox.launcher import (
    OutputLog,
    SandboxPool,
    Worker,
    WorkerDied,
    WorkerStartError,
    WorkerTimeout,
    choose_plan,
)

_SEVERITY = {"ok": 0, "crashed": 1, "timeout": 2, "invalid": 3, "missing": 4}
_BUILTIN_EXCEPTIONS = {name: obj for name, obj in vars(builtins).items()
                       if isinstance(obj, type) and issubclass(obj, Exception)}
_STAGE_MAX_BYTES = 64 << 20
_STAGE_MAX_FILES = 2000
_STAGE_MAX_DEPTH = 6
_STAGE_SKIP = {"__pycache__", ".ipynb_checkpoints", ".git"}


# ---------------------------------------------------------------- staging the submission


def stage_submission(source, dest: Path) -> Path:
    """Copy the regular files under ``source`` into a new folder ``dest`` that the sandbox uid can read.

    Symlinks, devices and pipes are skipped (a symlink could point at the
    reference), as is anything past 64 MB, 2,000 files or 6 levels. The
    worker mounts the copy read-only; the caller's folder is never exposed.
    """
    dest.mkdir(mode=0o755)
    os.chmod(dest, 0o755)
    source = Path(source)
    budget = {"bytes": _STAGE_MAX_BYTES, "files": _STAGE_MAX_FILES}
    if source.is_dir():
        _copy_tree(source, dest, 0, budget)
    return dest


def _copy_tree(src: Path, dst: Path, depth: int, budget: dict) -> None:
    with os.scandir(src) as scan:
        entries = sorted(scan, key=lambda e: e.name)
    for entry in entries:
        if entry.is_symlink() or budget["files"] <= 0:
            continue
        target = dst / entry.name
        if entry.is_dir(follow_symlinks=False):
            if depth < _STAGE_MAX_DEPTH and entry.name not in _STAGE_SKIP:
                target.mkdir(mode=0o755)
                os.chmod(target, 0o755)
                _copy_tree(Path(entry.path), target, depth + 1, budget)
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            continue
        with os.fdopen(fd, "rb") as file:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_size > budget["bytes"]:
                continue
            data = file.read(budget["bytes"] + 1)
        if len(data) > budget["bytes"]:
            continue
        budget["bytes"] -= len(data)
        budget["files"] -= 1
        out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        with os.fdopen(out, "wb") as file:
            file.write(data)
        os.chmod(target, 0o644)


# ---------------------------------------------------------------- proxies


class KitFunction:
    """A whitelisted kit function (``kit.registry.KIT_FUNCTIONS``) to call inside a worker."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name


class RemoteModule:
    """Stands for a student's module: ``module.name`` asks the worker (values by value, code by reference)."""

    def __init__(self, backend: RemoteBackend, part: str):
        object.__setattr__(self, "_backend", backend)
        object.__setattr__(self, "_part", part)
        object.__setattr__(self, "__name__", part)

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._backend._get(self._part, [name])

    def __setattr__(self, name, value):
        raise AttributeError(f"the student's module {self._part!r} cannot be changed from the harness")

    def __dir__(self):
        return self._backend._dir(self._part, None)

    def __repr__(self):
        return f"<student module {self._part!r} in a sandbox ({self._backend.isolation})>"

    def __reduce_ex__(self, protocol):
        raise TypeError("a sandboxed student module cannot be pickled")


class RemoteRef:
    """A module-level function, class or object of the student's module, by its attribute path.

    Calling it runs the code in the worker; its attributes are read there;
    ``isinstance(handle, ref)`` asks the worker. It stays valid across worker
    restarts (the path is looked up again), and can be passed to student code.
    """

    def __init__(self, backend: RemoteBackend, part: str, path: tuple, kind: str):
        object.__setattr__(self, "_backend", backend)
        object.__setattr__(self, "_part", part)
        object.__setattr__(self, "_path", tuple(path))
        object.__setattr__(self, "_kind", kind)  # "c" class, "f" callable, "o" other object
        object.__setattr__(self, "__name__", path[-1])
        object.__setattr__(self, "__qualname__", ".".join(path))

    def __call__(self, *args, **kwargs):
        return self._backend._call(self._part, self, args, kwargs, f"{self._part}.{self.__qualname__}()")

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._backend._get(self._part, [*self._path, name])

    def __setattr__(self, name, value):
        raise AttributeError(f"{self!r} cannot be changed from the harness")

    def __instancecheck__(self, obj) -> bool:
        if isinstance(obj, RemoteHandle) and obj._part == self._part:
            return self._backend._isinstance(self._part, obj, self)
        return False

    def __dir__(self):
        return self._backend._dir(self._part, self)

    def __repr__(self):
        what = {"c": "class", "f": "function"}.get(self._kind, "object")
        return f"<student {what} {self._part}.{self.__qualname__}>"

    def __reduce_ex__(self, protocol):
        raise TypeError("a sandboxed student function cannot be pickled")


class RemoteHandle:
    """A student object that lives in the worker (an ``MNISTClassifier`` instance, ...).

    Attribute reads return values (arrays are copies), method calls run in the
    worker, attribute writes are sent by value. It dies with its worker: after
    a crash, using it raises ``StudentCrashed``.
    """

    def __init__(self, backend: RemoteBackend, part: str, generation: int, hid: int, type_name: str,
                 is_callable: bool):
        for name, value in (("_backend", backend), ("_part", part), ("_generation", generation), ("_hid", hid),
                            ("_type_name", type_name), ("_callable", is_callable)):
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._backend._hget(self, name)

    def __setattr__(self, name: str, value):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(f"cannot set {name} on a sandboxed object")
        self._backend._hset(self, name, value)

    def __call__(self, *args, **kwargs):
        return self._backend._call(self._part, self, args, kwargs, f"{self._type_name}()")

    # Found on the class, so never taken for a student attribute: see harness.student.set_attributes.
    def _set_attributes(self, values: dict) -> None:
        """Set several attributes in one request (``kit.calls.set_attributes``)."""
        self._backend.run_kit(self._part, "calls.set_attributes", (self, [[k, v] for k, v in values.items()]), {})

    def _get_attributes(self, names: list):
        """Read several attributes in one request (``kit.calls.get_attributes``): its outcomes, unchecked."""
        return self._backend.run_kit(self._part, "calls.get_attributes", (self, list(names)), {})

    def __dir__(self):
        return self._backend._dir(self._part, self)

    def __len__(self):
        return self._backend._special(self, "len")

    def __iter__(self):
        return iter(self._backend._special(self, "list"))

    def __getitem__(self, key):
        return self._backend._special(self, "getitem", key)

    def __contains__(self, item):
        return self._backend._special(self, "contains", item)

    def __bool__(self):
        return self._backend._special(self, "bool")

    def __copy__(self):
        return self._backend._copy(self, deep=False)

    def __deepcopy__(self, memo):
        return self._backend._copy(self, deep=True)

    def __repr__(self):
        return f"<student {self._type_name} object in a sandbox>"

    def __reduce_ex__(self, protocol):
        raise TypeError("a sandboxed student object cannot be pickled")


class RemoteMethod:
    """A method of a :class:`RemoteHandle`; calling it runs ``obj.name(...)`` in the worker."""

    def __init__(self, handle: RemoteHandle, name: str):
        self._handle = handle
        self._name = name
        self.__name__ = name

    def __call__(self, *args, **kwargs):
        handle = self._handle
        return handle._backend._call(handle._part, self, args, kwargs, f"{handle._type_name}.{self._name}()")

    def __repr__(self):
        return f"<method {self._name} of {self._handle!r}>"

    def __reduce_ex__(self, protocol):
        raise TypeError("a sandboxed student method cannot be pickled")


# ---------------------------------------------------------------- student exceptions

_exception_classes: dict = {}


def _exception_class(base: type, name: str) -> type:
    key = (base, name)
    cls = _exception_classes.get(key)
    if cls is None:
        try:
            cls = type(name, (base, StudentRaised), {"__module__": "student", "__qualname__": name})
        except TypeError:
            cls = type(name, (RuntimeError, StudentRaised), {"__module__": "student", "__qualname__": name})
        _exception_classes[key] = cls
    return cls


def student_exception(error) -> Exception:
    """The exception to raise in the harness for an ``error`` report from the worker.

    It is an instance of a class named like the student's, deriving from the
    first builtin ``Exception`` subclass among the student's class's ancestors
    (``RuntimeError`` when there is none, as for ``SystemExit`` or
    ``KeyboardInterrupt``, which must never unwind the harness) and from
    :class:`~autograder.errors.StudentRaised`.

    Raises:
        CodecError: ``error`` is not a well-formed report.
    """
    if type(error) is not dict:
        raise codec.CodecError("an error report is a dict")
    name, bases, message = error.get("type"), error.get("bases"), error.get("message")
    args, trace = error.get("args"), error.get("traceback", "")
    if type(name) is not str or type(bases) is not list or type(message) is not str or type(trace) is not str:
        raise codec.CodecError("malformed error report")
    if not name.isidentifier() or len(name) > 100:
        name = "StudentError"
    message, trace = _printable(message), _printable(trace[:20_000])
    candidates = [_BUILTIN_EXCEPTIONS[b] for b in bases if type(b) is str and b in _BUILTIN_EXCEPTIONS]
    exc = None
    if candidates and candidates[0].__name__ == name and type(args) is list:
        # Exactly a builtin: its own arguments rebuild it best (KeyError('k') prints as 'k' with quotes).
        try:
            exc = _exception_class(candidates[0], name)(*args)
        except Exception:  # noqa: BLE001 - arguments it does not accept
            exc = None
        if exc is not None and str(exc) != message:
            exc = None
    for base in candidates + [RuntimeError]:
        if exc is not None:
            break
        try:
            exc = _exception_class(base, name)(message)
        except Exception:  # noqa: BLE001 - some builtins need particular arguments (UnicodeDecodeError, ...)
            exc = None
    exc.original_type = name
    exc.student_traceback = trace
    return exc


def _printable(text: str) -> str:
    """``text`` without lone surrogates, which would break whatever later writes it as UTF-8."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


# ---------------------------------------------------------------- the backend


class _Part:
    """Everything the backend keeps about one part."""

    def __init__(self, name: str, output_cap: int):
        self.name = name
        self.worker: Worker | None = None
        self.generation = 0
        self.proxy: RemoteModule | None = None
        self.load_error: StudentLoadError | None = None
        self.status = "ok"
        self.spent = 0.0
        self.exhausted = False
        self.output = OutputLog(output_cap)
        self.released: list[int] = []
        self.seq = 0
        self.handles: weakref.WeakValueDictionary = weakref.WeakValueDictionary()

    def mark(self, status: str) -> None:
        if _SEVERITY[status] > _SEVERITY[self.status]:
            self.status = status


def _per_part(value, part: str, default: float) -> float:
    if value is None:
        return float(default)
    if isinstance(value, Mapping):
        return float(value.get(part, default))
    return float(value)


def _cleanup(parts: dict, pools: list, stage_root: str) -> None:
    for state in parts.values():
        if state.worker is not None:
            state.worker.kill()
            state.worker = None
    for pool in pools:
        pool.close()
    shutil.rmtree(stage_root, ignore_errors=True)


class RemoteBackend:
    """Run each part of one submission in its own sandboxed worker (implements ``harness.student.Backend``).

    Args:
        submission_dir: folder holding the student's ``<part>.py`` files (notebooks already converted).
            It is copied (regular files only) to a private folder the sandbox mounts read-only.
        limits: an :class:`autograder.config.Limits` (``course.limits``); ``None``: the defaults.
        call_seconds: wall-clock limit of each call into student code (and of the module's import):
            a number, a ``{part: seconds}`` mapping, or ``None`` for ``limits.call_seconds``.
            ``set_call_deadline`` overrides it for the calls that follow.
        part_seconds: wall-clock budget of a part: all its calls and worker starts together (same forms;
            ``None``: ``limits.part_seconds``). Once it is used up, calls fail at once with ``StudentTimeout``.
        require_isolation: refuse (``IsolationUnavailable``) rather than fall back to a plain process
            when bubblewrap or user namespaces are missing.
        stand_ins: ``{part: {module: kit module}}`` loaded before a part's module (``None``:
            ``autograder.kit.registry.STAND_INS``).
        sandbox_uid, sandbox_gid: the unprivileged ids a root harness drops to.
        start_seconds: how long a worker may take to start before the sandbox is deemed broken.

    Raises:
        IsolationUnavailable: no acceptable isolation here (the message says what to do).

    Not thread-safe: one harness thread drives one backend.
    """

    def __init__(self, submission_dir, limits=None, call_seconds=None, part_seconds=None,
                 require_isolation: bool = True, *, stand_ins: dict | None = None, sandbox_uid: int = SANDBOX_UID,
                 sandbox_gid: int = SANDBOX_GID, start_seconds: float = 60.0):
        self.limits = limits if limits is not None else Limits()
        self._call_seconds = call_seconds
        self._part_seconds = part_seconds
        self._plan = choose_plan(require_isolation, sandbox_uid, sandbox_gid)
        self.isolation: str = self._plan.isolation
        if stand_ins is None:
            from autograder.kit.registry import STAND_INS as stand_ins
        self._stand_ins = {part: dict(mapping) for part, mapping in stand_ins.items()}
        self._start_seconds = float(start_seconds)
        self._deadline: float | None = None
        self._parts: dict[str, _Part] = {}
        self._refs: dict = {}
        self._code_paths: dict = {}  # (part, path) -> RemoteRef of a function or class: see _get
        self._closed = False
        self._stage_root = tempfile.mkdtemp(prefix="autograder-submission-")
        os.chmod(self._stage_root, 0o711)
        self._pools: list[SandboxPool] = []  # the zygotes' sandboxes (bubblewrap only), made on first use
        self._finalizer = weakref.finalize(self, _cleanup, self._parts, self._pools, self._stage_root)
        self.folder = stage_submission(submission_dir, Path(self._stage_root) / "submission")
        self._check_readable(sandbox_gid)
        # A worker cannot legitimately send more than its memory; the header cap bounds JSON parsing here.
        self._codec_limits = codec.CodecLimits(max_payload=(int(self.limits.memory_mb) + 64) << 20,
                                               max_header=16 << 20)

    def _check_readable(self, gid: int) -> None:
        """The staged copy must be readable by the sandbox uid (a 0700 ``$TMPDIR`` would hide it)."""
        plan = self._plan
        uid = plan.uid if plan.uid is not None else plan.uid_pool[0] if plan.uid_pool else None
        if uid is None:
            return
        bad = unreadable_by(self.folder, uid, gid)
        if bad is not None:
            self.close()
            raise IsolationUnavailable(
                f"the sandbox user (uid {uid}) cannot read the staged submission: {bad} is not searchable by "
                f"others. Point TMPDIR at a folder every user can traverse (such as /tmp).")

    # ------------------------------------------------------------ the Backend protocol

    def module(self, part: str) -> RemoteModule:
        """A proxy of ``<part>.py`` running in its worker (started, and the module imported, on first use).

        Raises:
            StudentLoadError: ``missing``, ``invalid``, ``crashed`` or ``timeout`` (raised again on every later call).
        """
        state = self._state(part)
        if state.load_error is not None:
            raise state.load_error
        if state.proxy is None:
            self._start(state, first=True)
            state.proxy = RemoteModule(self, part)
        return state.proxy

    def set_call_deadline(self, seconds: float | None) -> None:
        """Wall-clock limit of each following call into student code (``None``: the part's default)."""
        self._deadline = None if seconds is None else float(seconds)

    def part_status(self, part: str) -> str:
        """The worst that happened in ``part``: ``ok`` < ``crashed`` < ``timeout`` < ``invalid`` < ``missing``."""
        state = self._parts.get(part)
        return state.status if state is not None else "ok"

    def close(self) -> None:
        """Kill every worker and everything it started, and delete the staged submission."""
        self._closed = True
        self._finalizer()

    # ------------------------------------------------------------ extras for the engine

    def output(self, part: str) -> str:
        """What the part's workers printed (capped at ``limits.output_kb``), with the grader's notes."""
        state = self._parts.get(part)
        return state.output.text() if state is not None else ""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self):
        return f"<RemoteBackend {self.isolation}, parts {sorted(self._parts)}>"

    # ------------------------------------------------------------ workers

    def _state(self, part: str) -> _Part:
        if part not in PART_IDS:
            raise ValueError(f"no part {part!r}; parts are {', '.join(PART_IDS)}")
        if self._closed:
            raise RuntimeError("this RemoteBackend is closed")
        state = self._parts.get(part)
        if state is None:
            state = self._parts[part] = _Part(part, int(self.limits.output_kb) << 10)
        return state

    def _budget(self, part: str) -> float:
        return _per_part(self._part_seconds, part, self.limits.part_seconds)

    def _timeout(self, state: _Part) -> tuple[float, bool]:
        """Seconds the next exchange may take, and whether that is the rest of the part's budget."""
        if self._deadline is not None:
            call = self._deadline
        else:
            call = _per_part(self._call_seconds, state.name, self.limits.call_seconds)
        remaining = self._budget(state.name) - state.spent
        return (max(0.0, remaining), True) if remaining <= call else (call, False)

    def _over_budget(self, state: _Part) -> StudentTimeout:
        state.exhausted = True
        state.mark("timeout")
        return StudentTimeout(f"the {state.name} part (all its calls together)", self._budget(state.name))

    def _pool(self) -> SandboxPool | None:
        """Under bubblewrap, the zygotes that fork this submission's workers (one sandbox for all parts while
        it stays clean); a plain process plan starts one process per worker."""
        if self._plan.mode != "bwrap":
            return None
        if not self._pools:
            limits = WorkerLimits.from_config(self.limits, max(self._budget(part) for part in PART_IDS))
            self._pools.append(SandboxPool(self._plan, self.folder, limits, self._codec_limits, OutputLog(16 << 10)))
        return self._pools[0]

    def _lost(self, state: _Part) -> None:
        """Its worker died between calls: a crash, unless it went down with its sandbox (another part's doing)."""
        worker = state.worker
        if worker.lost_with_sandbox:
            state.output.note("the worker was stopped with its sandbox (by another part's code)")
        else:
            state.output.note(f"the worker died between calls: {worker.exit_description()}")
            state.mark("crashed")
        self._stop(state)

    def _stop(self, state: _Part) -> None:
        if state.worker is not None:
            state.worker.kill()
            state.worker = None

    def _start(self, state: _Part, first: bool) -> None:
        """Start a fresh worker and import the module in it.

        Raises:
            StudentLoadError: on the first start, when the import fails (kept for later calls).
            StudentCrashed, StudentTimeout: on a restart, when the import fails.
            IsolationUnavailable: the sandbox itself failed.
        """
        part = state.name
        if not (self.folder / f"{part}.py").is_file():
            state.load_error = StudentLoadError(part, "missing", f"{part}.py was not found in the submission")
            state.mark("missing")
            raise state.load_error
        if state.exhausted:
            raise StudentTimeout(f"the {part} part (all its calls together)", self._budget(part))
        worker = Worker(self._plan, part, self.folder, WorkerLimits.from_config(self.limits, self._budget(part)),
                        stand_ins=self._stand_ins.get(part), codec_limits=self._codec_limits,
                        output=state.output, pool=self._pool())
        state.output.note(f"{'starting' if first else 'restarting'} the worker for {part} ({self.isolation})")
        try:
            worker.start(self._start_seconds)
        except WorkerStartError as exc:
            raise IsolationUnavailable(f"the sandbox could not start a worker for {part}: {exc}") from None
        state.generation += 1
        state.worker = worker
        state.released = []
        timeout, by_budget = self._timeout(state)
        started = time.monotonic()
        problem = status = None
        try:
            report = codec.decode(worker.exchange(None, timeout), limits=self._codec_limits).root
            if type(report) is not dict or type(report.get("ok")) is not bool:
                raise codec.CodecError("malformed load report")
        except WorkerTimeout:
            status, problem = "timeout", f"importing {part}.py did not finish within {timeout:g} s"
        except WorkerDied as exc:
            status, problem = "crashed", f"importing {part}.py stopped the process running it: {exc}"
        except codec.CodecError as exc:
            status, problem = "crashed", f"importing {part}.py broke the worker's protocol ({exc})"
        finally:
            state.spent += time.monotonic() - started
        if problem is None and report["ok"]:
            return
        if problem is None:
            status = report.get("status") if report.get("status") in ("missing", "invalid", "crashed") else "crashed"
            error = report.get("error") if type(report.get("error")) is dict else {}
            message, trace = str(error.get("message", "")), str(error.get("traceback", ""))
            kind = str(error.get("type", "Exception"))
            problem = {"missing": f"{part}.py was not found in the submission",
                       "invalid": f"{part}.py cannot be read: {message}",
                       "crashed": f"importing {part}.py raised {kind}: {message}"}[status]
            if trace and status != "missing":
                problem += "\n" + trace.rstrip()
        self._stop(state)
        state.mark(status)
        if first:
            state.load_error = StudentLoadError(part, status, problem)
            raise state.load_error
        if status == "timeout":
            if by_budget:
                raise self._over_budget(state)
            raise StudentTimeout(f"importing {part}.py again after a crash", timeout)
        raise StudentCrashed(f"restarting the worker for {part} after a crash failed: {problem}")

    # ------------------------------------------------------------ requests

    def _encoder(self, state: _Part) -> codec.Encoder:
        def hook(obj):
            kind = type(obj)
            if kind is RemoteRef:
                if obj._part != state.name:
                    raise TypeError(f"{obj!r} belongs to part {obj._part!r}, not {state.name!r}")
                return {"F": list(obj._path)}
            if kind is RemoteHandle or kind is RemoteMethod:
                handle = obj if kind is RemoteHandle else obj._handle
                self._check_handle(state, handle)
                return {"H": handle._hid} if kind is RemoteHandle else {"M": [handle._hid, obj._name]}
            if kind is KitFunction:
                return {codec.KIT_FUNCTION: obj.name}
            if kind is RemoteModule:
                raise TypeError("a student module cannot be passed to student code")
            return None

        return codec.Encoder(limits=self._codec_limits, hook=hook)

    def _check_handle(self, state: _Part, handle: RemoteHandle) -> None:
        if handle._part != state.name:
            raise TypeError(f"{handle!r} belongs to part {handle._part!r}, not {state.name!r}")
        if handle._generation != state.generation:
            raise StudentCrashed(f"{handle!r} was lost when the process running your code stopped")

    def _handle(self, state: _Part, hid: int, type_name: str, is_callable: bool) -> RemoteHandle:
        """The one proxy of worker object ``hid`` (so that identity holds: ``a is b`` as in the worker)."""
        key = (state.generation, hid)
        handle = state.handles.get(key)
        if handle is None:
            handle = RemoteHandle(self, state.name, state.generation, hid, type_name, is_callable)
            state.handles[key] = handle
            weakref.finalize(handle, self._release, state, state.generation, hid)
        return handle

    @staticmethod
    def _release(state: _Part, generation: int, hid: int) -> None:
        if generation == state.generation and len(state.released) < 100_000:
            state.released.append(hid)

    def _ref(self, part: str, path, kind: str) -> RemoteRef:
        key = (part, tuple(path), kind)
        ref = self._refs.get(key)
        if ref is None:
            ref = self._refs[key] = RemoteRef(self, part, tuple(path), kind)
        return ref

    def _resolver(self, state: _Part, kept: list):
        def identifier(value) -> bool:
            return type(value) is str and value.isidentifier() and len(value) <= 200

        def resolve(tag, payload):
            if tag == codec.ECHO:
                if type(payload) is int and 0 <= payload < len(kept):
                    return kept[payload]
            elif tag == codec.HANDLE:
                if type(payload) is list and len(payload) == 3:
                    hid, type_name, is_callable = payload
                    if type(hid) is int and hid > 0 and type(type_name) is str and type(is_callable) is bool:
                        return self._handle(state, hid, type_name[:100], is_callable)
            elif tag == codec.FUNCTION:
                if type(payload) is list and len(payload) == 2:
                    path, kind = payload
                    if type(path) is list and 0 < len(path) <= 16 and all(map(identifier, path)) \
                            and kind in ("c", "f", "o"):
                        return self._ref(state.name, path, kind)
            elif tag == codec.METHOD:
                if type(payload) is list and len(payload) == 2:
                    hid, name = payload
                    if type(hid) is int and hid > 0 and identifier(name):
                        handle = state.handles.get((state.generation, hid))
                        if handle is None:
                            handle = self._handle(state, hid, "object", True)
                        return RemoteMethod(handle, name)
            raise codec.CodecError(f"malformed {tag!r} value from the worker")

        return resolve

    def _apply_sync(self, sync, kept: list) -> None:
        """Copy back what the call changed, into the objects the harness sent (and nothing else)."""
        if sync is None:
            return
        if type(sync) is not list:
            raise codec.CodecError("sync is a list")
        for entry in sync:
            if type(entry) is not list or len(entry) != 3:
                raise codec.CodecError("a sync entry is [index, kind, value]")
            index, kind, value = entry
            if type(index) is not int or not 0 <= index < len(kept):
                raise codec.CodecError(f"sync of a missing object {index!r}")
            target = kept[index]
            if kind == "content":
                _copy_into(target, value)
            elif kind == "fields":
                name = kit_name(target)
                if name is None or type(value) is not dict or not set(value) <= set(type(target).STATE):
                    raise codec.CodecError("field sync of something that is not a kit object")
                for field, item in value.items():
                    setattr(target, field, item)
            else:
                raise codec.CodecError(f"unknown sync kind {kind!r}")

    def _request(self, part: str, message: dict, what: str):
        """Send one request to the part's worker and return the decoded value (or raise what happened)."""
        state = self._state(part)
        if state.load_error is not None:
            raise state.load_error
        if state.exhausted:
            raise self._over_budget(state)
        if state.worker is not None and not state.worker.alive:
            # It died between calls (a thread of the student's, a CPU limit): that is a crash too.
            self._lost(state)
        if state.worker is None:
            self._start(state, first=False)
        timeout, by_budget = self._timeout(state)
        if timeout <= 0:
            raise self._over_budget(state)
        state.seq += 1
        message["seq"] = state.seq
        if state.released:
            message["release"], state.released = state.released, []
        encoder = self._encoder(state)
        chunks = encoder.frame(encoder.value(message))
        started = time.monotonic()
        try:
            frame = state.worker.exchange(chunks, timeout)
        except WorkerTimeout:
            state.spent += time.monotonic() - started
            self._stop(state)
            state.output.note(f"{what} was stopped after {timeout:g} s")
            if by_budget:
                raise self._over_budget(state) from None
            state.mark("timeout")
            raise StudentTimeout(what, timeout) from None
        except WorkerDied as exc:
            state.spent += time.monotonic() - started
            self._stop(state)
            state.mark("crashed")
            state.output.note(f"the worker died during {what}: {exc}")
            raise StudentCrashed(f"the process running your code died during {what}: {exc}") from None
        state.spent += time.monotonic() - started
        try:
            response = codec.decode(frame, limits=self._codec_limits, resolve=self._resolver(state, encoder.kept)).root
            if type(response) is not dict or response.get("seq") != state.seq or type(response.get("ok")) is not bool:
                raise codec.CodecError("the answer does not match the request")
            self._apply_sync(response.get("sync"), encoder.kept)
            if not response["ok"]:
                error = student_exception(response.get("error"))
        except (codec.CodecError, TypeError, ValueError, AttributeError, KeyError) as exc:
            self._stop(state)
            state.mark("crashed")
            state.output.note(f"malformed answer to {what}: {exc}")
            raise StudentCrashed(f"the process running your code sent a malformed answer to {what} ({exc}); "
                                 "it was stopped") from None
        if response["ok"]:
            return response.get("value")
        raise error

    # ------------------------------------------------------------ operations behind the proxies

    def _get(self, part: str, path: list):
        """``<part>.<path>``. A path that once named a function or class is not asked again: its
        reference is looked up in the worker at each call anyway (one round trip per call, not two)."""
        key = (part, tuple(path))
        ref = self._code_paths.get(key)
        if ref is not None:
            return ref
        value = self._request(part, {"op": "get", "path": list(path)}, f"{part}.{'.'.join(path)}")
        if isinstance(value, RemoteRef) and value._kind in ("c", "f") and value._path == key[1]:
            self._code_paths[key] = value
        return value

    def run_kit(self, part: str, function: str, args: tuple, kwargs: dict):
        """Run the whitelisted kit function ``function`` inside ``part``'s worker (see harness.student.Backend)."""
        resolve_kit_function(function)  # refuse unknown names here, before anything is sent
        return self._call(part, KitFunction(function), args, kwargs, f"the grader's {function}()")

    def _call(self, part: str, target, args: tuple, kwargs: dict, what: str):
        return self._request(part, {"op": "call", "target": target, "args": list(args), "kwargs": dict(kwargs)},
                             what)

    def _live_handle(self, handle: RemoteHandle) -> _Part:
        state = self._state(handle._part)
        if state.worker is None or not state.worker.alive:
            if state.worker is not None:
                self._lost(state)
            raise StudentCrashed(f"{handle!r} was lost when the process running your code stopped")
        self._check_handle(state, handle)
        return state

    def _hget(self, handle: RemoteHandle, name: str):
        self._live_handle(handle)
        return self._request(handle._part, {"op": "hget", "handle": handle._hid, "name": name},
                             f"{handle._type_name}.{name}")

    def _hset(self, handle: RemoteHandle, name: str, value) -> None:
        self._live_handle(handle)
        self._request(handle._part, {"op": "hset", "handle": handle._hid, "name": name, "value": value},
                      f"setting {handle._type_name}.{name}")

    def _copy(self, handle: RemoteHandle, deep: bool):
        self._live_handle(handle)
        return self._request(handle._part, {"op": "copy", "obj": handle, "deep": deep},
                             f"copying a {handle._type_name}")

    def _special(self, handle: RemoteHandle, name: str, *args):
        """``len``, ``list``, ``getitem``, ``contains`` or ``bool`` of a worker object, run in the worker."""
        self._live_handle(handle)
        return self._request(handle._part, {"op": "special", "name": name, "obj": handle, "args": list(args)},
                             f"{name}() of a {handle._type_name}")

    def _isinstance(self, part: str, handle: RemoteHandle, ref: RemoteRef) -> bool:
        self._live_handle(handle)
        return bool(self._request(part, {"op": "isinstance", "obj": handle, "cls": ref},
                                  f"isinstance(..., {ref.__qualname__})"))

    def _dir(self, part: str, target) -> list:
        names = self._request(part, {"op": "dir", "target": target}, f"dir({part})")
        return [name for name in names if type(name) is str] if type(names) is list else []


def _copy_into(target, value) -> None:
    """Make ``target`` (a harness object sent to the worker) look like ``value`` (its state after the call)."""
    if type(target) is np.ndarray:
        if type(value) is not np.ndarray:
            raise codec.CodecError("array sync without an array")
        if not target.flags.writeable:
            return  # in-process, a read-only array cannot change either
        if value.dtype == target.dtype and value.shape != target.shape and value.size == target.size:
            try:
                target.shape = value.shape
            except (AttributeError, ValueError):
                return
        if value.dtype == target.dtype and value.shape == target.shape:
            np.copyto(target, value)
    elif type(target) is list:
        if type(value) is not list:
            raise codec.CodecError("list sync without a list")
        target[:] = value
    elif type(target) is dict:
        if type(value) is not dict:
            raise codec.CodecError("dict sync without a dict")
        target.clear()
        target.update(value)
    elif type(target) is np.random.Generator:
        if type(value) is not np.random.Generator or \
                type(value.bit_generator) is not type(target.bit_generator):
            raise codec.CodecError("generator sync without a generator of the same kind")
        target.bit_generator.state = value.bit_generator.state
    else:
        raise codec.CodecError(f"cannot sync a {type(target).__name__}")
