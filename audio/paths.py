"""A path's identity in the library: the key a file is stored under and sent on the wire."""

from __future__ import annotations

import os
import re


def row_path(path: str) -> str:
    """The path as stored in the database and sent on the wire: always valid UTF-8.

    A file name that is not UTF-8 (``os.fsdecode`` kept its bytes as
    surrogates) is stored with those bytes as ``\\xNN`` escapes; the file itself
    is still opened by its real name.
    """
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def stored_path(given: str) -> str:
    """The key a path the user gave is stored under: ``row_path(os.path.abspath(given))``.

    Made absolute from the current directory, symlinks *not* resolved, as ingest does it.
    """
    return row_path(os.path.abspath(given))


_ESCAPE = re.compile(rb"\\x([0-9a-f]{2})")
_CUE_SUFFIX = re.compile(r"#\d{2,}$")  # store.db.cue_key: "<image>#<NN>"


def _exists(row_path: str) -> bool:
    if os.path.exists(row_path):
        return True
    raw = row_path.encode("utf-8")
    if b"\\x" not in raw:
        return False
    return os.path.exists(_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), raw))


def row_file_exists(row_path: str) -> bool:
    """Whether the file of a stored path is there: the file itself, or for a track of a CUE
    sheet (``<image>#<NN>``) its image.

    A name that was not UTF-8 is stored with its odd bytes as ``\\xNN`` (:func:`row_path`);
    it is looked up both as written and with those bytes restored.
    """
    if _exists(row_path):
        return True
    return bool(_CUE_SUFFIX.search(row_path)) and _exists(_CUE_SUFFIX.sub("", row_path))


def format_of(path: str) -> str:
    """The format as the file name says it: ``FLAC``, ``OGG``, ``M4A``… (``?`` without an extension).

    What people sort and count their library by; the reader that decodes a file is chosen by its
    content (``audio.sniff``), not by this. A track of a CUE sheet (``<image>#<NN>``) has its
    image's."""
    return os.path.splitext(_CUE_SUFFIX.sub("", path))[1].lstrip(".").upper() or "?"
