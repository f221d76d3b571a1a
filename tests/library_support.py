"""A music library as people keep one, generated: ``Artist/Album/NN Title.ext`` in seven formats,
tags written into each by mutagen, a cover in every album, a cue sheet, texts, and broken files.

``make_library(root)`` returns what it wrote: {path: tags} for the tagged tracks, and the paths of
every other kind of file, so a test can check each one's fate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

SR = 44_100
SECONDS = 3.0

# (artist, album, n, title, format, genre): the library. Accents and apostrophes on purpose.
TRACKS: tuple[tuple[str, str, int, str, str, str], ...] = (
    ("Émilie Brûlé", "Été indien", 1, "Café de l'aube", "flac", "Chanson"),
    ("Émilie Brûlé", "Été indien", 2, "Rue Saint-Éloi", "ogg", "Chanson"),
    ("Émilie Brûlé", "Été indien", 3, "Dernière valse", "opus", "Chanson"),
    ("The Quiet Ones", "North Roads", 1, "Harbour Lights", "mp3", "Folk"),
    ("The Quiet Ones", "North Roads", 2, "Love Theme", "m4a", "Folk"),
    ("The Quiet Ones", "North Roads", 3, "Salt and Stone", "wma", "Folk"),
    ("The Quiet Ones", "Live at Home", 1, "Love Theme", "wav", "Folk"),
)
RECORDING_ID = "4e0d8649-1f89-44f3-91af-4c0dbee81f28"
RELEASE_ID = "a1b2c3d4-0000-4000-8000-000000000001"

CODECS = {  # format -> (PyAV codec, its sample format, options)
    "flac": ("flac", "s16", {}),
    "ogg": ("vorbis", "fltp", {"strict": "-2"}),  # FFmpeg's native Vorbis encoder is "experimental"
    "opus": ("libopus", "s16", {}),
    "mp3": ("libmp3lame", "s16p", {}),
    "m4a": ("aac", "fltp", {}),
    "wma": ("wmav2", "fltp", {}),
    "wav": ("pcm_s16le", "s16", {}),
}


@dataclass
class Library:
    root: Path
    tagged: dict[Path, dict[str, str | int]] = field(default_factory=dict)
    untagged: Path | None = None  # audio without any tag: shown by its file name
    covers: list[Path] = field(default_factory=list)
    not_audio: dict[Path, str] = field(default_factory=dict)  # ignored files and their kind
    broken: dict[Path, str] = field(default_factory=dict)  # failed rows: path -> error start


def tone(i: int) -> np.ndarray:
    """A distinct stereo sound per track (chord and pulse rate differ), float32 in [-1, 1]."""
    t = np.arange(int(SR * SECONDS)) / SR
    base = 110.0 * 2 ** (i / 5)
    chord = sum(np.sin(2 * np.pi * base * k * t) / k for k in (1, 2, 3))
    pulse = (np.sin(2 * np.pi * (1.5 + 0.4 * i) * t) > 0.6).astype(float)
    mono = 0.3 * chord * (0.4 + 0.6 * pulse)
    return np.stack([mono, np.roll(mono, 30 * i)], axis=1).astype(np.float32)


def encode(path: Path, pcm: np.ndarray, fmt: str) -> Path:
    codec, sample_format, options = CODECS[fmt]
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=SR, layout="stereo", options=options)
        stream.format = sample_format
        if fmt in ("wma", "mp3", "m4a", "ogg"):
            stream.bit_rate = 128_000
        if fmt == "opus":
            stream.rate = 48_000
        if sample_format.endswith("p"):
            data = np.ascontiguousarray(pcm.T)
        else:
            data = np.ascontiguousarray(pcm.reshape(1, -1))
        if sample_format.startswith("s16"):
            data = np.round(data * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(data, format=sample_format, layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = SR, 0, Fraction(1, SR)
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return path


def write_tags(path: Path, fmt: str, tags: dict[str, str | int]) -> None:
    """``tags`` (column names of base.fields.TAG_COLUMNS) into the file, in its container's tag format."""
    import mutagen
    from mutagen import id3

    t = tags
    if fmt in ("flac", "ogg", "opus"):
        f = mutagen.File(path)
        keys = {
            "title": "TITLE",
            "artist": "ARTIST",
            "album_artist": "ALBUMARTIST",
            "album": "ALBUM",
            "track_number": "TRACKNUMBER",
            "disc_number": "DISCNUMBER",
            "date": "DATE",
            "genre": "GENRE",
            "musicbrainz_recording_id": "MUSICBRAINZ_TRACKID",
            "musicbrainz_release_id": "MUSICBRAINZ_ALBUMID",
        }
        for column, key in keys.items():
            if column in t:
                f[key] = str(t[column]) + ("/3" if column == "track_number" else "")
        f.save()
    elif fmt in ("mp3", "wav"):
        frames = [
            id3.TIT2(encoding=3, text=t["title"]),
            id3.TPE1(encoding=3, text=t["artist"]),
            id3.TALB(encoding=3, text=t["album"]),
            id3.TRCK(encoding=3, text=f"{t['track_number']}/3"),
            id3.TDRC(encoding=3, text=str(t["date"])),
            id3.TCON(encoding=3, text=t["genre"]),
        ]
        if "album_artist" in t:
            frames.append(id3.TPE2(encoding=3, text=t["album_artist"]))
        if "disc_number" in t:
            frames.append(id3.TPOS(encoding=3, text=str(t["disc_number"])))
        if "musicbrainz_recording_id" in t:
            mbid = t["musicbrainz_recording_id"].encode()
            frames.append(id3.UFID(owner="http://musicbrainz.org", data=mbid))
        if "musicbrainz_release_id" in t:
            frames.append(id3.TXXX(encoding=3, desc="MusicBrainz Album Id", text=t["musicbrainz_release_id"]))
        if fmt == "mp3":
            tag = id3.ID3()
            for frame in frames:
                tag.add(frame)
            tag.save(path)
        else:
            f = mutagen.File(path)
            f.add_tags()
            for frame in frames:
                f.tags.add(frame)
            f.save()
    elif fmt == "m4a":
        from mutagen.mp4 import MP4, MP4FreeForm

        f = MP4(path)
        f["\xa9nam"], f["\xa9ART"], f["\xa9alb"] = t["title"], t["artist"], t["album"]
        f["trkn"] = [(t["track_number"], 3)]
        f["\xa9day"], f["\xa9gen"] = str(t["date"]), t["genre"]
        if "album_artist" in t:
            f["aART"] = t["album_artist"]
        if "musicbrainz_recording_id" in t:
            f["----:com.apple.iTunes:MusicBrainz Track Id"] = [
                MP4FreeForm(t["musicbrainz_recording_id"].encode())
            ]
        f.save()
    elif fmt == "wma":
        from mutagen.asf import ASF

        f = ASF(path)
        f["Title"], f["Author"], f["WM/AlbumTitle"] = t["title"], t["artist"], t["album"]
        f["WM/TrackNumber"], f["WM/Year"], f["WM/Genre"] = str(t["track_number"]), str(t["date"]), t["genre"]
        if "album_artist" in t:
            f["WM/AlbumArtist"] = t["album_artist"]
        f.save()
    else:
        raise ValueError(fmt)


def make_library(root: Path) -> Library:
    lib = Library(root)
    for i, (artist, album, n, title, fmt, genre) in enumerate(TRACKS):
        folder = root / artist / album
        folder.mkdir(parents=True, exist_ok=True)
        path = encode(folder / f"{n:02d} {title}.{fmt}", tone(i), fmt)
        tags: dict[str, str | int] = {
            "title": title,
            "artist": artist,
            "album": album,
            "track_number": n,
            "date": "2024",
            "genre": genre,
        }
        if i == 0:  # one track with everything Picard writes
            tags.update(
                album_artist=artist,
                disc_number=1,
                musicbrainz_recording_id=RECORDING_ID,
                musicbrainz_release_id=RELEASE_ID,
            )
        write_tags(path, fmt, tags)
        lib.tagged[path] = tags
        cover = folder / "cover.jpg"
        if not cover.exists():
            cover.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8)
            lib.covers.append(cover)
            lib.not_audio[cover] = "image"
    loose = root / "Unsorted"
    loose.mkdir()
    lib.untagged = encode(loose / "field recording.flac", tone(9), "flac")
    notes = loose / "notes.txt"
    notes.write_text("Recorded in the garden, May.\n")
    lib.not_audio[notes] = "text"
    cue = root / "Émilie Brûlé" / "Été indien" / "image.cue"
    cue.write_text(
        'PERFORMER "Émilie Brûlé"\nFILE "image.flac" WAVE\n  TRACK 01 AUDIO\n    INDEX 01 00:00:00\n'
    )
    lib.not_audio[cue] = "cue sheet"
    fake = loose / "not really.mp3"
    fake.write_text("this is a text file with an audio name\n")
    lib.broken[fake] = "not an audio file"
    empty = loose / "blank.flac"
    empty.write_bytes(b"")
    lib.broken[empty] = "empty file"
    return lib
