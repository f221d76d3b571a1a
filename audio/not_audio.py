"""Which files of a music folder are not tracks: covers, cue sheets, playlists, texts, logs...

The rule (docs/library.md, "Files that are not audio"):

1. A file whose first bytes are an audio signature (:func:`audio.sniff.sniff`) is a track,
   whatever its name: a FLAC named ``.mp3`` is read as FLAC.
2. Otherwise a file whose *name* claims audio (its suffix is in :data:`AUDIO_SUFFIXES`) is
   still a track, one that fails ("not an audio file: ..."): a text file named ``.mp3`` or an
   empty ``.flac`` is a broken track its owner wants to hear about.
3. Any other file is not audio: it gets no row, and the run counts it by the kind its content
   shows (:func:`not_audio_kind`): image, PDF, cue sheet, playlist, text (nfo, log, lyrics by
   their name once the content is text), empty file, or other file.

A file that cannot be opened is left to rule 2's path: decoding reports why it cannot be read.
"""

from __future__ import annotations

import os

from audio.sniff import HEAD_BYTES, sniff

#: Name suffixes that claim a file is audio (lower case, without the dot).
AUDIO_SUFFIXES: frozenset[str] = frozenset(
    (
        "mp3 mp2 mp1 mpga flac fla ogg oga ogx opus spx wav wave bwf rf64 w64 aif aiff aifc m4a m4b m4p "
        "mp4 aac adts alac wma asf wv ape mpc mp+ tak ofr ofs tta shn dsf dff caf au snd amr ac3 eac3 dts "
        "voc mka webm weba mkv"
    ).split()
)

_IMAGES = (
    b"\xff\xd8\xff",  # JPEG
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a",
    b"GIF89a",
    b"BM",  # BMP
    b"II*\x00",  # TIFF, little-endian
    b"MM\x00*",  # TIFF, big-endian
    b"\x00\x00\x01\x00",  # ICO
)

#: Plural of each kind, for the summary line ("5 images, 1 cue sheet").
PLURALS: dict[str, str] = {
    "image": "images",
    "PDF": "PDFs",
    "cue sheet": "cue sheets",
    "playlist": "playlists",
    "text": "texts",
    "nfo": "nfos",
    "log": "logs",
    "lyrics": "lyrics",
    "empty file": "empty files",
    "other file": "other files",
}

_TEXT_BY_NAME = {"nfo": "nfo", "log": "log", "lrc": "lyrics"}
_PLAYLIST_NAMES = {"m3u", "m3u8", "pls", "xspf", "wpl"}


def claims_audio(path: str) -> bool:
    """Whether the file's name says it is audio (its suffix is in :data:`AUDIO_SUFFIXES`)."""
    return os.path.splitext(path)[1].lower().lstrip(".") in AUDIO_SUFFIXES


def not_audio_kind(path: str) -> str | None:
    """``None`` if ``path`` is a track (rules 1-2 above), else the kind of file it is (a key of
    :data:`PLURALS`). Reads at most the first few KiB."""
    try:
        if sniff(path) is not None:
            return None
    except OSError:
        return None  # unreadable: a track that fails, with the reason, when it is decoded
    if claims_audio(path):
        return None
    try:
        with open(os.fsencode(path), "rb") as f:
            head = f.read(HEAD_BYTES)
    except OSError:
        return None
    return content_kind(head, os.path.splitext(path)[1].lower().lstrip("."))


def content_kind(head: bytes, suffix: str) -> str:
    """The kind of a non-audio file from its first bytes (``suffix`` only names kinds of text)."""
    if not head:
        return "empty file"
    if head.startswith(_IMAGES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return "image"
    if head.startswith(b"%PDF-"):
        return "PDF"
    text = _as_text(head)
    if text is None:
        return "other file"
    lines = [line.strip().upper() for line in text.splitlines()]
    if any(line.startswith("FILE ") for line in lines) and any(line.startswith("TRACK ") for line in lines):
        return "cue sheet"  # a FILE and a TRACK command (the CUE sheet syntax)
    if text.lstrip("\ufeff").startswith(("#EXTM3U", "[playlist]")) or suffix in _PLAYLIST_NAMES:
        return "playlist"
    return _TEXT_BY_NAME.get(suffix, "text")


def _as_text(head: bytes) -> str | None:
    """``head`` as text (UTF-8 with or without BOM, UTF-16 with BOM, or Latin-1 without control
    bytes), or None if it holds binary data."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", "replace")
    if b"\x00" in head:
        return None
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3:  # a character cut by the end of the head
            return head[: exc.start].decode("utf-8")
    controls = sum(b < 0x20 and b not in b"\t\r\n\f" for b in head)
    return head.decode("latin-1") if controls == 0 else None


def summary(counts: dict[str, int]) -> str:
    """The summary line: ``"ignored 6 files that are not audio: 5 images, 1 cue sheet"``."""
    total = sum(counts.values())
    parts = [
        f"{n} {kind if n == 1 else PLURALS.get(kind, kind + 's')}"
        for kind, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    files = "1 file that is" if total == 1 else f"{total} files that are"
    return f"ignored {files} not audio: " + ", ".join(parts)
