"""`fpstream master` leaves the library alone: it reads every format the library fingerprints (through
ingest's readers), writes outside the music folder, never replaces an output without --force, and marks
what it wrote so that a later feed (the real stack) skips it unless --include-derived."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio.derived import derived_source, is_derived
from tests.cli_support import run_cli
from tests.master_audio import kick_mix
from tests.stack_harness import Stack
from tests.test_formats import SR, encode

# name -> (PyAV encoder or None for libsndfile, suffix, bit rate): the formats the library fingerprints.
FORMATS: dict[str, tuple[str | None, str, int | None]] = {
    "flac": ("flac", ".flac", None),
    "wav": (None, ".wav", None),
    "mp3": ("mp3", ".mp3", 192_000),
    "m4a": ("aac", ".m4a", 256_000),
    "opus": ("libopus", ".opus", 96_000),
    "ogg": (None, ".ogg", None),
    "wma": ("wmav2", ".wma", 192_000),
}


@pytest.fixture(scope="module")
def music(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    folder = tmp_path_factory.mktemp("music") / "Artist" / "Album"
    folder.mkdir(parents=True)
    pcm = np.round(np.clip(kick_mix(SR, 2.0, kick=0.5, pad=0.1), -1, 1) * 32767).astype(np.int16)
    files = {}
    for name, (codec, suffix, rate) in FORMATS.items():
        path = folder / f"{name} song{suffix}"
        if codec is None:
            sf.write(path, pcm, SR, **({"format": "OGG", "subtype": "VORBIS"} if name == "ogg" else {}))
        else:
            encode(path, pcm, codec, rate)
        files[name] = path
    return folder, files


@pytest.fixture(scope="module")
def mastered(music, tmp_path_factory) -> tuple[dict[str, str], list[dict], list[str]]:
    """(environment, outcomes, the music folder's listing before): one `master` run on every format."""
    folder, files = music
    before = sorted(os.listdir(folder))
    home = tmp_path_factory.mktemp("home")
    env = {"XDG_DATA_HOME": str(home / "xdg"), "FPSTREAM_DB": str(home / "fp.db")}
    done = run_cli("master", *map(str, files.values()), "--json", env=env, timeout=300)
    assert done.returncode == 0, done.stderr + done.stdout
    return env, [json.loads(line) for line in done.stdout.splitlines()], before


def test_master_reads_every_format_and_writes_marked_files_outside_the_music(music, mastered) -> None:
    folder, files = music
    env, outcomes, before = mastered
    assert [o["status"] for o in outcomes] == ["mastered"] * len(FORMATS), outcomes
    assert sorted(os.listdir(folder)) == before  # nothing written beside the inputs
    out_dir = Path(env["XDG_DATA_HOME"]) / "fpstream" / "mastered"
    for o, (name, src) in zip(outcomes, files.items(), strict=True):
        out = Path(o["output"])
        assert out == out_dir / f"{name} song.mastered.wav"
        assert sf.info(str(out)).samplerate == SR and sf.info(str(out)).duration > 1.9
        assert is_derived(out) and derived_source(out) == str(src)
        assert abs(o["output_lufs"] - o["target_lufs"]) < 0.5
    assert not any(is_derived(p) for p in files.values())
    # Again: refused, the earlier output untouched; --force replaces it.
    first = (out_dir / "m4a song.mastered.wav").stat().st_mtime_ns
    again = run_cli("master", str(files["m4a"]), env=env, timeout=120)
    assert again.returncode == 1 and "exists (from an earlier run): --force replaces it" in again.stderr
    assert (out_dir / "m4a song.mastered.wav").stat().st_mtime_ns == first
    forced = run_cli("master", str(files["m4a"]), "--force", "--codec", "flac", env=env, timeout=120)
    assert forced.returncode == 0, forced.stderr
    assert derived_source(out_dir / "m4a song.mastered.flac") == str(files["m4a"])  # FLAC carries it too


def test_a_feed_skips_mastered_files_unless_asked(music, mastered, tmp_path) -> None:
    _, files = music
    mastered = [Path(o["output"]) for o in mastered[1][:2]]
    with Stack(tmp_path / "stack") as stack:
        stack.start(analyzers=1)
        fed = stack.ingest([files["flac"], files["wav"], *mastered], timeout=180)
        assert fed.returncode == 0, fed.stderr
        assert (
            "skipped       2   files written by fpstream master (--include-derived feeds them)" in fed.stderr
        )
        rows = stack.rows()
        assert set(rows) == {str(files["flac"]), str(files["wav"])}
        fed = stack.ingest([mastered[0]], "--include-derived", timeout=120)
        assert fed.returncode == 0, fed.stderr
        assert "written by fpstream master" not in fed.stderr
        row = stack.rows()[str(mastered[0])]
        assert row["status"] == "done" and row["derived_from"] == str(files["flac"])
        assert stack.rows()[str(files["flac"])]["derived_from"] is None
