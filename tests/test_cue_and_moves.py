"""CUE sheets and moved files (docs/cue-and-moves.md): the parser, the content identity, and the
real stack: cue tracks equal their cut-out files; a renamed album folder and a tag edit analyse
nothing and leave no ghost; a deleted file is missing, not suggested; a malformed sheet."""

from __future__ import annotations

import re
import shutil
import sqlite3
import time
from pathlib import Path

import mutagen
import numpy as np
import pytest
import soundfile as sf

from audio.cue import CueError, decode_text, parse_cue, spans
from audio.identity import content_id
from base.fields import FEATURES
from fpstream.api import Library
from fpstream.show import render
from tests.stack_harness import Stack, write_audio
from tests.test_formats import encode

SR = 44_100
CD = SR // 75  # samples per CD frame at 44.1 kHz


def cd_time(frames: int) -> str:
    """mm:ss:ff of a sample position that is a whole number of CD frames."""
    assert frames % CD == 0
    cd = frames // CD
    return f"{cd // 4500:02d}:{cd // 75 % 60:02d}:{cd % 75:02d}"


# ---------------------------------------------------------------- the parser


SHEET = """\ufeffREM GENRE Game
PERFORMER "The Band"
TITLE "The Album"
FILE "image.flac" WAVE
  TRACK 01 AUDIO
    TITLE "Überture"
    INDEX 01 00:00:00
  TRACK 02 AUDIO
    TITLE "Second"
    PERFORMER "Guest"
    INDEX 01 03:12:37
  TRACK 03 AUDIO
    TITLE "Third"
    PREGAP 00:02:00
    INDEX 00 05:00:00
    INDEX 01 05:02:00
"""


def test_parse_sheet_with_bom_pregap_and_performers() -> None:
    sheet = parse_cue(decode_text(SHEET.encode("utf-8")))
    assert sheet.file == "image.flac" and sheet.title == "The Album"
    assert [t.title for t in sheet.tracks] == ["Überture", "Second", "Third"]
    assert sheet.tracks[1].index01 == (3 * 60 + 12) * 75 + 37
    got = spans(sheet, SR)
    assert [s.performer for s in got] == ["The Band", "Guest", "The Band"]
    assert got[0].start == 0 and got[0].end == ((3 * 60 + 12) * 75 + 37) * CD
    assert got[1].end == 300 * SR  # track 2 ends where track 3's pregap (INDEX 00) starts
    assert got[2].start == 302 * SR and got[2].end is None  # the last track: to the end of the image


def test_latin1_sheet_and_malformed_sheets() -> None:
    latin = 'FILE "a.wav" WAVE\nTRACK 01 AUDIO\nTITLE "Caf\xe9"\nINDEX 01 00:00:00\n'.encode("latin-1")
    assert parse_cue(decode_text(latin)).tracks[0].title == "Café"
    for text, words in [
        ('FILE "a.wav" WAVE\nTRACK 01 AUDIO\nINDEX 01 00:61:00\n', "seconds must be < 60"),
        ('FILE "a.wav" WAVE\nTRACK 01 AUDIO\nINDEX 01 1:2\n', "not a time"),
        ('FILE "a.wav" WAVE\nTRACK 01 AUDIO\nTITLE "x\n', "line 3"),
        ('TRACK 01 AUDIO\nINDEX 01 00:00:00\n', "TRACK before any FILE"),
        ('FILE "a.wav" WAVE\nTRACK 01 AUDIO\nTITLE "x"\n', "no INDEX 01"),
        ('FILE "a" WAVE\nTRACK 01 AUDIO\nINDEX 01 00:05:00\nTRACK 02 AUDIO\nINDEX 01 00:01:00\n', "before"),
        ('FILE "a" WAVE\nTRACK 01 AUDIO\nINDEX 01 00:00:00\nFILE "b" WAVE\n', "names 2 files"),
        ("just text\n", "no audio tracks"),
    ]:
        with pytest.raises(CueError, match=words):
            parse_cue(text)


# ---------------------------------------------------------------- content identity


def test_content_identity_ignores_tags_not_audio(tmp_path: Path) -> None:
    """A tag edit (mutagen) keeps the identity in FLAC, Ogg Vorbis, Opus, MP3 and M4A; an audio
    edit changes it."""
    pcm = sf.read(write_audio(tmp_path / "src.wav", 3.0, seed=1), dtype="int16")[0]
    other = sf.read(write_audio(tmp_path / "other.wav", 3.0, seed=2), dtype="int16")[0]

    def make(path: Path, samples: np.ndarray) -> Path:
        if path.suffix in (".flac", ".ogg"):
            sf.write(path, samples, SR)
            return path
        codec = {".mp3": "mp3", ".m4a": "aac", ".opus": "libopus"}[path.suffix]
        return encode(path, samples, codec, 128_000)

    for suffix in (".flac", ".ogg", ".opus", ".mp3", ".m4a"):
        path = make(tmp_path / f"a{suffix}", pcm)
        before, size = content_id(str(path)), path.stat().st_size
        tagged = mutagen.File(path, easy=True)
        if tagged.tags is None:
            tagged.add_tags()
        tagged["title"] = "A title long enough to move pages " * 20
        tagged.save()
        assert path.stat().st_size != size, suffix  # the file did change
        assert content_id(str(path)) == before, suffix
        assert content_id(str(make(tmp_path / f"b{suffix}", other))) != before, suffix


# ---------------------------------------------------------------- the stack


def make_image(folder: Path, cuts: Path) -> tuple[Path, list[Path]]:
    """A FLAC image of three different pieces with its .cue (track 3 has a pregap), and each
    track's span cut out into a FLAC of its own (the same 16-bit samples)."""
    folder.mkdir(parents=True)
    cuts.mkdir(parents=True)
    parts = []
    for seed, seconds in ((3, 9.0), (4, 6.0), (5, 7.0)):
        p = write_audio(cuts / f"piece{seed}.wav", seconds, seed=seed)
        parts.append(sf.read(p, dtype="int16")[0])
        p.unlink()
    image = np.concatenate(parts)
    # track starts on CD frames; 2 starts inside the first chunk's range of 4 s, not on a chunk edge
    start2, pregap3, start3 = 588 * 700, 588 * 1010, 588 * 1100
    sf.write(folder / "image.flac", image, SR, subtype="PCM_16")
    (folder / "image.cue").write_text(
        'PERFORMER "Cue Band"\nFILE "image.flac" WAVE\n'
        '  TRACK 01 AUDIO\n    TITLE "One"\n    INDEX 01 00:00:00\n'
        f'  TRACK 02 AUDIO\n    TITLE "Two"\n    INDEX 01 {cd_time(start2)}\n'
        f'  TRACK 03 AUDIO\n    TITLE "Three"\n    INDEX 00 {cd_time(pregap3)}\n'
        f"    INDEX 01 {cd_time(start3)}\n",
        encoding="utf-8",
    )
    out = []
    for i, (a, b) in enumerate(((0, start2), (start2, pregap3), (start3, len(image))), 1):
        cut = cuts / f"cut{i}.flac"
        sf.write(cut, image[a:b], SR, subtype="PCM_16")
        out.append(cut)
    return folder / "image.flac", out


def embedded_image(path: Path) -> Path:
    """A FLAC whose cue sheet is its CUESHEET tag (no .cue beside it): two tracks."""
    write_audio(path, 5.0, seed=50)
    tagged = mutagen.File(path)
    tagged["CUESHEET"] = (
        'FILE "embedded.flac" WAVE\n  TRACK 01 AUDIO\n    TITLE "Inside A"\n    INDEX 01 00:00:00\n'
        '  TRACK 02 AUDIO\n    TITLE "Inside B"\n    INDEX 01 00:02:30\n'
    )
    tagged.save()
    return path


def test_embedded_cuesheet_is_found(tmp_path: Path) -> None:
    from ingest.units import Expander

    image = embedded_image(tmp_path / "embedded.flac")
    units = Expander().units(str(image), str(image))
    assert [u.key for u in units] == [f"{image}#01", f"{image}#02"]
    assert units[0].span == (0, (2 * 75 + 30) * CD) and units[1].span == ((2 * 75 + 30) * CD, None)


def values(row: dict) -> np.ndarray:
    return np.array([row[n] for n in FEATURES], dtype=np.float64)


def chunks_sent(stack: Stack) -> int:
    status = stack.status()
    assert status is not None
    return int(status["forwarded"]["chunks_in"])


def test_cue_tracks_moves_tag_edits_and_missing(tmp_path: Path) -> None:
    music = tmp_path / "music"
    image, cuts = make_image(music / "Cue Album", tmp_path / "cuts")
    for folder in ("Broken Cue", "Old Album", "Elsewhere"):
        (music / folder).mkdir()
    broken = write_audio(music / "Broken Cue" / "disc.flac", 4.0, seed=9)
    (broken.parent / "disc.cue").write_text('FILE "disc.flac" WAVE\nTRACK 01 AUDIO\nINDEX 01 00:99:00\n')
    album = music / "Old Album"
    songs = [write_audio(album / f"{n:02d} Song.flac", 3.0 + n, seed=20 + n) for n in range(1, 4)]
    songs.append(write_audio(album / "04 Song.ogg", 4.0, seed=30))
    gone = write_audio(music / "Elsewhere" / "deleted.flac", 3.0, seed=40)
    embedded = embedded_image(music / "Elsewhere" / "embedded.flac")
    first = [image, broken, *cuts, *songs, gone, embedded]
    with Stack(tmp_path, env={"FPSTREAM_CHUNK_S": "4"}) as stack:
        stack.start(analyzers=2)
        run = stack.ingest(first)
        assert run.returncode == 0, run.stderr + stack.all_logs()
        rows = stack.rows()
        img = str(image)
        assert [p for p in rows if p.startswith(img)] == [f"{img}#01", f"{img}#02", f"{img}#03"]
        for i, cut in enumerate(cuts, 1):
            track, alone = rows[f"{img}#{i:02d}"], rows[str(cut)]
            assert track["status"] == alone["status"] == "done"
            assert track["duration_s"] == pytest.approx(alone["duration_s"], abs=1e-9)
            np.testing.assert_allclose(values(track), values(alone), rtol=1e-6, atol=1e-6)
        assert rows[f"{img}#02"]["cue_title"] == "Two" and rows[f"{img}#02"]["cue_performer"] == "Cue Band"
        assert "track 02 of the CUE sheet" in render(rows[f"{img}#02"])
        # the malformed sheet: the image is one track, and the log says why
        assert rows[str(broken)]["status"] == "done" and rows[str(broken)]["cue_track"] is None
        assert "disc.cue: line 3" in run.stderr and "analysed as one track" in run.stderr
        assert [rows[f"{embedded}#{n:02d}"]["cue_title"] for n in (1, 2)] == ["Inside A", "Inside B"]
        assert str(embedded) not in rows
        before = {p: values(r) for p, r in rows.items()}

        # rename the album folder, edit a tag, delete a file: the re-run analyses nothing
        new_album = music / "New Album"
        album.rename(new_album)
        moved = [new_album / s.name for s in songs]
        tagged = mutagen.File(moved[0])
        tagged["title"] = "Edited title"
        tagged.save()
        retagged = mutagen.File(image)  # the image too: its three cue tracks keep their rows
        retagged["album"] = "Edited album"
        retagged.save()
        gone.unlink()
        sent = chunks_sent(stack)
        started = time.monotonic()
        rerun = stack.ingest([image, broken, *cuts, *moved, embedded])
        elapsed = time.monotonic() - started
        assert rerun.returncode == 0, rerun.stderr + stack.all_logs()
        assert chunks_sent(stack) == sent, rerun.stderr  # nothing decoded, nothing analysed
        assert re.search(r"kept +7 +moved", rerun.stderr), rerun.stderr
        rows = stack.rows()
        assert not [p for p in rows if "Old Album" in p], "a ghost of the renamed folder"
        for old, new in zip(songs, moved, strict=True):
            np.testing.assert_array_equal(values(rows[str(new)]), before[str(old)])
            assert rows[str(new)]["size"] == new.stat().st_size
            assert rows[str(new)]["mtime_ns"] == new.stat().st_mtime_ns
        for i in (1, 2, 3):
            assert rows[f"{img}#{i:02d}"]["size"] == image.stat().st_size
        # the deleted file is missing: kept for prune, left out of similar/playlist/duplicates
        assert rows[str(gone)]["missing_since"]
        lib = Library(stack.db)
        assert str(gone) not in lib.features.paths and str(moved[1]) in lib.features.paths
        assert "missing since" in render(rows[str(gone)])
        print(f"re-run after the rename: {elapsed:.2f} s")

        # it comes back: found again by the next run over the folder
        write_audio(gone, 3.0, seed=40)
        back = stack.ingest([gone])
        assert back.returncode == 0, back.stderr
        assert stack.rows()[str(gone)]["missing_since"] is None


def test_copy_while_original_exists_is_analysed(tmp_path: Path) -> None:
    """A copy is not a move: a row whose file still exists is never taken over (unit level)."""
    from ingest.units import ANALYSE, KEEP, Expander, Unit, identify

    a = write_audio(tmp_path / "a.flac", 2.0, seed=1)
    b = tmp_path / "b.flac"
    shutil.copy(a, b)
    from base.fields import FINGERPRINT_VERSION
    from store.db import create_schema

    conn = sqlite3.connect(tmp_path / "db")
    create_schema(conn)
    conn.execute(  # as the stack writes it, Chromaprint included (a row without one is re-fed)
        "INSERT INTO tracks (path, status, fingerprint_version, content_id, chromaprint) "
        "VALUES (?, 'done', ?, ?, x'01000000')",
        (str(a), FINGERPRINT_VERSION, content_id(str(a))),
    )
    assert identify(Unit(str(b)), str(b), conn, Expander(), {}) == ANALYSE
    a.unlink()
    expander = Expander()
    unit = Unit(str(b))
    assert identify(unit, str(b), conn, expander, {}) == KEEP and unit.keep_from == str(a)
    other = tmp_path / "c.flac"
    shutil.copy(b, other)
    assert identify(Unit(str(other)), str(other), conn, expander, {}) == ANALYSE  # taken once only


def test_update_and_sweep_messages_round_trip_and_bad_meta_is_refused() -> None:
    from base import protocol

    ref = protocol.TrackRef("abcd", 3, 0, "/m/x.flac#02", 10, 20, {"content_id": "flac:1:ab", "cue_track": 2,
                                                                   "cue_end": None, "cue_title": "Ä"})
    update = protocol.decode_result(protocol.encode_update(protocol.Update(ref, "/old/x.flac#02")))
    assert update == protocol.Update(ref, "/old/x.flac#02") and update.ref.meta == ref.meta
    sweep = protocol.Sweep(ref, ["/m/a.flac"], ["/m/b.flac"], "2026-01-01T00:00:00+00:00")
    assert protocol.decode_result(protocol.encode_sweep(sweep)) == sweep
    for meta in ({"cue_track": "2"}, {"colour": "red"}, {"cue_start": True}):
        bad = protocol.TrackRef("abcd", 3, 0, "/m/x.flac", 10, 20, meta)
        with pytest.raises(protocol.ProtocolError, match="meta field"):
            protocol.decode_result(protocol.encode_update(protocol.Update(bad, "/old")))
