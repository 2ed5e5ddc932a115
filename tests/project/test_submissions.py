"""Reading submissions safely: folders, zips, notebooks, encodings, nbgrader's layout, hostile names."""
from __future__ import annotations

import json
import os
import re
import stat
import zipfile
from pathlib import Path

import pytest

from autograder import PART_IDS
from autograder.errors import SubmissionError
from autograder.submissions import (
    assign_ids,
    clean_id,
    decode_source,
    entry_for_path,
    find_entries,
    notebook_to_module,
    stage,
    stub_digest,
    zips,
)
from autograder.submissions.reader import read_regular_file
from autograder.submissions.sources import _statement_starts

GOOD = "def value():\n    return 1\n"
SAFE_ID = re.compile(r"^[\w.-]+$")


def notebook(*cells: str, markdown: str | None = None) -> bytes:
    """A minimal nbformat-4 notebook with these code cells (and a markdown cell first)."""
    body = [{"cell_type": "markdown", "metadata": {}, "source": markdown}] if markdown else []
    body += [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
              "source": cell.splitlines(keepends=True)} for cell in cells]
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": body}).encode()


def stage_path(path: Path, tmp_path: Path, **kwargs):
    return stage(entry_for_path(path), tmp_path / "staged", **kwargs)


def module_text(staged, part: str) -> str:
    return (staged.folder / f"{part}.py").read_text(encoding="utf-8")


# ---------------------------------------------------------------- folders


def test_folder_with_parts_at_top(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "clipping.py").write_text(GOOD)
    staged = stage_path(tmp_path / "s", tmp_path)
    assert staged.parts["clipping"].status == "ok" and staged.parts["clipping"].source == "clipping.py"
    assert module_text(staged, "clipping") == GOOD
    assert staged.parts["training"].status == "missing"
    assert not (staged.folder / "training.py").exists()


def test_folder_with_a_single_subfolder_is_read_one_level_down(tmp_path):
    inner = tmp_path / "s" / "my-work"
    inner.mkdir(parents=True)
    (inner / "debugging.py").write_text(GOOD)
    (tmp_path / "s" / ".DS_Store").write_text("junk")
    (tmp_path / "s" / "__MACOSX").mkdir()
    assert stage_path(tmp_path / "s", tmp_path).parts["debugging"].status == "ok"


def test_folder_with_two_subfolders_is_not_guessed(tmp_path):
    for name in ("a", "b"):
        (tmp_path / "s" / name).mkdir(parents=True)
        (tmp_path / "s" / name / "debugging.py").write_text(GOOD)
    staged = stage_path(tmp_path / "s", tmp_path)
    assert staged.parts["debugging"].status == "missing"
    assert "no part was found" in staged.message


def test_part_file_name_case_is_forgiven(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "Clipping.py").write_text(GOOD)
    staged = stage_path(tmp_path / "s", tmp_path)
    assert staged.parts["clipping"].status == "ok" and staged.parts["clipping"].source == "Clipping.py"


def test_symlinked_part_is_not_followed(tmp_path):
    secret = tmp_path / "secret.py"
    secret.write_text("TOP_SECRET = 1\n")
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "clipping.py").symlink_to(secret)
    (tmp_path / "s" / "backprop.py").symlink_to("/etc/passwd")
    staged = stage_path(tmp_path / "s", tmp_path)
    for part in ("clipping", "backprop"):
        assert staged.parts[part].status == "invalid"
        assert "symbolic link" in staged.parts[part].message
        assert not (staged.folder / f"{part}.py").exists()


def test_symlinked_subfolder_is_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "clipping.py").write_text(GOOD)
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "work").symlink_to(outside, target_is_directory=True)
    assert stage_path(tmp_path / "s", tmp_path).parts["clipping"].status == "missing"


def test_symlinked_entry_in_a_class_folder_is_invalid(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "clipping.py").write_text(GOOD)
    (tmp_path / "class").mkdir()
    (tmp_path / "class" / "mallory").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (entry,), _ = find_entries(tmp_path / "class")
    assert entry.kind == "link"
    staged = stage(entry, tmp_path / "staged")
    assert all(p.status == "invalid" for p in staged.parts.values())
    assert "symbolic link" in staged.message


def test_fifo_part_is_invalid_and_does_not_block(tmp_path):
    (tmp_path / "s").mkdir()
    os.mkfifo(tmp_path / "s" / "clipping.py")
    part = stage_path(tmp_path / "s", tmp_path).parts["clipping"]
    assert part.status == "invalid" and "not a regular file" in part.message


def test_oversized_file_is_refused(tmp_path):
    (tmp_path / "big.py").write_bytes(b"#" * 2000)
    with pytest.raises(SubmissionError, match="at most 1000"):
        read_regular_file(tmp_path / "big.py", 1000)


# ---------------------------------------------------------------- zips


def make_zip(path: Path, members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_zip_with_parts_in_a_single_folder(tmp_path):
    archive = make_zip(tmp_path / "alice.zip", {"alice/clipping.py": GOOD.encode(), "alice/notes.txt": b"hi",
                                                "__MACOSX/alice/._clipping.py": b"\0\0"})
    staged = stage_path(archive, tmp_path)
    assert staged.parts["clipping"].status == "ok" and staged.message == ""
    assert module_text(staged, "clipping") == GOOD


@pytest.mark.parametrize("name", ["../evil.py", "a/../../evil.py", "/etc/evil.py", "C:/evil.py", "..\\evil.py"])
def test_zip_slip_makes_the_whole_submission_invalid(tmp_path, name):
    archive = make_zip(tmp_path / "s.zip", {"clipping.py": GOOD.encode(), name: b"print('pwned')\n"})
    staged = stage_path(archive, tmp_path)
    assert "unsafe zip" in staged.message
    assert all(p.status == "invalid" for p in staged.parts.values())
    assert list(staged.folder.iterdir()) == []
    assert not (tmp_path / "evil.py").exists()


def test_zip_symlink_member_makes_the_submission_invalid(tmp_path):
    path = tmp_path / "s.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("debugging.py", GOOD)
        link = zipfile.ZipInfo("clipping.py")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    staged = stage_path(path, tmp_path)
    assert "symbolic link" in staged.message
    assert all(p.status == "invalid" for p in staged.parts.values())


def test_zip_bomb_is_stopped_by_the_ratio_cap(tmp_path):
    archive = make_zip(tmp_path / "bomb.zip", {"clipping.py": b"\0" * (8 * 2**20)})
    assert archive.stat().st_size < 100_000
    staged = stage_path(archive, tmp_path)
    assert "zip bomb" in staged.message and staged.parts["clipping"].status == "invalid"


def test_zip_member_count_and_declared_size_caps(tmp_path):
    archive = make_zip(tmp_path / "many.zip", {f"junk/{i}.txt": b"x" for i in range(30)})
    with zipfile.ZipFile(archive) as opened:
        with pytest.raises(SubmissionError, match="30 members"):
            zips.select_members(opened.infolist(), {"clipping.py"}, limits=zips.ZipLimits(members=20))
        with pytest.raises(SubmissionError, match="unpacks to 30 bytes"):
            zips.select_members(opened.infolist(), {"clipping.py"}, limits=zips.ZipLimits(declared_bytes=10))


def test_zip_extraction_stops_at_the_per_file_and_total_caps(tmp_path):
    archive = make_zip(tmp_path / "s.zip", {"clipping.py": b"x = 1\n" * 1000}, compression=zipfile.ZIP_STORED)
    with zipfile.ZipFile(archive) as opened:
        info = opened.getinfo("clipping.py")
        with pytest.raises(SubmissionError, match="unpacks to"):
            zips.read_member(opened, info, [10**9], zips.ZipLimits(file_bytes=100))
        with pytest.raises(SubmissionError, match="more than 100 bytes"):
            zips.read_member(opened, info, [100])  # the budget left for the whole zip
        info.flag_bits |= 0x1
        with pytest.raises(SubmissionError, match="encrypted"):
            zips.read_member(opened, info, [10**9])


def test_not_a_zip_is_invalid_not_a_crash(tmp_path):
    (tmp_path / "s.zip").write_bytes(b"PK\x03\x04 this is not really a zip")
    staged = stage_path(tmp_path / "s.zip", tmp_path)
    assert "not a readable zip" in staged.message


# ---------------------------------------------------------------- notebooks


def test_notebook_magics_and_shell_lines_are_dropped():
    source, cells = notebook_to_module(notebook(
        "%matplotlib inline\n!pip install numpy\nimport numpy as np",
        "%%bash\necho hi",
        "%%time\nX = 1",
        "files = !ls\nnp.sum?\nif True:\n    %time y = 2\n    z = 3",
        "MESSAGE = ('%d items'\n           % 3)",
        markdown="# Title\n%not code",
    ), "clipping.ipynb")
    assert cells == 5
    namespace: dict = {}
    exec(compile(source, "clipping.py", "exec"), namespace)
    assert namespace["X"] == 1 and namespace["z"] == 3 and namespace["MESSAGE"] == "3 items"
    assert "echo hi" not in source and "pip install" not in source and "files" not in source


def test_statement_starts_know_brackets_strings_and_continuations():
    lines = ["x = (1", "% 2)", 's = """', "%not a magic", '"""', "y = 1 \\", "  % 2", "%magic"]
    assert _statement_starts(lines) == [True, False, True, False, False, True, False, True]


def test_broken_notebook_json_makes_that_part_invalid_only(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "clipping.ipynb").write_text('{"cells": [ {"cell_type": "code", ')
    (tmp_path / "s" / "debugging.py").write_text(GOOD)
    staged = stage_path(tmp_path / "s", tmp_path)
    assert staged.parts["clipping"].status == "invalid"
    assert "not a valid notebook" in staged.parts["clipping"].message
    assert staged.parts["debugging"].status == "ok" and staged.message == ""


@pytest.mark.parametrize("content", [b'{"nbformat": 4, "cells": "nope"}', b"[]", b"\xff\xfe\x00garbage"])
def test_malformed_notebooks_are_invalid(content):
    with pytest.raises(SubmissionError):
        notebook_to_module(content, "x.ipynb")


@pytest.mark.slow  # importing nbformat takes seconds where jsonschema pulls in its format checkers
def test_notebook_v3_is_upgraded_with_nbformat():
    v3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": [{"cells": [
        {"cell_type": "code", "input": "A = 3\n", "language": "python", "outputs": [], "metadata": {}}],
        "metadata": {}}]}
    source, cells = notebook_to_module(json.dumps(v3).encode(), "old.ipynb")
    assert cells == 1 and "A = 3" in source


def test_stub_py_beside_a_notebook_loses_to_the_notebook(tmp_path):
    stub = b"def value():\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "clipping.py").write_bytes(stub.replace(b"\n", b"\r\n"))  # Windows line ends: still the stub
    (tmp_path / "s" / "clipping.ipynb").write_bytes(notebook(GOOD))
    (tmp_path / "s" / "debugging.py").write_text(GOOD)
    (tmp_path / "s" / "debugging.ipynb").write_bytes(notebook("def value():\n    return 2\n"))
    staged = stage_path(tmp_path / "s", tmp_path, stubs={"clipping": {stub_digest(stub)}})
    assert staged.parts["clipping"].source == "clipping.ipynb" and "unchanged stub" in staged.parts["clipping"].message
    assert "return 1" in module_text(staged, "clipping")
    assert staged.parts["debugging"].source == "debugging.py"  # edited .py wins over the notebook
    assert "debugging.ipynb not graded" in staged.parts["debugging"].message


def test_single_notebook_entry_is_every_part(tmp_path):
    path = tmp_path / "zoe.ipynb"
    path.write_bytes(notebook("def value():\n    return 7\n"))
    staged = stage_path(path, tmp_path)
    assert all(p.status == "ok" and p.source == "zoe.ipynb" for p in staged.parts.values())
    assert "one notebook holding every part" in staged.message


def test_notebook_named_after_a_part_is_that_part_only(tmp_path):
    path = tmp_path / "clipping.ipynb"
    path.write_bytes(notebook(GOOD))
    staged = stage_path(path, tmp_path)
    assert staged.parts["clipping"].status == "ok"
    assert [p for p, s in staged.parts.items() if s.status == "ok"] == ["clipping"]


# ---------------------------------------------------------------- encodings


def test_cp1252_source_with_accent_in_a_comment_still_grades(tmp_path):
    data = "# Résumé of my work, naïve “quotes”\ndef value():\n    return 'é'\n".encode("cp1252")
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "clipping.py").write_bytes(data)
    staged = stage_path(tmp_path / "s", tmp_path)
    assert staged.parts["clipping"].status == "ok"
    assert "Windows-1252" in staged.parts["clipping"].message
    text = module_text(staged, "clipping")
    namespace: dict = {}
    exec(compile(text, "clipping.py", "exec"), namespace)
    assert namespace["value"]() == "é" and "“quotes”" in text


def test_declared_coding_is_honoured_and_neutralised():
    data = "# -*- coding: latin-1 -*-\nNAME = 'Zoë'\n".encode("latin-1")
    text, note = decode_source(data, "clipping.py")
    assert "latin-1" in note and "coding:" not in text and "coding=" not in text
    namespace: dict = {}
    exec(compile(text.encode("utf-8"), "clipping.py", "exec"), namespace)
    assert namespace["NAME"] == "Zoë"


def test_utf8_bom_and_plain_utf8_need_no_note():
    assert decode_source("\ufeffX = 'ü'\n".encode(), "a.py") == ("X = 'ü'\n", "")


@pytest.mark.parametrize("data, message", [
    (b"# coding: klingon\nX = 1\n", "klingon"),
    (b"# coding: utf-8\nX = '\xe9'\n", "does not decode"),
])
def test_bad_declared_encodings_are_invalid(data, message):
    with pytest.raises(SubmissionError, match=message):
        decode_source(data, "clipping.py")


def test_undecodable_part_is_invalid_in_staging(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "clipping.py").write_bytes(b"# coding: ascii\nX = '\xe9'\n")
    part = stage_path(tmp_path / "s", tmp_path).parts["clipping"]
    assert part.status == "invalid" and "ascii" in part.message


# ---------------------------------------------------------------- class folders and names


def test_find_entries_kinds_ids_and_ignored(tmp_path):
    (tmp_path / "alice").mkdir()
    make_zip(tmp_path / "bob.zip", {"clipping.py": GOOD.encode()})
    (tmp_path / "carol.ipynb").write_bytes(notebook(GOOD))
    (tmp_path / "grades.csv").write_text("x")
    (tmp_path / ".hidden").mkdir()
    entries, ignored = find_entries(tmp_path)
    assert [(e.student, e.kind) for e in entries] == [("alice", "folder"), ("bob", "zip"), ("carol", "notebook")]
    assert ignored == ["grades.csv"]


def test_nbgrader_layout(tmp_path):
    for student in ("s1", "s2"):
        folder = tmp_path / "submitted" / student / "lecture14"
        folder.mkdir(parents=True)
        (folder / "clipping.py").write_text(GOOD)
        (folder / "timestamp.txt").write_text("2026-11-30")
    (tmp_path / "submitted" / "s2" / "other-assignment").mkdir()
    entries, _ = find_entries(tmp_path, assignment="lecture14")
    assert [e.student for e in entries] == ["s1", "s2"]
    for entry in entries:
        staged = stage(entry, tmp_path / "staged" / entry.student, assignment="lecture14")
        assert staged.parts["clipping"].status == "ok"


@pytest.mark.parametrize("raw", ["..", ".", "a/b", "a\\b", "x\x00y", "tab\there", "new\nline", "CON", "nul",
                                 "\u202eevil", "a" * 300, "", " ", "../../etc/passwd", "Zoë Müller"])
def test_hostile_names_become_safe_ids(raw):
    sid = assign_ids({f"{raw}.zip": raw})[f"{raw}.zip"]
    assert SAFE_ID.match(sid) and not sid.startswith(".") and len(sid) <= 64
    assert sid.lower() not in ("con", "nul") and "/" not in sid and "\\" not in sid


def test_ids_never_collide_and_do_not_depend_on_order():
    names = {"alice.zip": "alice", "alice": "alice", "Alice": "Alice", "al ice": "al ice", "al_ice": "al_ice",
             "zoë": "zoë", "zoe\u0308": "zoe\u0308"}
    ids = assign_ids(names)
    assert len(set(i.lower() for i in ids.values())) == len(names)
    assert assign_ids(dict(reversed(list(names.items())))) == ids
    assert ids["al_ice"] == "al_ice"  # a clean, unique name is kept as it is
    assert clean_id("Zoë") == "Zoë"


def test_fingerprint_follows_what_is_graded(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "clipping.py").write_text(GOOD)
    first = stage_path(tmp_path / "s", tmp_path / "1").fingerprint
    (tmp_path / "s" / "notes.txt").write_text("not graded")
    assert stage_path(tmp_path / "s", tmp_path / "2").fingerprint == first
    (tmp_path / "s" / "clipping.py").write_text(GOOD + "# changed\n")
    assert stage_path(tmp_path / "s", tmp_path / "3").fingerprint != first


def test_stage_only_the_parts_asked_for(tmp_path):
    (tmp_path / "s").mkdir()
    for part in PART_IDS:
        (tmp_path / "s" / f"{part}.py").write_text(GOOD)
    staged = stage_path(tmp_path / "s", tmp_path, parts=("backprop",))
    assert list(staged.parts) == ["backprop"] and [p.name for p in staged.folder.iterdir()] == ["backprop.py"]
