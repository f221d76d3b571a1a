"""``fpstream duplicates``: Chromaprint computed in the decode, stored with the row, matched through
an index, and the keep rule.

Copies of two generated tracks (a tune with lead, bass, chords and drums, and a
beat with a bass line) in FLAC, WAV, MP3 192k, AAC 256k, Opus 96k, Vorbis q2 and
WMA, each trimmed by 2 s, plus the tune in another arrangement and another tune:
every copy groups with its original, nothing else groups. The library rows hold
the Chromaprint that ingest's own decode (``audio.decode.iter_chunks``) computed
from each real file; one group also goes through the real stack.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio.chromaprint import TrackPrint, fingerprint_pcm, items
from audio.decode import file_identity, iter_chunks
from base import protocol
from base.fields import FEATURES
from base.protocol import ChunkHeader, ProtocolError, TrackRef
from fpstream.api import Library
from fpstream.cli import main
from fpstream.keep import Candidate, order, reason
from fpstream.recordings import MAX_BER, Prints, candidate_pairs, connected_groups, verify
from fpstream.same_recording import RECORD_COLUMNS
from ingest.skip import ANALYSE, SKIP_DONE, PreviousRun
from store.db import UPSERT, Row, create_schema, done_row
from tests.copies import CODECS, tune, write_copies
from tests.music_styles import style_track
from tests.stack_harness import Stack

SR = 44_100


def decoded_row(path: Path) -> Row:
    """The row the stack would store for ``path``, its Chromaprint from ingest's decode (the 25
    values are not what these tests look at: zeros)."""
    size, mtime_ns = file_identity(str(path))
    ref = TrackRef("test", 0, 0, str(path), size, mtime_ns)
    *_, (header, _pcm) = iter_chunks(str(path), ref, 10.0)
    duration = (header.start + header.frames) / header.sample_rate
    values = dict.fromkeys(FEATURES, 0.0)
    return done_row(
        ref, duration, header.sample_rate, header.channels, values, chromaprint=header.chromaprint
    )


@pytest.fixture(scope="module")
def music(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """{recording: [original, copies...]} and the two tracks that must not group."""
    root = tmp_path_factory.mktemp("duplicates")
    beat = style_track("beat", 3, seconds=25.0)
    beat = np.round(np.repeat(beat, 2, axis=0) / np.abs(beat).max() * 0.7 * 32767).astype(np.int16)  # 44.1k
    out: dict[str, list[Path]] = {}
    for name, pcm in (("tune", tune("band")), ("beat", beat)):
        folder = root / name
        folder.mkdir()
        original = folder / f"{name} original.flac"
        sf.write(str(original), pcm, SR, subtype="PCM_16")
        out[name] = [original, *write_copies(pcm, SR, folder, name, trim_s=2.0).values()]
    sf.write(str(root / "tune strings arrangement.flac"), tune("strings"), SR, subtype="PCM_16")
    sf.write(str(root / "another tune.flac"), tune("other"), SR, subtype="PCM_16")
    out["apart"] = [root / "tune strings arrangement.flac", root / "another tune.flac"]
    return out


@pytest.fixture(scope="module")
def library(music, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("db") / "lib.db"
    conn = sqlite3.connect(db)
    create_schema(conn)
    with conn:
        conn.executemany(UPSERT, [decoded_row(p).as_tuple() for paths in music.values() for p in paths])
    conn.close()
    return db


def test_every_copy_groups_with_its_original_and_nothing_else_groups(music, library) -> None:
    assert {CODECS[c][0] for c in CODECS} == {"flac", "wav", "mp3", "m4a", "opus", "ogg", "wma"}
    found = Library(library).duplicates()
    assert found.indexed == 18 and found.without_print == 0
    groups = {frozenset(m.path for m in g.members) for g in found.groups}
    assert groups == {frozenset(map(str, music["tune"])), frozenset(map(str, music["beat"]))}
    for g in found.groups:
        assert g.kept.path.endswith("original.flac") and g.kept.ber == 0.0
        for m in g.members[1:]:
            assert m.ber <= 0.08, (m.path, m.ber)  # the limit is 0.15; measured copies lie far below
            assert m.offset_s == pytest.approx(2.0, abs=0.13), (m.path, m.offset_s)  # the 2 s trim, ±1 hop


def test_the_arrangements_of_one_tune_are_far_apart(music) -> None:
    """What keeps them apart is the bit error rate, not a lack of candidates: measured directly."""
    prints = [items(decoded_row(p).chromaprint) for p in (music["tune"][0], *music["apart"])]
    p = Prints.of(prints)
    offsets = np.arange(-80, 81)
    from fpstream.recordings import aligned_ber

    for other in (1, 2):
        ber, overlap = aligned_ber(p, np.zeros(161, int), np.full(161, other), offsets)
        assert ber[overlap > 100].min() > 2 * MAX_BER


def test_the_keep_rule_orders_each_group(library) -> None:
    for g in Library(library).duplicates().groups:
        m = g.members
        assert [x.lossless for x in m] == [True] * 3 + [False] * 5
        # the original beats the trimmed FLAC and WAV by length; the lossy ones by bit rate
        assert g.reason.startswith("longer")
        assert m[1].format == "FLAC" and m[2].format == "WAV"  # same audio: the smaller file first
        lossy = [x.bit_rate for x in m[3:]]
        assert lossy == sorted(lossy, reverse=True) and m[3].format == "M4A"
        assert [x.keep for x in m] == [True] + [False] * 7


def test_an_original_is_kept_over_a_file_fpstream_wrote(music, tmp_path) -> None:
    original = music["tune"][3]  # the MP3 copy: lossy
    master = tmp_path / "tune.mastered.wav"
    pcm, sr = sf.read(str(music["tune"][0]), dtype="int16")
    with sf.SoundFile(str(master), "w", sr, 2, subtype="PCM_24") as f:
        f.software = "fpstream master 0.1 (loudness -14 LUFS)"  # RIFF INFO ISFT: FFmpeg's "encoder"
        f.write(pcm[2 * sr :])
    db = tmp_path / "lib.db"
    conn = sqlite3.connect(db)
    create_schema(conn)
    with conn:
        conn.executemany(UPSERT, [decoded_row(original).as_tuple(), decoded_row(master).as_tuple()])
    conn.close()
    (group,) = Library(db).duplicates().groups
    assert [m.path for m in group.members] == [str(original), str(master)]
    assert group.members[1].derived and group.members[1].lossless and not group.members[0].derived
    assert group.reason == "an original over files fpstream wrote"


def test_the_keep_rule_step_by_step() -> None:
    def c(path: str, **kw: object) -> Candidate:
        base = dict(readable=True, derived=False, lossless=False, bit_rate=192_000, duration_s=180.0, size=5)
        return Candidate(path=path, **{**base, **kw})  # type: ignore[arg-type]

    derived_flac = c("m.wav", derived=True, lossless=True, bit_rate=2_116_800)
    mp3 = c("a.mp3")
    assert order([derived_flac, mp3])[0] is mp3
    assert reason(mp3, derived_flac) == "an original over files fpstream wrote"
    flac, wav = (
        c("a.flac", lossless=True, bit_rate=1_411_200, size=30),
        c("a.wav", lossless=True, bit_rate=1_411_200, size=50),
    )
    assert order([wav, mp3, flac]) == [flac, wav, mp3]
    assert (
        reason(flac, wav) == "the same audio in a smaller file" and reason(flac, mp3) == "lossless over lossy"
    )
    hi = c("b.m4a", bit_rate=256_000)
    assert order([mp3, hi])[0] is hi and reason(hi, mp3) == "higher bit rate (256 vs 192 kbit/s)"
    short = c("c.mp3", duration_s=178.0)
    assert order([short, mp3])[0] is mp3 and reason(mp3, short) == "longer (180.0 vs 178.0 s)"
    gone = c("z.flac", readable=False, lossless=True, bit_rate=1_411_200)
    assert order([gone, mp3])[0] is mp3


def test_tags_and_a_derived_from_column_are_used_when_the_library_has_them(music, tmp_path, capsys) -> None:
    db = tmp_path / "tagged.db"
    conn = sqlite3.connect(db)
    create_schema(conn)
    present = {c[1] for c in conn.execute("PRAGMA table_info(tracks)")}
    for column in ("title", "artist", "album", "derived_from"):  # what the tag branch's schema adds
        if column not in present:
            conn.execute(f"ALTER TABLE tracks ADD COLUMN {column} TEXT")
    flac, mp3 = music["tune"][0], music["tune"][3]
    with conn:
        conn.executemany(UPSERT, [decoded_row(flac).as_tuple(), decoded_row(mp3).as_tuple()])
        conn.execute("UPDATE tracks SET title = 'Tune', artist = 'Band', album = 'Songs'")
        conn.execute("UPDATE tracks SET derived_from = ? WHERE path = ?", ("/elsewhere/x.flac", str(flac)))
    conn.close()
    assert main(["duplicates", "--format", "jsonl", "--db", str(db)]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["path"], r["action"], r["derived"]) for r in records] == [
        (str(mp3), "keep", False),
        (str(flac), "copy", True),
    ]
    assert {(r["title"], r["artist"], r["album"]) for r in records} == {("Tune", "Band", "Songs")}
    assert main(["duplicates", "--db", str(db)]) == 0
    assert capsys.readouterr().out.startswith("group 1 (Band - Tune): 2 files, keep the first: an original")


@pytest.mark.parametrize("fmt", ["table", "json", "jsonl", "csv"])
def test_output_formats(library, fmt, capsys) -> None:
    assert main(["duplicates", "--format", fmt, "--db", str(library)]) == 0
    out = capsys.readouterr()
    assert "2 groups, 16 files among 18 tracks" in out.err
    if fmt == "table":
        lines = out.out.splitlines()
        assert len(lines) == 18 and lines[0].startswith("group 1: 8 files, keep the first: longer")
        assert lines[1].lstrip().startswith("keep  BER 0.000")
        return
    if fmt == "csv":
        records = list(csv.DictReader(io.StringIO(out.out)))
    elif fmt == "json":
        records = json.loads(out.out)
    else:
        records = [json.loads(line) for line in out.out.splitlines()]
    assert len(records) == 16 and [r["action"] for r in records].count("keep") == 2
    assert list(records[0]) == list(RECORD_COLUMNS)


def test_chromaprint_does_not_depend_on_how_the_decode_is_cut(music) -> None:
    path = music["tune"][3]  # MP3: FFmpeg's reader
    size, mtime_ns = file_identity(str(path))
    ref = TrackRef("t", 0, 0, str(path), size, mtime_ns)
    prints = set()
    for chunk_s in (10.0, 3.7, 61.0):
        headers = [h for h, _ in iter_chunks(str(path), ref, chunk_s)]
        assert all(h.chromaprint == b"" for h in headers[:-1])
        prints.add(headers[-1].chromaprint)
    pcm, sr = sf.read(str(music["tune"][1]), dtype="float32", always_2d=True)
    whole = fingerprint_pcm(pcm, sr)
    rng = np.random.default_rng(0)
    fed = TrackPrint(sr, 2)
    at = 0
    while at < len(pcm):
        step = int(rng.integers(1, 50_000))
        fed.feed(pcm[at : at + step])
        at += step
    assert len(prints) == 1 and len(next(iter(prints))) > 500 and fed.finish() == whole


def test_a_rate_chromaprint_refuses_is_a_warning_not_a_failure(tmp_path, capfd) -> None:
    printer = TrackPrint(800, 1)
    printer.feed(np.zeros((8000, 1), np.float32))
    assert printer.finish() == b"" and "800 Hz" in (printer.error or "")
    assert capfd.readouterr().err == ""  # libchromaprint was not asked, so it printed nothing


def test_the_chromaprint_rides_on_the_last_chunk_only() -> None:
    ref = TrackRef("i", 1, 0, "/m/a.flac", 10, 20)
    pcm = np.zeros((4, 2), np.float32)
    last = ChunkHeader(ref, 0, True, 44_100, 2, 0, 4, 0, chromaprint=b"\x01\x02\x03\x04" * 3)
    header, _ = protocol.decode_chunk([bytes(f) for f in protocol.encode_chunk(last, pcm)])
    assert header.chromaprint == last.chromaprint
    for bad, why in (
        (ChunkHeader(ref, 0, False, 44_100, 2, 0, 4, 0, chromaprint=b"\0" * 4), "last chunk"),
        (ChunkHeader(ref, 0, True, 44_100, 2, 0, 4, 0, chromaprint=b"\0" * 5), "whole uint32"),
    ):
        with pytest.raises(ProtocolError, match=why):
            protocol.decode_chunk([bytes(f) for f in protocol.encode_chunk(bad, pcm)])


def test_a_rerun_refeeds_a_done_row_without_a_chromaprint(tmp_path) -> None:
    db = tmp_path / "lib.db"
    conn = sqlite3.connect(db)
    create_schema(conn)
    ref = TrackRef("i", 0, 0, "/m/a.flac", 100, 200)
    with conn:
        zeros = dict.fromkeys(FEATURES, 0.0)
        conn.execute(UPSERT, done_row(ref, 10.0, 44_100, 2, zeros, chromaprint=None).as_tuple())
        b = TrackRef("i", 1, 0, "/m/b.flac", 100, 200)
        conn.execute(UPSERT, done_row(b, 10.0, 44_100, 2, zeros, chromaprint=b"").as_tuple())
    conn.close()
    previous = PreviousRun(db)
    assert previous.decide("/m/a.flac", 100, 200) == ANALYSE  # done, unchanged, no Chromaprint yet
    assert previous.decide("/m/b.flac", 100, 200) == SKIP_DONE  # too short to have one: done
    previous.close()
    old = tmp_path / "v2.db"  # a library from before schema 5: every done row is re-fed
    conn = sqlite3.connect(old)
    conn.execute("CREATE TABLE tracks (path TEXT PRIMARY KEY, status TEXT, error TEXT, size INTEGER, "
                 "mtime_ns INTEGER, fingerprint_version INTEGER)")  # fmt: skip
    with conn:
        conn.execute("INSERT INTO tracks VALUES ('/m/a.flac', 'done', NULL, 100, 200, ?)", (ref_version(),))
    conn.close()
    previous = PreviousRun(old)
    assert previous.decide("/m/a.flac", 100, 200) == ANALYSE
    previous.close()


def ref_version() -> int:
    from base.fields import FINGERPRINT_VERSION

    return FINGERPRINT_VERSION


def synthetic_prints(n: int, rng: np.random.Generator, length: int = 900) -> list[np.ndarray]:
    """Random-walk prints (consecutive items differ in a few bits, as Chromaprint's do)."""
    flips = rng.random((n, length, 32)) < 0.06
    steps = np.packbits(flips, axis=2, bitorder="little").view("<u4")[:, :, 0]
    start = rng.integers(0, 2**32, size=(n, 1), dtype=np.uint64).astype(np.uint32)
    return list(np.bitwise_xor.accumulate(np.concatenate([start, steps[:, 1:]], axis=1), axis=1))


def test_the_index_finds_planted_copies_among_thousands_and_nothing_else() -> None:
    rng = np.random.default_rng(7)
    prints = synthetic_prints(2000, rng, length=600)
    planted = {}
    for k in range(40):
        src = int(rng.integers(2000))
        trim = int(rng.integers(0, 40))
        noise = rng.random((len(prints[src]) - trim, 32)) < rng.uniform(0.005, 0.06)
        copy = prints[src][trim:] ^ np.packbits(noise, axis=1, bitorder="little").view("<u4")[:, 0]
        planted[2000 + k] = src
        prints.append(copy)
    silence = [np.full(600, 627964279, np.uint32), np.full(600, 627964279, np.uint32)]
    prints += silence  # two silent tracks: identical prints, but nothing to identify
    p = Prints.of(prints)
    matches = verify(p, candidate_pairs(p), np.full(len(prints), 120.0))
    groups = connected_groups(len(prints), matches)
    expected = {}
    for copy, src in planted.items():
        expected.setdefault(src, {src}).add(copy)
    assert sorted(map(sorted, expected.values())) == groups


@pytest.fixture(scope="module")
def stacked(music, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, list[Path]]]:
    work = tmp_path_factory.mktemp("stack")
    # the original, its MP3, Opus and WMA copies, and the other arrangement: one group, one apart
    paths = [music["tune"][i] for i in (0, 3, 5, 7)] + music["apart"][:1]
    with Stack(work) as stack:
        stack.start(analyzers=2)
        result = stack.ingest(paths, timeout=300)
        assert result.returncode == 0, result.stderr
        yield stack, paths


def test_through_the_stack_copies_group_and_a_rerun_fills_in_a_missing_chromaprint(music, stacked) -> None:
    stack, paths = stacked
    rows = stack.rows()
    assert len(rows) == 5 and all(r["status"] == "done" and r["chromaprint"] for r in rows.values())
    for p in paths[:2]:  # the stack stored what ingest's decode computes
        assert rows[str(p)]["chromaprint"] == decoded_row(p).chromaprint
    (group,) = Library(stack.db).duplicates().groups
    assert [m.path for m in group.members] == [str(p) for p in paths[:4]]  # original, then by bit rate
    # a row from before Chromaprint: the next run feeds it again and fills it in, skips the rest
    conn = sqlite3.connect(stack.db)
    with conn:
        conn.execute("UPDATE tracks SET chromaprint = NULL WHERE path = ?", (str(paths[2]),))
    conn.close()
    result = stack.ingest(paths, timeout=300)
    assert result.returncode == 0, result.stderr
    again = stack.rows()
    assert again[str(paths[2])]["chromaprint"] == rows[str(paths[2])]["chromaprint"]
    assert again[str(paths[2])]["analyzed_at"] != rows[str(paths[2])]["analyzed_at"]
    assert again[str(paths[0])]["analyzed_at"] == rows[str(paths[0])]["analyzed_at"]


def test_duplicates_runs_as_a_command(stacked) -> None:
    stack, _ = stacked
    done = subprocess.run(
        [sys.executable, "-m", "fpstream.cli", "duplicates", "--format", "csv", "--db", str(stack.db)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert [r["action"] for r in csv.DictReader(io.StringIO(done.stdout))] == ["keep", "copy", "copy", "copy"]
