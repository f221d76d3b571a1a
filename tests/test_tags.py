"""Tags on the wire (protocol v3), the kinds of files that are not audio, and matching a text
against tags: the pieces the stack test (tests/test_library_stack.py) puts together."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest

from audio.not_audio import content_kind, not_audio_kind, summary
from audio.tags import read_tags
from base import protocol
from fpstream.names import display_name, fold, search
from tests.library_support import encode, tone, write_tags

REF = protocol.TrackRef("ingest-1", 7, 0, "/m/a.flac", 10, 20)
TAGS = {"title": "Été", "artist": "Brûlé", "track_number": 3}


def test_tags_travel_on_the_last_chunk_and_its_partial_and_as_a_tags_message() -> None:
    pcm = np.zeros((4, 2), dtype="<f4")
    header = protocol.ChunkHeader(REF, 0, True, 44_100, 2, 0, 4, 0, tags=TAGS)
    decoded, _ = protocol.decode_chunk(protocol.encode_chunk(header, pcm))
    assert decoded.tags == TAGS
    partial = protocol.Partial(REF, 0, True, 44_100, 2, {}, tags=TAGS)
    assert protocol.decode_result(protocol.encode_partial(partial)).tags == TAGS
    update = protocol.decode_result(protocol.encode_tags(protocol.TagsUpdate(REF, TAGS)))
    assert update == protocol.TagsUpdate(REF, TAGS)
    plain = protocol.ChunkHeader(REF, 0, True, 44_100, 2, 0, 4, 0)  # no tags: none on the wire
    assert protocol.decode_chunk(protocol.encode_chunk(plain, pcm))[0].tags == {}


@pytest.mark.parametrize(
    ("tags", "reason"),
    [
        ({"colour": "red"}, "unknown tag 'colour'"),
        ({"track_number": "3"}, "tag 'track_number' must be a positive integer"),
        ({"track_number": 0}, "tag 'track_number' must be a positive integer"),
        ({"title": 5}, "tag 'title' must be text"),
        ({"title": "x" * 5000}, "tag 'title' must be text"),
    ],
)
def test_a_malformed_tags_map_is_refused_with_its_reason(tags: dict, reason: str) -> None:
    msg = {"v": protocol.VERSION, "kind": "tags", "ref": REF.__dict__, "tags": tags}
    with pytest.raises(protocol.ProtocolError, match=reason):
        protocol.decode_result([msgpack.packb(msg)])


def test_every_format_gives_back_the_tags_written_into_it(tmp_path) -> None:
    tags = {"title": "Rue Saint-Éloi", "artist": "Émilie", "album": "Été", "track_number": 2,
            "date": "2024", "genre": "Chanson"}  # fmt: skip
    for i, fmt in enumerate(("flac", "ogg", "opus", "mp3", "m4a", "wma", "wav")):
        path = encode(tmp_path / f"t.{fmt}", tone(i)[:4410], fmt)
        assert read_tags(str(path)) == {}, fmt  # nothing written yet
        write_tags(path, fmt, tags)
        assert read_tags(str(path)) == tags, fmt
    (tmp_path / "junk.flac").write_bytes(b"fLaC" + b"\x00" * 50)  # damaged: no tags, no exception
    assert read_tags(str(tmp_path / "junk.flac")) == {}


def test_files_that_are_not_audio_are_told_by_content_and_named_audio_stays_a_track(tmp_path) -> None:
    assert content_kind(b"\xff\xd8\xff\xe0\x00\x10JFIF", "jpg") == "image"
    assert content_kind(b"\x89PNG\r\n\x1a\n....", "") == "image"
    assert content_kind(b"%PDF-1.7\n", "pdf") == "PDF"
    assert content_kind(b'REM x\nFILE "a.flac" WAVE\n  TRACK 01 AUDIO\n', "txt") == "cue sheet"
    assert content_kind(b"#EXTM3U\na.flac\n", "txt") == "playlist"
    assert content_kind("Café\n".encode("latin-1"), "nfo") == "nfo"
    assert content_kind(b"[00:12.00] la la\n", "lrc") == "lyrics"
    assert content_kind(b"ripped with EAC\n", "log") == "log"
    assert content_kind(b"", "dat") == "empty file"
    assert content_kind(bytes(range(256)), "bin") == "other file"
    text_mp3 = tmp_path / "song.mp3"
    text_mp3.write_text("not audio")
    cover_named_flac = tmp_path / "cover.FLAC"
    cover_named_flac.write_bytes(b"\xff\xd8\xff\xe0")
    flac_named_txt = encode(tmp_path / "real.flac", tone(1)[:4410], "flac").rename(tmp_path / "real.txt")
    assert not_audio_kind(str(text_mp3)) is None  # claims audio by its name: a failed row
    assert not_audio_kind(str(cover_named_flac)) is None
    assert not_audio_kind(str(flac_named_txt)) is None  # audio by content, whatever the name
    (tmp_path / "cover.jpg").write_bytes(b"\xff\xd8\xff\xe0")
    assert not_audio_kind(str(tmp_path / "cover.jpg")) == "image"
    six = summary({"image": 5, "cue sheet": 1})
    assert six == "ignored 6 files that are not audio: 5 images, 1 cue sheet"
    assert summary({"lyrics": 1}) == "ignored 1 file that is not audio: 1 lyrics"


def test_text_matches_tags_by_word_starts_without_case_or_accents() -> None:
    rows = [
        {"path": "/m/a.flac", "artist": "Émilie Brûlé", "album": "Été", "title": "Café de l'aube"},
        {"path": "/m/b.flac", "artist": "Émilie Brûlé", "album": "Été", "title": "Cafés"},
        {"path": "/m/c.flac", "artist": None, "album": None, "title": None},
    ]
    assert fold("ÉTÉ Brûlé") == "ete brule"
    assert [r["path"] for r in search(rows, "EMILIE caf")] == ["/m/a.flac", "/m/b.flac"]
    assert [r["path"] for r in search(rows, "brule cafe")] == ["/m/a.flac"]  # the one whole-word match
    assert [r["path"] for r in search(rows, "c")] == ["/m/c.flac"]  # the one whole word: its file name
    assert search(rows, "aube zz") == [] and search(rows, "  ") == []
    assert display_name(rows[0]) == "Émilie Brûlé - Café de l'aube" and display_name(rows[2]) == "c"
