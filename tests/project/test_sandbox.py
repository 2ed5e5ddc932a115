"""autograder.sandbox.remote: RemoteBackend behaves like InProcessBackend, and survives what students do.

The same scenarios run on both backends and must observe the same values,
the same side effects (mutation, generator advance, kit models trained) and
the same exception types. Limits are small and deadlines short, so a failing
test cannot hang or harm the machine.
"""
from __future__ import annotations

import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from autograder.config import Limits
from autograder.errors import (
    IsolationUnavailable,
    StudentCrashed,
    StudentLoadError,
    StudentRaised,
    StudentTimeout,
)
from autograder.harness import GradingFailure, expect_outcomes, get_attributes, set_attributes
from autograder.harness.inprocess import InProcessBackend
from autograder.harness.student import Student
from autograder.kit.functions import Cubic, ModelLoss, Quadratic, SinProduct
from autograder.kit.models import BrokenMLP, GraderMLP
from autograder.sandbox import isolation, launcher
from autograder.sandbox.remote import RemoteBackend, RemoteHandle, RemoteRef

SOLUTIONS = Path(__file__).resolve().parents[2] / "solutions"
SMALL = Limits(call_seconds=5.0, part_seconds=30.0, memory_mb=1024, output_kb=64, processes=32, tmpfs_mb=16)


def write_submission(folder: Path, **modules: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in modules.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(source))
    return folder


@pytest.fixture
def remote_factory():
    """Make RemoteBackends with small limits; close them all after the test."""
    made = []

    def make(folder, **options):
        options.setdefault("limits", SMALL)
        backend = RemoteBackend(folder, **options)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


@pytest.fixture(scope="module")
def reference_pair():
    remote = RemoteBackend(SOLUTIONS, limits=SMALL)
    yield Student(InProcessBackend(SOLUTIONS)), Student(remote)
    remote.close()


def same(a, b) -> bool:
    """Equal values of the same kinds (numpy scalars count as the Python scalars they carry)."""
    if isinstance(a, np.ndarray):
        return type(b) is np.ndarray and a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, True)
    if isinstance(a, dict):
        return type(b) is dict and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, (float, np.floating)):
        return type(b) is float and (float(a) == b or (math.isnan(a) and math.isnan(b)))
    if isinstance(a, (bool, np.bool_)):
        return type(b) is bool and bool(a) == b
    if isinstance(a, (int, np.integer)):
        return type(b) is int and int(a) == b
    return type(a) is type(b) and a == b


# ---------------------------------------------------------------- the reference, both ways


def scenario_initializers(student):
    rng = np.random.default_rng(11)
    init = student.initializers
    out = [init.xavier_init(3, 4, rng=rng), init.he_init(2, 5, rng), init.lecun_init(4, 1, rng=rng),
           init.simulate_forward(3, init.he_init, n_neurons=16, rng=rng),
           init.simulate_forward(2, 0.5, n_neurons=8, activation="tanh", batch_size=3, rng=rng),
           init.ACTIVATIONS]
    return out + [rng.random(3)]  # the generator advanced exactly as far


def scenario_clipping(student):
    rng = np.random.default_rng(3)
    clip = student.clipping
    grads = {"w": rng.standard_normal((3, 2)), "b": np.array([10.0, -20.0])}
    before = {k: v.copy() for k, v in grads.items()}
    by_value, by_norm = clip.clip_by_value(grads, 0.5), clip.clip_by_norm(grads, 1.0)
    by_global = clip.clip_by_global_norm(grads, 1.0)
    unchanged = all(np.array_equal(grads[k], before[k]) for k in grads)
    fresh = all(by_value[k] is not grads[k] and by_global[0][k] is not grads[k] for k in grads)
    return [clip.global_norm(grads), clip.global_norm({}), by_value, by_norm, by_global, unchanged, fresh]


def scenario_backprop(student):
    rng = np.random.default_rng(5)
    bp = student.backprop
    model = bp.MNISTClassifier((5, 4, 3, 3), rng=rng)
    X, Y = rng.standard_normal((6, 5)), np.eye(3)[rng.integers(0, 3, 6)]
    probs = model.forward(X)
    out = [probs, model.loss(probs, Y), model.gradients(X, Y)]
    model.step(out[-1], 0.1)
    # Attribute reads of a student object are snapshots remotely, live arrays in-process: copy to compare.
    out += [model.W1.copy(), model.backward(X, Y, lr=0.05)]
    model.b1 = np.full((1, 4), 0.5)
    out += [model.b1.copy(), bp.gradient_check(model, X, Y), model.W3.copy()]
    x = np.array([0.5, -1.0, 2.0])
    out += [bp.numerical_gradient(Quadratic(np.diag([1.0, 2.0, 3.0]), [1.0, 0.0, -1.0]), x),
            bp.numerical_gradient(SinProduct([1.0, 2.0, 3.0]), x, h=1e-4), bp.numerical_gradient(Cubic(), x), x]
    kit = GraderMLP((5, 4, 3, 3), rng=np.random.default_rng(6))
    param, snapshot = kit.W2, kit.W2.copy()
    out += [bp.numerical_gradient(ModelLoss(kit, X, Y), param), np.array_equal(param, snapshot)]
    out += [bp.gradient_check(BrokenMLP((5, 4, 3, 3), rng=np.random.default_rng(7)), X, Y),
            bp.relative_error(np.ones(3), np.ones(3) * 1.1)]
    return out + [rng.random()]


def scenario_debugging(student):
    dbg = student.debugging
    names = ["NOT_DECREASING", "NAN_LOSS", "PLATEAU", "OVERFITTING", "HEALTHY"]
    train = [2.3, 1.8, 1.2, 0.8, 0.5, 0.3, 0.2, 0.15, 0.12, 0.10]
    val = [2.3, 1.9, 1.4, 1.2, 1.1, 1.2, 1.4, 1.6, 1.8, 2.0]
    return [[getattr(dbg, n) for n in names], dbg.debug_training(train, val), dbg.debug_training(tuple(train)),
            dbg.debug_training(np.array([1.0, np.nan, 2.0])), dbg.debug_training([1.0] * 12), train]


def scenario_training(student):
    tr = student.training
    rng = np.random.default_rng(9)
    X, Y = rng.standard_normal((20, 5)), tr.one_hot(rng.integers(0, 3, 20), 3)
    batches = tr.minibatches(20, 6, rng)
    model = GraderMLP((5, 4, 3, 3), rng=np.random.default_rng(1))
    W1, W1_before = model.W1, model.W1.copy()
    history = tr.train(model, X, Y, epochs=2, batch_size=5, lr=0.3, X_val=X[:5], Y_val=Y[:5], max_grad_norm=1.0,
                       rng=rng)
    trained = not np.array_equal(model.W1, W1_before)
    return [Y, batches, history, model.W1, model.b3, W1 is model.W1, trained, tr.evaluate(model, X, Y), rng.random()]


@pytest.mark.parametrize("scenario", [scenario_initializers, scenario_clipping, scenario_backprop, scenario_debugging,
                                      scenario_training], ids=lambda f: f.__name__.removeprefix("scenario_"))
def test_remote_matches_in_process_on_the_reference(reference_pair, scenario):
    local, remote = reference_pair
    expected, found = scenario(local), scenario(remote)
    assert len(expected) == len(found)
    for index, (e, f) in enumerate(zip(expected, found, strict=True)):
        assert same(e, f), f"observation {index}: {e!r} != {f!r}"


def test_the_kit_model_trained_remotely_is_the_one_trained_locally(reference_pair):
    local, remote = reference_pair
    X = np.random.default_rng(2).standard_normal((30, 5))
    Y = np.eye(3)[np.random.default_rng(3).integers(0, 3, 30)]
    models = [GraderMLP((5, 4, 3, 3), rng=np.random.default_rng(4)) for _ in range(2)]
    for student, model in zip((local, remote), models, strict=True):
        student.training.train(model, X, Y, epochs=3, batch_size=8, lr=0.2, rng=np.random.default_rng(5))
    for name in GraderMLP.STATE:
        assert np.array_equal(getattr(models[0], name), getattr(models[1], name)), name


def test_a_float32_kit_model_computes_and_trains_in_float32_remotely_as_locally(reference_pair):
    wide = GraderMLP((5, 4, 3, 3), rng=np.random.default_rng(4))
    narrow = GraderMLP((5, 4, 3, 3), rng=np.random.default_rng(4), dtype=np.float32)
    for name in GraderMLP.STATE:  # the same draws, rounded
        assert getattr(narrow, name).dtype == np.float32
        np.testing.assert_array_equal(getattr(narrow, name), getattr(wide, name).astype(np.float32))
    X = np.random.default_rng(2).standard_normal((30, 5))
    Y = np.eye(3)[np.random.default_rng(3).integers(0, 3, 30)]
    assert narrow.forward(X).dtype == np.float32 and wide.forward(X).dtype == np.float64
    assert all(g.dtype == np.float32 for g in narrow.gradients(X, Y).values())
    local, remote = reference_pair
    models = [GraderMLP((5, 4, 3, 3), rng=np.random.default_rng(4), dtype=np.float32) for _ in range(2)]
    for student, model in zip((local, remote), models, strict=True):
        student.training.train(model, X, Y, epochs=3, batch_size=8, lr=0.2, rng=np.random.default_rng(5))
    for name in GraderMLP.STATE:
        assert getattr(models[1], name).dtype == np.float32
        assert np.array_equal(getattr(models[0], name), getattr(models[1], name)), name
    with pytest.raises(ValueError, match="float32 or float64"):
        GraderMLP((5, 4, 3, 3), dtype=np.int64)


def test_student_objects_are_handles(reference_pair):
    _, remote = reference_pair
    bp = remote.backprop
    model = bp.MNISTClassifier((5, 4, 3, 3), rng=np.random.default_rng(0))
    assert isinstance(model, RemoteHandle) and isinstance(bp.MNISTClassifier, RemoteRef)
    assert isinstance(model, bp.MNISTClassifier) and not isinstance(np.ones(2), bp.MNISTClassifier)
    assert "forward" in dir(model) and "MNISTClassifier" in dir(bp)
    copy = __import__("copy").deepcopy(model)
    copy.W1 = np.zeros((5, 4))
    assert not np.array_equal(model.W1, copy.W1)
    assert bp.numerical_gradient is bp.numerical_gradient
    assert "MNISTClassifier" in repr(model) and "sandbox" in repr(remote.backprop)


@pytest.mark.parametrize("call, kind", [
    (lambda s: s.clipping.clip_by_value({"a": np.ones(2)}, 0), ValueError),
    (lambda s: s.clipping.clip_by_global_norm({"a": np.array([np.inf])}, 1.0), FloatingPointError),
    (lambda s: s.initializers.simulate_forward(1, 1.0, activation="bogus"), ValueError),
    (lambda s: s.initializers.he_init(0, 3), ValueError),
    (lambda s: s.debugging.debug_training([]), ValueError),
    (lambda s: s.training.one_hot([5], 3), ValueError),
    (lambda s: s.backprop.MNISTClassifier((1, 2)), ValueError),
    (lambda s: s.backprop.no_such_function, AttributeError),
    (lambda s: s.clipping.global_norm(None), AttributeError),
])
def test_exceptions_have_the_same_builtin_type(reference_pair, call, kind):
    local, remote = reference_pair
    with pytest.raises(kind) as expected:
        call(local)
    with pytest.raises(kind) as found:
        call(remote)
    assert isinstance(found.value, StudentRaised) and found.value.original_type == kind.__name__
    if kind is not AttributeError:
        assert str(found.value) == str(expected.value)
        assert ".py\", line" in found.value.student_traceback
    assert not hasattr(remote.backprop, "no_such_function")


# ---------------------------------------------------------------- side effects and identity

MUTATING = """
    import numpy as np

    def mutate(a, d, l):
        a[0] = 99.0
        d["new"] = a
        l.append(len(l))
        return a

    def same(x, y):
        return x is y

    def reassign(model):
        model.W1 = model.W1 * 0
        model.b1[...] = 7.0

    def draw(rng, n=2):
        return rng.random(n)

    def nested(box):
        box["inner"].append(box["arr"])
        box["arr"] += 1
        return box["inner"]

    def passthrough(model):
        return model

    class Bag:
        def __init__(self, items):
            self.items = list(items)

        def __len__(self):
            return len(self.items)

        def __getitem__(self, index):
            return self.items[index]

        def __contains__(self, item):
            return item in self.items

    def batches(n):
        return (list(range(i, min(i + 2, n))) for i in range(0, n, 2))
"""


@pytest.fixture(scope="module")
def mutating_pair(tmp_path_factory):
    folder = write_submission(tmp_path_factory.mktemp("mutating"), clipping=MUTATING)
    remote = RemoteBackend(folder, limits=SMALL)
    yield Student(InProcessBackend(folder)), Student(remote)
    remote.close()


def scenario_mutation(student):
    a, d, l = np.zeros(3), {"k": 1}, [1]
    result = student.clipping.mutate(a, d, l)
    return [a, d["new"] is a, l, result is a, sorted(d)]


def scenario_identity(student):
    x = np.ones(2)
    return [student.clipping.same(x, x), student.clipping.same(x, x.copy()), student.clipping.same(None, None)]


def scenario_kit_fields(student):
    model = GraderMLP((3, 2, 2, 2), rng=np.random.default_rng(0))
    W1, b1 = model.W1, model.b1
    student.clipping.reassign(model)
    return [W1 is model.W1, model.W1, b1 is model.b1, b1, student.clipping.passthrough(model) is model]


def scenario_generator(student):
    rng = np.random.default_rng(42)
    first = student.clipping.draw(rng)
    return [first, student.clipping.draw(rng, n=3), rng.random(2)]


def scenario_nested(student):
    arr = np.zeros(2)
    box = {"arr": arr, "inner": []}
    inner = box["inner"]
    result = student.clipping.nested(box)
    return [result is inner, inner[0] is arr, arr, box["arr"] is arr]


def scenario_read_only(student):
    a = np.zeros(3)
    a.flags.writeable = False
    try:
        student.clipping.mutate(a, {}, [])
    except ValueError as exc:
        return [type(exc).__mro__[1] is ValueError or type(exc) is ValueError, a]
    return ["no error", a]


def scenario_containers(student):
    bag = student.clipping.Bag([1, 2, 3])
    return [len(bag), bag[1], 2 in bag, 7 in bag, list(bag), bool(bag), list(student.clipping.batches(5))]


@pytest.mark.parametrize("scenario", [scenario_mutation, scenario_identity, scenario_kit_fields, scenario_generator,
                                      scenario_nested, scenario_read_only, scenario_containers],
                         ids=lambda f: f.__name__.removeprefix("scenario_"))
def test_side_effects_are_copied_back(mutating_pair, scenario):
    local, remote = mutating_pair
    expected, found = scenario(local), scenario(remote)
    for index, (e, f) in enumerate(zip(expected, found, strict=True)):
        assert same(e, f), f"observation {index}: {e!r} != {f!r}"


# ---------------------------------------------------------------- exceptions

RAISING = """
    class ShapeError(ValueError):
        pass

    class Weird(Exception):
        def __str__(self):
            return "weird message"

    def raise_it(kind):
        if kind == "shape":
            raise ShapeError("bad shape")
        if kind == "key":
            raise KeyError("k")
        if kind == "exit":
            raise SystemExit(3)
        if kind == "interrupt":
            raise KeyboardInterrupt
        if kind == "weird":
            raise Weird()
        if kind == "os":
            raise FileNotFoundError(2, "No such file or directory", "x.txt")
        if kind == "unicode":
            b"\\xff".decode("utf-8")
        if kind == "recursion":
            return raise_it(kind)
        return kind
"""


@pytest.fixture(scope="module")
def raising_backend(tmp_path_factory):
    backend = RemoteBackend(write_submission(tmp_path_factory.mktemp("raising"), debugging=RAISING), limits=SMALL)
    yield backend
    backend.close()


@pytest.mark.parametrize("kind, base, name, text", [
    ("shape", ValueError, "ShapeError", "bad shape"),
    ("key", KeyError, "KeyError", "'k'"),
    ("exit", RuntimeError, "SystemExit", "3"),
    ("interrupt", RuntimeError, "KeyboardInterrupt", ""),
    ("weird", Exception, "Weird", "weird message"),
    ("os", FileNotFoundError, "FileNotFoundError", "[Errno 2] No such file or directory: 'x.txt'"),
    ("unicode", ValueError, "UnicodeDecodeError", "can't decode byte 0xff"),
    ("recursion", RecursionError, "RecursionError", "maximum recursion depth"),
])
def test_student_exceptions_arrive_as_builtin_types(raising_backend, kind, base, name, text):
    backend = raising_backend
    with pytest.raises(base) as info:
        backend.module("debugging").raise_it(kind)
    exc = info.value
    assert isinstance(exc, StudentRaised) and exc.original_type == name and text in str(exc)
    assert not isinstance(exc, (SystemExit, KeyboardInterrupt))
    assert 'debugging.py", line' in exc.student_traceback and "raise_it" in exc.student_traceback
    assert "/submission" not in exc.student_traceback
    assert backend.module("debugging").raise_it("fine") == "fine"  # the worker carries on
    assert backend.part_status("debugging") == "ok"


@pytest.mark.parametrize("backend_kind", ["remote", "in-process"])
def test_calls_each_runs_many_calls_in_one_request_and_keeps_each_outcome(tmp_path, remote_factory, backend_kind):
    folder = write_submission(tmp_path, debugging=RAISING)
    backend = remote_factory(folder) if backend_kind == "remote" else InProcessBackend(folder)
    student = Student(backend, allowed=("debugging",))
    function = student.debugging.raise_it
    requests = backend._parts["debugging"].seq if backend_kind == "remote" else 0
    outcomes = student.run_kit("calls.each", function, [["fine"], ["shape"], ["weird"], ["key"], [["a", 1]]])
    assert outcomes == [["ok", "fine"], ["raised", "ShapeError", "bad shape"], ["raised", "Weird", "weird message"],
                        ["raised", "KeyError", "'k'"], ["ok", ["a", 1]]]
    if backend_kind == "remote":
        assert backend._parts["debugging"].seq == requests + 1
        with pytest.raises(RuntimeError) as info:  # not an Exception: it ends the whole run, as in a single call
            student.run_kit("calls.each", function, [["fine"], ["exit"], ["fine"]])
        assert info.value.original_type == "SystemExit"
        assert backend.part_status("debugging") == "ok"
    with pytest.raises(ValueError, match="argument lists"):
        student.run_kit("calls.each", function, ["not a list of lists"])


PERTURBED = """
    import numpy as np

    class Model:
        def __init__(self):
            self.W = np.zeros(2)
            self.seen = []

        def forward(self, X):
            if self.W[0] < 0:
                raise ValueError("negative weight")
            X += 1  # the same X every call, as in a loop
            self.seen.append(float(X[0]))
            return X * self.W.sum()
"""


@pytest.mark.parametrize("backend_kind", ["remote", "in-process"])
def test_each_with_attribute_sets_then_calls_in_one_request(tmp_path, remote_factory, backend_kind):
    folder = write_submission(tmp_path, backprop=PERTURBED)
    backend = remote_factory(folder) if backend_kind == "remote" else InProcessBackend(folder)
    student = Student(backend, allowed=("backprop",))
    model = student.backprop.Model()
    X = np.zeros(1)
    values = [np.array([1.0, 2.0]), np.array([-1.0, 0.0]), np.array([0.5, 0.5])]
    requests = backend._parts["backprop"].seq if backend_kind == "remote" else 0
    outcomes = student.run_kit("calls.each_with_attribute", model, "W", values, "forward", [X])
    assert [o[0] for o in outcomes] == ["ok", "raised", "ok"]
    np.testing.assert_array_equal(outcomes[0][1], [3.0])  # X was 1 then: 1 * (1 + 2)
    assert outcomes[1][1:] == ["ValueError", "negative weight"]
    np.testing.assert_array_equal(outcomes[2][1], [2.0])  # X was 2 then: 2 * (0.5 + 0.5)
    np.testing.assert_array_equal(model.W, [0.5, 0.5])  # the last value stays
    assert list(model.seen) == [1.0, 2.0]
    np.testing.assert_array_equal(X, [2.0])  # the caller's X is changed as the calls changed it
    if backend_kind == "remote":
        assert backend._parts["backprop"].seq == requests + 3  # the call, then the two attribute reads
    outcome = student.run_kit("calls.each_with_attribute", model, "W", [np.ones(2)], "no_such_method", [X])
    assert outcome[0][:2] == ["raised", "AttributeError"]
    with pytest.raises(ValueError, match="values must be a list"):
        student.run_kit("calls.each_with_attribute", model, "W", "not a list", "forward", [X])


GUARDED = """
    class Guarded:
        def __init__(self):
            self.a = 1

        @property
        def locked(self):
            return "locked"

        @locked.setter
        def locked(self, value):
            raise PermissionError("locked stays locked")

        def __getattr__(self, name):
            if name == "boom":
                raise KeyError("boom")
            raise AttributeError(f"no {name} here")
"""


@pytest.mark.parametrize("backend_kind", ["remote", "in-process"])
def test_set_and_get_attributes_take_one_request_with_the_semantics_of_a_loop(tmp_path, remote_factory,
                                                                                backend_kind):
    folder = write_submission(tmp_path, backprop=GUARDED)
    backend = remote_factory(folder) if backend_kind == "remote" else InProcessBackend(folder)
    obj = Student(backend, allowed=("backprop",)).backprop.Guarded()
    requests = backend._parts["backprop"].seq if backend_kind == "remote" else 0
    set_attributes(obj, {"a": np.arange(3.0), "b": [1, 2]})
    assert get_attributes(obj, ["a", "missing", "b", "locked"]).keys() == {"a", "b", "locked"}
    found = get_attributes(obj, ["a", "b"])
    np.testing.assert_array_equal(found["a"], [0.0, 1.0, 2.0])
    assert found["b"] == [1, 2]
    if backend_kind == "remote":
        assert backend._parts["backprop"].seq == requests + 3
    with pytest.raises(PermissionError, match="locked stays locked"):
        set_attributes(obj, {"c": 3, "locked": 1, "d": 4})
    assert get_attributes(obj, ["c", "d"]) == {"c": 3}  # set in order, up to the one that raised
    with pytest.raises(KeyError):
        get_attributes(obj, ["a", "boom"])


def test_attribute_kit_functions_refuse_bad_input():
    from autograder.kit.calls import MAX_ATTRIBUTES
    from autograder.kit.calls import get_attributes as kit_get
    from autograder.kit.calls import set_attributes as kit_set

    for bad in ("a", [["a"]], [[1, 2]], [("a", 1)], [["a", 1]] * (MAX_ATTRIBUTES + 1)):
        with pytest.raises(ValueError, match="items must be a list"):
            kit_set(object(), bad)
    for bad in ("a", [1], ["a"] * (MAX_ATTRIBUTES + 1)):
        with pytest.raises(ValueError, match="names must be a list"):
            kit_get(object(), bad)


def test_get_attributes_fails_on_a_malformed_answer():
    class Forged:  # what a worker whose kit code was tampered with might answer
        def _get_attributes(self, names):
            return [["ok", 1]]

    with pytest.raises(GradingFailure, match="malformed answer"):
        get_attributes(Forged(), ["a", "b"])


def test_expect_outcomes_accepts_only_a_list_of_outcomes_of_the_right_length():
    good = [["ok", 1], ["raised", "ValueError", "bad"]]
    assert expect_outcomes(good, 2, what="two calls") is good
    for bad in (None, [["ok", 1]], [["maybe", 1], ["ok", 2]], [[], ["ok", 1]], [("ok", 1), ["ok", 2]]):
        with pytest.raises(GradingFailure, match="two calls returned something other than their results"):
            expect_outcomes(bad, 2, what="two calls")


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_a_grading_process_can_take_the_workers_malloc_thresholds():
    code = ("from autograder.sandbox.isolation import fix_malloc_thresholds as f; import sys; "
            "sys.exit(0 if f() else 1)")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


# ---------------------------------------------------------------- timeouts, crashes, restarts

FRAGILE = """
    import os
    import time

    calls = []

    def spin():
        while True:
            pass

    def nap(seconds):
        time.sleep(seconds)
        return seconds

    def die(code):
        os._exit(code)

    def count():
        calls.append(1)
        return len(calls)

    class Thing:
        value = 1
"""


def test_a_call_past_its_deadline_times_out_and_the_next_gets_a_fresh_worker(tmp_path, remote_factory):
    backend = remote_factory(write_submission(tmp_path, debugging=FRAGILE))
    module = backend.module("debugging")
    assert module.count() == 1
    thing = module.Thing()
    backend.set_call_deadline(0.4)
    started = time.monotonic()
    with pytest.raises(StudentTimeout, match="spin"):
        module.spin()
    assert time.monotonic() - started < 3
    backend.set_call_deadline(None)
    assert backend.part_status("debugging") == "timeout"
    assert module.count() == 1  # a fresh worker: the module was imported again
    with pytest.raises(StudentCrashed, match="lost"):
        _ = thing.value
    assert "restarting the worker" in backend.output("debugging")


def test_a_dead_worker_is_a_crash_and_the_next_call_gets_a_fresh_worker(tmp_path, remote_factory):
    backend = remote_factory(write_submission(tmp_path, debugging=FRAGILE))
    module = backend.module("debugging")
    module.count()
    with pytest.raises(StudentCrashed, match="status 3"):
        module.die(3)
    assert backend.part_status("debugging") == "crashed"
    assert module.count() == 1


def test_the_part_budget_once_used_up_fails_every_call_at_once(tmp_path, remote_factory):
    backend = remote_factory(write_submission(tmp_path, debugging=FRAGILE), call_seconds=0.6, part_seconds=0.9)
    module = backend.module("debugging")
    module.nap(0.3)
    module.nap(0.3)
    with pytest.raises(StudentTimeout, match="part"):
        module.nap(0.5)  # only ~0.3 s of the budget are left
    started = time.monotonic()
    with pytest.raises(StudentTimeout, match="part"):
        module.count()
    assert time.monotonic() - started < 0.1
    assert backend.part_status("debugging") == "timeout"


def test_per_part_deadlines_can_be_a_mapping(tmp_path, remote_factory):
    backend = remote_factory(write_submission(tmp_path, debugging=FRAGILE), call_seconds={"debugging": 0.4})
    with pytest.raises(StudentTimeout, match="0.4"):
        backend.module("debugging").nap(3)


# ---------------------------------------------------------------- modules that do not load


@pytest.mark.parametrize("source, status, message", [
    (None, "missing", "was not found"),
    ("def broken(:\n    pass\n", "invalid", "cannot be read"),
    ("raise ImportError('no such thing')\n", "crashed", "raised ImportError: no such thing"),
    ("import os\nos._exit(0)\n", "crashed", "stopped the process"),
    ("while True:\n    pass\n", "timeout", "did not finish"),
])
def test_modules_that_cannot_load(tmp_path, remote_factory, source, status, message):
    modules = {"debugging": source} if source else {"clipping": "X = 1\n"}
    backend = remote_factory(write_submission(tmp_path, **modules), call_seconds=0.5)
    for _ in range(2):  # the same error again, without a new worker
        with pytest.raises(StudentLoadError, match=message) as info:
            backend.module("debugging")
        assert info.value.status == status and info.value.part == "debugging"
    assert backend.part_status("debugging") == status
    assert backend.part_status("clipping") == "ok"


def test_part_five_gets_the_kit_stand_ins(tmp_path, remote_factory):
    folder = write_submission(tmp_path, clipping="raise RuntimeError('broken clipping')\n", training="""
        from backprop import MNISTClassifier
        from clipping import clip_by_global_norm

        def which():
            return clip_by_global_norm.__module__, MNISTClassifier.__name__
    """)
    backend = remote_factory(folder)
    assert backend.module("training").which() == ("autograder.kit.clipping", "GraderMLP")
    with pytest.raises(StudentLoadError, match="broken clipping"):
        backend.module("clipping")


def test_output_is_captured_for_the_logs(tmp_path, remote_factory):
    folder = write_submission(tmp_path, debugging="""
        import sys
        print("hello at import")

        def shout():
            print("hello from a call")
            print("on stderr", file=sys.stderr)
            return 1
    """)
    backend = remote_factory(folder)
    assert backend.module("debugging").shout() == 1
    log = backend.output("debugging")
    assert "hello at import" in log and "hello from a call" in log and "on stderr" in log


def test_the_submission_is_staged_without_symlinks(tmp_path, remote_factory):
    folder = write_submission(tmp_path / "sub", debugging="""
        import os

        def listing():
            return sorted(os.listdir(os.path.dirname(__file__)))
    """)
    (folder / "clipping.py").symlink_to(SOLUTIONS / "clipping.py")
    (folder / "data.txt").write_text("x")
    backend = remote_factory(folder)
    assert backend.module("debugging").listing() == ["data.txt", "debugging.py"]
    with pytest.raises(StudentLoadError) as info:
        backend.module("clipping")
    assert info.value.status == "missing"


def test_closed_backend_refuses_calls(tmp_path):
    backend = RemoteBackend(write_submission(tmp_path, debugging="X = 1\n"), limits=SMALL)
    module = backend.module("debugging")
    assert module.X == 1
    backend.close()
    with pytest.raises(RuntimeError, match="closed"):
        _ = module.X


# ---------------------------------------------------------------- isolation choices


def test_isolation_is_reported():
    plan = launcher.choose_plan(True)
    assert plan.mode == "bwrap"
    assert plan.isolation == ("bwrap+uid65534+rlimits" if os.geteuid() == 0 else "bwrap+rlimits")


@pytest.mark.skipif(os.geteuid() != 0, reason="root reads everything; the check is about the sandbox uid")
def test_unreadable_interpreter_is_named():
    top = Path(tempfile.mkdtemp(prefix="autograder-test-"))  # mode 0700, like a pyenv under /root
    try:
        (top / "python").write_text("")
        assert isolation.unreadable_by(top / "python", 65534, 65534) == str(top)
        os.chmod(top, 0o755)
        assert isolation.unreadable_by(top / "python", 65534, 65534) is None
        os.chmod(top / "python", 0o600)
        assert isolation.unreadable_by(top / "python", 65534, 65534) == str(top / "python")
    finally:
        shutil.rmtree(top)


def test_unreadable_packages_refuse_with_advice(monkeypatch):
    monkeypatch.setattr(launcher, "_plans", {})
    monkeypatch.setattr(launcher.os, "geteuid", lambda: 0)
    monkeypatch.setattr(launcher, "unreadable_paths", lambda *a: ["/root/.pyenv"])
    with pytest.raises(IsolationUnavailable, match=r"cannot read /root/\.pyenv.*pyenv"):
        launcher.choose_plan(True)


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="the uid pool needs root")
def test_without_bubblewrap_isolation_is_refused_or_a_plain_process(tmp_path, monkeypatch):
    monkeypatch.setattr(launcher, "_plans", {})
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    with pytest.raises(IsolationUnavailable, match="apt-get install bubblewrap"):
        RemoteBackend(tmp_path, limits=SMALL)
    folder = write_submission(tmp_path / "sub", debugging="""
        import os
        import time

        def uid():
            return os.getuid()

        def daemon():
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    time.sleep(60)
                os._exit(0)
            return 1
    """)
    backend = RemoteBackend(folder, limits=SMALL, require_isolation=False)
    try:
        assert backend.isolation == "process+uid-drop+rlimits (no bubblewrap)"
        uid = backend.module("debugging").uid()
        first, count = launcher.UID_POOL
        assert first <= uid < first + count
        backend.module("debugging").daemon()
        time.sleep(0.2)
        assert launcher.processes_of_uid(uid)
    finally:
        backend.close()
    assert launcher.processes_of_uid(uid) == []


@pytest.mark.parametrize("backend_kind", ["remote", "in-process"])
def test_run_kit_trains_a_student_model_where_it_lives(reference_pair, backend_kind):
    in_process, remote = reference_pair
    student = Student((remote if backend_kind == "remote" else in_process)._backend, allowed=("backprop",))
    rng = np.random.default_rng(0)
    model = student.backprop.MNISTClassifier((20, 8, 6, 3), rng=rng)
    X, Y = rng.standard_normal((50, 20)), np.eye(3)[rng.integers(0, 3, 50)]
    before = np.array(model.W1, copy=True)
    shuffle = np.random.default_rng(1)
    student.run_kit("training.sgd", model, X, Y, epochs=2, batch_size=10, lr=0.1, rng=shuffle)
    assert not np.allclose(model.W1, before)
    assert shuffle.bit_generator.state == _advanced(np.random.default_rng(1), n=50, epochs=2)


def _advanced(rng, n, epochs):
    for _ in range(epochs):
        rng.permutation(n)
    return rng.bit_generator.state


def test_run_kit_refuses_anything_but_whitelisted_kit_functions(reference_pair):
    student = Student(reference_pair[1]._backend, allowed=("backprop",))
    with pytest.raises(ValueError, match="not a kit function"):
        student.run_kit("os.system", "true")
