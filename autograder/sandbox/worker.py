"""The worker: the process that imports one part of a submission and runs its code.

Started fresh per part by :mod:`autograder.sandbox.launcher` as::

    python -s -S -P -B -X utf8 -c BOOTSTRAP CONFIG_JSON

or, under bubblewrap, forked per part by the sandbox's zygote
(:mod:`autograder.sandbox.zygote`), which then calls :func:`run` in the child.

It applies its resource limits and closes every inherited file descriptor
but stdin (``/dev/null``), stdout/stderr (a pipe the harness drains into a
capped log: the student's prints never touch the protocol) and the two
protocol pipes. Then it says hello, imports ``<part>.py`` from the read-only
submission folder (first on ``sys.path``; for Part 5 the kit's stand-ins are
put in ``sys.modules`` first) and serves requests until its request pipe
closes. Requests and responses are :mod:`autograder.sandbox.codec` frames
holding a dict:

* ``{"op": "get", "path": [...]}``: a module attribute (by value, or a reference ``F``);
* ``{"op": "call", "target": F|H|M, "args": [...], "kwargs": {...}}``;
* ``{"op": "hget"|"hset", "handle": hid, "name": str[, "value": v]}``: attributes of a worker object;
* ``{"op": "special", "obj": H, "name": "len"|"list"|"getitem"|"contains"|"bool", "args": [...]}``;
* ``{"op": "copy", "obj": H, "deep": bool}``, ``{"op": "isinstance", "obj": v, "cls": F}``,
  ``{"op": "dir", "target": F|H|None}``, ``{"op": "ping"}``.

Every request carries ``seq`` (echoed) and may carry ``release`` (handles the
harness dropped). A response is ``{"seq", "ok": true, "value"}`` or ``{"seq",
"ok": false, "error": {...}}``, plus ``sync``: the arguments the call changed
(``[index, "content", value]`` or ``[index, "fields", {field: value}]``) so
the harness can copy them back. Values the codec cannot carry stay here and
travel as handles ``H``; module-level functions and classes as references
``F``; values equal to request objects as echoes ``$``.

Nothing here trusts the student's code, and nothing the harness does trusts
this process: the harness decodes every response with the whitelisting codec.
This module imports only the standard library at the top; NumPy, the codec
and the kit are imported after the limits are in force.
"""
from __future__ import annotations

import copy
import importlib
import importlib.util
import json
import os
import resource
import sys
import traceback
import types

_RLIMITS = {
    "as": resource.RLIMIT_AS,
    "cpu": resource.RLIMIT_CPU,
    "nproc": resource.RLIMIT_NPROC,
    "fsize": resource.RLIMIT_FSIZE,
    "nofile": resource.RLIMIT_NOFILE,
    "core": resource.RLIMIT_CORE,
}
_MAX_MESSAGE = 4000
_MAX_TRACEBACK = 6000
_MAX_HANDLES = 100_000
_READ_CHUNK = 1 << 20


def apply_limits(limits: dict) -> dict:
    """Lower this process's limits to ``{name: [soft, hard]}`` (never raising them); return what is in force."""
    applied = {}
    for name, (soft, hard) in limits.items():
        which = _RLIMITS[name]
        _, current_hard = resource.getrlimit(which)
        if current_hard != resource.RLIM_INFINITY:
            hard = min(hard, current_hard)
        soft = min(soft, hard)
        resource.setrlimit(which, (soft, hard))
        applied[name] = [soft, hard]
    return applied


def _close_inherited_fds(keep) -> None:
    """Close every descriptor above 2 except ``keep`` (bwrap's info pipe, anything else inherited)."""
    try:
        open_fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        open_fds = range(3, 4096)
    for fd in open_fds:
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def _flush_stdio() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - the student may have replaced or closed them
            pass


def _safe_str(obj, limit: int = _MAX_MESSAGE) -> str:
    try:
        text = str.__str__(str(obj))
    except BaseException:  # noqa: BLE001 - a student's __str__ may raise anything
        text = f"<{type(obj).__name__} whose str() failed>"
    return text if len(text) <= limit else text[:limit] + "..."


class Server:
    """Serve one part's module over two pipes.

    Args:
        config: the launcher's configuration (``part``, ``folder``, ``stand_ins``, ``fds``, ``codec`` limits).
    """

    def __init__(self, config: dict):
        import numpy as np

        from autograder.kit.registry import kit_name
        from autograder.sandbox import codec

        self._kit_name = kit_name
        self._np = np
        self._codec = codec
        self.part: str = config["part"]
        self.folder: str = config["folder"].rstrip("/")
        self.stand_ins: dict = config.get("stand_ins") or {}
        self.req_fd, self.resp_fd = config["fds"]
        # The harness's own limits: a value over them goes back as a handle instead of being refused there.
        self.limits = codec.CodecLimits(**{key: int(value) for key, value in config.get("codec", {}).items()
                                           if key in ("max_payload", "max_header", "max_items", "max_depth")})
        self.reader = codec.FrameReader(self.limits)
        self.module = None
        self.handles: dict[int, object] = {}
        self._handle_ids: dict[int, int] = {}
        self._next_handle = 1
        self._resolve_errors: list[BaseException] = []

    # ------------------------------------------------------------ pipes

    def read_frame(self):
        """The next request frame, or ``None`` when the harness closed the pipe."""
        while True:
            if not self.reader.read_from(self.req_fd, _READ_CHUNK):
                return None
            if self.reader.done:
                return self.reader.take()

    def write(self, chunks) -> None:
        for chunk in chunks:
            view = memoryview(chunk).cast("B")
            while view:
                written = os.write(self.resp_fd, view)
                view = view[written:]

    # ------------------------------------------------------------ loading

    def hello(self, applied_limits: dict, probe: bool, **extra) -> None:
        np = self._np
        self.send({"seq": 0, "hello": True, "pid": os.getpid(), "uid": os.getuid(), "probe": probe,
                   "python": sys.version.split()[0], "numpy": np.__version__, "limits": applied_limits, **extra})

    def load(self) -> bool:
        """Import the part's module; report ``ok`` or why not (``missing``/``invalid``/``crashed``)."""
        path = os.path.join(self.folder, f"{self.part}.py")
        if not os.path.isfile(path):
            self.send({"seq": 0, "ok": False, "status": "missing",
                       "error": {"type": "FileNotFoundError", "bases": ["FileNotFoundError"],
                                 "message": f"{self.part}.py was not found in the submission", "args": None,
                                 "traceback": ""}})
            return False
        sys.path.insert(0, self.folder)
        for name, dotted in self.stand_ins.items():
            if not dotted.startswith("autograder.kit."):
                raise ValueError(f"stand-in {dotted!r} is not a kit module")
            sys.modules[name] = importlib.import_module(dotted)
        status = "ok"
        error = None
        try:
            spec = importlib.util.spec_from_file_location(self.part, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[self.part] = module
            spec.loader.exec_module(module)
            self.module = module
        except (SyntaxError, UnicodeDecodeError) as exc:
            status, error = "invalid", self.describe(exc)
        except BaseException as exc:  # noqa: BLE001 - whatever the import does costs this part only
            status, error = "crashed", self.describe(exc)
        if error is None:
            self.send({"seq": 0, "ok": True, "loaded": self.part})
            return True
        self.send({"seq": 0, "ok": False, "status": status, "error": error})
        return False

    # ------------------------------------------------------------ errors

    def _relative(self, text: str) -> str:
        return text.replace(self.folder + "/", "")

    def student_traceback(self, exc: BaseException) -> str:
        """The frames of ``exc``'s traceback that lie in the submission, as text with relative file names."""
        try:
            frames = [frame for frame in traceback.extract_tb(exc.__traceback__)
                      if frame.filename.startswith(self.folder + "/")]
            text = "".join(traceback.format_list(frames[-12:]))
            if isinstance(exc, SyntaxError):
                text += "".join(traceback.format_exception_only(exc))
            text = self._relative(text)
        except BaseException:  # noqa: BLE001
            text = ""
        return text if len(text) <= _MAX_TRACEBACK else "..." + text[-_MAX_TRACEBACK:]

    def describe(self, exc: BaseException) -> dict:
        """What the harness needs to re-raise ``exc``: type name, builtin ancestors, message, args, traceback."""
        cls = type(exc)
        try:
            bases = [str.__str__(c.__name__) for c in cls.__mro__
                     if getattr(c, "__module__", None) == "builtins" and c is not object]
            name = str.__str__(cls.__name__)[:100]
        except BaseException:  # noqa: BLE001
            bases, name = ["Exception"], "Exception"
        try:
            args = list(exc.args)
            if len(args) > 8 or not all(type(a) in (str, int, float, bool, type(None)) for a in args) \
                    or sum(len(a) for a in args if type(a) is str) > _MAX_MESSAGE:
                args = None
        except BaseException:  # noqa: BLE001
            args = None
        return {"type": name, "bases": bases[:40], "message": self._relative(_safe_str(exc)), "args": args,
                "traceback": self.student_traceback(exc)}

    # ------------------------------------------------------------ references and handles

    def _path(self, payload):
        if type(payload) is not list or not payload or len(payload) > 16 or \
                not all(type(name) is str and name.isidentifier() for name in payload):
            raise ValueError(f"bad attribute path {payload!r}")
        return payload

    def _lookup(self, hid):
        if type(hid) is not int or hid not in self.handles:
            raise LookupError(f"no object {hid!r} in this worker (it was released or the worker restarted)")
        return self.handles[hid]

    def resolve(self, tag: str, payload):
        """Turn the harness's references into objects; failures are raised after decoding (see ``handle``)."""
        try:
            if tag == "F":
                obj = self.module
                for name in self._path(payload):
                    obj = getattr(obj, name)
                return obj
            if tag == "H":
                return self._lookup(payload)
            if tag == "M":
                hid, name = payload
                return getattr(self._lookup(hid), self._path([name])[0])
            if tag == "X":
                from autograder.kit.registry import resolve_kit_function

                return resolve_kit_function(payload)
        except BaseException as exc:  # noqa: BLE001 - a student's __getattr__ may raise anything
            self._resolve_errors.append(exc)
            return None
        raise self._codec.CodecError(f"the worker does not accept tag {tag!r}")

    def handle_of(self, obj) -> dict:
        hid = self._handle_ids.get(id(obj))
        if hid is None or self.handles.get(hid) is not obj:
            if len(self.handles) >= _MAX_HANDLES:
                raise MemoryError(f"more than {_MAX_HANDLES} live student objects")
            hid = self._next_handle
            self._next_handle += 1
            self.handles[hid] = obj
            self._handle_ids[id(obj)] = hid
        try:
            type_name = str.__str__(type(obj).__name__)[:100]
        except BaseException:  # noqa: BLE001
            type_name = "object"
        return {"H": [hid, type_name, bool(callable(obj))]}

    def release(self, hids) -> None:
        for hid in hids if type(hids) is list else ():
            obj = self.handles.pop(hid, None) if type(hid) is int else None
            if obj is not None and self._handle_ids.get(id(obj)) == hid:
                del self._handle_ids[id(obj)]

    def _module_ref(self, obj):
        if not isinstance(obj, (types.FunctionType, type)) or self.module is None:
            return None
        name = getattr(obj, "__name__", None)
        if type(name) is str and name.isidentifier() and getattr(self.module, name, None) is obj:
            return {"F": [[name], "c" if isinstance(obj, type) else "f"]}
        return None

    def fallback(self, encoder, obj, depth):
        """How a value the codec cannot carry by value travels: an exact copy of a builtin subclass, a ref, a handle."""
        np = self._np
        if isinstance(obj, bool):
            return bool(obj)
        if isinstance(obj, int):
            return int.__int__(obj)
        if isinstance(obj, float):
            return float.__float__(obj)
        if isinstance(obj, str):
            return str.__str__(obj)
        if isinstance(obj, tuple) and type(obj) is not tuple:
            return encoder.value(tuple(tuple.__iter__(obj)), depth)
        if isinstance(obj, list) and type(obj) is not list:
            return encoder.value(list.copy(obj), depth)
        if isinstance(obj, dict) and type(obj) is not dict:
            copy = dict.copy(obj)
            if all(type(key) is str for key in copy):
                return encoder.value(copy, depth)
        if isinstance(obj, np.generic) and obj.dtype.kind in "biuf":
            return encoder.value(obj.item(), depth)
        ref = self._module_ref(obj)
        return ref if ref is not None else self.handle_of(obj)

    # ------------------------------------------------------------ copy-back

    def snapshot(self, decoded) -> list:
        """What each request object looked like before the call (identities, not copies, except generator states)."""
        np = self._np
        snap = []
        for obj in decoded.objs:
            kind = type(obj)
            if kind is np.ndarray:
                snap.append((obj.shape, obj.dtype))
            elif kind is list:
                snap.append(list.copy(obj))
            elif kind is dict:
                snap.append(list(dict.items(obj)))
            elif kind is np.random.Generator:
                snap.append(obj.bit_generator.state)
            elif self._kit_name(obj) is not None:
                snap.append({field: getattr(obj, field, None) for field in type(obj).STATE})
            else:
                snap.append(None)
        return snap

    def _states_equal(self, a, b) -> bool:
        np = self._np
        if type(a) is dict and type(b) is dict:
            return a.keys() == b.keys() and all(self._states_equal(a[k], b[k]) for k in a)
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape \
                and bool(np.array_equal(a, b))
        return type(a) is type(b) and a == b

    def changes(self, decoded, snap, encoder) -> list:
        """``sync`` entries for the request objects the call changed."""
        np = self._np
        codec = self._codec
        out = []
        for index, (obj, before) in enumerate(zip(decoded.objs, snap, strict=True)):
            kind = type(obj)
            changed = False
            if kind is np.ndarray:
                shape, dtype = before
                if obj.shape != shape or obj.dtype != dtype:
                    changed = True
                else:
                    now = np.ascontiguousarray(obj).reshape(-1).view(np.uint8)
                    changed = not np.array_equal(now, np.frombuffer(decoded.sources[index], dtype=np.uint8))
            elif kind is list:
                changed = len(obj) != len(before) or any(a is not b for a, b in zip(obj, before, strict=False))
            elif kind is dict:
                items = list(dict.items(obj))
                changed = len(items) != len(before) or any(
                    ka != kb or va is not vb for (ka, va), (kb, vb) in zip(items, before, strict=False))
            elif kind is np.random.Generator:
                changed = not self._states_equal(obj.bit_generator.state, before)
            elif isinstance(before, dict):
                fields = {field: value for field, value in
                          ((field, getattr(obj, field, None)) for field in type(obj).STATE)
                          if value is not before[field]}
                if fields:
                    out.append([index, "fields",
                                {field: codec.Raw(encoder.value(value, 1)) for field, value in fields.items()}])
                continue
            if changed and encoder.shareable(obj):
                out.append([index, "content", codec.Raw(encoder.fresh(obj))])
        return out

    # ------------------------------------------------------------ requests

    def send(self, message: dict, decoded=None, result_policy=None) -> None:
        """Encode and write a response; ``message["value"]``, if too big or deep, goes as a handle instead."""
        codec = self._codec
        for attempt in range(2):
            encoder = self._encoder(decoded, result_policy)
            try:
                root = encoder.value(message)
                self.write(encoder.frame(root))
                return
            except (codec.CodecError, TypeError, RecursionError) as exc:
                if attempt == 0 and "value" in message:
                    message = dict(message, value=_AsHandle(message["value"]))
                    continue
                message = {"seq": message.get("seq"), "ok": False, "error": {
                    "type": "TypeError", "bases": ["TypeError"], "args": None, "traceback": "",
                    "message": f"the value your code returned cannot be sent back to the grader: {exc}"}}
        encoder = self._encoder(None, None)
        self.write(encoder.frame(encoder.value(message)))

    def _encoder(self, decoded, result_policy):
        codec = self._codec
        known = {id(obj): index for index, obj in enumerate(decoded.objs)} if decoded is not None else {}
        encoder = None

        def hook(obj):
            if type(obj) is _AsHandle:
                return self.handle_of(obj.obj)
            index = known.get(id(obj))
            if index is not None:
                return {"$": index}
            if result_policy is not None:
                return result_policy(obj)
            return None

        def fallback(obj, depth):
            return self.fallback(encoder, obj, depth)

        encoder = codec.Encoder(limits=self.limits, hook=hook, fallback=fallback)
        return encoder

    def handle(self, frame) -> None:
        """Decode one request, run it, send the response."""
        codec = self._codec
        seq = None
        decoded = None
        self._resolve_errors = []
        try:
            decoded = codec.decode(frame, limits=self.limits, resolve=self.resolve)
            message = decoded.root
            seq = message["seq"]
            self.release(message.get("release"))
            if self._resolve_errors:
                raise self._resolve_errors[0]
            self.dispatch(message, decoded)
        except BaseException as exc:  # noqa: BLE001 - report anything, including SystemExit, to the harness
            _flush_stdio()
            self.send({"seq": seq, "ok": False, "error": self.describe(exc)})

    def dispatch(self, message: dict, decoded) -> None:
        op, seq = message["op"], message["seq"]
        if op == "ping":
            self.send({"seq": seq, "ok": True, "value": None})
        elif op == "get":
            path = self._path(message["path"])
            value = self.resolve("F", path)
            if self._resolve_errors:
                raise self._resolve_errors[0]
            kind = "c" if isinstance(value, type) else "f" if callable(value) else "o"
            ref = {"F": [path, kind]}
            self.send({"seq": seq, "ok": True, "value": value}, decoded,
                      result_policy=lambda obj: ref if obj is value and not self._plain(value) else None)
        elif op == "call":
            self.call(message, decoded)
        elif op == "hget":
            obj = self._lookup(message["handle"])
            name = self._path([message["name"]])[0]
            value = getattr(obj, name)
            if isinstance(value, types.MethodType) and value.__self__ is obj:
                self.send({"seq": seq, "ok": True, "value": self._codec.Raw({"M": [message["handle"], name]})})
            else:
                self.send({"seq": seq, "ok": True, "value": value}, decoded)
        elif op == "hset":
            obj = self._lookup(message["handle"])
            setattr(obj, self._path([message["name"]])[0], message["value"])
            self.send({"seq": seq, "ok": True, "value": None})
        elif op == "isinstance":
            self.send({"seq": seq, "ok": True, "value": bool(isinstance(message["obj"], message["cls"]))})
        elif op == "special":
            obj, name, args = message["obj"], message["name"], message["args"]
            value = {"len": lambda: len(obj), "list": lambda: list(obj), "bool": lambda: bool(obj),
                     "getitem": lambda: obj[args[0]], "contains": lambda: args[0] in obj}[name]()
            self.send({"seq": seq, "ok": True, "value": value}, decoded)
        elif op == "copy":
            duplicate = copy.deepcopy(message["obj"]) if message["deep"] else copy.copy(message["obj"])
            self.send({"seq": seq, "ok": True, "value": _AsHandle(duplicate)})
        elif op == "dir":
            target = message["target"]
            names = dir(self.module if target is None else target)
            self.send({"seq": seq, "ok": True, "value": [name for name in names if type(name) is str][:10_000]})
        else:
            raise ValueError(f"unknown operation {op!r}")

    def _plain(self, value) -> bool:
        """Whether a module attribute travels by value (data) rather than as a reference (code, objects)."""
        np = self._np
        kind = type(value)
        if value is None or kind in (bool, int, float, str, tuple, list, dict):
            return True
        if kind is np.ndarray:
            return value.dtype.kind in "biuf"
        return isinstance(value, np.generic) and value.dtype.kind in "biuf"

    def call(self, message: dict, decoded) -> None:
        target, args, kwargs, seq = message["target"], message["args"], message["kwargs"], message["seq"]
        if type(args) is not list or type(kwargs) is not dict:
            raise TypeError("call arguments must be a list and a dict")
        snap = self.snapshot(decoded)
        error = None
        result = None
        try:
            result = target(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt are the student's too
            error = exc
        _flush_stdio()
        for attempt in range(2):
            encoder = self._encoder(decoded, None)
            try:
                sync = self.changes(decoded, snap, encoder)
                if error is None:
                    value = encoder.value(result if attempt == 0 else _AsHandle(result))
                    message = {"seq": seq, "ok": True, "value": self._codec.Raw(value), "sync": sync}
                else:
                    message = {"seq": seq, "ok": False, "error": self.describe(error), "sync": sync}
                self.write(encoder.frame(encoder.value(message)))
                return
            except (self._codec.CodecError, RecursionError, TypeError) as exc:
                if attempt == 1 or error is not None:
                    raise RuntimeError(f"the call's results cannot be sent back to the grader: {exc}") from None

    def serve(self) -> None:
        while True:
            frame = self.read_frame()
            if frame is None:
                return
            self.handle(frame)


class _AsHandle:
    """Marks a value to send as a handle whatever it is (a result too big or too deep for the codec)."""

    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj


def main(argv=None) -> None:
    """Entry point inside the sandbox: ``argv[0]`` is the JSON configuration (``zygote``: serve forks instead)."""
    argv = sys.argv[1:] if argv is None else argv
    config = json.loads(argv[0])
    if config.get("zygote") is not None:
        from autograder.sandbox.zygote import main as zygote_main

        zygote_main(config)
    run(config)


def run(config: dict) -> None:
    """Apply the limits, close inherited descriptors, say hello, import the part and serve it; never returns."""
    applied = apply_limits({name: tuple(value) for name, value in config.get("rlimits", {}).items()})
    req_fd, resp_fd = config["fds"]
    _close_inherited_fds({req_fd, resp_fd})
    sys.dont_write_bytecode = True
    server = Server(config)
    server.hello(applied, bool(config.get("probe")))
    if config.get("probe"):
        os._exit(0)
    try:
        server.load()
        _flush_stdio()
        server.serve()
    finally:
        # Skip the student's atexit hooks and threads: nothing they do can matter, but they cost time.
        _flush_stdio()
        os._exit(0)


if __name__ == "__main__":
    main()
