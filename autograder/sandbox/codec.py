"""The no-pickle wire format between the trusted harness and a sandboxed worker.

A frame is (integers little-endian)::

    b"AGW1" | u32 header length | u32 buffer count | u64 length of each buffer | header | buffers

The header is ASCII JSON ``{"objs": [entry, ...], "root": value}``; the
buffers hold the raw bytes of arrays. A *value* is one of:

=============================  ==============================================
JSON                           Python
=============================  ==============================================
null, true/false, numbers      None, bool, int, float (NaN and +-inf allowed)
string                         str
``{"T": [value, ...]}``        tuple
``{"@": k}``                   the shared object ``objs[k]`` (one object, however often referenced)
``{"H"|"F"|"M"|"$"|"X": ...}`` an extension tag, resolved by the receiver's ``resolve`` hook
=============================  ==============================================

and an *entry* of ``objs`` one of ``{"L": [value, ...]}`` (list),
``{"D": {"key": value}}`` (dict with str keys), ``{"A": [buffer, dtype, shape,
writeable]}`` (ndarray of a numeric dtype), ``{"G": [bit_generator, state]}``
(``numpy.random.Generator``) or ``{"K": [kit_class, {field: value}]}`` (a kit
object of :mod:`autograder.kit.registry`). Shared objects give identity (one
array passed twice stays one array) and cycles.

The decoder reads bytes from a process running hostile code. It accepts
nothing else: no pickle, no ``eval``, no import by name from data (bit
generators and kit classes come from fixed whitelists), only the numeric
dtypes bool/int/uint/float, ``prod(shape) * itemsize == len(buffer)`` for
every array, capped header, payload, buffer count, nesting depth and item
count, and it copies every array out of the frame. What it returns is made
only of exact built-in types, base-class ``numpy.ndarray``, ``Generator`` and
kit objects (plus whatever the ``resolve`` hook builds for extension tags).
"""
from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from autograder.kit.registry import KIT_CLASSES, kit_name

MAGIC = b"AGW1"
_FIXED = struct.Struct("<4sII")
_LENGTH_SIZE = 8

TUPLE, SHARED = "T", "@"
LIST, DICT, ARRAY, GENERATOR, KIT = "L", "D", "A", "G", "K"
HANDLE, FUNCTION, METHOD, ECHO, KIT_FUNCTION = "H", "F", "M", "$", "X"
EXTENSION_TAGS = frozenset({HANDLE, FUNCTION, METHOD, ECHO, KIT_FUNCTION})

# Native dtypes of the kinds b, i, u, f (no complex, no longdouble), by their ``dtype.str``.
DTYPES = {dt.str: dt for dt in map(np.dtype, ("?", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8"))}
BIT_GENERATORS = {name: getattr(np.random, name) for name in ("PCG64", "PCG64DXSM", "Philox", "SFC64", "MT19937")}
_STATE_ARRAY_DTYPES = {"<u4": np.dtype("<u4"), "<u8": np.dtype("<u8")}
_MAX_STATE_INT = 1 << 256


class CodecError(ValueError):
    """Bytes that are not a well-formed frame of allowed values, or a value too big to send."""


class Raw:
    """An already encoded JSON value, written as it is (for the sender's own protocol fields)."""

    __slots__ = ("json",)

    def __init__(self, json_value):
        self.json = json_value


@dataclass(frozen=True)
class CodecLimits:
    """Caps applied while decoding (and encoding) one frame.

    Attributes:
        max_header: bytes of JSON header.
        max_payload: bytes of the whole frame (header and buffers).
        max_buffers: number of array buffers.
        max_depth: nesting of values (containers, shared objects, kit fields).
        max_items: values of any kind in one frame.
        max_ndim: dimensions of one array.
    """

    max_header: int = 8 << 20
    max_payload: int = 512 << 20
    max_buffers: int = 100_000
    max_depth: int = 48
    max_items: int = 2_000_000
    max_ndim: int = 32


DEFAULT_LIMITS = CodecLimits()


# ---------------------------------------------------------------- framing


def _check_fixed(magic: bytes, header_len: int, n_buffers: int, limits: CodecLimits) -> None:
    if magic != MAGIC:
        raise CodecError(f"not a frame: starts with {bytes(magic)!r}, expected {MAGIC!r}")
    if header_len > limits.max_header:
        raise CodecError(f"header of {header_len} bytes exceeds the limit of {limits.max_header}")
    if n_buffers > limits.max_buffers:
        raise CodecError(f"{n_buffers} buffers exceed the limit of {limits.max_buffers}")


def _check_total(prefix_len: int, header_len: int, lengths, limits: CodecLimits) -> int:
    total = prefix_len + header_len + sum(lengths)
    if total > limits.max_payload:
        raise CodecError(f"frame of {total} bytes exceeds the limit of {limits.max_payload}")
    return total


class FrameReader:
    """Assemble one frame from a byte stream, checking every size before allocating.

    Read at most :meth:`wanted` bytes, :meth:`feed` them, repeat until
    :attr:`done`, then :meth:`take` the frame. Never asks for bytes past the
    end of the frame, so the stream can carry several frames in a row.
    """

    def __init__(self, limits: CodecLimits = DEFAULT_LIMITS):
        self._limits = limits
        self._prefix = bytearray()
        self._n_buffers: int | None = None
        self._header_len = 0
        self._frame: memoryview | None = None
        self._filled = 0

    def wanted(self) -> int:
        """How many more bytes the current frame needs (the next ``read`` size at most)."""
        if self._frame is not None:
            return len(self._frame) - self._filled
        if self._n_buffers is None:
            return _FIXED.size - len(self._prefix)
        return _FIXED.size + _LENGTH_SIZE * self._n_buffers - len(self._prefix)

    @property
    def started(self) -> bool:
        return bool(self._prefix)

    @property
    def done(self) -> bool:
        return self._frame is not None and self._filled == len(self._frame)

    def feed(self, data) -> None:
        """Add bytes read from the stream.

        Raises:
            CodecError: a bad magic number or a size over the limits.
        """
        if len(data) > self.wanted():
            raise CodecError("more bytes than the frame holds")
        if self._frame is not None:
            self._frame[self._filled:self._filled + len(data)] = data
            self._filled += len(data)
            return
        self._prefix += data
        if self._n_buffers is None and len(self._prefix) == _FIXED.size:
            magic, self._header_len, n_buffers = _FIXED.unpack(self._prefix)
            _check_fixed(magic, self._header_len, n_buffers, self._limits)
            self._n_buffers = n_buffers
        if self._n_buffers is not None and len(self._prefix) == _FIXED.size + _LENGTH_SIZE * self._n_buffers:
            lengths = struct.unpack_from(f"<{self._n_buffers}Q", self._prefix, _FIXED.size)
            total = _check_total(len(self._prefix), self._header_len, lengths, self._limits)
            # Not bytearray(total), which zero-fills: NumPy's buffer is left unwritten until read into, and a
            # large one is given transparent huge pages (a 25 MB training set: a dozen page faults, not 6,000).
            self._frame = memoryview(np.empty(total, dtype=np.uint8))
            self._frame[:len(self._prefix)] = self._prefix
            self._filled = len(self._prefix)

    def read_from(self, fd: int, limit: int = 1 << 20) -> int:
        """Read at most ``min(wanted(), limit)`` bytes of ``fd`` straight into the frame; return how many (0: EOF).

        Raises:
            BlockingIOError: ``fd`` is non-blocking and empty.
            CodecError: as :meth:`feed`.
        """
        count = min(self.wanted(), limit)
        if self._frame is None:
            data = os.read(fd, count)
            self.feed(data)
            return len(data)
        got = os.readv(fd, [memoryview(self._frame)[self._filled:self._filled + count]])
        self._filled += got
        return got

    def take(self) -> memoryview:
        """The finished frame; the reader is ready for the next one."""
        if not self.done:
            raise CodecError("the frame is not complete")
        frame = self._frame
        self.__init__(self._limits)
        return frame


def split_frame(frame, limits: CodecLimits = DEFAULT_LIMITS) -> tuple[memoryview, list[memoryview]]:
    """Check a whole frame's layout and sizes; return views of its header and buffers.

    Raises:
        CodecError: bad magic, sizes over the limits or not adding up to the frame's length.
    """
    view = memoryview(frame).cast("B")
    if len(view) < _FIXED.size:
        raise CodecError(f"frame of {len(view)} bytes is shorter than its fixed prefix")
    magic, header_len, n_buffers = _FIXED.unpack_from(view)
    _check_fixed(magic, header_len, n_buffers, limits)
    pos = _FIXED.size + _LENGTH_SIZE * n_buffers
    if len(view) < pos:
        raise CodecError("frame ends inside its buffer lengths")
    lengths = struct.unpack_from(f"<{n_buffers}Q", view, _FIXED.size)
    total = _check_total(pos, header_len, lengths, limits)
    if total != len(view):
        raise CodecError(f"frame has {len(view)} bytes but its prefix announces {total}")
    header = view[pos:pos + header_len]
    pos += header_len
    buffers = []
    for length in lengths:
        buffers.append(view[pos:pos + length])
        pos += length
    return header, buffers


# ---------------------------------------------------------------- encoding


def _refuse(obj, depth):
    raise TypeError(
        f"cannot pass a {type(obj).__name__} to or from sandboxed code: pass None, bool, int, float, str, "
        "list, tuple, dict with str keys, numeric numpy arrays, numpy Generators, kit objects or student functions"
    )


def _scalar(value: np.generic):
    kind = value.dtype.kind
    if kind == "b":
        return bool(value)
    if kind in "iu":
        return int(value)
    return float(value)


def _allowed_dtype(dtype: np.dtype) -> bool:
    return dtype.fields is None and dtype.kind in "biuf" and dtype.newbyteorder("=").str in DTYPES


def _state_to_json(node, depth=0):
    if depth > 4:
        raise CodecError("bit generator state nested too deeply")
    if type(node) is dict:
        return {str(k): _state_to_json(v, depth + 1) for k, v in node.items()}
    if type(node) is str:
        return node
    if isinstance(node, (int, np.integer)) and not isinstance(node, (bool, np.bool_)):
        return int(node)
    if isinstance(node, np.ndarray) and node.dtype.str in _STATE_ARRAY_DTYPES:
        return [node.dtype.str, [int(x) for x in node.ravel()]]
    raise CodecError(f"unexpected {type(node).__name__} in a bit generator state")


class _Counted:
    """Counts the values of one message against ``self._limits`` (depth and number of items)."""

    _limits: CodecLimits
    _items: int

    def _tick(self, depth: int) -> None:
        if depth > self._limits.max_depth:
            raise CodecError(f"value nested deeper than {self._limits.max_depth} levels")
        self._items += 1
        if self._items > self._limits.max_items:
            raise CodecError(f"more than {self._limits.max_items} values in one message")

    def _tick_many(self, depth: int, count: int) -> None:
        """``count`` calls of :meth:`_tick` at ``depth`` at once."""
        if count:
            self._tick(depth)
            self._items += count - 1
            if self._items > self._limits.max_items:
                raise CodecError(f"more than {self._limits.max_items} values in one message")


_PLAIN = frozenset({int, float, str, bool, type(None)})


def _all_plain(items: list) -> bool:
    """Whether every item is exactly an int, float, str, bool or None (which both sides carry as themselves)."""
    plain = _PLAIN
    for item in items:
        if type(item) not in plain:
            return False
    return True


class Encoder(_Counted):
    """Turn one message into a frame.

    Args:
        limits: caps on depth, item count and sizes.
        hook: ``hook(obj) -> tagged value | None``, asked first for every
            non-scalar value (the sender's proxies, objects to echo back).
        fallback: ``fallback(obj, depth) -> tagged value`` for values the codec
            cannot carry by value; the default raises ``TypeError``.
    """

    def __init__(self, *, limits: CodecLimits = DEFAULT_LIMITS, hook: Callable | None = None,
                 fallback: Callable | None = None):
        self._limits = limits
        self._hook = hook
        self.fallback = fallback or _refuse
        self.objs: list = []
        self.kept: list = []  # the objects behind ``objs``, kept alive so that their ids stay unique
        self._index: dict[int, int] = {}
        self.buffers: list[memoryview] = []
        self._items = 0

    def shareable(self, value) -> bool:
        """Whether ``value`` travels as a shared object (list, dict, array, Generator, kit object)."""
        kind = type(value)
        if kind is list:
            return True
        if kind is dict:
            return all(type(key) is str for key in value)
        if kind is np.ndarray:
            return _allowed_dtype(value.dtype)
        if kind is np.random.Generator:
            bit_generator = value.bit_generator
            return BIT_GENERATORS.get(type(bit_generator).__name__) is type(bit_generator)
        return kit_name(value) is not None

    def value(self, value, depth: int = 0):
        """The JSON form of ``value`` (shared objects go to the table)."""
        self._tick(depth)
        kind = type(value)
        if value is None or kind is bool or kind is int or kind is str or kind is float:
            return value
        if isinstance(value, np.generic) and value.dtype.kind in "biuf":
            return _scalar(value)
        if kind is Raw:
            return value.json
        if self._hook is not None:
            tagged = self._hook(value)
            if tagged is not None:
                return tagged
        index = self._index.get(id(value))
        if index is not None:
            return {SHARED: index}
        if kind is tuple:
            return {TUPLE: [self.value(item, depth + 1) for item in value]}
        if self.shareable(value):
            return {SHARED: self._share(value, depth, register=True)}
        return self.fallback(value, depth)

    def fresh(self, value, depth: int = 0):
        """The contents of the shareable ``value`` as a new table entry, never a back-reference to it."""
        if not self.shareable(value):
            raise TypeError(f"a {type(value).__name__} has no contents to send")
        return {SHARED: self._share(value, depth, register=False)}

    def _share(self, value, depth: int, register: bool) -> int:
        index = len(self.objs)
        self.objs.append(None)
        self.kept.append(value)
        if register:
            self._index[id(value)] = index
        kind = type(value)
        if kind is list:
            items: list = []
            self.objs[index] = {LIST: items}
            if _all_plain(value):  # what value() would give item by item, counted the same way
                self._tick_many(depth + 1, len(value))
                items.extend(value)
            else:
                items.extend(self.value(item, depth + 1) for item in value)
        elif kind is dict:
            fields: dict = {}
            self.objs[index] = {DICT: fields}
            for key, item in value.items():
                fields[key] = self.value(item, depth + 1)
        elif kind is np.ndarray:
            self.objs[index] = {ARRAY: self._array(value)}
        elif kind is np.random.Generator:
            bit_generator = value.bit_generator
            self.objs[index] = {GENERATOR: [type(bit_generator).__name__, _state_to_json(bit_generator.state)]}
        else:
            name = kit_name(value)
            fields = {}
            self.objs[index] = {KIT: [name, fields]}
            for field in type(value).STATE:
                fields[field] = self.value(getattr(value, field), depth + 1)
        return index

    def _array(self, array: np.ndarray) -> list:
        writeable = bool(array.flags.writeable)
        if not array.dtype.isnative:
            array = array.astype(array.dtype.newbyteorder("="))
        contiguous = array if array.flags.c_contiguous else np.ascontiguousarray(array)
        self.buffers.append(memoryview(contiguous.reshape(-1).view(np.uint8)))
        return [len(self.buffers) - 1, array.dtype.str, list(array.shape), writeable]

    def frame(self, root) -> list:
        """The frame for the message whose JSON form is ``root``: a list of bytes-like chunks to write in order.

        Raises:
            CodecError: the header or the whole frame is over the limits.
        """
        try:
            header = json.dumps({"objs": self.objs, "root": root}, ensure_ascii=True, allow_nan=True,
                                separators=(",", ":")).encode("ascii")
        except (ValueError, RecursionError) as exc:
            raise CodecError(f"cannot write the message header: {exc}") from None
        if len(header) > self._limits.max_header:
            raise CodecError(f"header of {len(header)} bytes exceeds the limit of {self._limits.max_header}")
        if len(self.buffers) > self._limits.max_buffers:
            raise CodecError(f"{len(self.buffers)} buffers exceed the limit of {self._limits.max_buffers}")
        lengths = [buffer.nbytes for buffer in self.buffers]
        prefix = _FIXED.pack(MAGIC, len(header), len(lengths)) + struct.pack(f"<{len(lengths)}Q", *lengths)
        _check_total(len(prefix), len(header), lengths, self._limits)
        return [prefix + header, *self.buffers]


def encode(value, **options) -> bytes:
    """One frame holding ``value`` (for tests and small messages; :class:`Encoder` avoids the copy)."""
    encoder = Encoder(**options)
    return b"".join(bytes(chunk) for chunk in encoder.frame(encoder.value(value)))


# ---------------------------------------------------------------- decoding

_UNSEEN, _FILLING, _DONE = 0, 1, 2


@dataclass
class Decoded:
    """A decoded frame.

    Attributes:
        root: the message.
        objs: the shared objects, by table index.
        sources: for each array's table index, the frame bytes it was copied from.
    """

    root: object
    objs: list
    sources: dict


def _state_from_json(node, depth=0):
    if depth > 4:
        raise CodecError("bit generator state nested too deeply")
    kind = type(node)
    if kind is dict:
        if len(node) > 16:
            raise CodecError("bit generator state has too many fields")
        return {key: _state_from_json(value, depth + 1) for key, value in node.items()}
    if kind is int:
        if abs(node) >= _MAX_STATE_INT:
            raise CodecError("bit generator state holds an integer out of range")
        return node
    if kind is str:
        if len(node) > 32:
            raise CodecError("bit generator state holds a long string")
        return node
    if kind is list and len(node) == 2 and type(node[0]) is str and type(node[1]) is list:
        dtype = _STATE_ARRAY_DTYPES.get(node[0])
        values = node[1]
        if dtype is None or len(values) > 1024:
            raise CodecError("bit generator state holds a bad array")
        top = 1 << (8 * dtype.itemsize)
        if not all(type(x) is int and 0 <= x < top for x in values):
            raise CodecError("bit generator state array holds a bad value")
        return np.array(values, dtype=dtype)
    raise CodecError(f"unexpected {kind.__name__} in a bit generator state")


def build_generator(payload) -> np.random.Generator:
    """A fresh ``Generator`` from a ``[bit_generator_name, state]`` payload (whitelisted names only).

    Raises:
        CodecError: an unknown bit generator or a state it refuses.
    """
    if type(payload) is not list or len(payload) != 2:
        raise CodecError("a generator is [bit_generator, state]")
    name, state = payload
    cls = BIT_GENERATORS.get(name) if type(name) is str else None
    if cls is None:
        raise CodecError(f"bit generator {name!r} is not allowed (allowed: {', '.join(BIT_GENERATORS)})")
    state = _state_from_json(state)
    if type(state) is not dict or state.get("bit_generator") != name:
        raise CodecError(f"the state of a {name} must name it")
    bit_generator = cls(0)
    try:
        bit_generator.state = state
    except (TypeError, ValueError, KeyError, IndexError, OverflowError) as exc:
        raise CodecError(f"bad {name} state: {exc}") from None
    return np.random.Generator(bit_generator)


class _Decoder(_Counted):
    def __init__(self, entries, buffers, limits: CodecLimits, resolve):
        self._entries = entries
        self._buffers = buffers
        self._limits = limits
        self._resolve = resolve
        self.objs: list = [None] * len(entries)
        self._state = [_UNSEEN] * len(entries)
        self._used: set[int] = set()
        self.sources: dict[int, memoryview] = {}
        self._items = 0

    @staticmethod
    def _single(node, what: str):
        if type(node) is not dict or len(node) != 1:
            raise CodecError(f"expected a tagged {what}, got {type(node).__name__}")
        return next(iter(node.items()))

    def value(self, node, depth: int):
        self._tick(depth)
        kind = type(node)
        if node is None or kind is bool or kind is int or kind is float or kind is str:
            return node
        tag, payload = self._single(node, "value")
        if tag == TUPLE:
            if type(payload) is not list:
                raise CodecError("a tuple holds a list of values")
            return tuple([self.value(item, depth + 1) for item in payload])
        if tag == SHARED:
            return self.obj(payload, depth + 1)
        if tag in EXTENSION_TAGS:
            if self._resolve is None:
                raise CodecError(f"tag {tag!r} is not accepted here")
            return self._resolve(tag, payload)
        raise CodecError(f"unknown tag {tag!r}")

    def obj(self, index, depth: int):
        if type(index) is not int or not 0 <= index < len(self._entries):
            raise CodecError(f"reference to a missing shared object {index!r}")
        if self._state[index] != _UNSEEN:
            return self.objs[index]  # done, or a container being filled: a cycle
        tag, payload = self._single(self._entries[index], "shared object")
        if tag == LIST:
            if type(payload) is not list:
                raise CodecError("a list holds a list of values")
            out: list = []
            self._start(index, out)
            if _all_plain(payload):  # what value() would give item by item, counted the same way
                self._tick_many(depth + 1, len(payload))
                out.extend(payload)
            else:
                out.extend(self.value(item, depth + 1) for item in payload)
        elif tag == DICT:
            if type(payload) is not dict:
                raise CodecError("a dict holds an object of values")
            out = {}
            self._start(index, out)
            for key, item in payload.items():
                out[key] = self.value(item, depth + 1)
        elif tag == ARRAY:
            self._start(index, self._array(payload, index))
        elif tag == GENERATOR:
            self._start(index, build_generator(payload))
        elif tag == KIT:
            self._kit(payload, index, depth)
        else:
            raise CodecError(f"unknown shared object tag {tag!r}")
        self._state[index] = _DONE
        return self.objs[index]

    def _start(self, index: int, obj) -> None:
        self.objs[index] = obj
        self._state[index] = _FILLING

    def _array(self, payload, index: int) -> np.ndarray:
        if type(payload) is not list or len(payload) != 4:
            raise CodecError("an array is [buffer, dtype, shape, writeable]")
        buffer_index, dtype_name, shape, writeable = payload
        if type(buffer_index) is not int or not 0 <= buffer_index < len(self._buffers):
            raise CodecError(f"array refers to a missing buffer {buffer_index!r}")
        if buffer_index in self._used:
            raise CodecError(f"buffer {buffer_index} is used twice")
        self._used.add(buffer_index)
        dtype = DTYPES.get(dtype_name) if type(dtype_name) is str else None
        if dtype is None:
            raise CodecError(f"dtype {dtype_name!r} is not allowed (only bool, int, uint and float arrays)")
        if (type(shape) is not list or len(shape) > self._limits.max_ndim
                or not all(type(d) is int and 0 <= d <= self._limits.max_payload for d in shape)):
            raise CodecError(f"bad array shape {shape!r}")
        if type(writeable) is not bool:
            raise CodecError("an array's writeable flag is a bool")
        buffer = self._buffers[buffer_index]
        count = math.prod(shape)
        if count * dtype.itemsize != len(buffer):
            raise CodecError(f"an array of shape {tuple(shape)} and dtype {dtype} needs {count * dtype.itemsize} "
                             f"bytes, its buffer has {len(buffer)}")
        try:
            array = np.frombuffer(buffer, dtype=dtype, count=count).reshape(shape).copy()
        except (ValueError, MemoryError, OverflowError) as exc:
            raise CodecError(f"cannot build an array of shape {tuple(shape)}: {exc}") from None
        if not writeable:
            array.flags.writeable = False
        self.sources[index] = buffer
        return array

    def _kit(self, payload, index: int, depth: int) -> None:
        if type(payload) is not list or len(payload) != 2:
            raise CodecError("a kit object is [class, fields]")
        name, fields = payload
        cls = KIT_CLASSES.get(name) if type(name) is str else None
        if cls is None:
            raise CodecError(f"{name!r} is not a kit class (kit classes: {', '.join(KIT_CLASSES)})")
        if type(fields) is not dict or set(fields) != set(cls.STATE):
            raise CodecError(f"a {name} has exactly the fields {sorted(cls.STATE)}")
        obj = cls.__new__(cls)
        self._start(index, obj)
        for field in cls.STATE:
            setattr(obj, field, self.value(fields[field], depth + 1))

    def finish(self) -> None:
        if len(self._used) != len(self._buffers):
            raise CodecError(f"{len(self._buffers) - len(self._used)} buffer(s) are not used by any array")
        if _UNSEEN in self._state:
            raise CodecError("a shared object is not referenced")


def decode(frame, *, limits: CodecLimits = DEFAULT_LIMITS, resolve: Callable | None = None) -> Decoded:
    """Decode one frame received from another process.

    Args:
        frame: the whole frame (bytes, bytearray or memoryview).
        limits: caps on sizes, depth and item count.
        resolve: ``resolve(tag, payload) -> object`` for the extension tags
            ``H``/``F``/``M``/``$``; without it they are refused. It must
            validate its payload (raw JSON) itself.

    Raises:
        CodecError: anything malformed, over the limits or not on the whitelists.
    """
    header, buffers = split_frame(frame, limits)
    try:
        message = json.loads(bytes(header).decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise CodecError(f"the header is not valid JSON: {str(exc)[:200]}") from None
    if type(message) is not dict or set(message) != {"objs", "root"} or type(message["objs"]) is not list:
        raise CodecError('the header must be {"objs": [...], "root": ...}')
    decoder = _Decoder(message["objs"], buffers, limits, resolve)
    try:
        root = decoder.value(message["root"], 0)
    except RecursionError:
        raise CodecError("value nested too deeply") from None
    decoder.finish()
    return Decoded(root, decoder.objs, decoder.sources)
