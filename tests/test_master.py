"""``fpstream master`` end to end: generated files in, files out, checked by libebur128 (pyebur128).

Every case runs the real thing: the fingerprint computed in-process and stored in a
real SQLite file, the two-pass chain, the atomic writer. The independent meter is
libebur128 (4x true peak), never our own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from fpstream.analyze_file import analyze_file
from fpstream.master.plan import Request, master_file
from tests.master_audio import brickwalled, ebur128, isp_tone, kick_mix, quiet_classical, write

ROOT = Path(__file__).resolve().parent.parent
STREAMING = Request(lufs=-14.0, ceiling_dbtp=-1.0)
CLI = (sys.executable, "-m", "fpstream.cli", "master")


def _check_output(path: Path, ceiling: float) -> tuple[float, float]:
    pcm, _ = sf.read(str(path), always_2d=True)
    assert np.isfinite(pcm).all()
    assert np.abs(pcm).max() < 1.0  # no sample at full scale
    lufs, tp = ebur128(path)
    assert tp <= ceiling  # no plus-side tolerance
    return lufs, tp


CASES = {
    # name: (make(sr, seconds), sr, seconds, input subtype, request)
    "kick_heavy_16bit": (lambda sr, s: kick_mix(sr, s, kick=0.9, pad=0.1), 44_100, 3.0, "PCM_16", STREAMING),
    "brickwalled_24bit": (brickwalled, 44_100, 3.0, "PCM_24", STREAMING),
    "quiet_classical_48k": (quiet_classical, 48_000, 3.0, "PCM_24", Request(lufs=-23.0, ceiling_dbtp=-1.0)),
    "mono": (lambda sr, s: kick_mix(sr, s, kick=0.9, pad=0.2)[:, :1], 44_100, 3.0, "PCM_24", STREAMING),
    "kick_96k": (lambda sr, s: kick_mix(sr, s, kick=0.9, pad=0.1), 96_000, 1.5, "PCM_24", STREAMING),
}


@pytest.mark.parametrize("name", list(CASES))
def test_output_meets_loudness_and_true_peak_on_libebur128(tmp_path, name):
    make, sr, seconds, subtype, request = CASES[name]
    src = write(tmp_path / f"{name}.wav", make(sr, seconds), sr, subtype)
    out = tmp_path / "out.wav"
    o = master_file(str(src), out, tmp_path / "fp.db", request)
    assert o.status == "mastered", (o.error, o.reasons)
    lufs, _ = _check_output(out, request.ceiling_dbtp)
    assert abs(lufs - request.lufs) <= 0.5, o
    assert abs(lufs - o.output_lufs) < 0.05  # what we report is what the oracle reads
    assert sf.info(str(out)).samplerate == sr and sf.info(str(out)).channels == make(sr, 0.1).shape[1]


def test_isp_stress_tone_pushed_past_the_ceiling_is_capped_and_holds_it(tmp_path):
    """fs/4 at 45°: samples at -0.9 dBFS, true peak +2.1 dBTP. A sample-peak normaliser
    would leave it 3 dB over. Asked for more loudness than the ceiling allows, the limiter
    takes its 6 dB, the file is 'capped', and libebur128 reads it under the ceiling."""
    src = write(tmp_path / "isp.wav", isp_tone(44_100, 3.0), 44_100)
    out = tmp_path / "isp.out.wav"
    o = master_file(str(src), out, tmp_path / "fp.db", Request(lufs=-5.0, ceiling_dbtp=-10.0, preset="none"))
    assert o.status == "capped", o
    lufs, tp = _check_output(out, -10.0)
    assert tp > -10.5  # mastered up to the ceiling, not far under it
    assert o.max_gain_reduction_db <= 6.0 + 0.2


def test_preset_none_with_headroom_is_a_pure_gain(tmp_path):
    sr = 44_100
    pcm = kick_mix(sr, 3.0) * 0.1  # far under any ceiling after the gain to -23
    src = write(tmp_path / "quiet.wav", pcm, sr, "FLOAT")
    out = tmp_path / "quiet.out.flac"
    request = Request(lufs=-23.0, ceiling_dbtp=-1.0, preset="none", fmt="flac")
    o = master_file(str(src), out, tmp_path / "fp.db", request)
    assert o.status == "mastered" and o.max_gain_reduction_db == 0.0, o
    assert (sf.info(str(out)).format, sf.info(str(out)).subtype) == ("FLAC", "PCM_24")
    got, _ = sf.read(str(out), always_2d=True)
    want = pcm * 10.0 ** (o.gain_db / 20.0)
    residual_db = 10 * np.log10(np.sum((got - want) ** 2) / np.sum(want**2))
    assert residual_db <= -90.0


def test_mastering_an_output_again_moves_it_at_most_a_tenth_of_a_lu(tmp_path):
    src = write(tmp_path / "k.wav", kick_mix(44_100, 3.0, seed=5, kick=0.9, pad=0.2), 44_100)
    first = tmp_path / "k.mastered.wav"
    assert master_file(str(src), first, tmp_path / "fp.db", STREAMING).status == "mastered"
    again = tmp_path / "k.mastered.mastered.wav"
    skipped = master_file(str(first), again, tmp_path / "fp.db", STREAMING)
    assert skipped.status == "skipped" and not again.exists()
    force = Request(lufs=-14.0, ceiling_dbtp=-1.0, force=True)
    forced = master_file(str(first), again, tmp_path / "fp.db", force)
    assert forced.status == "mastered"
    assert abs(ebur128(again)[0] - ebur128(first)[0]) <= 0.1
    _check_output(again, -1.0)


def test_outputs_are_bit_identical_across_runs_16_bit_dithered(tmp_path):
    src = write(tmp_path / "b.wav", brickwalled(44_100, 2.0), 44_100)
    outs = []
    for run in range(2):
        out = tmp_path / f"run{run}" / "b.mastered.wav"
        request = Request(lufs=-14.0, ceiling_dbtp=-1.0, bits=16, fmt="wav")
        assert master_file(str(src), out, tmp_path / "fp.db", request).status == "mastered"
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    assert sf.info(str(tmp_path / "run0" / "b.mastered.wav")).subtype == "PCM_16"
    _check_output(tmp_path / "run0" / "b.mastered.wav", -1.0)


def _bands(path: Path) -> np.ndarray:
    row = analyze_file(str(path))
    return np.array([row[n] for n in ("sub_bass_pct", "bass_pct", "low_mid_pct", "mid_pct", "upper_mid_pct",
                                      "presence_pct", "air_pct")])  # fmt: skip


def test_reference_mode_moves_balance_and_loudness_toward_the_reference(tmp_path):
    sr = 44_100
    rng = np.random.default_rng(3)
    bright = kick_mix(sr, 3.0) * 0.5 + 0.03 * rng.standard_normal((3 * sr, 2))  # hiss: lots of air
    ref = write(tmp_path / "ref.wav", bright, sr)
    src = write(tmp_path / "dark.wav", kick_mix(sr, 3.0, seed=7) * 0.3, sr)
    out = tmp_path / "dark.mastered.wav"
    db = tmp_path / "fp.db"
    from fpstream.master.fingerprint import fingerprint_of

    reference = fingerprint_of(str(ref), db)
    request = Request(lufs=None, ceiling_dbtp=-1.0, reference=reference, reference_name="ref")
    o = master_file(str(src), out, db, request)
    assert o.status == "mastered", o
    assert o.target_lufs == pytest.approx(reference.values["lufs"])
    lufs, _ = _check_output(out, -1.0)
    assert abs(lufs - reference.values["lufs"]) <= 0.5
    before, after, target = _bands(src), _bands(out), _bands(ref)
    assert np.abs(np.log(after / target)).sum() < np.abs(np.log(before / target)).sum()
    assert max(o.eq_db.values()) <= 3.0 and min(o.eq_db.values()) >= -3.0


def test_fingerprint_comes_from_the_library_when_current(tmp_path):
    src = write(tmp_path / "a.wav", kick_mix(44_100, 2.0), 44_100)
    db = tmp_path / "fp.db"
    dry = Request(lufs=-14.0, ceiling_dbtp=-1.0, dry_run=True)
    assert master_file(str(src), tmp_path / "x.wav", db, dry).fingerprint == "analyzed"
    second = master_file(str(src), tmp_path / "x.wav", db, dry)
    assert second.fingerprint == "library" and second.status == "mastered (planned)"
    assert not (tmp_path / "x.wav").exists()  # a dry run writes nothing
    st = src.stat()
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # the file changed
    assert master_file(str(src), tmp_path / "x.wav", db, dry).fingerprint == "analyzed"


def test_cli_bad_inputs_fail_one_by_one_and_leave_nothing_behind(tmp_path):
    sr = 44_100
    write(tmp_path / "good.wav", kick_mix(sr, 2.0, kick=0.9, pad=0.2), sr)
    (tmp_path / "notaudio.wav").write_text("this is not audio\n")
    write(tmp_path / "silent.wav", np.zeros((2 * sr, 2)), sr)
    write(tmp_path / "blip.wav", kick_mix(sr, 0.001), sr)  # 1 ms
    names = ["missing.wav", "notaudio.wav", "silent.wav", "blip.wav", "good.wav"]
    env = {**os.environ, "FPSTREAM_DB": str(tmp_path / "fp.db")}
    run = subprocess.run(
        [*CLI, *names, "--json", "--out-dir", "out"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    rows = {r["input"]: r for r in map(json.loads, run.stdout.splitlines())}
    assert list(rows) == names
    assert rows["missing.wav"]["error"] == "file not found"
    assert rows["notaudio.wav"]["error"].startswith("not an audio file")
    assert rows["silent.wav"]["error"].startswith("silent")
    assert "too short" in rows["blip.wav"]["error"] or "1 ms" in rows["blip.wav"]["error"]
    assert rows["good.wav"]["status"] == "mastered"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.mastered.wav"]  # no partial files


def test_cli_unwritable_output_directory_and_output_over_an_input(tmp_path, monkeypatch, capsys):
    from fpstream.cli import main

    good = write(tmp_path / "good.wav", kick_mix(44_100, 1.0, kick=0.9, pad=0.2), 44_100)
    (tmp_path / "afile").write_text("x")  # a file where the output directory should be
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FPSTREAM_DB", str(tmp_path / "fp.db"))
    assert main(["master", "good.wav", "--out-dir", "afile/sub"]) == 1
    assert "good.wav: cannot write" in capsys.readouterr().err
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "good.mastered.wav").write_bytes(good.read_bytes())
    assert main(["master", "good.wav", "out/good.mastered.wav", "--out-dir", "out"]) == 1
    err = capsys.readouterr().err
    assert "would overwrite an input" in err
    assert (tmp_path / "out" / "good.mastered.wav").read_bytes() == good.read_bytes()  # untouched
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["good.mastered.mastered.wav", "good.mastered.wav"]  # the second input was mastered
