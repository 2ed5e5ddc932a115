"""The zygote: one bubblewrap sandbox per submission forks a fresh worker per part (and after a crash or timeout).

What must hold as with one sandbox per worker: a crash, a timeout or a
killed zygote in one part leaves the other parts working (and not marked);
a part's leftovers (processes, files in /tmp) are never inherited by the next
worker; nothing survives close(); and nothing the zygote sends is trusted.
"""
from __future__ import annotations

import json
import os
import socket
import textwrap
import time
from pathlib import Path

import pytest

from autograder.errors import StudentCrashed, StudentTimeout
from autograder.sandbox import codec, launcher
from autograder.sandbox.isolation import WorkerLimits
from autograder.sandbox.remote import RemoteBackend
from tests.project.test_attacks_worker import TIGHT, marker, survivors, zombie_children

pytestmark = pytest.mark.skipif(launcher.choose_plan(False).mode != "bwrap",
                                reason="zygotes run under the bubblewrap sandbox")

SOURCE = """
    import ctypes
    import os
    import signal
    import time

    def fine():
        return ("fine", os.getpid(), sorted(os.listdir("/tmp")))

    def pids():
        return sorted(int(p) for p in os.listdir("/proc") if p.isdigit())

    def die():
        os._exit(3)

    def kill_zygote():
        os.kill(os.getppid(), signal.SIGKILL)
        time.sleep(5)

    def nap():
        time.sleep(30)

    def daemon(tag, then_nap=False):
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                ctypes.CDLL(None).prctl(15, tag.encode(), 0, 0, 0)
                time.sleep(60)
            os._exit(0)
        if then_nap:
            time.sleep(30)
        return "left a daemon"

    def litter():
        with open("/tmp/litter", "w") as file:
            file.write("x")
        return "littered"
"""


@pytest.fixture
def backend(tmp_path):
    folder = tmp_path / "submission"
    folder.mkdir()
    for part in ("debugging", "clipping"):
        (folder / f"{part}.py").write_text(textwrap.dedent(SOURCE))
    made = RemoteBackend(folder, limits=TIGHT, call_seconds=1.0)
    yield made
    made.close()


def pool(backend) -> launcher.SandboxPool:
    return backend._pools[0]


def wait_for(condition, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


def test_parts_share_one_sandbox_each_in_its_own_process(backend):
    first = backend.module("debugging").fine()
    second = backend.module("clipping").fine()
    assert first[0] == second[0] == "fine" and first[1] != second[1]
    assert pool(backend).started == 1


def test_a_crash_then_the_next_call_and_the_next_part_work(backend):
    debugging, clipping = backend.module("debugging"), backend.module("clipping")
    before = clipping.fine()
    with pytest.raises(StudentCrashed, match="exited with status 3"):
        debugging.die()
    assert debugging.fine()[0] == "fine"  # a fresh worker, forked by the same zygote
    assert clipping.fine() == before  # the other part's worker is untouched
    assert backend.part_status("debugging") == "crashed" and backend.part_status("clipping") == "ok"
    assert pool(backend).started == 1


def test_a_timeout_kills_what_the_part_started_and_the_sandbox_is_reused(backend):
    tag = marker()
    debugging = backend.module("debugging")
    with pytest.raises(StudentTimeout):
        debugging.daemon(tag, True)
    assert survivors(tag) == []  # the zygote killed the worker's whole tree, daemon included
    assert debugging.fine()[0] == "fine" and backend.module("clipping").fine()[0] == "fine"
    assert backend.part_status("clipping") == "ok" and pool(backend).started == 1
    time.sleep(0.1)
    assert zombie_children() == []


def test_a_part_killing_the_zygote_affects_no_other_part(backend):
    debugging, clipping = backend.module("debugging"), backend.module("clipping")
    clipping.fine()
    old = pool(backend).current.process
    with pytest.raises(StudentCrashed):
        debugging.kill_zygote()
    assert wait_for(lambda: old._popen.poll() is not None)  # the harness killed that sandbox
    assert debugging.fine()[0] == "fine"
    assert clipping.fine()[0] == "fine"  # restarted in the new sandbox, not blamed
    assert backend.part_status("clipping") == "ok"
    assert pool(backend).started == 2


def test_leftovers_are_never_inherited_by_the_next_worker(backend):
    tag = marker()
    debugging = backend.module("debugging")
    assert debugging.daemon(tag) == "left a daemon" and debugging.litter() == "littered"
    assert wait_for(lambda: survivors(tag))
    clipping = backend.module("clipping")
    assert clipping.fine()[2] == [] and clipping.pids() == [1, 2, 3]  # a new sandbox: no litter, no daemon
    assert pool(backend).started == 2
    assert debugging.fine()[2] == ["litter"]  # the first part keeps its worker and its files
    backend.close()
    assert survivors(tag) == []


def test_nothing_survives_close_with_several_sandboxes(backend):
    tag = marker()
    debugging = backend.module("debugging")
    debugging.daemon(tag)
    backend.module("clipping").fine()  # forked in a second sandbox
    assert wait_for(lambda: survivors(tag))
    zygotes = [sandbox.process for sandbox in pool(backend).sandboxes]
    assert len(zygotes) == 2
    own = [pid for zygote in zygotes for pid in (zygote._popen.pid, zygote._ns_pid)]
    backend.close()
    assert survivors(tag) == []
    assert [pid for pid in own if Path(f"/proc/{pid}").exists()] == []
    assert zombie_children() == []


# ---------------------------------------------------------------- nothing the zygote sends is trusted


def open_fds() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


@pytest.fixture
def fake_zygote(tmp_path):
    """A Sandbox that was never started, and the socket end its zygote would hold."""
    sandbox = launcher.Sandbox(launcher.choose_plan(False), tmp_path, WorkerLimits(), codec.DEFAULT_LIMITS,
                               launcher.OutputLog(4096))
    sandbox.control.setblocking(False)
    yield sandbox, sandbox._child
    sandbox.kill()
    sandbox._child.close()


def pipe_ends():
    req_r, req_w = os.pipe()
    resp_r, resp_w = os.pipe()
    out_r, out_w = os.pipe()
    return [req_w, resp_r, out_r], [req_r, resp_w, out_w]


def test_check_pipe_ends_accepts_only_three_pipe_ends_of_the_right_direction(tmp_path):
    good, other = pipe_ends()
    launcher.check_pipe_ends(good)
    a, b = socket.socketpair()
    file = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT)
    for fds in ([good[0], good[1]], [other[0], good[1], good[2]], [good[0], other[1], good[2]],
                [good[0], a.fileno(), good[2]],
                [good[0], good[1], file], [good[0], good[1], good[2], good[2]]):
        with pytest.raises(launcher.SandboxBroken):
            launcher.check_pipe_ends(fds)
    for fd in good + other + [file]:
        os.close(fd)
    a.close()
    b.close()


@pytest.mark.parametrize("forgery", ["socket", "wrong_end", "four_fds", "fds_with_exit", "oversized", "not_json",
                                     "unknown_exit", "pid_reused"])
def test_a_forged_answer_breaks_the_sandbox_and_leaks_no_descriptor(fake_zygote, tmp_path, forgery):
    sandbox, zygote = fake_zygote
    good, other = pipe_ends()
    s1, s2 = socket.socketpair()
    before = open_fds()
    message = {"forked": 7}
    fds = good
    if forgery == "socket":
        fds = [good[0], s1.fileno(), good[2]]
    elif forgery == "wrong_end":
        fds = [other[0], good[1], good[2]]
    elif forgery == "four_fds":
        fds = good + [other[0]]
    elif forgery == "fds_with_exit":
        sandbox.exits[7] = None
        message = {"exited": [7, 0]}
    elif forgery == "unknown_exit":
        message, fds = {"exited": [99, 0]}, []
    elif forgery == "pid_reused":
        sandbox.exits[7] = 0
    payload = json.dumps(message).encode()
    if forgery == "oversized":
        payload = json.dumps({"refused": "x" * 10_000}).encode()
    elif forgery == "not_json":
        payload = b"\xff" * 10
    socket.send_fds(zygote, [payload], fds) if fds else zygote.send(payload)
    with pytest.raises(launcher.SandboxBroken):
        sandbox.fork({}, 1.0)
    assert sandbox.broken
    assert open_fds() <= before | {sandbox.control.fileno()}  # every descriptor it sent was closed
    for fd in good + other:
        os.close(fd)
    s1.close()
    s2.close()


def test_a_silent_zygote_is_given_up_on(fake_zygote):
    sandbox, _ = fake_zygote
    started = time.monotonic()
    with pytest.raises(launcher.SandboxBroken, match="did not answer"):
        sandbox.fork({}, 0.3)
    assert time.monotonic() - started < 2 and sandbox.broken
