"""autograder.sandbox.codec: round trips, and hostile bytes that must be refused.

The decoder reads what a process running student code wrote, so every test
of the second half feeds it bytes no honest encoder produces.
"""
from __future__ import annotations

import json
import math
import pickle
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from autograder.kit.functions import Cubic, ModelLoss, Quadratic
from autograder.kit.models import BrokenMLP, GraderMLP
from autograder.sandbox import codec
from autograder.sandbox.codec import CodecError, CodecLimits, FrameReader, decode, encode

SANDBOX_DIR = Path(codec.__file__).parent


def roundtrip(value, **options):
    return decode(encode(value), **options).root


def frame(header: dict, buffers=(), magic=codec.MAGIC) -> bytes:
    """A frame with a hand-written header: what a hostile worker could send."""
    head = json.dumps(header).encode()
    lengths = struct.pack(f"<{len(buffers)}Q", *map(len, buffers))
    return struct.pack("<4sII", magic, len(head), len(buffers)) + lengths + head + b"".join(buffers)


def array_frame(dtype: str, shape, data: bytes, writeable=True) -> bytes:
    return frame({"objs": [{"A": [0, dtype, shape, writeable]}], "root": {"@": 0}}, [data])


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("value", [None, True, False, 0, -7, 2**70, 1.5, -0.0, math.inf, -math.inf, "", "é☃\n\x00",
                                   "\ud800"])
def test_scalars_round_trip_with_their_exact_type(value):
    back = roundtrip(value)
    assert type(back) is type(value)
    assert back == value or (back != back and value != value)
    if isinstance(value, float):
        assert math.copysign(1, back) == math.copysign(1, value)


def test_nan_round_trips():
    assert math.isnan(roundtrip(float("nan")))


def test_containers_round_trip():
    value = {"a": [1, (2.0, "x", None), {"b": []}], "t": (), "empty": {}}
    back = roundtrip(value)
    assert back == value
    assert type(back["a"][1]) is tuple and type(back["t"]) is tuple


@pytest.mark.parametrize("dtype", ["?", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8"])
@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 3), (2, 0, 4), (1, 1, 1, 1)])
def test_numeric_arrays_round_trip_exactly(dtype, shape):
    array = (np.arange(int(np.prod(shape))) % 3).astype(dtype).reshape(shape)
    back = roundtrip(array)
    assert type(back) is np.ndarray and back.dtype == array.dtype and back.shape == array.shape
    assert np.array_equal(back, array)
    assert back.flags.owndata and back.flags.writeable


def test_special_floats_and_layouts_survive():
    a = np.array([[np.nan, -0.0, np.inf], [1e-308, -np.inf, 5e-324]])
    assert np.array_equal(roundtrip(a), a, equal_nan=True)
    assert np.signbit(roundtrip(a)[0, 1])
    fortran = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    strided = np.arange(20.0)[::3]
    big_endian = np.arange(4, dtype=">f8")
    for array in (fortran, strided, big_endian, fortran.T):
        back = roundtrip(array)
        assert np.array_equal(back, array) and back.dtype.isnative


def test_read_only_flag_is_kept():
    a = np.ones(3)
    a.flags.writeable = False
    assert not roundtrip(a).flags.writeable


def test_numpy_scalars_become_python_scalars():
    back = roundtrip([np.float64(1.5), np.float32(2.5), np.int64(3), np.uint8(4), np.bool_(True)])
    assert back == [1.5, 2.5, 3, 4, True]
    assert [type(x) for x in back] == [float, float, int, int, bool]


@pytest.mark.parametrize("name", sorted(codec.BIT_GENERATORS))
def test_generators_round_trip_their_state(name):
    rng = np.random.Generator(getattr(np.random, name)(1234))
    rng.random(7)
    back = roundtrip(rng)
    assert type(back) is np.random.Generator and type(back.bit_generator).__name__ == name
    assert np.array_equal(back.random(5), rng.random(5))


def test_kit_objects_round_trip_by_state():
    model = GraderMLP((4, 3, 3, 2), rng=np.random.default_rng(0))
    back = roundtrip(model)
    assert type(back) is GraderMLP
    X = np.random.default_rng(1).standard_normal((5, 4))
    assert np.array_equal(back.forward(X), model.forward(X))
    assert type(roundtrip(BrokenMLP((4, 3, 3, 2)))) is BrokenMLP
    assert type(roundtrip(Cubic())) is Cubic
    q = roundtrip(Quadratic(np.eye(2), [1, 2]))
    assert q(np.array([1.0, 1.0])) == 5.0


def test_identity_is_kept_within_a_message():
    model = GraderMLP((4, 3, 3, 2), rng=np.random.default_rng(0))
    X, Y = np.ones((2, 4)), np.eye(2)
    loss, x, again = roundtrip((ModelLoss(model, X, Y), model.W1, model.W1))
    assert x is again is loss.model.W1
    assert loss.X is not loss.Y


def test_cycles_round_trip():
    a = [1]
    a.append(a)
    back = roundtrip(a)
    assert back[1] is back


def test_frames_can_be_read_in_pieces():
    data = encode({"x": np.arange(10.0), "y": [1, 2]}) + encode("second")
    reader = FrameReader()
    frames, pos = [], 0
    while pos < len(data):
        piece = data[pos:pos + min(reader.wanted(), 3)]
        pos += len(piece)
        reader.feed(piece)
        if reader.done:
            frames.append(decode(reader.take()).root)
    assert np.array_equal(frames[0]["x"], np.arange(10.0)) and frames[1] == "second"


# ---------------------------------------------------------------- refused on the way out


@pytest.mark.parametrize("value", [{1: "x"}, {("a",): 1}, {1, 2}, b"bytes", 1j, np.array([1j]),
                                   np.array(["a"]), np.array([None], dtype=object), lambda: 0, object(),
                                   np.random.RandomState(0), np.zeros(2, dtype=[("a", "f8")])])
def test_encoder_refuses_what_it_cannot_carry(value):
    with pytest.raises(TypeError, match="cannot pass"):
        encode(value)


def test_encoder_caps_depth():
    deep = []
    for _ in range(100):
        deep = [deep]
    with pytest.raises(CodecError, match="deeper"):
        encode(deep)


# ---------------------------------------------------------------- hostile bytes


@pytest.mark.parametrize("dtype", ["|O", "<c16", "<c8", "|V8", "<M8[s]", "<U1", "|S1", ">f8", "<f16", "f8", 8, None])
def test_decoder_refuses_non_numeric_dtypes(dtype):
    with pytest.raises(CodecError, match="dtype"):
        decode(array_frame(dtype, [1], b"\0" * 8))


def test_object_array_pickle_payload_is_refused_and_never_run(tmp_path):
    canary = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (canary,))

    data = pickle.dumps(np.array([Payload()], dtype=object))
    with pytest.raises(CodecError, match="dtype"):
        decode(array_frame("|O", [1], data))
    with pytest.raises(CodecError, match="not a frame"):
        decode(data)
    assert not canary.exists()


@pytest.mark.parametrize("shape, size", [([3], 16), ([2, 2], 24), ([0], 8), ([5], 0), ([1, 2**62], 8),
                                         ([-1], 8), ([2.0], 16), ([True], 8)])
def test_decoder_checks_shape_against_buffer(shape, size):
    with pytest.raises(CodecError, match="shape|bytes"):
        decode(array_frame("<f8", shape, b"\0" * size))


def test_decoded_arrays_are_copies_of_the_frame():
    data = bytearray(array_frame("<f8", [2], struct.pack("<2d", 1.0, 2.0)))
    array = decode(data).root
    data[-8:] = struct.pack("<d", 99.0)
    assert array.tolist() == [1.0, 2.0] and array.flags.owndata


def test_huge_announced_header_is_refused_before_allocating():
    prefix = struct.pack("<4sII", codec.MAGIC, 2**32 - 1, 0)
    with pytest.raises(CodecError, match="header"):
        decode(prefix)
    reader = FrameReader()
    with pytest.raises(CodecError, match="header"):
        reader.feed(prefix)


def test_huge_announced_payload_is_refused_before_allocating():
    reader = FrameReader()
    reader.feed(struct.pack("<4sII", codec.MAGIC, 2, 2))
    assert reader.wanted() == 16
    with pytest.raises(CodecError, match="exceeds"):
        reader.feed(struct.pack("<2Q", 2**40, 2**40))
    limits = CodecLimits(max_payload=1000)
    with pytest.raises(CodecError, match="exceeds"):
        decode(array_frame("<f8", [200], b"\0" * 1600), limits=limits)


def test_too_many_buffers_are_refused():
    with pytest.raises(CodecError, match="buffers"):
        FrameReader().feed(struct.pack("<4sII", codec.MAGIC, 2, 10**6))


def test_deep_json_nesting_is_refused():
    head = ("[" * 100_000 + "]" * 100_000).encode()
    with pytest.raises(CodecError):
        decode(struct.pack("<4sII", codec.MAGIC, len(head), 0) + head)


def test_deep_value_nesting_is_refused():
    root = None
    for _ in range(100):
        root = {"T": [root]}
    with pytest.raises(CodecError, match="deeper"):
        decode(frame({"objs": [], "root": root}))


def test_item_count_is_capped():
    with pytest.raises(CodecError, match="more than"):
        decode(frame({"objs": [], "root": {"T": [0] * 1000}}), limits=CodecLimits(max_items=100))


def _outcome(action):
    try:
        value = action()
    except CodecError as exc:
        return "refused", str(exc)
    return "ok", value


@pytest.mark.parametrize("max_items", [99, 100, 101, 2_000_000])
@pytest.mark.parametrize("max_depth", [1, 2, 3, 4, 48])
@pytest.mark.parametrize("value", [[0.5] * 99, ([1, "a", None, True, 2.5] * 20)[:99], [], [[0.5] * 98],
                                   [[[1, 2], [3]], {"k": [4.5] * 50}], [0.5] * 97 + [[0.5]]])
def test_plain_lists_are_carried_as_item_by_item(monkeypatch, value, max_items, max_depth):
    """A list of plain scalars goes in one step each way: the same frames, values and limit errors as
    value by value."""
    limits = CodecLimits(max_items=max_items, max_depth=max_depth)

    def both_ways():
        sent = _outcome(lambda: encode(value, limits=limits))
        received = _outcome(lambda: decode(encode(value), limits=limits).root)
        return sent, received

    fast = both_ways()
    monkeypatch.setattr(codec, "_all_plain", lambda items: False)
    assert fast == both_ways()


def test_plain_lists_keep_non_finite_floats_and_numpy_scalars():
    assert decode(encode([float("nan"), math.inf])).root[1] == math.inf
    assert math.isnan(decode(encode([float("nan"), math.inf])).root[0])
    assert decode(encode([np.float64(1.5), 2.0])).root == [1.5, 2.0]  # a NumPy scalar: the item-by-item path


@pytest.mark.parametrize("root", [{"X": 1}, {"T": [1], "L": []}, [1, 2], {"__class__": "os.system"}, {"@": 5},
                                  {"@": True}, {"@": "0"}, {"T": "abc"}])
def test_unknown_tags_and_bad_values_are_refused(root):
    with pytest.raises(CodecError):
        decode(frame({"objs": [], "root": root}))


@pytest.mark.parametrize("tag", ["H", "F", "M", "$"])
def test_extension_tags_need_a_resolver(tag):
    with pytest.raises(CodecError, match="not accepted"):
        decode(frame({"objs": [], "root": {tag: 0}}))


@pytest.mark.parametrize("name", ["RandomState", "os.system", "__import__", "MT19937 ", 3, None, "numpy.random.PCG64"])
def test_bad_bit_generator_names_are_refused(name):
    state = {"bit_generator": name, "state": {"state": 1, "inc": 1}, "has_uint32": 0, "uinteger": 0}
    with pytest.raises(CodecError, match="not allowed"):
        decode(frame({"objs": [{"G": [name, state]}], "root": {"@": 0}}))


@pytest.mark.parametrize("state", [
    {"bit_generator": "PCG64", "state": {"state": "x", "inc": 1}, "has_uint32": 0, "uinteger": 0},
    {"bit_generator": "MT19937", "state": {"state": 1, "inc": 1}, "has_uint32": 0, "uinteger": 0},
    {"bit_generator": "PCG64", "state": {"state": 2**300, "inc": 1}, "has_uint32": 0, "uinteger": 0},
    {"bit_generator": "PCG64", "state": {"state": [1.5], "inc": 1}},
    {"bit_generator": "PCG64", "state": {"state": {"a": {"b": {"c": {"d": {"e": 1}}}}}, "inc": 1}},
    "PCG64",
])
def test_bad_bit_generator_states_are_refused(state):
    with pytest.raises(CodecError):
        decode(frame({"objs": [{"G": ["PCG64", state]}], "root": {"@": 0}}))


@pytest.mark.parametrize("entry", [
    {"K": ["Popen", {}]},
    {"K": ["os", {}]},
    {"K": ["GraderMLP", {"W1": 1}]},
    {"K": ["Cubic", {"extra": 1}]},
    {"K": ["GraderMLP"]},
])
def test_only_whitelisted_kit_classes_with_their_fields(entry):
    with pytest.raises(CodecError):
        decode(frame({"objs": [entry], "root": {"@": 0}}))


def test_dict_payloads_must_be_json_objects():
    # JSON object keys are always strings; a list of pairs (which could carry other keys) is refused.
    with pytest.raises(CodecError):
        decode(frame({"objs": [{"D": [[1, "x"]]}], "root": {"@": 0}}))
    back = decode(frame({"objs": [{"D": {"1": "x"}}], "root": {"@": 0}})).root
    assert back == {"1": "x"} and all(type(k) is str for k in back)


@pytest.mark.parametrize("data", [
    b"",
    b"AGW1",
    b"XXXX" + bytes(8),
    pickle.dumps({"a": 1}),
    frame({"objs": [], "root": 1}) + b"trailing",
    frame({"objs": [], "root": 1})[:-1],
    frame({"objs": [], "root": 1}, [b"unused"]),
    frame({"objs": [{"L": []}], "root": 1}),
    frame({"objs": [{"A": [0, "<f8", [1], True]}, {"A": [0, "<f8", [1], True]}], "root": {"T": [{"@": 0}, {"@": 1}]}},
          [b"\0" * 8]),
    frame({"objs": [{"A": [0, "<f8", [1], 1]}], "root": {"@": 0}}, [b"\0" * 8]),
    frame({"objs": [{"A": [True, "<f8", [1], True]}], "root": {"@": 0}}, [b"\0" * 8]),
    struct.pack("<4sII", codec.MAGIC, 3, 0) + b"\xff\xfe\xfd",
    struct.pack("<4sII", codec.MAGIC, 4, 0) + b"[1]]",
    struct.pack("<4sII", codec.MAGIC, 2, 0) + b"{}",
    struct.pack("<4sII", codec.MAGIC, 10, 0) + b'{"root":1}',
])
def test_malformed_frames_are_refused(data):
    with pytest.raises(CodecError):
        decode(data)


def test_decoded_values_are_exact_builtin_types():
    data = frame({"objs": [{"L": [1, 2.5, "s", None, True]}, {"D": {"k": {"T": [1]}}}],
                  "root": {"T": [{"@": 0}, {"@": 1}]}})
    seen = []

    def walk(value):
        seen.append(type(value))
        if isinstance(value, (list, tuple)):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    walk(decode(data).root)
    assert set(seen) <= {tuple, list, dict, int, float, str, type(None), bool}


# ---------------------------------------------------------------- the sandbox package never unpickles

_UNSAFE = re.compile(
    r"^\s*(import|from)\s+(pickle|_pickle|cPickle|dill|cloudpickle|marshal|shelve|multiprocessing)\b"
    r"|\bpickle\.(loads?|Unpickler)\b|allow_pickle\s*=\s*True|\beval\(|\bexec\(|\b__import__\(",
    re.MULTILINE,
)


def test_the_sandbox_package_has_no_pickle_eval_or_exec():
    sources = sorted(SANDBOX_DIR.glob("*.py"))
    assert {p.name for p in sources} >= {"codec.py", "worker.py", "launcher.py", "isolation.py", "remote.py"}
    offenders = [f"{p.name}: {m.group(0).strip()}" for p in sources for m in _UNSAFE.finditer(p.read_text())]
    assert offenders == []
