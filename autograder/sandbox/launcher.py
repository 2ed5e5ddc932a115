"""Start one worker with the strongest isolation this machine offers, talk to it, and stop it for good.

:func:`choose_plan` decides once per process (and per uid) how workers run,
trying the real thing first:

* ``bwrap``: as root, drop to the sandbox uid, then bubblewrap with every
  namespace unshared (see :mod:`~autograder.sandbox.isolation`);
* ``process``: no bubblewrap or no user namespaces: a plain process with
  rlimits and, as root, a uid leased for this worker alone (so that its
  processes can be found and killed, and its process count is its own).
  Weaker (it sees the host's files and network); allowed only when the
  caller passes ``require_isolation=False``.

Under bubblewrap, workers are forked by a zygote: a :class:`SandboxPool`
holds a submission's :class:`Sandbox` (one, while it stays clean), each
running :mod:`~autograder.sandbox.zygote`; see ``docs/architecture.md``,
"Sandboxes and zygotes".

A :class:`Worker` is one process: its protocol pipes, the pipe its
stdout/stderr go to (drained into a capped :class:`OutputLog` while the
harness waits), and the process ids needed to kill everything it started:
the pid namespace's init from bwrap's ``--info-fd`` (killed through a
pidfd, which takes the whole namespace down) or, for a plain process, every
process of its leased uid. The harness is a child subreaper: sandbox
processes orphaned by a killed parent come to it, and :func:`reap_orphans`
collects them, so nothing is left as a zombie.
"""
from __future__ import annotations

import ctypes
import fcntl
import json
import os
import pwd
import select
import selectors
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from autograder.errors import IsolationUnavailable
from autograder.sandbox import codec
from autograder.sandbox.isolation import (
    SANDBOX_GID,
    SANDBOX_UID,
    SUBMISSION_MOUNT,
    HostLayout,
    WorkerLimits,
    bwrap_command,
    describe,
    host_layout,
    process_command,
    unreadable_paths,
    worker_environment,
)

UID_POOL = (61000, 1000)  # plain-process workers (no bubblewrap) each lease one uid of this range
_READ_CHUNK = 1 << 20
_PIPE_SIZE = 1 << 20
_PR_SET_CHILD_SUBREAPER = 36


class WorkerStartError(Exception):
    """The sandbox or the worker failed before any student code ran: a problem of the machine, not the student."""


class WorkerDied(Exception):
    """The worker exited, was killed or broke the protocol while serving a request."""


class WorkerTimeout(Exception):
    """The worker did not answer before the deadline."""


class OutputLog:
    """What workers printed, capped: the first three quarters of ``cap`` bytes and the last quarter.

    Args:
        cap: bytes kept at most.
    """

    def __init__(self, cap: int):
        self.cap = max(1024, int(cap))
        self._head = bytearray()
        self._tail = bytearray()
        self.dropped = 0
        self.total = 0

    def write(self, data: bytes) -> None:
        self.total += len(data)
        room = self.cap * 3 // 4 - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if data:
            self._tail += data
            excess = len(self._tail) - self.cap // 4
            if excess > 0:
                self.dropped += excess
                del self._tail[:excess]

    def note(self, line: str) -> None:
        """Add a line of the grader's own (worker started, killed, ...)."""
        self.write(f"\n[autograder] {line}\n".encode())

    def text(self) -> str:
        middle = f"\n[... {self.dropped} bytes of output dropped ...]\n".encode() if self.dropped else b""
        return (bytes(self._head) + middle + bytes(self._tail)).decode("utf-8", "replace")


# ---------------------------------------------------------------- process bookkeeping

_subreaper_enabled = False


def _enable_subreaper() -> None:
    """Make this process the reaper of its orphaned descendants, so that killed sandboxes leave no zombies."""
    global _subreaper_enabled
    if _subreaper_enabled:
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    _subreaper_enabled = True


_managed: set[int] = set()  # pids of the Popen objects of live workers: never reaped behind their back
_managed_lock = threading.Lock()


def reap_orphans() -> list[int]:
    """Reap sandbox processes that were re-parented to this process (a subreaper) and died.

    Only zombies that are sandbox processes (the sandbox uids, or ``bwrap``)
    and not the ``Popen`` of a live worker: other code's children keep their
    exit status. Their parent was killed before it could reap them (a grading
    job stopped from outside, a bwrap that died before its namespace).
    """
    me = str(os.getpid())
    sandbox_uids = {SANDBOX_UID, *range(UID_POOL[0], UID_POOL[0] + UID_POOL[1])}
    reaped = []
    with _managed_lock:
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) in _managed:
                continue
            try:
                with open(f"/proc/{entry}/status", encoding="ascii", errors="replace") as status:
                    fields = dict(line.split(":", 1) for line in status if ":" in line)
            except OSError:
                continue
            if fields.get("PPid", "").strip() != me or not fields.get("State", "").strip().startswith("Z"):
                continue
            uid = int(fields.get("Uid", "-1").split()[0])
            if uid in sandbox_uids or fields.get("Name", "").strip() == "bwrap":
                try:
                    os.waitpid(int(entry), os.WNOHANG)
                    reaped.append(int(entry))
                except ChildProcessError:
                    pass
    return reaped


def _reap(pids) -> None:
    """Collect the exit status of ``pids`` if they became our children (ignore the others)."""
    for pid in pids:
        for _ in range(50):
            try:
                done, _status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                break
            if done:
                break
            time.sleep(0.002)


def processes_of_uid(uid: int) -> list[int]:
    """Pids of the processes whose real or effective uid is ``uid``."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", encoding="ascii", errors="replace") as status:
                for line in status:
                    if line.startswith("Uid:"):
                        real, effective = line.split()[1:3]
                        if int(real) == uid or int(effective) == uid:
                            pids.append(int(entry))
                        break
        except (OSError, ValueError):
            continue
    return pids


def kill_uid(uid: int, rounds: int = 100) -> list[int]:
    """SIGKILL every process of ``uid`` until none is left (a fork storm included); returns the pids killed."""
    killed: list[int] = []
    for _ in range(rounds):
        pids = processes_of_uid(uid)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.005)
    return killed


class UidLease:
    """Exclusive use of one uid of a range by this worker, across processes (one ``flock`` per uid).

    Uids with a ``/etc/passwd`` entry are skipped: they belong to someone.

    Raises:
        IsolationUnavailable: every uid of the range is taken.
    """

    def __init__(self, first: int, count: int):
        folder = Path(tempfile.gettempdir()) / "autograder-uid-leases"
        folder.mkdir(mode=0o700, exist_ok=True)
        st = folder.lstat()
        if st.st_uid != os.geteuid() or st.st_mode & 0o077 or not os.path.isdir(folder) or folder.is_symlink():
            raise IsolationUnavailable(f"{folder} must be a directory owned by uid {os.geteuid()} with mode 0700")
        for uid in range(first, first + count):
            try:
                pwd.getpwuid(uid)
                continue
            except KeyError:
                pass
            fd = os.open(folder / str(uid), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self.uid, self._fd = uid, fd
            kill_uid(uid)  # leftovers of a grader that died without cleaning up
            return
        raise IsolationUnavailable(f"no free sandbox uid in {first}..{first + count - 1}")

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


# ---------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Plan:
    """How workers run on this machine.

    Attributes:
        mode: ``"bwrap"`` or ``"process"``.
        isolation: the short description recorded with every result.
        uid, gid: drop to these before starting (``None``: keep ours, when not root).
        uid_pool: for ``process`` mode as root, ``(first, count)`` of uids leased one per worker.
        layout: the interpreter and packages the worker uses.
        bwrap: the bubblewrap binary.
        disable_userns: bwrap supports ``--disable-userns``.
    """

    mode: str
    isolation: str
    uid: int | None
    gid: int | None
    layout: HostLayout
    bwrap: str | None = None
    disable_userns: bool = False
    uid_pool: tuple | None = None


_plans: dict = {}  # (require_isolation, uid, gid) -> Plan, checked in this process


def checked_plans() -> dict:
    """The plans this process has checked, for a child process of the grader to :func:`adopt_plans`."""
    return dict(_plans)


def adopt_plans(plans: dict) -> None:
    """Take plans a parent process checked on this machine, so that :func:`choose_plan` needs no probe here."""
    for key, plan in plans.items():
        if isinstance(plan, Plan):
            _plans.setdefault(key, plan)


def _supports(bwrap: str, option: str) -> bool:
    try:
        help_text = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return option in help_text


_HOW_TO_FIX = (
    "To grade untrusted code, install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) and allow "
    "unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 and user.max_user_namespaces > 0; "
    "on Ubuntu 24.04 also kernel.apparmor_restrict_unprivileged_userns=0). For trusted code only, "
    "require_isolation=False runs workers as plain processes with resource limits."
)


def choose_plan(require_isolation: bool = True, uid: int = SANDBOX_UID, gid: int = SANDBOX_GID) -> Plan:
    """The strongest way to run workers here, checked by starting one (cached per process).

    Raises:
        IsolationUnavailable: the sandbox uid cannot read the interpreter or packages, bubblewrap is
            missing or fails and ``require_isolation`` is true, or no worker can start at all.
    """
    key = (require_isolation, uid, gid)
    if key in _plans:
        return _plans[key]
    layout = host_layout()
    root = os.geteuid() == 0
    if root:
        problems = unreadable_paths(layout, uid, gid)
        if problems:
            raise IsolationUnavailable(
                f"the sandbox user (uid {uid}) cannot read {', '.join(problems)}, which the worker needs. Use an "
                "interpreter and virtual environment every user can read (for example a venv made from Debian's "
                "/usr/bin/python3.11, as the Makefile's BASE_PYTHON does; not a pyenv Python under /root), or make "
                "them readable (chmod o+rX on each folder on the way)."
            )
    drop_uid, drop_gid = (uid, gid) if root else (None, None)
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        reason = "bubblewrap (bwrap) is not installed"
    else:
        plan = Plan("bwrap", describe("bwrap", drop_uid), drop_uid, drop_gid, layout, bwrap,
                    disable_userns=_supports(bwrap, "--disable-userns"))
        reason = probe(plan)
        if reason is None:
            _plans[key] = plan
            return plan
        reason = f"bubblewrap cannot start a sandbox here: {reason}"
    if require_isolation:
        raise IsolationUnavailable(f"cannot isolate student code: {reason}. {_HOW_TO_FIX}")
    plan = Plan("process", describe("process", drop_uid), None, drop_gid, layout,
                uid_pool=UID_POOL if root else None)
    failure = probe(plan)
    if failure is not None:
        raise IsolationUnavailable(f"cannot start a worker process at all: {failure}")
    _plans[key] = plan
    return plan


def probe(plan: Plan, timeout: float = 60.0) -> str | None:
    """Start a worker that imports NumPy and the worker module, then exits; ``None`` if it said hello."""
    folder = tempfile.mkdtemp(prefix="autograder-probe-")
    os.chmod(folder, 0o755)
    worker = Worker(plan, "probe", folder, WorkerLimits(), output=OutputLog(16 << 10), probe=True)
    try:
        worker.start(timeout)
        return None
    except (WorkerStartError, OSError) as exc:
        return str(exc)
    finally:
        worker.kill()
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------- one worker


def _set_pipe_size(fd: int) -> None:
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
    except (OSError, AttributeError):
        pass


class Worker:
    """One worker process for one part.

    Args:
        plan: how to run it (from :func:`choose_plan`).
        part: the part id (the module ``<part>.py`` it imports).
        submission: host folder with the student's files (readable by the sandbox uid).
        limits: its resource limits.
        stand_ins: ``{module name: kit module}`` put in ``sys.modules`` before the import.
        codec_limits: what either side accepts in one frame (the worker also falls back to a handle
            rather than send a value over these limits).
        output: where its stdout/stderr go (capped).
        probe: only start, say hello and exit.
        pool: fork it from a zygote of this :class:`SandboxPool` instead of starting a sandbox of its own.
        control_fd: start a zygote holding this end of its control socket (see :class:`Sandbox`).
    """

    def __init__(self, plan: Plan, part: str, submission, limits: WorkerLimits, *, stand_ins=None,
                 codec_limits: codec.CodecLimits = codec.DEFAULT_LIMITS, output: OutputLog, probe: bool = False,
                 pool: SandboxPool | None = None, control_fd: int | None = None):
        self.plan = plan
        self.part = part
        self.submission = str(submission)
        self.limits = limits
        self.stand_ins = dict(stand_ins or {})
        self.codec_limits = codec_limits
        self.output = output
        self.probe = probe
        self.hello: dict = {}
        self._popen: subprocess.Popen | None = None
        self._fds: dict[str, int] = {}
        self._pidfd: int | None = None
        self._ns_pidfd: int | None = None
        self._ns_pid: int | None = None
        self._lease: UidLease | None = None
        self._private: str | None = None
        self._selector: selectors.BaseSelector | None = None
        self._dead = False
        self._killed = False
        self._swept: list[int] = []
        self.pool = pool
        self.control_fd = control_fd
        self.sandbox: Sandbox | None = None  # the zygote's sandbox it was forked in
        self.pid: int | None = None  # its pid there

    # ------------------------------------------------------------ starting

    def _config(self, req_r, resp_w, folder: str, with_nproc: bool) -> dict:
        config = {"part": self.part, "folder": folder, "stand_ins": self.stand_ins, "fds": [req_r, resp_w],
                  "rlimits": self.limits.rlimits(with_nproc), "probe": self.probe,
                  "codec": {"max_payload": self.codec_limits.max_payload, "max_header": self.codec_limits.max_header,
                            "max_items": self.codec_limits.max_items, "max_depth": self.codec_limits.max_depth}}
        if self.control_fd is not None:
            config["zygote"] = self.control_fd
        return config

    def start(self, timeout: float) -> dict:
        """Start the process and wait for its hello (no student code has run yet).

        Raises:
            WorkerStartError: the sandbox or the interpreter failed; the message includes their output.
        """
        _enable_subreaper()
        deadline = time.monotonic() + timeout
        if self.pool is not None:
            return self._start_forked(deadline)
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        out_r, out_w = os.pipe()
        child_ends = [req_r, resp_w, out_w]
        pass_fds = [req_r, resp_w] + ([self.control_fd] if self.control_fd is not None else [])
        self._fds = {"req": req_w, "resp": resp_r, "out": out_r}
        for fd in (req_w, resp_r):
            _set_pipe_size(fd)
        plan = self.plan
        kwargs: dict = {}
        if plan.mode == "bwrap":
            info_r, info_w = os.pipe()
            child_ends.append(info_w)
            pass_fds.append(info_w)
            self._fds["info"] = info_r
            config = self._config(req_r, resp_w, SUBMISSION_MOUNT, with_nproc=True)
            argv = bwrap_command(plan.bwrap, plan.layout, self.submission, self.limits, config, info_w,
                                 disable_userns=plan.disable_userns)
            env, cwd = {"PATH": "/usr/bin:/bin"}, "/"
            uid, gid = plan.uid, plan.gid
        else:
            uid, gid = None, plan.gid
            if plan.uid_pool is not None:
                self._lease = UidLease(*plan.uid_pool)
                uid = self._lease.uid
            home, site = self._private_dirs(uid, gid)
            config = self._config(req_r, resp_w, self.submission, with_nproc=uid is not None)
            argv = process_command(plan.layout, site, config)
            env, cwd = worker_environment(home), home
        if uid is not None:
            kwargs.update(user=uid, group=gid, extra_groups=[])
        reap_orphans()
        try:
            with _managed_lock:
                self._popen = subprocess.Popen(
                    argv, stdin=subprocess.DEVNULL, stdout=out_w, stderr=out_w, pass_fds=tuple(pass_fds),
                    close_fds=True, start_new_session=True, env=env, cwd=cwd, umask=0o077, **kwargs)
                _managed.add(self._popen.pid)
        finally:
            for fd in child_ends:
                os.close(fd)
        for fd in self._fds.values():
            os.set_blocking(fd, False)
        self._pidfd = os.pidfd_open(self._popen.pid)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._fds["resp"], selectors.EVENT_READ, "resp")
        self._selector.register(self._fds["out"], selectors.EVENT_READ, "out")
        self._selector.register(self._pidfd, selectors.EVENT_READ, "exit")
        if plan.mode == "bwrap":
            try:
                self._read_info(deadline)
            except (WorkerDied, WorkerTimeout) as exc:
                self._start_failed(exc)
        return self._wait_hello(deadline)

    def _start_forked(self, deadline: float) -> dict:
        """Have a zygote of the pool fork this worker, then wait for its hello."""
        config = self._config(None, None, SUBMISSION_MOUNT, with_nproc=True)
        self.sandbox, self.pid, fds = self.pool.fork(config, deadline)
        self._fds = dict(zip(("req", "resp", "out"), fds, strict=True))
        for fd in fds:
            os.set_blocking(fd, False)
        for fd in fds[:2]:
            _set_pipe_size(fd)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._fds["resp"], selectors.EVENT_READ, "resp")
        self._selector.register(self._fds["out"], selectors.EVENT_READ, "out")
        return self._wait_hello(deadline)

    def _start_failed(self, exc: Exception):
        self.kill()
        raise WorkerStartError(f"{exc}; its output: {self.output.text().strip()[-2000:] or '(none)'}") from None

    def _wait_hello(self, deadline: float) -> dict:
        try:
            frame = self.exchange(None, max(0.0, deadline - time.monotonic()))
            hello = codec.decode(frame, limits=self.codec_limits).root
        except (WorkerDied, WorkerTimeout, codec.CodecError) as exc:
            self._start_failed(exc)
        if type(hello) is not dict or hello.get("hello") is not True:
            self.kill()
            raise WorkerStartError("the worker did not say hello")
        self.hello = hello
        return hello

    def _private_dirs(self, uid, gid) -> tuple[str, str]:
        """For a plain-process worker: a home of its own and a folder linking only ``autograder`` and NumPy."""
        self._private = tempfile.mkdtemp(prefix="autograder-worker-")
        os.chmod(self._private, 0o711)
        site = os.path.join(self._private, "site")
        os.mkdir(site, 0o755)
        for name, host in self.plan.layout.grader_dirs:
            os.symlink(host, os.path.join(site, name))
        home = os.path.join(self._private, "home")
        os.mkdir(home, 0o700)
        if uid is not None:
            os.chown(home, uid, gid)
        return home, site

    def _read_info(self, deadline: float) -> None:
        """Read bwrap's ``--info-fd`` JSON for the pid of the namespace's init; hold it by a pidfd."""
        info_fd = self._fds["info"]
        self._selector.register(info_fd, selectors.EVENT_READ, "info")
        data = b""
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WorkerTimeout("bwrap did not report its sandbox in time")
                for key, _ in self._selector.select(remaining):
                    if key.data == "out":
                        self._drain_output()
                    elif key.data == "info":
                        chunk = os.read(info_fd, 4096)
                        if not chunk:
                            raise WorkerDied("bwrap exited before starting the sandbox")
                        data += chunk
                        try:
                            info = json.loads(data)
                        except ValueError:
                            continue
                        self._ns_pid = int(info["child-pid"])
                        self._ns_pidfd = os.pidfd_open(self._ns_pid)
                        return
                    elif key.data == "exit":
                        raise WorkerDied("bwrap exited before starting the sandbox")
        finally:
            self._selector.unregister(info_fd)
            os.close(info_fd)
            del self._fds["info"]

    # ------------------------------------------------------------ talking

    @property
    def alive(self) -> bool:
        if self._dead or self._killed:
            return False
        if self.sandbox is not None:
            return self.sandbox.running and self.sandbox.exits.get(self.pid, "gone") is None
        return self._popen is not None and self._popen.poll() is None

    @property
    def lost_with_sandbox(self) -> bool:
        """A forked worker whose sandbox went down (its zygote died or was killed) without it ending first."""
        return self.sandbox is not None and not self.sandbox.running and self.sandbox.exits.get(self.pid) is None

    def _drain_output(self) -> None:
        fd = self._fds.get("out")
        if fd is None:
            return
        while True:
            try:
                data = os.read(fd, 1 << 16)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._selector.unregister(fd)
                os.close(fd)
                del self._fds["out"]
                return
            self.output.write(data)

    def exchange(self, chunks, timeout: float) -> memoryview:
        """Send one request (``None``: send nothing) and return the next frame the worker writes.

        Raises:
            WorkerTimeout: no complete frame within ``timeout`` seconds.
            WorkerDied: the worker exited, closed its pipe, or sent bytes that are not a frame.
        """
        if self._dead or self._killed:
            raise WorkerDied("the worker is not running")
        deadline = time.monotonic() + timeout
        reader = codec.FrameReader(self.codec_limits)
        views = [memoryview(c).cast("B") for c in chunks or ()]
        views = [v for v in views if len(v)]
        resp = self._fds["resp"]
        if views:
            try:
                self._check_quiet()
                views = self._write_some(views)  # most requests fit in the pipe at once: no wait for it
            except WorkerDied:
                self._dead = True
                raise
            if views:
                self._selector.register(self._fds["req"], selectors.EVENT_WRITE, "req")
        exited = False
        control = self.sandbox.control.fileno() if self.sandbox is not None and self.sandbox.running else None
        if control is not None:
            self._selector.register(control, selectors.EVENT_READ, "control")
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WorkerTimeout(f"no answer within {timeout:g} s")
                for key, _ in self._selector.select(remaining):
                    if key.data == "req":
                        views = self._write_some(views)
                        if not views:
                            self._selector.unregister(self._fds["req"])
                    elif key.data == "out":
                        self._drain_output()
                    elif key.data == "resp":
                        frame = self._read_some(reader, resp)
                        if frame is not None:
                            if views:
                                raise WorkerDied("it answered before reading the whole request")
                            return frame
                    elif key.data == "exit":
                        self._selector.unregister(self._pidfd)
                        exited = True
                    elif key.data == "control" and not self.alive:
                        self._selector.unregister(control)
                        control = None
                        exited = True
                if exited:
                    # The process is gone: whatever it wrote is already in the pipe.
                    frame = self._read_some(reader, resp, final=True)
                    if frame is not None:
                        return frame
        except (WorkerDied, WorkerTimeout):
            self._dead = True
            raise
        finally:
            for fd in ([self._fds["req"]] if views else []) + ([control] if control is not None else []):
                try:
                    self._selector.unregister(fd)
                except (KeyError, ValueError):
                    pass
            self._drain_output()

    def _check_quiet(self) -> None:
        """Before a request: the protocol pipe must be empty (anything there was not asked for)."""
        readable, _, _ = select.select([self._fds["resp"]], [], [], 0)
        if readable:
            try:
                stray = os.read(self._fds["resp"], 1)
            except BlockingIOError:
                return
            raise WorkerDied("it wrote to the protocol pipe when nobody asked" if stray else self.exit_description())

    def _write_some(self, views):
        while views:
            try:
                written = os.write(self._fds["req"], views[0][:_READ_CHUNK])
            except BlockingIOError:
                return views
            except (BrokenPipeError, ConnectionResetError):
                raise WorkerDied("it stopped reading its requests") from None
            views[0] = views[0][written:]
            if not len(views[0]):
                views.pop(0)
        return views

    def _read_some(self, reader: codec.FrameReader, fd: int, final: bool = False):
        while True:
            try:
                got = reader.read_from(fd, _READ_CHUNK)
            except BlockingIOError:
                if final:
                    raise WorkerDied(self.exit_description()) from None
                return None
            except codec.CodecError as exc:
                raise WorkerDied(f"it broke the protocol ({exc})") from None
            if not got:
                raise WorkerDied(self.exit_description())
            if reader.done:
                return reader.take()

    def exit_description(self) -> str:
        """How the process ended, in words (``exited with status 3``, ``killed by SIGKILL ...``)."""
        if self.sandbox is not None:
            status = self.sandbox.await_exit(self.pid, 0.5)
            if type(status) is not int:
                return "it closed its pipe" if self.sandbox.running else "its sandbox stopped"
            try:  # a kill the zygote confirmed is recorded as -SIGKILL; the zygote may send anything
                code = status if status < 0 else os.waitstatus_to_exitcode(status)
            except ValueError:
                code = status
            signum = -code if code < 0 else None
        elif self._popen is None:
            return "it never started"
        else:
            try:
                code = self._popen.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                return "it closed its pipe"
            signum = -code if code < 0 else code - 128 if self.plan.mode == "bwrap" and code > 128 else None
        if signum is None:
            return f"it exited with status {code}"
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        hint = {signal.SIGKILL: " (a resource limit, or killed)", signal.SIGXCPU: " (CPU time limit)",
                signal.SIGSEGV: " (a crash in native code or a stack overflow)",
                signal.SIGXFSZ: " (file size limit)", signal.SIGABRT: " (aborted)"}.get(signum, "")
        return f"it was killed by {name}{hint}"

    # ------------------------------------------------------------ stopping

    def kill(self) -> None:
        """Kill the worker and everything it started, reap them, close every pipe. Idempotent."""
        if self._killed:
            return
        self._killed = True
        if self.sandbox is not None:
            self.sandbox.kill_worker(self.pid)
        popen = self._popen
        if self._ns_pidfd is not None:
            try:
                signal.pidfd_send_signal(self._ns_pidfd, signal.SIGKILL)
            except (ProcessLookupError, OSError):
                pass
        if popen is not None:
            if self.plan.mode == "bwrap":
                try:
                    popen.wait(timeout=2.0)  # bwrap exits once its namespace is gone
                except subprocess.TimeoutExpired:
                    pass
            if popen.poll() is None:
                try:
                    os.killpg(popen.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        if self._lease is not None:
            self._swept = kill_uid(self._lease.uid)
        if popen is not None:
            try:
                popen.wait(timeout=10.0)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait()
            with _managed_lock:
                _managed.discard(popen.pid)
        if popen is not None:
            _reap(([self._ns_pid] if self._ns_pid else []) + self._swept)
            reap_orphans()
        if self._fds.get("out") is not None:
            self._drain_output()
        if self._selector is not None:
            self._selector.close()
        for fd in [*self._fds.values(), self._pidfd, self._ns_pidfd]:
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._fds = {}
        self._pidfd = self._ns_pidfd = None
        if self._lease is not None:
            self._lease.release()
        if self._private is not None:
            shutil.rmtree(self._private, ignore_errors=True)
        if self.sandbox is not None:
            self.pool.release(self.sandbox, self.pid)


# ---------------------------------------------------------------- zygotes

_MAX_CONTROL_MESSAGE = 4096
_CONTROL_SECONDS = 10.0  # a zygote answers a fork in milliseconds; past this it is deemed stuck
_KILL_SECONDS = 2.0  # ... and confirms a kill in milliseconds; past this the whole sandbox is killed


class SandboxBroken(Exception):
    """A zygote died, stopped answering or broke its protocol: its sandbox is killed."""


def check_pipe_ends(fds: list[int]) -> None:
    """``fds`` must be a pipe's write end, then two read ends (a request, a response and an output pipe).

    Raises:
        SandboxBroken: anything else (a socket, a file, a device, the wrong end).
    """
    if len(fds) != 3:
        raise SandboxBroken(f"{len(fds)} descriptors instead of 3")
    for fd, mode in zip(fds, (os.O_WRONLY, os.O_RDONLY, os.O_RDONLY), strict=True):
        if not stat.S_ISFIFO(os.fstat(fd).st_mode) or fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE != mode:
            raise SandboxBroken("a descriptor that is not the expected end of a pipe")


class Sandbox:
    """One bubblewrap sandbox running a zygote (:mod:`autograder.sandbox.zygote`) that forks workers.

    The zygote is started as a :class:`Worker` would be (same plan, command
    line, limits), holding one end of an ``AF_UNIX`` ``SOCK_SEQPACKET`` socket.
    Nothing it sends is trusted: messages are bounded JSON, descriptors are
    accepted only with a ``forked`` answer and only as three pipe ends of the
    right direction, exit reports only once for a pid it forked. Any breach, a
    closed socket or a late answer kills the sandbox (its namespace's init,
    hence everything in it); the harness never signals a pid the zygote names.

    Args:
        limits: the zygote's limits: at least every part's (a worker can only lower them).
    """

    def __init__(self, plan: Plan, submission, limits: WorkerLimits, codec_limits: codec.CodecLimits,
                 output: OutputLog):
        self.control, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._child = child
        self.process = Worker(plan, "zygote", submission, limits, codec_limits=codec_limits, output=output,
                              control_fd=child.fileno())
        self.exits: dict[int, int | None] = {}  # pid of each worker forked here -> its wait status once it ended
        self.broken = False

    def start(self, timeout: float) -> None:
        try:
            hello = self.process.start(timeout)
        finally:
            self._child.close()
        if hello.get("zygote") is not True:
            self.kill()
            raise WorkerStartError("the zygote did not say hello")
        self.control.setblocking(False)

    @property
    def running(self) -> bool:
        if not self.broken:
            try:
                self._receive((), 0.0)
            except SandboxBroken:
                self.kill()
        return not self.broken

    def _receive(self, expect: tuple, timeout: float):
        """Handle the zygote's messages until one of a kind in ``expect`` comes: ``(kind, value, fds)``.

        With ``expect`` empty, handle what is there and return ``None``.

        Raises:
            SandboxBroken: EOF, a malformed or unasked message, or no answer within ``timeout``.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                data, fds, flags, _ = socket.recv_fds(self.control, _MAX_CONTROL_MESSAGE, 3,
                                                      socket.MSG_CMSG_CLOEXEC)
            except BlockingIOError:
                remaining = deadline - time.monotonic()
                if not expect:
                    return None
                if remaining <= 0 or not select.select([self.control], [], [], remaining)[0]:
                    raise SandboxBroken(f"the zygote did not answer within {timeout:g} s") from None
                continue
            except OSError as exc:
                raise SandboxBroken(f"its control socket failed: {exc}") from None
            try:
                if not data:
                    raise SandboxBroken("the zygote is gone")
                if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
                    raise SandboxBroken("an oversized message")
                try:
                    message = json.loads(data)
                except ValueError:
                    raise SandboxBroken("a message that is not JSON") from None
                if type(message) is not dict or len(message) != 1:
                    raise SandboxBroken("a malformed message")
                (kind, value), = message.items()
                if kind == "exited" and not fds:
                    pid, status = value if type(value) is list and len(value) == 2 else (None, None)
                    if type(pid) is not int or type(status) is not int or self.exits.get(pid, 0) is not None:
                        raise SandboxBroken("an exit report of no live worker")
                    self.exits[pid] = status
                    continue
                if kind not in expect or (fds and kind != "forked"):
                    raise SandboxBroken(f"an unasked {kind!r} message")
                if kind == "forked":
                    check_pipe_ends(fds)
                    if type(value) is not int or value in self.exits:
                        raise SandboxBroken("a pid it had already given")
                return kind, value, fds
            except BaseException:
                for fd in fds:
                    os.close(fd)
                raise

    def await_exit(self, pid: int, timeout: float) -> int | None:
        """Worker ``pid``'s wait status, waiting up to ``timeout`` for the zygote's report (``None``: none came)."""
        deadline = time.monotonic() + timeout
        while self.running and self.exits.get(pid) is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.control], [], [], remaining)[0]:
                break
        return self.exits.get(pid)

    def fork(self, config: dict, timeout: float):
        """A new worker: ``(pid, [req_w, resp_r, out_r])``, or ``None`` when the zygote refuses (start a new sandbox).

        Raises:
            SandboxBroken: the sandbox is killed.
        """
        try:
            self.control.send(json.dumps({"op": "fork", "config": config}).encode())
            kind, value, fds = self._receive(("forked", "refused"), min(timeout, _CONTROL_SECONDS))
        except SandboxBroken:
            self.kill()
            raise
        except OSError as exc:
            self.kill()
            raise SandboxBroken(f"its control socket failed: {exc}") from None
        if kind == "refused":
            self.process.output.note(f"the zygote refused a fork: {str(value)[:200]}")
            return None
        self.exits[value] = None
        return value, fds

    def kill_worker(self, pid: int) -> None:
        """Have the zygote kill worker ``pid`` and everything under it; kill the sandbox if it does not confirm."""
        if not self.running or self.exits.get(pid, 0) is not None:
            return
        try:
            self.control.send(json.dumps({"op": "kill", "pid": pid}).encode())
            _, value, _ = self._receive(("killed",), _KILL_SECONDS)
            if value != pid:
                raise SandboxBroken("it confirmed another kill")
            self.exits[pid] = -int(signal.SIGKILL)
        except (SandboxBroken, OSError):
            self.kill()

    def kill(self) -> None:
        """Kill the zygote and everything in its sandbox. Idempotent."""
        self.broken = True
        self.process.kill()
        self.control.close()


class SandboxPool:
    """The sandboxes of one :class:`~autograder.sandbox.remote.RemoteBackend`: workers are forked from the
    current one; a sandbox whose zygote refuses (a worker left processes or files behind) is retired and
    killed once its last worker is; one whose zygote breaks is killed at once, with its workers.

    Args:
        limits: the zygotes' limits (the largest of the parts').
        start_seconds: how long a new sandbox may take to say hello.
    """

    def __init__(self, plan: Plan, submission, limits: WorkerLimits, codec_limits: codec.CodecLimits,
                 output: OutputLog):
        self.plan, self.submission, self.limits, self.codec_limits = plan, submission, limits, codec_limits
        self.output = output
        self.current: Sandbox | None = None
        self.sandboxes: list[Sandbox] = []
        self.started = 0

    def fork(self, config: dict, deadline: float):
        """``(sandbox, pid, fds)`` of a new worker with ``config``.

        Raises:
            WorkerStartError: no sandbox could start or fork it.
        """
        problem = "no sandbox"
        for _ in range(3):
            timeout = max(0.0, deadline - time.monotonic())
            if self.current is None or not self.current.running:
                sandbox = Sandbox(self.plan, self.submission, self.limits, self.codec_limits, self.output)
                self.sandboxes.append(sandbox)
                self.current = sandbox
                self.started += 1
                sandbox.start(timeout)
            sandbox = self.current
            try:
                got = sandbox.fork(config, timeout)
            except SandboxBroken as exc:
                problem = str(exc)
                self.output.note(f"a sandbox was killed: {exc}")
                self._forget(sandbox)
                continue
            if got is None:
                problem = "a new sandbox refused too"
                self.current = None
                self._forget(sandbox)
                continue
            return (sandbox, *got)
        raise WorkerStartError(f"could not fork a worker: {problem}")

    def release(self, sandbox: Sandbox, pid: int) -> None:
        """Worker ``pid`` of ``sandbox`` was killed: kill a retired sandbox once it has no worker left."""
        self._forget(sandbox)

    def _forget(self, sandbox: Sandbox) -> None:
        live = [pid for pid, status in sandbox.exits.items() if status is None]
        if sandbox is not self.current and not live or not sandbox.running:
            sandbox.kill()
            if sandbox in self.sandboxes:
                self.sandboxes.remove(sandbox)
            if sandbox is self.current:
                self.current = None

    def close(self) -> None:
        for sandbox in self.sandboxes:
            sandbox.kill()
        self.sandboxes = []
        self.current = None
