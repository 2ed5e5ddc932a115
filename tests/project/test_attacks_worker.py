"""One small test per threat a hostile submission poses to the worker sandbox.

Every attack runs through a real RemoteBackend with small limits (512 MB of
address space, 16 processes, a 16 MB /tmp, 64 KB of kept output) and short
deadlines, so that a regression fails a test instead of harming the machine:
the fork bomb forks at most 500 times, the memory bomb asks for 16 GB that
RLIMIT_AS refuses, the busy loops are killed after a second or two.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from autograder.config import Limits
from autograder.errors import StudentCrashed, StudentLoadError, StudentRaised, StudentTimeout
from autograder.sandbox import launcher
from autograder.sandbox.remote import RemoteBackend, RemoteHandle

ROOT = Path(__file__).resolve().parents[2]
TIGHT = Limits(call_seconds=2.0, part_seconds=30.0, memory_mb=512, output_kb=64, processes=16, tmpfs_mb=16)

pytestmark = pytest.mark.skipif(launcher.choose_plan(False).mode != "bwrap",
                                reason="these attacks need the bubblewrap sandbox")


@pytest.fixture
def attack(tmp_path):
    """``attack(source, **limits)`` -> (backend, module): ``source`` becomes the student's ``debugging.py``."""
    made = []

    def make(source, **options):
        folder = tmp_path / f"submission{len(made)}"
        folder.mkdir()
        (folder / "debugging.py").write_text(textwrap.dedent(source))
        options.setdefault("limits", TIGHT)
        backend = RemoteBackend(folder, **options)
        made.append(backend)
        return backend, (lambda: backend.module("debugging"))

    yield make
    for backend in made:
        backend.close()


def marker() -> str:
    return f"ag{uuid.uuid4().hex[:10]}"  # fits in a 15-character process name


def survivors(tag: str) -> list[int]:
    """Pids whose command line or process name carries ``tag``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        for name in ("cmdline", "comm"):
            try:
                if tag.encode() in Path(f"/proc/{entry}/{name}").read_bytes():
                    found.append(int(entry))
                    break
            except OSError:
                pass
    return found


def zombie_children() -> list[int]:
    me = str(os.getpid())
    zombies = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] == "Z" and fields[1] == me:
                zombies.append(int(entry))
    return zombies


# ---------------------------------------------------------------- what the worker is


def test_the_worker_is_unprivileged_limited_and_alone(attack):
    backend, module = attack("""
        import ctypes
        import os
        import resource
        import socket

        def describe():
            libc = ctypes.CDLL(None, use_errno=True)
            with open("/proc/self/status") as status:
                caps = [line.split()[1] for line in status if line.startswith(("CapEff", "CapPrm", "CapBnd"))]
            limits = {name: resource.getrlimit(getattr(resource, "RLIMIT_" + name))[1]
                      for name in ("AS", "CPU", "NPROC", "FSIZE", "NOFILE", "CORE")}
            return {"uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(), "caps": caps,
                    "limits": limits, "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
                    "host": socket.gethostname(), "nested_userns": libc.unshare(0x10000000),
                    "cwd": os.getcwd(), "env": sorted(os.environ)}
    """)
    found = module().describe()
    if os.geteuid() == 0:
        assert (found["uid"], found["gid"], found["groups"]) == (65534, 65534, [])
    assert set(found["caps"]) == {"0000000000000000"}
    assert found["limits"] == {"AS": TIGHT.memory_mb << 20, "CPU": int(TIGHT.part_seconds) + 12,
                               "NPROC": TIGHT.processes, "FSIZE": 16 << 20, "NOFILE": 32, "CORE": 0}
    assert found["pids"] == [1, 2, 3] and found["host"] == "sandbox"  # bwrap's init, the zygote, the worker
    assert found["nested_userns"] == -1 and found["cwd"] == "/tmp"
    assert "PATH" in found["env"] and not any(name.startswith(("PYTEST", "VIRTUAL_ENV")) for name in found["env"])


# ---------------------------------------------------------------- endless code


def test_busy_loop_at_import_is_a_load_timeout(attack):
    backend, module = attack("while True:\n    pass\n", call_seconds=0.5)
    started = time.monotonic()
    with pytest.raises(StudentLoadError) as info:
        module()
    assert info.value.status == "timeout" and time.monotonic() - started < 3
    assert backend.part_status("debugging") == "timeout"


def test_busy_loop_in_a_call_is_killed(attack):
    tag = marker()
    backend, module = attack(f"""
        import ctypes

        def spin():
            ctypes.CDLL(None).prctl(15, b"{tag}", 0, 0, 0)
            while True:
                pass
    """, call_seconds=0.5)
    started = time.monotonic()
    with pytest.raises(StudentTimeout):
        module().spin()
    assert time.monotonic() - started < 3
    assert survivors(tag) == []


def test_sleep_ignoring_signals_is_killed(attack):
    backend, module = attack("""
        import signal
        import time

        def hide():
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGALRM):
                signal.signal(sig, signal.SIG_IGN)
            time.sleep(600)
    """, call_seconds=0.5)
    started = time.monotonic()
    with pytest.raises(StudentTimeout):
        module().hide()
    assert time.monotonic() - started < 3


# ---------------------------------------------------------------- resources


def test_memory_bomb_is_a_memory_error_not_a_host_oom(attack):
    backend, module = attack("""
        import numpy as np

        def bomb():
            return np.ones(2 * 1024 ** 3).sum()  # 16 GB of float64

        def bytes_bomb():
            return len(bytearray(16 << 30))

        def fine():
            return float(np.ones(1000).sum())
    """)
    for call in ("bomb", "bytes_bomb"):
        with pytest.raises(MemoryError) as info:
            getattr(module(), call)()
        assert isinstance(info.value, StudentRaised)
    assert module().fine() == 1000.0


def test_fork_bomb_is_capped_and_leaves_nothing_behind(attack):
    tag = marker()
    backend, module = attack(f"""
        import ctypes
        import os
        import time

        def bomb():
            forked = 0
            for _ in range(500):
                try:
                    pid = os.fork()
                except OSError:
                    break
                if pid == 0:
                    ctypes.CDLL(None).prctl(15, b"{tag}", 0, 0, 0)
                    time.sleep(60)
                    os._exit(0)
                forked += 1
            return forked
    """)
    forked = module().bomb()
    assert 0 < forked < TIGHT.processes
    deadline = time.monotonic() + 10  # the last children may not have renamed themselves yet
    while len(survivors(tag)) < forked and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(survivors(tag)) == forked
    backend.close()
    assert survivors(tag) == []


EXITS = """
    import os
    import signal
    import sys
    import time

    def leave(how):
        if how == "exit":
            sys.exit(3)
        if how == "system_exit":
            raise SystemExit
        if how == "interrupt":
            raise KeyboardInterrupt
        if how == "sigint":
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
        if how == "_exit":
            os._exit(0)
        if how == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        if how == "killpg":
            os.killpg(0, signal.SIGKILL)
        if how == "init":
            os.kill(1, signal.SIGKILL)
            return "init ignores it"

    def fine():
        return "still here"
"""


@pytest.fixture(scope="module")
def exits_backend(tmp_path_factory):
    folder = tmp_path_factory.mktemp("exits")
    (folder / "debugging.py").write_text(textwrap.dedent(EXITS))
    backend = RemoteBackend(folder, limits=TIGHT)
    yield backend
    backend.close()


@pytest.mark.parametrize("call, outcome", [
    ("exit", RuntimeError),
    ("system_exit", RuntimeError),
    ("interrupt", RuntimeError),
    ("sigint", RuntimeError),
    ("_exit", StudentCrashed),
    ("sigkill", StudentCrashed),
    ("killpg", StudentCrashed),
    ("init", None),  # the pid namespace's init is immune to its children
])
def test_exits_and_interrupts_fail_that_call_only(exits_backend, call, outcome):
    module = exits_backend.module("debugging")
    if outcome is None:
        assert module.leave(call) == "init ignores it"
        return
    with pytest.raises(outcome) as info:
        module.leave(call)
    if outcome is RuntimeError:
        assert isinstance(info.value, StudentRaised)
        assert info.value.original_type in ("SystemExit", "KeyboardInterrupt")
    assert module.fine() == "still here"


def test_exit_at_import_is_a_crashed_load(attack):
    backend, module = attack("import sys\nsys.exit(0)\n")
    with pytest.raises(StudentLoadError, match="SystemExit") as info:
        module()
    assert info.value.status == "crashed"


def test_the_harness_cannot_be_signalled(attack):
    backend, module = attack("""
        import os
        import signal

        def strike(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                return "no such process"
            return "sent"
    """)
    assert module().strike(os.getpid()) == "no such process"


# ---------------------------------------------------------------- tampering and snooping


def test_monkeypatching_numpy_in_the_worker_does_not_reach_the_harness(attack):
    backend, module = attack("""
        import numpy as np
        import numpy.testing

        np.allclose = np.isclose = np.array_equal = lambda *a, **k: True
        numpy.testing.assert_allclose = lambda *a, **k: None

        def claims():
            return bool(np.allclose(1.0, 2.0))
    """)
    assert module().claims() is True
    assert not np.allclose(1.0, 2.0) and not np.array_equal([1], [2])
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(1.0, 2.0)


def test_replacing_the_workers_encoder_only_breaks_the_worker(attack):
    backend, module = attack("""
        from autograder.sandbox import codec

        def sabotage():
            codec.Encoder.frame = lambda self, root: [b"AGW1" + b"\\xff" * 12]
            return "full marks"
    """)
    with pytest.raises(StudentCrashed, match="protocol|malformed"):
        module().sabotage()


def test_the_reference_and_hidden_tests_are_unreachable(attack):
    backend, module = attack("""
        import importlib
        import os

        def snoop(paths):
            found = {}
            for path in paths:
                try:
                    with open(path) as file:
                        found[path] = file.read(100)
                except OSError as exc:
                    found[path] = type(exc).__name__
            for name in ("solutions", "solutions.clipping", "tests.grading", "tests"):
                try:
                    importlib.import_module(name)
                    found[name] = "imported"
                except ImportError as exc:
                    found[name] = type(exc).__name__
            found["/"] = sorted(os.listdir("/"))
            found["grader"] = sorted(os.listdir("/opt/grader/lib"))
            return found
    """)
    paths = [str(ROOT / "solutions" / "clipping.py"), str(ROOT / "tests" / "grading" / "README.md"),
             str(ROOT / "course.toml"), "/etc/passwd", "/root/.bashrc", "/proc/1/root/etc/passwd",
             str(ROOT / "autograder" / ".." / "solutions" / "clipping.py")]
    found = module().snoop(paths)
    for path in paths:
        assert found[path] in ("FileNotFoundError", "PermissionError"), path
    for name in ("solutions", "solutions.clipping", "tests.grading", "tests"):
        assert found[name] == "ModuleNotFoundError", name
    assert set(found["/"]) <= {"dev", "lib", "lib32", "lib64", "libx32", "opt", "proc", "submission", "tmp", "usr"}
    assert found["grader"] == ["autograder"]


def test_environment_secrets_are_not_visible(attack, monkeypatch):
    monkeypatch.setenv("SECRET", "hunter2-" + marker())
    backend, module = attack("""
        import os

        def leak():
            found = dict(os.environ)
            for path in ("/proc/self/environ", "/proc/1/environ"):
                try:
                    found[path] = open(path, "rb").read().decode(errors="replace")
                except OSError as exc:
                    found[path] = type(exc).__name__
            return found
    """)
    found = module().leak()
    assert "SECRET" not in found and "hunter2" not in json.dumps(found)


def test_writes_outside_tmp_fail_and_tmp_is_private_and_small(attack):
    tag = marker()
    backend, module = attack(f"""
        def scribble():
            found = {{}}
            for path in ("/{tag}", "/submission/{tag}.py", "/opt/grader/lib/autograder/{tag}.py",
                         "/usr/lib/python3.11/{tag}.py", "/dev/{tag}", "/tmp/{tag}", "/dev/shm/{tag}"):
                try:
                    with open(path, "w") as file:
                        file.write("x")
                    found[path] = "written"
                except OSError as exc:
                    found[path] = type(exc).__name__
            try:
                with open("/tmp/big", "wb") as file:
                    for _ in range(40):
                        file.write(b"x" * (1 << 20))
                found["big"] = "written"
            except OSError as exc:
                found["big"] = type(exc).__name__
            return found
    """)
    found = module().scribble()
    assert found.pop(f"/tmp/{tag}") == "written" and found.pop(f"/dev/shm/{tag}") == "written"
    assert found.pop("big") == "OSError"
    assert all(outcome == "OSError" for outcome in found.values()), found
    assert not Path(f"/tmp/{tag}").exists() and not (ROOT / "autograder" / f"{tag}.py").exists()


def test_loopback_network_is_unreachable(attack):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.3)
    port = listener.getsockname()[1]
    backend, module = attack("""
        import socket

        def call_home(port):
            outcomes = []
            for host in ("127.0.0.1", "10.0.0.1", "1.1.1.1"):
                try:
                    socket.create_connection((host, port), timeout=1).close()
                    outcomes.append("connected")
                except OSError as exc:
                    outcomes.append(type(exc).__name__)
            return outcomes
    """)
    try:
        outcomes = module().call_home(port)
        assert "connected" not in outcomes
        with pytest.raises(socket.timeout):
            listener.accept()
    finally:
        listener.close()


@pytest.mark.slow
def test_huge_output_is_capped(attack):
    backend, module = attack("""
        import sys

        def chatter():
            chunk = "x" * (1 << 20)
            for _ in range(200):
                sys.stdout.write(chunk)
            print("the end", file=sys.stderr)
            return "done"
    """, call_seconds=20.0)
    assert module().chatter() == "done"
    log = backend.output("debugging")
    assert len(log) <= TIGHT.output_kb * 1024 + 200
    assert "bytes of output dropped" in log and "the end" in log


# ---------------------------------------------------------------- what comes back is only data

NEUTRALISED = """
    import os
    import pickle

    import numpy as np

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch {canary}",))

    class Liar(float):
        def __eq__(self, other):
            return True

        def __ne__(self, other):
            return False

        __hash__ = float.__hash__

    class LyingInt(int):
        def __eq__(self, other):
            return True

    class LyingStr(str):
        def __eq__(self, other):
            return True

    class LyingDict(dict):
        def __eq__(self, other):
            return True

    class LyingArray(np.ndarray):
        def __eq__(self, other):
            return np.ones(np.shape(other), dtype=bool)

        def __array_finalize__(self, obj):
            pass

    def evil():
        return Evil()

    def pickled():
        return pickle.dumps(Evil())

    def objects():
        return np.array([Evil(), 1], dtype=object)

    def subclass():
        return np.arange(3.0).view(LyingArray)

    def liars():
        return [Liar(1.0), LyingInt(2), LyingStr("x"), LyingDict(a=1), np.float64(3.5), (Liar(4.0),)]
"""


def test_hostile_return_values_are_neutralised(attack, tmp_path):
    canary = tmp_path / "pwned"
    backend, module = attack(NEUTRALISED.format(canary=canary))
    for name in ("evil", "pickled", "objects", "subclass"):
        value = getattr(module(), name)()
        assert isinstance(value, RemoteHandle), name
    liars = module().liars()
    assert [type(v) for v in liars] == [float, int, str, dict, float, tuple] and type(liars[5][0]) is float
    assert liars[:5] == [1.0, 2, "x", {"a": 1}, 3.5]
    assert liars[0] != 2.0 and liars[1] != 3 and liars[2] != "y" and liars[3] != {}
    assert not canary.exists()


@pytest.mark.parametrize("payload", ["object_dtype", "pickle", "huge_header", "huge_buffer", "fake_sync"])
def test_forged_frames_on_the_protocol_pipe_are_refused(attack, tmp_path, payload):
    canary = tmp_path / "pwned"
    backend, module = attack(f"""
        import json
        import os
        import pickle
        import struct
        import sys
        import time

        class Evil:
            def __reduce__(self):
                return (os.system, ("touch {canary}",))

        def frame(header, buffers=()):
            head = json.dumps(header).encode()
            return (struct.pack("<4sII", b"AGW1", len(head), len(buffers))
                    + struct.pack(f"<{{len(buffers)}}Q", *map(len, buffers)) + head + b"".join(buffers))

        def forge(kind, seq):
            fd = json.loads(sys.argv[1])["fds"][1]
            blob = pickle.dumps([Evil()])
            data = {{
                "object_dtype": frame({{"objs": [{{"A": [0, "|O", [1], True]}}],
                                       "root": {{"T": [{{"@": 0}}]}}}}, [blob]),
                "pickle": blob,
                "huge_header": struct.pack("<4sII", b"AGW1", 2**32 - 1, 0),
                "huge_buffer": struct.pack("<4sIIQ", b"AGW1", 2, 1, 2**62),
                "fake_sync": frame({{"objs": [{{"D": {{"seq": seq, "ok": True, "value": None,
                                                      "sync": {{"T": [{{"T": [99, "content", 1]}}]}}}}}}],
                                     "root": {{"@": 0}}}}),
            }}[kind]
            os.write(fd, data)
            time.sleep(5)
    """)
    m = module()
    seq = backend._parts["debugging"].seq + 1
    started = time.monotonic()
    with pytest.raises(StudentCrashed):
        m.forge(payload, seq)
    assert time.monotonic() - started < 1.5
    assert backend.part_status("debugging") == "crashed"
    assert not canary.exists()


# ---------------------------------------------------------------- nothing outlives grading


def test_no_process_survives_close(attack):
    tag = marker()
    backend, module = attack(f"""
        import os
        import threading
        import time

        def scatter():
            threading.Thread(target=time.sleep, args=(60,), daemon=False).start()
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    os.execv("/usr/bin/python3.11", ["python3.11", "-c", "import time; time.sleep(60)", "{tag}"])
                os._exit(0)
            return os.getpid()
    """)
    module().scatter()
    deadline = time.monotonic() + 3
    while not survivors(tag) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert survivors(tag), "the daemon should be running before close()"
    zygote = backend._parts["debugging"].worker.sandbox.process
    own = [zygote._popen.pid, zygote._ns_pid]  # bwrap outside, the pid namespace's init inside
    backend.close()
    assert survivors(tag) == []
    assert [pid for pid in own if Path(f"/proc/{pid}").exists()] == []
    assert zombie_children() == []


@pytest.mark.slow
def test_nothing_survives_the_grader_being_killed(tmp_path):
    tag = marker()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "debugging.py").write_text(textwrap.dedent(f"""
        import os
        import time

        def linger():
            if os.fork() == 0:
                os.setsid()
                os.execv("/usr/bin/python3.11", ["python3.11", "-c", "import time; time.sleep(60)", "{tag}"])
            time.sleep(60)
    """))
    grader = tmp_path / "grader.py"
    grader.write_text(textwrap.dedent(f"""
        from autograder.config import Limits
        from autograder.sandbox.remote import RemoteBackend

        backend = RemoteBackend({str(tmp_path / "sub")!r}, limits=Limits(memory_mb=512, processes=16, tmpfs_mb=16))
        backend.module("debugging").linger()
    """))
    process = subprocess.Popen([sys.executable, str(grader)])
    try:
        deadline = time.monotonic() + 15
        while not survivors(tag) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert survivors(tag), "the sandboxed daemon should be running"
    finally:
        process.kill()
        process.wait()
    deadline = time.monotonic() + 5
    while survivors(tag) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert survivors(tag) == []


def test_a_worker_that_dies_between_calls_is_a_crash(attack):
    backend, module = attack("""
        import os
        import threading
        import time

        def later():
            threading.Timer(0.2, os._exit, args=(0,)).start()
            return "returned"

        def fine():
            return "fresh"
    """)
    assert module().later() == "returned"
    time.sleep(0.6)
    assert module().fine() == "fresh"
    assert backend.part_status("debugging") == "crashed"


def test_a_timed_out_worker_leaves_no_zombie(attack):
    backend, module = attack("import time\ndef nap():\n    time.sleep(30)\n", call_seconds=0.5)
    with pytest.raises(StudentTimeout):
        module().nap()
    time.sleep(0.1)
    assert zombie_children() == []

