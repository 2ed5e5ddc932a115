"""Student ids from hostile entry names: safe as file names, never colliding.

An id is the entry's name without its extension, reduced to letters, digits
and ``._-`` (anything else becomes ``_``). When that changed the name, or two
entries would share an id (``alice.zip`` and ``alice/``; ``Alice`` and
``alice`` on a case-insensitive disk), a short hash of the raw entry name is
appended, so two different entries never write the same output file.
"""
from __future__ import annotations

import hashlib
import unicodedata

MAX_ID_CHARS = 64
_KEEP = frozenset("._-")
# Names Windows refuses as file names whatever their extension.
_RESERVED = frozenset({"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))})


def _hash(raw: str, length: int = 8) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogateescape")).hexdigest()[:length]


def clean_id(stem: str) -> str:
    """``stem`` with every character other than letters, digits and ``._-`` replaced by ``_``.

    Leading dots are dropped (no hidden files, never ``.`` or ``..``) and the
    result is at most :data:`MAX_ID_CHARS` long; an empty result becomes ``_``.
    """
    text = unicodedata.normalize("NFC", stem)
    text = "".join(ch if (ch.isalnum() and ch.isprintable() and ord(ch) < 0x10000) or ch in _KEEP else "_"
                   for ch in text)
    text = text.lstrip(".")[:MAX_ID_CHARS]
    return text or "_"


def assign_ids(raw_names: dict[str, str]) -> dict[str, str]:
    """Give every entry a unique, file-name-safe student id.

    Args:
        raw_names: entry name (e.g. ``"alice.zip"``) -> the id it asks for (e.g. ``"alice"``).

    Returns:
        entry name -> student id. The same entries always get the same ids,
        whatever their order.
    """
    ids = {}
    for entry, wanted in raw_names.items():
        cleaned = clean_id(wanted)
        if cleaned != wanted or cleaned.lower() in _RESERVED:
            cleaned = f"{cleaned[:MAX_ID_CHARS - 9]}-{_hash(entry)}"
        ids[entry] = cleaned
    length = 8
    while True:
        groups: dict[str, list[str]] = {}
        for entry, sid in ids.items():
            groups.setdefault(sid.lower(), []).append(entry)
        clashes = [entries for entries in groups.values() if len(entries) > 1]
        if not clashes:
            return ids
        length += 4  # every member of a clash gets a (longer) hash of its own raw name
        for entries in clashes:
            for entry in entries:
                base = clean_id(raw_names[entry])[:MAX_ID_CHARS - length - 1]
                ids[entry] = f"{base}-{_hash(entry, length)}"
