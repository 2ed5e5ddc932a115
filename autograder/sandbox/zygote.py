"""The zygote: one per sandbox, it imports NumPy, the codec and the kit once and forks a fresh worker per part.

Started by :class:`autograder.sandbox.launcher.Sandbox` under bubblewrap
exactly like a worker (same command line, uid, limits, cleared environment,
read-only binds), with one more descriptor: its end of an ``AF_UNIX``
``SOCK_SEQPACKET`` socket to the harness. It lowers its limits to the
largest of the parts', says hello on its protocol pipe like a worker, closes
that pipe and serves JSON messages on the socket (one message per packet):

* ``{"op": "fork", "config": {...}}``: if the sandbox is clean (no process but
  bubblewrap's init, the zygote and the live workers; ``/tmp`` and
  ``/dev/shm`` empty), fork a worker: the child starts a new session, becomes
  the subreaper of everything it starts, sends its stdout/stderr to a pipe of
  its own and runs :func:`autograder.sandbox.worker.run` (its own limits, its
  own descriptors only). Answer ``{"forked": pid}`` with the harness's ends of
  its request, response and output pipes (``SCM_RIGHTS``), or
  ``{"refused": why}`` (the harness then starts a new sandbox).
* ``{"op": "kill", "pid": pid}``: SIGKILL that worker and every process
  under it, reap it, answer ``{"killed": pid}``.
* unasked, ``{"exited": [pid, wait status]}`` when a worker ends; the
  processes it left behind are killed at once.

The zygote runs no student code, but its children run as the same uid in the
same namespaces: it makes itself non-dumpable (no ``ptrace``, no
``/proc/<pid>/fd`` or ``pidfd_getfd`` on its socket; a worker closes that
socket and is dumpable again, as a worker started on its own), and the harness trusts
nothing it says (see ``launcher.Sandbox``). If a worker kills it, its
workers live on under bubblewrap's init (which exits only when no process is
left), but the harness sees the socket close and kills the whole sandbox.
"""
from __future__ import annotations

import ctypes
import gc
import json
import os
import select
import signal
import socket
import sys
import time

from autograder.sandbox.worker import _close_inherited_fds, _flush_stdio, apply_limits, run

_PR_SET_DUMPABLE = 4
_PR_SET_CHILD_SUBREAPER = 36
_MAX_REQUEST = 1 << 16
_KILL_ROUNDS = 200


def _prctl(option: int, value: int) -> None:
    ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


def _processes() -> dict[int, tuple[int, str]]:
    """``{pid: (ppid, state)}`` of every process in the sandbox's pid namespace."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as stat:
                    fields = stat.read().rsplit(b")", 1)[1].split()
                found[int(entry)] = (int(fields[1]), fields[0].decode("ascii", "replace"))
            except (OSError, IndexError, ValueError):
                continue
    return found


class Zygote:
    def __init__(self, sock_fd: int):
        self.sock = socket.socket(fileno=sock_fd)
        self.workers: set[int] = set()
        self.me = os.getpid()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        signal.set_wakeup_fd(self.wake_w)

    def send(self, message: dict, fds=()) -> None:
        data = json.dumps(message).encode()
        if fds:
            socket.send_fds(self.sock, [data], list(fds))
        else:
            self.sock.send(data)

    def serve(self) -> None:
        while True:
            ready, _, _ = select.select([self.sock, self.wake_r], [], [])
            if self.wake_r in ready:
                while os.read(self.wake_r, 512) == 512:
                    pass
                self.reap()
            if self.sock in ready:
                data = self.sock.recv(_MAX_REQUEST)
                if not data:
                    return  # the harness is gone
                request = json.loads(data)
                if request["op"] == "fork":
                    self.fork(request["config"])
                elif request["op"] == "kill":
                    self.kill(int(request["pid"]))

    # ------------------------------------------------------------ children

    def reap(self) -> None:
        """Collect ended children; report the workers among them and kill what they left behind."""
        if self._collect():
            self.sweep(set())

    def _collect(self) -> bool:
        """Reap every ended child; report ended workers (``True`` if there was one)."""
        ended = False
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid in self.workers:
                self.workers.discard(pid)
                ended = True
                self.send({"exited": [pid, status]})
        return ended

    def sweep(self, doomed: set[int]) -> None:
        """SIGKILL ``doomed`` workers and everything under them, and every process a dead worker left behind.

        The zygote and each worker are subreapers, so a worker's descendants stay
        under it while it lives and come to the zygote when it dies: anything
        under the zygote that is not a live worker's is a leftover.
        """
        for _ in range(_KILL_ROUNDS):
            procs = _processes()
            children: dict[int, list[int]] = {}
            for pid, (ppid, _state) in procs.items():
                children.setdefault(ppid, []).append(pid)
            roots = [pid for pid in children.get(self.me, ()) if pid not in self.workers]
            roots += [pid for pid in doomed if pid in procs]
            victims, todo = set(), list(roots)
            while todo:
                pid = todo.pop()
                if pid not in victims:
                    victims.add(pid)
                    todo.extend(children.get(pid, ()))
            victims = {pid for pid in victims if procs[pid][1] != "Z"}
            if not victims:
                break
            for pid in victims:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.001)
            self._collect()
        self._collect()

    def dirt(self) -> str:
        """Why a new worker would not start as in a fresh sandbox ('' when it would)."""
        extra = set(_processes()) - {1, self.me} - self.workers
        if extra:
            return f"{len(extra)} processes left by earlier workers"
        for folder in ("/tmp", "/dev/shm"):
            try:
                if os.listdir(folder):
                    return f"files left in {folder}"
            except OSError:
                pass
        return ""

    def fork(self, config: dict) -> None:
        self.sweep(set())
        why = self.dirt()
        if why:
            self.send({"refused": why})
            return
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        out_r, out_w = os.pipe()
        _flush_stdio()
        try:
            pid = os.fork()
        except OSError as exc:
            for fd in (req_r, req_w, resp_r, resp_w, out_r, out_w):
                os.close(fd)
            self.send({"refused": f"fork failed: {exc.strerror}"})
            return
        if pid == 0:
            try:
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                os.setsid()
                os.dup2(out_w, 1)
                os.dup2(out_w, 2)
                self.sock.close()  # the zygote's socket and wake-up pipe are not the worker's
                os.close(self.wake_r)
                os.close(self.wake_w)
                _prctl(_PR_SET_DUMPABLE, 1)  # as a worker started on its own is: it holds nothing of the zygote's
                _prctl(_PR_SET_CHILD_SUBREAPER, 1)
                import numpy as np

                np.random.seed()  # a fresh process would draw a fresh seed too
                config = dict(config, fds=[req_r, resp_w])
                sys.argv[1:] = [json.dumps(config)]  # as if started on its own
                run(config)
            finally:
                os._exit(70)
        self.workers.add(pid)
        for fd in (req_r, resp_w, out_w):
            os.close(fd)
        try:
            self.send({"forked": pid}, [req_w, resp_r, out_r])
        finally:
            for fd in (req_w, resp_r, out_r):
                os.close(fd)

    def kill(self, pid: int) -> None:
        if pid in self.workers:
            self.workers.discard(pid)  # reaped below without an "exited" report
            self.sweep({pid})
        self.send({"killed": pid})


def main(config: dict) -> None:
    """Entry point of the zygote (from ``worker.main``); never returns."""
    applied = apply_limits({name: tuple(value) for name, value in config.get("rlimits", {}).items()})
    req_fd, resp_fd = config["fds"]
    sock_fd = int(config["zygote"])
    _close_inherited_fds({req_fd, resp_fd, sock_fd})
    sys.dont_write_bytecode = True
    _prctl(_PR_SET_DUMPABLE, 0)
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    import numpy  # noqa: F401 - what every worker needs, imported once

    import autograder.kit.calls  # noqa: F401
    import autograder.kit.clipping  # noqa: F401
    import autograder.kit.registry  # noqa: F401
    import autograder.kit.training  # noqa: F401
    from autograder.sandbox import codec  # noqa: F401
    from autograder.sandbox.worker import Server

    Server(dict(config, part="zygote", folder="/")).hello(applied, False, zygote=True)
    os.close(req_fd)
    os.close(resp_fd)
    gc.freeze()  # the workers' collections never walk (and so never copy) what they share with the zygote
    try:
        Zygote(sock_fd).serve()
    finally:
        _flush_stdio()
        os._exit(0)
