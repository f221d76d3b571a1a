"""A file's tags (title, artist, album, track number, MusicBrainz ids...), read with mutagen.

One function, :func:`read_tags`, reads the tags of every container the readers
decode, from the tag format that container carries:

- Vorbis comments: Ogg Vorbis, Opus, FLAC, Ogg FLAC, Speex (``TITLE``, ``ARTIST``,
  ``ALBUMARTIST``, ``TRACKNUMBER``, ``MUSICBRAINZ_TRACKID``... as Picard writes them)
- ID3v2 (and ID3v1): MP3, and the ``id3 `` chunk of WAV and AIFF (``TIT2``, ``TPE1``, ``TPE2``,
  ``TRCK``, ``TPOS``, ``TDRC``, ``UFID:http://musicbrainz.org``, ``TXXX:MusicBrainz Album Id``)
- MP4 atoms: AAC/ALAC ``.m4a`` (``©nam``, ``©ART``, ``aART``, ``trkn``, ``disk``,
  ``----:com.apple.iTunes:MusicBrainz Track Id``)
- ASF attributes: WMA (``Title``, ``Author``, ``WM/AlbumArtist``, ``WM/TrackNumber``,
  ``MusicBrainz/Track Id``)
- APEv2: WavPack, Monkey's Audio, Musepack, TAK, OptimFROG (``Title``, ``Artist``, ``Track``...)

Tags are metadata beside the audio: they never change a fingerprint, and a
file whose tags cannot be read is analysed all the same (its tags are empty).
Values are trimmed; several values of one tag (two artists) are joined with
``"; "``; ``"3/12"`` gives track number 3. Text is capped at MAX_TEXT
characters so that a hostile tag cannot bloat a message or a row.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from typing import Any

from base.fields import INTEGER_TAGS, TAG_COLUMNS

log = logging.getLogger(__name__)

MAX_TEXT = 1000  # characters kept of one tag value

Tags = dict[str, str | int]  # column name (base.fields.TAG_COLUMNS) -> value; absent = unknown

# Each tag format's keys for our columns, first found wins. Vorbis/APE keys are matched
# case-insensitively (both standards say keys are case-insensitive).
_VORBIS: dict[str, tuple[str, ...]] = {
    "title": ("title",),
    "artist": ("artist",),
    "album_artist": ("albumartist", "album artist", "album_artist"),
    "album": ("album",),
    "track_number": ("tracknumber", "track"),
    "disc_number": ("discnumber", "disc"),
    "date": ("date", "originaldate", "year"),
    "genre": ("genre",),
    "musicbrainz_recording_id": ("musicbrainz_trackid",),
    "musicbrainz_release_id": ("musicbrainz_albumid",),
}
_APE: dict[str, tuple[str, ...]] = {
    **_VORBIS,
    "date": ("year", "date"),
}
_ID3: dict[str, tuple[str, ...]] = {
    "title": ("TIT2",),
    "artist": ("TPE1",),
    "album_artist": ("TPE2",),
    "album": ("TALB",),
    "track_number": ("TRCK",),
    "disc_number": ("TPOS",),
    "date": ("TDRC", "TYER", "TDOR"),
    "genre": ("TCON",),
    "musicbrainz_recording_id": ("UFID:http://musicbrainz.org", "TXXX:MusicBrainz Track Id"),
    "musicbrainz_release_id": ("TXXX:MusicBrainz Album Id",),
}
_MP4: dict[str, tuple[str, ...]] = {
    "title": ("\xa9nam",),
    "artist": ("\xa9ART",),
    "album_artist": ("aART",),
    "album": ("\xa9alb",),
    "track_number": ("trkn",),
    "disc_number": ("disk",),
    "date": ("\xa9day",),
    "genre": ("\xa9gen", "gnre"),
    "musicbrainz_recording_id": ("----:com.apple.iTunes:MusicBrainz Track Id",),
    "musicbrainz_release_id": ("----:com.apple.iTunes:MusicBrainz Album Id",),
}
_ASF: dict[str, tuple[str, ...]] = {
    "title": ("Title",),
    "artist": ("Author", "WM/Artist"),
    "album_artist": ("WM/AlbumArtist",),
    "album": ("WM/AlbumTitle",),
    "track_number": ("WM/TrackNumber", "WM/Track"),
    "disc_number": ("WM/PartOfSet",),
    "date": ("WM/Year", "WM/OriginalReleaseYear"),
    "genre": ("WM/Genre",),
    "musicbrainz_recording_id": ("MusicBrainz/Track Id",),
    "musicbrainz_release_id": ("MusicBrainz/Album Id",),
}

_LEADING_INT = re.compile(r"\s*(\d{1,6})")


def read_tags(path: str) -> Tags:
    """The tags of the audio file at ``path`` as ``{column: value}`` (only the tags it has).

    Never raises for a file mutagen cannot parse (the file is still audio for the
    readers): the answer is then ``{}`` and the reason is logged at debug level.

    Examples
    --------
    >>> read_tags("01 Intro.flac")                        # doctest: +SKIP
    {'title': 'Intro', 'artist': 'Nobody', 'album': 'First', 'track_number': 1}
    """
    import mutagen  # imported here: only ingest (and analyze) read tags

    try:
        f = mutagen.File(os.fsencode(path))
    except Exception as exc:  # noqa: BLE001 - mutagen raises many types on damaged files
        log.debug("%s: tags not readable: %s: %s", path, type(exc).__name__, exc)
        return {}
    if f is None or f.tags is None:
        return {}
    try:
        return _from_tags(f.tags)
    except Exception as exc:  # noqa: BLE001 - a tag of an unexpected shape never fails the track
        log.debug("%s: tags not understood: %s: %s", path, type(exc).__name__, exc)
        return {}


def _from_tags(tags: Any) -> Tags:
    from mutagen.apev2 import APEv2
    from mutagen.asf import ASFTags
    from mutagen.id3 import ID3
    from mutagen.mp4 import MP4Tags

    if isinstance(tags, ID3):
        return _collect(_ID3, lambda key: _id3_values(tags, key))
    if isinstance(tags, MP4Tags):
        return _collect(_MP4, lambda key: _mp4_values(tags, key))
    if isinstance(tags, ASFTags):
        return _collect(_ASF, lambda key: [str(v.value) for v in tags.get(key, [])])
    if isinstance(tags, APEv2):
        lower = {k.lower(): v for k, v in tags.items()}
        return _collect(_APE, lambda key: _ape_values(lower.get(key)))
    # Vorbis comments (FLAC, Ogg): a list of (key, value) pairs, keys case-insensitive
    pairs: dict[str, list[str]] = {}
    for key, value in tags:
        pairs.setdefault(key.lower(), []).append(value)
    return _collect(_VORBIS, lambda key: pairs.get(key, []))


def _id3_values(tags: Any, key: str) -> list[str]:
    if key.startswith("UFID:"):
        frame = tags.get(key)
        return [frame.data.decode("ascii", "replace")] if frame is not None else []
    frames = tags.getall(key)
    return [str(text) for frame in frames for text in getattr(frame, "text", [])]


def _mp4_values(tags: Any, key: str) -> list[str]:
    out: list[str] = []
    for v in tags.get(key, []):
        if isinstance(v, tuple):  # trkn/disk: (number, total)
            out.append(str(v[0]))
        elif isinstance(v, bytes):  # freeform ---- atoms
            out.append(v.decode("utf-8", "replace"))
        else:
            out.append(str(v))
    return out


def _ape_values(value: Any) -> list[str]:
    if value is None or getattr(value, "kind", 0) != 0:  # 0 = text; binary and links are not tags to show
        return []
    return list(value)


def _collect(keys: dict[str, tuple[str, ...]], values: Callable[[str], list[str]]) -> Tags:
    out: Tags = {}
    for column in TAG_COLUMNS:
        for key in keys[column]:
            found = [v.strip() for v in values(key) if v and v.strip()]
            if not found:
                continue
            if column in INTEGER_TAGS:
                number = _LEADING_INT.match(found[0])
                if number is None or int(number.group(1)) == 0:
                    continue
                out[column] = int(number.group(1))
            else:
                out[column] = "; ".join(dict.fromkeys(found))[:MAX_TEXT]
            break
    return out
