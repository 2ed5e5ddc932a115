"""What a worker may see and use, and the command line that confines it.

Facts this follows (``design/isolation.md``, measured on the target machines):

* ``bwrap`` run as root keeps root's capabilities, so the launcher drops to an
  unprivileged uid *first* and runs ``bwrap --unshare-all --unshare-user``
  as that user (``--cap-drop ALL``, ``--clearenv``, ``--die-with-parent``,
  ``--new-session``, and ``--disable-userns`` against nested namespaces).
* bwrap's own ``/`` and ``/dev`` are writable unless remounted read-only, and
  an unsized tmpfs escapes ``RLIMIT_AS``: ``/tmp`` and ``/dev/shm`` are sized.
* The sandbox sees only the interpreter, its standard library, the shared
  libraries, NumPy and the ``autograder`` package (not the repository: the
  reference ``solutions/`` and the hidden suites are neither on disk nor
  importable there) and the submission, all read-only.
* The interpreter and packages must be readable by the sandbox uid (a pyenv
  Python under ``/root`` is not): :func:`unreadable_paths` says which are not.

The worker sets its own rlimits first thing (``RLIMIT_NPROC`` inside the new
user namespace counts only that sandbox's processes).
"""
from __future__ import annotations

import ctypes
import json
import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import autograder

SANDBOX_UID = 65534
SANDBOX_GID = 65534
GRADER_LIB = "/opt/grader/lib"  # holds the autograder package inside the sandbox
GRADER_SITE = "/opt/grader/site-packages"  # holds numpy inside the sandbox
SUBMISSION_MOUNT = "/submission"
_TOP_LIBRARY_LINKS = ("/lib", "/lib64", "/lib32", "/libx32")


@dataclass(frozen=True)
class WorkerLimits:
    """The resource limits of one worker process.

    Attributes:
        memory_mb: address space (``RLIMIT_AS``).
        processes: processes and threads of the sandbox (``RLIMIT_NPROC``; counted per sandbox under bwrap).
        tmpfs_mb: size of the private ``/tmp`` (``/dev/shm`` gets a quarter).
        cpu_seconds: CPU time of the worker (``RLIMIT_CPU``), a backstop behind the wall-clock deadlines.
        file_mb: largest file the worker may write (``RLIMIT_FSIZE``).
        open_files: file descriptors (``RLIMIT_NOFILE``).
    """

    memory_mb: int = 2048
    processes: int = 64
    tmpfs_mb: int = 64
    cpu_seconds: int = 90
    file_mb: int = 16
    open_files: int = 32

    @classmethod
    def from_config(cls, limits, part_seconds: float) -> WorkerLimits:
        """From an ``autograder.config.Limits``; the CPU backstop is the part's wall-clock budget plus slack."""
        return cls(memory_mb=int(limits.memory_mb), processes=int(limits.processes), tmpfs_mb=int(limits.tmpfs_mb),
                   cpu_seconds=int(part_seconds) + 10, file_mb=min(16, int(limits.tmpfs_mb)))

    def rlimits(self, with_nproc: bool) -> dict:
        """``{name: [soft, hard]}`` for :func:`autograder.sandbox.worker.apply_limits`."""
        out = {
            "as": [self.memory_mb << 20] * 2,
            "cpu": [self.cpu_seconds, self.cpu_seconds + 2],
            "fsize": [self.file_mb << 20] * 2,
            "nofile": [self.open_files] * 2,
            "core": [0, 0],
        }
        if with_nproc:
            out["nproc"] = [self.processes] * 2
        return out


@dataclass(frozen=True)
class HostLayout:
    """Where the interpreter and the grader's packages live on the host, and where the sandbox sees them.

    Attributes:
        python: the real interpreter binary (symlinks resolved; the same path inside).
        system_binds: read-only ``(host, sandbox)`` binds of the interpreter, stdlib and shared libraries.
        symlinks: ``(target, link)`` for top-level links such as ``/lib -> usr/lib``.
        grader_binds: read-only ``(host, sandbox)`` binds of ``autograder`` and NumPy.
        grader_dirs: ``(name, host path)`` of the packages the worker imports, for a plain-process worker.
    """

    python: str
    system_binds: tuple = ()
    symlinks: tuple = ()
    grader_binds: tuple = ()
    grader_dirs: tuple = field(default_factory=tuple)


def _mapped_library_dirs() -> set[str]:
    """Directories of the shared libraries this process has loaded (the interpreter's and NumPy's)."""
    dirs = set()
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                parts = line.split(None, 5)
                if len(parts) == 6 and ".so" in parts[5]:
                    dirs.add(os.path.dirname(os.path.realpath(parts[5].strip())))
    except OSError:
        pass
    return dirs


def _outermost(dirs) -> list[str]:
    """``dirs`` without those inside another of them."""
    kept: list[str] = []
    for d in sorted(set(dirs), key=len):
        if not any(d == k or d.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(d)
    return sorted(kept)


def host_layout() -> HostLayout:
    """Find the interpreter, its standard library, the shared libraries, NumPy and ``autograder`` on this host."""
    python = os.path.realpath(sys.executable)
    stdlib = os.path.dirname(os.path.realpath(os.__file__))
    numpy_dir = os.path.dirname(os.path.realpath(np.__file__))
    numpy_libs = os.path.join(os.path.dirname(numpy_dir), "numpy.libs")
    package_dir = os.path.dirname(os.path.realpath(autograder.__file__))
    symlinks = []
    library_dirs = set()
    for top in _TOP_LIBRARY_LINKS:
        if os.path.islink(top):
            symlinks.append((os.readlink(top), top))
        elif os.path.isdir(top):
            library_dirs.add(top)
    multiarch = _multiarch()
    for candidate in ("/usr/lib64", f"/usr/lib/{multiarch}", f"/lib/{multiarch}"):
        if os.path.isdir(candidate):
            library_dirs.add(os.path.realpath(candidate))
    site_root = os.path.dirname(numpy_dir)
    for d in _mapped_library_dirs():
        if not (d.startswith(site_root) or d.startswith(stdlib)):
            library_dirs.add(d)
    system = [(python, python)] + [(d, d) for d in _outermost(library_dirs | {stdlib})]
    grader = [(package_dir, f"{GRADER_LIB}/autograder"), (numpy_dir, f"{GRADER_SITE}/numpy")]
    dirs = [("autograder", package_dir), ("numpy", numpy_dir)]
    if os.path.isdir(numpy_libs):
        grader.append((numpy_libs, f"{GRADER_SITE}/numpy.libs"))
        dirs.append(("numpy.libs", numpy_libs))
    return HostLayout(python=python, system_binds=tuple(system), symlinks=tuple(symlinks),
                      grader_binds=tuple(grader), grader_dirs=tuple(dirs))


def _multiarch() -> str:
    import sysconfig

    return sysconfig.get_config_var("MULTIARCH") or "x86_64-linux-gnu"


# ---------------------------------------------------------------- readability


def _may(st: os.stat_result, uid: int, gid: int, bits: int) -> bool:
    """Whether ``uid``/``gid`` (no supplementary groups) has ``bits`` (4 read, 2 write, 1 search) on ``st``."""
    if uid == 0:
        return True
    mode = st.st_mode
    if st.st_uid == uid:
        granted = (mode >> 6) & 7
    elif st.st_gid == gid:
        granted = (mode >> 3) & 7
    else:
        granted = mode & 7
    return granted & bits == bits


def unreadable_by(path, uid: int, gid: int) -> str | None:
    """The first directory on the way to ``path`` that ``uid`` cannot search, or ``path`` if it cannot read it."""
    target = Path(os.path.realpath(path))
    for ancestor in reversed(target.parents):
        try:
            if not _may(os.stat(ancestor), uid, gid, 1):
                return str(ancestor)
        except OSError:
            return str(ancestor)
    try:
        st = os.stat(target)
    except OSError:
        return str(target)
    need = 5 if stat.S_ISDIR(st.st_mode) else 4
    return None if _may(st, uid, gid, need) else str(target)


def unreadable_paths(layout: HostLayout, uid: int, gid: int, extra=()) -> list[str]:
    """Paths the worker needs that ``uid`` cannot read (a sample of files; the probe run checks the rest)."""
    stdlib = os.path.dirname(os.path.realpath(os.__file__))
    numpy_dir = dict(layout.grader_dirs)["numpy"]
    package_dir = dict(layout.grader_dirs)["autograder"]
    needed = [layout.python, stdlib, os.path.join(stdlib, "os.py"), numpy_dir,
              os.path.join(numpy_dir, "__init__.py"), os.path.join(numpy_dir, "_core"), package_dir,
              os.path.join(package_dir, "sandbox", "worker.py"), os.path.join(package_dir, "kit", "registry.py"),
              *extra]
    problems = []
    for path in needed:
        bad = unreadable_by(path, uid, gid)
        if bad is not None and bad not in problems:
            problems.append(bad)
    return problems


# ---------------------------------------------------------------- command lines

MALLOC_MMAP_THRESHOLD = 32 << 20  # bytes: glibc malloc's fixed thresholds (see _SANDBOX_ENV)
MALLOC_TRIM_THRESHOLD = 64 << 20
_SANDBOX_ENV = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/tmp",
    "TMPDIR": "/tmp",
    "LANG": "C.UTF-8",
    "PYTHONHASHSEED": "0",  # same set/dict-of-str iteration order in every run: grading is repeatable
    "OPENBLAS_NUM_THREADS": "1",  # threads count against RLIMIT_NPROC; one per worker is fair too
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    # glibc malloc: fixed thresholds instead of its dynamic ones, which start small in a fresh process, so
    # every training step's few MB of temporaries were unmapped and faulted in again (about 2x the time of
    # an MNIST training in a new worker). Memory still counts against RLIMIT_AS.
    "MALLOC_MMAP_THRESHOLD_": str(MALLOC_MMAP_THRESHOLD),
    "MALLOC_TRIM_THRESHOLD_": str(MALLOC_TRIM_THRESHOLD),
}
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters


def fix_malloc_thresholds() -> bool:
    """Give this process the workers' fixed glibc malloc thresholds (for a trusted process that handles the same
    large arrays, such as a batch's grading processes); ``False`` where there is no glibc ``mallopt``."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD)) and \
        bool(mallopt(_M_TRIM_THRESHOLD, MALLOC_TRIM_THRESHOLD))


# -s -S: no user site, no site.py (so no .pth files, no editable-install finder); -P: nothing from the cwd;
# -B: no bytecode written. Not -E: the environment is set from scratch by the launcher.
PYTHON_FLAGS = ("-s", "-S", "-P", "-B", "-X", "utf8")


def bootstrap(sys_path) -> str:
    """The ``python -c`` program that puts the grader's packages on ``sys.path`` and runs the worker."""
    return (f"import sys; sys.path[:0] = {list(sys_path)!r}; "
            "from autograder.sandbox.worker import main; main()")


def worker_environment(home: str = "/tmp") -> dict:
    return dict(_SANDBOX_ENV, HOME=home, TMPDIR=home)


def bwrap_command(bwrap: str, layout: HostLayout, submission: str, limits: WorkerLimits, config: dict,
                  info_fd: int, disable_userns: bool = True) -> list[str]:
    """The ``bwrap`` command line that runs the worker with ``config`` on ``submission``."""
    argv = [bwrap, "--unshare-all", "--unshare-user"]
    if disable_userns:
        argv.append("--disable-userns")
    argv += ["--die-with-parent", "--new-session", "--cap-drop", "ALL", "--clearenv", "--hostname", "sandbox"]
    for name, value in worker_environment().items():
        argv += ["--setenv", name, value]
    for host, inside in layout.system_binds + layout.grader_binds:
        argv += ["--ro-bind", host, inside]
    for target, link in layout.symlinks:
        argv += ["--symlink", target, link]
    argv += ["--ro-bind", submission, SUBMISSION_MOUNT,
             "--proc", "/proc", "--dev", "/dev",
             "--size", str(limits.tmpfs_mb << 20), "--tmpfs", "/tmp",
             "--size", str(max(1, limits.tmpfs_mb // 4) << 20), "--tmpfs", "/dev/shm",
             "--remount-ro", "/dev", "--remount-ro", "/",
             "--chdir", "/tmp", "--info-fd", str(info_fd), "--",
             layout.python, *PYTHON_FLAGS, "-c", bootstrap([GRADER_LIB, GRADER_SITE]),
             json.dumps(config, separators=(",", ":"))]
    return argv


def process_command(layout: HostLayout, site_dir: str, config: dict) -> list[str]:
    """The command line of a plain-process worker; ``site_dir`` holds links to ``autograder`` and NumPy only."""
    return [layout.python, *PYTHON_FLAGS, "-c", bootstrap([site_dir]), json.dumps(config, separators=(",", ":"))]


def describe(mode: str, uid: int | None) -> str:
    """The short isolation string recorded with every result."""
    if mode == "bwrap":
        return f"bwrap+uid{uid}+rlimits" if uid is not None else "bwrap+rlimits"
    return "process+uid-drop+rlimits (no bubblewrap)" if uid is not None else "process+rlimits (no bubblewrap)"
