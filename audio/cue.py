"""CUE sheets: the tracks of an audio image, as sample-exact spans.

A cue sheet (``.cue`` beside the image, or the image's embedded ``CUESHEET``
tag) lists tracks by ``INDEX 01 mm:ss:ff`` — minutes, seconds and CD frames
(75 per second) from the start of the image. :func:`parse_cue` reads one;
:func:`spans` turns its tracks into ``[start, end)`` frame ranges at the
image's sample rate, which ingest sends as units of their own.

Rules (docs/cue-and-moves.md):

- A track starts at its ``INDEX 01`` and ends where the next track's audio
  starts: at its ``INDEX 00`` (the next track's pregap) when there is one,
  else at its ``INDEX 01``. So a pregap (the gap before a track, often
  silence or the "hidden" count-in) belongs to no track, exactly as a CD
  player's track timer counts it down before the track begins.
  ``PREGAP``/``POSTGAP`` are silence a burner *adds* and are not in the
  image: they are read and ignored.
- The last track ends at the end of the image.
- Only sheets with one ``FILE`` are split (the common "image + cue" layout);
  a sheet naming several files, or none that matches the image, is not used
  for that image.
- Text is decoded as UTF-8 (with or without BOM), else latin-1 (which never
  fails: the usual encoding of sheets written by Windows rippers).

A sheet that cannot be read raises :class:`CueError` with the line at fault;
ingest then analyses the image as one file and says why.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CueError", "CueSheet", "CueTrack", "decode_text", "parse_cue", "sheet_beside", "spans"]

FRAMES_PER_SECOND = 75  # CD frames ("sectors") per second: the unit of mm:ss:ff
MAX_SHEET_BYTES = 1 << 20  # a sheet of 99 tracks is a few KiB; anything this large is not one

_TIME = re.compile(r"^(\d{1,4}):(\d{2}):(\d{2})$")


class CueError(ValueError):
    """A cue sheet that cannot be used; the message says which line and why."""


@dataclass(frozen=True)
class CueTrack:
    """One ``TRACK`` of a sheet: its number, text, and index points in CD frames (1/75 s)."""

    number: int
    title: str | None
    performer: str | None
    index01: int  # CD frames from the start of the image
    index00: int | None = None  # the pregap's start, if the sheet gives one


@dataclass(frozen=True)
class CueSheet:
    file: str | None  # the FILE line's name, as written
    title: str | None  # the album (the sheet's TITLE before any TRACK)
    performer: str | None
    tracks: tuple[CueTrack, ...]


def decode_text(raw: bytes) -> str:
    """A sheet's bytes as text: UTF-8 (a BOM is dropped), else latin-1."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _time(text: str, line_no: int) -> int:
    m = _TIME.match(text)
    if not m:
        raise CueError(f"line {line_no}: {text!r} is not a time mm:ss:ff")
    minutes, seconds, frames = (int(g) for g in m.groups())
    if seconds >= 60 or frames >= FRAMES_PER_SECOND:
        raise CueError(f"line {line_no}: {text!r}: seconds must be < 60 and frames < 75")
    return (minutes * 60 + seconds) * FRAMES_PER_SECOND + frames


def _words(line: str, line_no: int) -> list[str]:
    try:
        return shlex.split(line, posix=True)
    except ValueError as exc:  # an unclosed quote
        raise CueError(f"line {line_no}: {exc}") from None


def parse_cue(text: str) -> CueSheet:
    """Parse a cue sheet's text; :class:`CueError` if it has no usable tracks or a bad line.

    Commands other than FILE, TRACK, INDEX, TITLE and PERFORMER (REM, CATALOG,
    ISRC, FLAGS, PREGAP, POSTGAP, SONGWRITER...) are ignored.
    """
    files: list[str] = []
    album_title = album_performer = None
    tracks: list[dict[str, object]] = []
    for line_no, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped:
            continue
        # a backslash in a Windows path is a character, not an escape
        words = _words(stripped.replace("\\", "\\\\"), line_no)
        command, args = words[0].upper(), words[1:]
        if command == "FILE":
            if not args:
                raise CueError(f"line {line_no}: FILE without a file name")
            files.append(args[0])
        elif command == "TRACK":
            if len(args) < 1 or not args[0].isdigit():
                raise CueError(f"line {line_no}: TRACK needs a number, got {stripped!r}")
            if not files:
                raise CueError(f"line {line_no}: TRACK before any FILE")
            if len(args) > 1 and args[1].upper() != "AUDIO":
                tracks.append({"number": int(args[0]), "skip": True})  # a data track: no audio
                continue
            tracks.append({"number": int(args[0])})
        elif command == "INDEX":
            if not tracks:
                raise CueError(f"line {line_no}: INDEX before any TRACK")
            if len(args) != 2 or not args[0].isdigit():
                raise CueError(f"line {line_no}: INDEX needs a number and a time, got {stripped!r}")
            tracks[-1][f"index{int(args[0]):02d}"] = _time(args[1], line_no)
        elif command in ("TITLE", "PERFORMER"):
            value = " ".join(args).strip() or None
            if tracks:
                tracks[-1][command.lower()] = value
            elif command == "TITLE":
                album_title = value
            else:
                album_performer = value
    if len(set(files)) > 1:
        raise CueError(f"the sheet names {len(set(files))} files; only single-file images are split")
    out: list[CueTrack] = []
    for t in tracks:
        if t.get("skip"):
            continue
        if "index01" not in t:
            raise CueError(f"track {t['number']} has no INDEX 01")
        out.append(
            CueTrack(
                number=int(t["number"]),  # type: ignore[call-overload]
                title=t.get("title"),  # type: ignore[arg-type]
                performer=t.get("performer"),  # type: ignore[arg-type]
                index01=int(t["index01"]),  # type: ignore[call-overload]
                index00=t.get("index00"),  # type: ignore[arg-type]
            )
        )
    if not out:
        raise CueError("no audio tracks")
    numbers = [t.number for t in out]
    if len(set(numbers)) != len(numbers):
        raise CueError(f"track numbers repeat: {numbers}")
    for a, b in zip(out, out[1:], strict=False):
        if b.index01 <= a.index01 or (b.index00 is not None and b.index00 < a.index01):
            raise CueError(f"track {b.number} starts before track {a.number} ends (times must increase)")
    for t in out:
        if t.index00 is not None and t.index00 > t.index01:
            raise CueError(f"track {t.number}: INDEX 00 is after INDEX 01")
    return CueSheet(files[0] if files else None, album_title, album_performer, tuple(out))


def read_cue(path: str | os.PathLike[str]) -> CueSheet:
    """Read and parse a ``.cue`` file; CueError (with the file's name) if it cannot be used."""
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_SHEET_BYTES + 1)
    except OSError as exc:
        raise CueError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_SHEET_BYTES:
        raise CueError(f"{path} is larger than {MAX_SHEET_BYTES >> 20} MiB: not a cue sheet")
    try:
        return parse_cue(decode_text(raw))
    except CueError as exc:
        raise CueError(f"{Path(path).name}: {exc}") from None


def sheet_beside(image: str) -> Path | None:
    """The ``.cue`` in the image's folder whose FILE line names the image, or None.

    ``Album.flac`` + ``Album.cue`` is the usual pair, but a sheet may be named
    otherwise (``Album.flac.cue``, or after the disc): every ``.cue`` of the
    folder is looked at, the one named after the image first. A sheet that
    cannot be read is not "beside" any image here; :func:`read_cue` says why.
    """
    folder = Path(image).parent
    name = Path(image).name
    try:
        cues = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".cue" and p.is_file())
    except OSError:
        return None
    stem = Path(image).stem
    cues.sort(key=lambda p: p.stem not in (stem, name))
    for cue in cues:
        try:
            raw = cue.read_bytes()[:MAX_SHEET_BYTES]
        except OSError:
            continue
        for line in decode_text(raw).splitlines():
            words = line.strip().split(None, 1)
            if len(words) == 2 and words[0].upper() == "FILE" and _file_name(words[1]) == name:
                return cue
    return None


def _file_name(rest: str) -> str:
    """The file name of a FILE line's arguments (``"name.wav" WAVE``), base name only."""
    rest = rest.strip()
    if rest.startswith('"'):
        name = rest[1 : rest.find('"', 1)] if rest.find('"', 1) > 0 else rest[1:]
    else:
        name = rest.rsplit(None, 1)[0] if len(rest.split()) > 1 else rest
    return name.replace("\\", "/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Span:
    """A cue track as frames of the image at its sample rate: ``[start, end)``; ``end`` None = to the end."""

    number: int
    start: int
    end: int | None
    title: str | None
    performer: str | None


def spans(sheet: CueSheet, sample_rate: int) -> list[Span]:
    """Each track's ``[start, end)`` in frames at ``sample_rate`` (rounded to the nearest frame:
    exact at 44.1 kHz, where a CD frame is 588 samples)."""

    def frames(cd: int) -> int:
        return (cd * sample_rate + FRAMES_PER_SECOND // 2) // FRAMES_PER_SECOND

    out = []
    for i, t in enumerate(sheet.tracks):
        nxt = sheet.tracks[i + 1] if i + 1 < len(sheet.tracks) else None
        end = None if nxt is None else frames(nxt.index00 if nxt.index00 is not None else nxt.index01)
        out.append(Span(t.number, frames(t.index01), end, t.title, t.performer or sheet.performer))
    return out
