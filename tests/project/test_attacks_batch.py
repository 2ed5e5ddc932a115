"""Every threat from the isolation issue, graded in one batch beside honest students.

Each attacker submits the (trivial) mini course's reference for four parts and
an attack in ``debugging.py`` that returns the right answer *only if the
attack worked*. So for every attack: the attacker is a graded row with a
status, earns nothing on the attacked part, keeps the points of its honest
parts; the honest students get full marks; no file outside the output folder
changes; no process survives the batch.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import uuid
import zipfile
from pathlib import Path

import pytest

from autograder import PART_IDS
from autograder.grading.batch import grade_batch
from tests.project.test_grading import SANDBOX, copy_reference, mini  # noqa: F401  (fixture)

pytestmark = [pytest.mark.slow, SANDBOX]

REPO = Path(__file__).resolve().parents[2]
MARK = f"agattack{uuid.uuid4().hex[:8]}"

# debugging.py of the mini course must define value() -> 4 and double(x) -> 2 * x.
ATTACKS = {
    "loop_at_import": "while True:\n    pass\n",
    "loop_in_call": "def value():\n    while True:\n        pass\n\ndef double(x):\n    while True:\n        pass\n",
    "sleep_ignoring_signals": """
import signal, time
def value():
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    time.sleep(3600)
double = value
""",
    "memory_bomb": """
def value():
    hoard = [bytearray(1 << 30) for _ in range(16)]
    return 4 if len(hoard) == 16 else 0
def double(x):
    return len(bytearray(8 << 30))
""",
    "fork_storm": """
import ctypes, os, time
def value():
    made = 0
    for _ in range(300):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            ctypes.CDLL(None).prctl(15, b"{mark}", 0, 0, 0)
            time.sleep(3600)
            os._exit(0)
        made += 1
    return 4 if made >= 300 else 0
def double(x):
    return 0
""",
    "sys_exit": "import sys\ndef value():\n    sys.exit(4)\ndef double(x):\n    sys.exit(0)\n",
    "os_exit_at_import": "import os\nos._exit(0)\n",
    "keyboard_interrupt": "def value():\n    raise KeyboardInterrupt\ndef double(x):\n    raise SystemExit(2 * x)\n",
    "monkeypatch_numpy_and_builtins": """
import builtins, numpy
numpy.allclose = numpy.array_equal = lambda *a, **k: True
numpy.testing.assert_allclose = lambda *a, **k: None
builtins.isinstance = lambda *a: True
class Liar(int):
    def __eq__(self, other):
        return True
    __hash__ = int.__hash__
def value():
    return Liar(0)
def double(x):
    return Liar(0)
""",
    "hunt_reference_and_hidden_tests": """
import glob, os
def _find():
    for path in ({solutions!r}, {repo_solutions!r}):
        try:
            with open(os.path.join(path, "debugging.py")) as handle:
                return handle.read()
        except OSError:
            pass
    for name in ("solutions", "tests.grading", "minisuites"):
        try:
            __import__(name)
            return name
        except ImportError:
            pass
    hits = glob.glob("/**/test_hidden.py", recursive=True)
    return hits[0] if hits else None
def value():
    return 4 if _find() else 0
def double(x):
    return 2 * x if _find() else 0
""",
    "forged_results": """
import atexit, json, os
FORGED = {{"score": 999, "tests": []}}
def _forge():
    for path in ({results!r}, {grades!r}):
        try:
            with open(path, "w") as handle:
                handle.write(json.dumps(FORGED))
        except OSError:
            pass
atexit.register(_forge)
print(json.dumps(FORGED))
print("PASSED test_value 1/1\\nPASSED test_double 1/1")
def value():
    _forge()
    return 0
def double(x):
    return 0
""",
    "writes_outside_and_deletes_others": """
import os, shutil
def _attack():
    done = 0
    for path in ({canary!r}, "/tmp/{mark}-canary", os.path.expanduser("~/{mark}-canary")):
        try:
            with open(path, "w") as handle:
                handle.write("owned")
            done += path == {canary!r}  # the sandbox's own /tmp is scratch space: only the host path counts
        except OSError:
            pass
    try:
        shutil.rmtree({victim!r})
        done += 1
    except OSError:
        pass
    return done
def value():
    return 4 if _attack() else 0
def double(x):
    return 2 * x if _attack() else 0
""",
    "loopback_network": """
import socket
def _connect():
    try:
        with socket.create_connection(("127.0.0.1", {port}), timeout=1) as s:
            s.sendall(b"{mark}")
            return True
    except OSError:
        return False
def value():
    return 4 if _connect() else 0
def double(x):
    return 2 * x if _connect() else 0
""",
    "huge_output": """
import sys
def value():
    chunk = "x" * (1 << 20)
    for _ in range(150):
        sys.stdout.write(chunk)
    return 0
def double(x):
    print("y" * (150 << 20))
    return 0
""",
    "pickle_and_lying_values": """
import numpy as np
class Payload:
    def __reduce__(self):
        return (open, ({canary!r}, "w"))
class Lying(float):
    def __eq__(self, other):
        return True
    __hash__ = float.__hash__
class Sub(np.ndarray):
    def __eq__(self, other):
        return True
def value():
    return [Payload(), np.array([4], dtype=object), np.zeros(1).view(Sub)]
def double(x):
    return Lying(0.0)
""",
    "environment_secrets": """
import os
def value():
    return 4 if os.environ.get("AUTOGRADER_TEST_SECRET") else 0
def double(x):
    return 2 * x if any("SECRET" in k for k in os.environ) else 0
""",
}


def _write_attackers(course, subs: Path, tmp: Path, port: int) -> dict:
    out = tmp / "out"
    formats = {
        "mark": MARK, "solutions": str(course.solutions), "repo_solutions": str(REPO / "solutions"),
        "results": str(out / "results" / "forged_results.json"), "grades": str(out / "grades.csv"),
        "canary": str(tmp / "canary"), "victim": str(subs / "honest_a"), "port": port,
    }
    for name, source in ATTACKS.items():
        folder = copy_reference(course, subs / name, skip=("debugging",))
        (folder / "debugging.py").write_text(source.format(**formats) if "{" in source else source)
    # attacks on the loader itself
    zip_slip = subs / "zip_slip.zip"
    with zipfile.ZipFile(zip_slip, "w") as archive:
        archive.writestr("../../zip-slip-" + MARK + ".py", "owned = True\n")
        archive.writestr("debugging.py", "def value():\n    return 4\n")
    folder = copy_reference(course, subs / "symlink_to_reference", skip=("debugging",))
    (folder / "debugging.py").symlink_to(course.solutions / "debugging.py")
    (folder / "passwd.py").symlink_to("/etc/passwd")
    folder = copy_reference(course, subs / "broken_notebook", skip=("debugging",))
    (folder / "debugging.ipynb").write_text('{"cells": [ {"cell_type": "code", "source": "def value(')
    return {"out": out, "canary": tmp / "canary"}


def _snapshot(root: Path) -> dict:
    return {str(p): (p.stat().st_size, p.read_bytes() if p.is_file() and not p.is_symlink() else None)
            for p in sorted(root.rglob("*")) if not p.is_symlink()}


def _survivors() -> list[str]:
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True).stdout
    return [line for line in ps.splitlines() if MARK in line and "ps -eo" not in line]


def test_every_attack_is_a_graded_row_and_changes_nothing_else(mini, tmp_path, monkeypatch):  # noqa: F811
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    received = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                received.append(conn.recv(100))
                conn.close()
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    monkeypatch.setenv("AUTOGRADER_TEST_SECRET", "hunter2")
    subs = tmp_path / "submissions"
    copy_reference(mini, subs / "honest_a")
    copy_reference(mini, subs / "honest_z")
    paths = _write_attackers(mini, subs, tmp_path, listener.getsockname()[1])
    before_subs, before_solutions = _snapshot(subs), _snapshot(mini.solutions)
    try:
        outcome = grade_batch(mini, subs, paths["out"], jobs=2, isolation_policy="require")
    finally:
        stop.set()
        thread.join(2)
        listener.close()

    rows = {r.student: r for r in outcome.results}
    assert set(rows) == {"honest_a", "honest_z", *ATTACKS, "zip_slip", "symlink_to_reference", "broken_notebook"}
    for honest in ("honest_a", "honest_z"):
        assert rows[honest].total == rows[honest].max_total == 10, honest
    for name, row in rows.items():
        if name.startswith("honest"):
            continue
        scores = {p: row.parts[p].score for p in PART_IDS}
        assert scores["debugging"] == 0, (name, row.parts["debugging"])
        if name != "zip_slip":  # an unsafe archive is refused whole
            assert all(scores[p] == 2 for p in PART_IDS if p != "debugging"), (name, scores)
    statuses = {name: rows[name].status for name in rows}
    assert statuses["loop_at_import"] == "timeout" and statuses["loop_in_call"] == "timeout"
    assert statuses["sleep_ignoring_signals"] == "timeout"
    assert statuses["os_exit_at_import"] == "crashed"  # sys.exit in a call only fails that call
    assert statuses["zip_slip"] == "invalid" and statuses["broken_notebook"] == "invalid"
    assert statuses["symlink_to_reference"] in ("missing", "invalid")  # a symlink is never followed

    # The grades file and every result are the grader's, whatever was printed or written at exit.
    csv = (paths["out"] / "grades.csv").read_text()
    assert "999" not in csv and csv.startswith("student,")
    forged = json.loads((paths["out"] / "results" / "forged_results.json").read_text())
    assert forged["score"] == rows["forged_results"].total == 8 and forged["tests"]
    # Nothing outside the output folder changed; nothing was reached.
    assert _snapshot(subs) == before_subs
    assert _snapshot(mini.solutions) == before_solutions
    assert not paths["canary"].exists() and not Path(f"/tmp/{MARK}-canary").exists()
    assert not Path(os.path.expanduser(f"~/{MARK}-canary")).exists()
    assert not list(tmp_path.parent.rglob(f"zip-slip-{MARK}.py"))
    assert received == []
    # The output stays small despite 150 MB of printing.
    size = sum(p.stat().st_size for p in paths["out"].rglob("*") if p.is_file())
    assert size < 20 << 20
    assert _survivors() == []
