"""A path's identity in the library: the key a file is stored under and sent on the wire."""

from __future__ import annotations

import os


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


def format_of(path: str) -> str:
    """The format as the file name says it: ``FLAC``, ``OGG``, ``M4A``… (``?`` without an extension).

    What people sort and count their library by; the reader that decodes a file is chosen by its
    content (``audio.sniff``), not by this."""
    return os.path.splitext(path)[1].lstrip(".").upper() or "?"
