"""A track named by a path or by text: ``fpstream similar "quiet ones love theme north"``.

:func:`resolve_track` is what every command that takes a track calls. Its rule
(docs/library.md, "A track by name"):

1. A path stored in the library (made absolute as ingest stores it) is that track.
2. Otherwise the text is matched against each track's artist, album artist, album and
   title (the file's name when it has no title), case- and accent-insensitively: text
   and tags are decomposed (Unicode NFKD), combining marks dropped, case folded, and
   split into words. A track matches when every word of the text is the start of one of
   its words ("brule ete" matches "Émilie Brûlé - Été indien"). If several match and
   exactly one of them has every word of the text as a whole word, that one is meant.
3. One match is used. Several: :class:`AmbiguousTrack` lists them with their tags
   (exit status 2: say more). None: :class:`NoSuchTrack` names the closest titles
   (difflib), or, for a text that looks like a path, says how to add the file.
"""

from __future__ import annotations

import difflib
import os
import re
import sqlite3
import unicodedata
from collections.abc import Iterable, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

from audio.not_audio import claims_audio
from audio.paths import stored_path
from store.library import LibraryError, connect, get_row, name_rows, row_exists

SHOWN = 20  # matches listed when a text names several tracks
_WORD = re.compile(r"\w+")


class NoSuchTrack(LibraryError):
    """No stored path and no track's tags match the text."""


class AmbiguousTrack(LibraryError):
    """The text matches several tracks; the message lists them."""

    exit_status = 2

    def __init__(self, message: str, matches: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.matches = matches


def fold(text: str) -> str:
    """``text`` for comparison: NFKD, combining marks dropped, case folded (``"Été"`` -> ``"ete"``)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def display_name(row: dict[str, Any] | Any) -> str:
    """``"Artist - Title"`` from the tags (album artist when there is no artist; the title alone
    without either), else the file's name without its extension. ``row``: a dict or an object
    with those attributes (``fpstream.api.Track``)."""
    get = row.get if isinstance(row, dict) else lambda k: getattr(row, k, None)
    title, artist = get("title"), get("artist") or get("album_artist")
    if title:
        return f"{artist} - {title}" if artist else str(title)
    return Path(str(get("path"))).stem


def describe(row: dict[str, Any]) -> str:
    """One line naming a track for a list: display name, album and number, then the path."""
    album = row.get("album")
    number = row.get("track_number")
    where = ", ".join(x for x in (album, f"track {number}" if number else None) if x)
    return f"{display_name(row)}{f'  ({where})' if where else ''}  {row['path']}"


def haystack(row: dict[str, Any]) -> list[str]:
    """The words a text is matched against: artist, album artist, album, title (or file name)."""
    fields = [row.get("artist"), row.get("album_artist"), row.get("album")]
    fields.append(row.get("title") or Path(str(row["path"])).stem)
    return [w for f in fields if f for w in words(str(f))]


def search(rows: Iterable[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """The rows whose tags match ``text`` (rule 2 above), in the order given (by path)."""
    query = words(text)
    if not query:
        return []
    matches, whole = [], []
    for row in rows:
        hay = haystack(row)
        if all(any(w.startswith(q) for w in hay) for q in query):
            matches.append(row)
            if all(q in hay for q in query):
                whole.append(row)
    return whole if len(matches) > 1 and len(whole) == 1 else matches


def closest(rows: Sequence[dict[str, Any]], text: str, n: int = 5) -> list[dict[str, Any]]:
    """The ``n`` rows whose "artist title" (or title alone) is nearest to ``text`` (difflib ratio)."""
    wanted = " ".join(words(text))
    scored = []
    for row in rows:
        title = " ".join(words(str(row.get("title") or Path(str(row["path"])).stem)))
        artist_title = " ".join(words(display_name(row)))
        ratio = max(
            difflib.SequenceMatcher(None, wanted, title).ratio(),
            difflib.SequenceMatcher(None, wanted, artist_title).ratio(),
        )
        scored.append((ratio, row["path"], row))
    scored.sort(key=lambda s: (-s[0], s[1]))
    return [row for ratio, _, row in scored[:n] if ratio >= 0.5]


def _looks_like_path(text: str) -> bool:
    """A folder separator, ``~``, or an audio file name (``y.wav``): meant as a path, not as words."""
    return os.sep in text or text.startswith("~") or claims_audio(text)


def resolve_in(conn: sqlite3.Connection, text: str) -> str:
    """:func:`resolve_track` on an open connection (``store.library.connect``)."""
    key = stored_path(os.path.expanduser(text))
    if row_exists(conn, key):
        return key
    if os.path.exists(os.path.expanduser(text)):
        get_row(conn, key)  # a file on disk that is not in the library: its message says how to add it
    rows = list(name_rows(conn))
    found = search(rows, text)
    if len(found) == 1:
        return str(found[0]["path"])
    if found:
        listed = "\n".join(f"  {describe(r)}" for r in found[:SHOWN])
        more = f"\n  … and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
        raise AmbiguousTrack(
            f"{text!r} matches {len(found)} tracks; say more (another word of the artist, album or "
            f"title), or give the path:\n{listed}{more}",
            found,
        )
    if _looks_like_path(text):
        get_row(conn, key)  # raises: not in the library, with the advice to feed it
    near = closest(rows, text)
    hint = (
        "; the closest titles:\n" + "\n".join(f"  {describe(r)}" for r in near)
        if near
        else " (fpstream search TEXT lists matches)"
    )
    raise NoSuchTrack(f"no track in the library matches {text!r} (artist, album or title){hint}")


def resolve_track(library: Any, text: str) -> str:
    """The stored path of the track ``text`` names: a path, or words of its artist, album and title.

    ``library``: an open connection, a database path, or an object with a ``path`` attribute
    (``fpstream.api.Library``). Raises :class:`AmbiguousTrack` (several match, exit status 2)
    or :class:`NoSuchTrack`, both :class:`store.library.LibraryError` with the list in the message.

    Examples
    --------
    >>> resolve_track("fingerprints.db", "quiet ones harbour")     # doctest: +SKIP
    '/home/me/Music/The Quiet Ones/North Roads/01 Harbour Lights.mp3'
    """
    if isinstance(library, sqlite3.Connection):
        return resolve_in(library, text)
    path = getattr(library, "path", library)
    with closing(connect(path)) as conn:
        return resolve_in(conn, text)
