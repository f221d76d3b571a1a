"""Loudness (BS.1770-4) and crest factor against synthesized ground truth and libebur128."""

from __future__ import annotations

import numpy as np
import pyebur128
import pytest

from dsp import dynamics
from dsp.grid import subblock_len
from tests.synth import analyze_array, db_to_amp, drums, sine, stereo


def integrated(pcm: np.ndarray, sr: int) -> float:
    """Integrated loudness of a whole array as one chunk (unit level, no stack)."""
    sub = dynamics.subblock_series(np.ascontiguousarray(pcm, dtype=np.float32), 0, 0, sr)
    return dynamics.integrated_loudness(sub["kw"], sub["count"], subblock_len(sr))


def tone(level_dbfs: float, seconds: float, sr: int) -> np.ndarray:
    return stereo(sine(1000.0, seconds, sr, level_dbfs))


# EBU Tech 3341 (2016) table 1, cases 1-5: (level dBFS, seconds) segments, expected LUFS
EBU_3341 = {
    1: ([(-23, 20)], -23.0),
    2: ([(-33, 20)], -33.0),
    3: ([(-36, 10), (-23, 60), (-36, 10)], -23.0),
    4: ([(-72, 10), (-36, 10), (-23, 60), (-36, 10), (-72, 10)], -23.0),
    5: ([(-26, 20), (-20, 20.1), (-26, 20)], -23.0),
}


@pytest.mark.parametrize("sr", [48_000, 44_100])
@pytest.mark.parametrize("case", sorted(EBU_3341))
def test_ebu_tech_3341_cases(case: int, sr: int) -> None:
    segments, expected = EBU_3341[case]
    pcm = np.concatenate([tone(level, secs, sr) for level, secs in segments])
    assert integrated(pcm, sr) == pytest.approx(expected, abs=0.1)


def test_ebu_case_1_through_the_chunked_path(tmp_path) -> None:
    r = analyze_array(tmp_path, tone(-23, 20, 48_000), 48_000, chunk_s=3.7)
    assert r["lufs"] == pytest.approx(-23.0, abs=0.1)


def test_relative_gate_ignores_long_near_silence() -> None:
    sr = 48_000
    loud = tone(-20, 10, sr)
    quiet = tone(-60, 60, sr)  # above the absolute gate, far below the relative one
    pcm = np.concatenate([loud, quiet])
    assert integrated(pcm, sr) == pytest.approx(-20.0, abs=0.1)
    # the gate matters: the plain mean of the blocks' energy is ~8.5 dB lower
    sub = dynamics.subblock_series(pcm.astype(np.float32), 0, 0, sr)
    energies = dynamics.block_energies(sub["kw"], sub["count"], subblock_len(sr), 4)
    assert -0.691 + 10 * np.log10(energies.mean()) < -27.0


def test_silence_and_too_short_read_minus_70() -> None:
    assert integrated(np.zeros((48_000, 2)), 48_000) == -70.0
    assert integrated(tone(-10, 0.3, 48_000), 48_000) == -70.0  # no complete 400 ms block


def test_channels_are_summed_not_downmixed() -> None:
    sr = 48_000
    left = sine(1000, 10, sr, -23)
    # a hard-panned tone: a mono downmix would read 6 dB low, BS.1770 reads 3 dB low
    assert integrated(stereo(left, np.zeros_like(left)), sr) == pytest.approx(-26.0, abs=0.1)


def music_like(sr: int, seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    env = np.repeat(db_to_amp(rng.uniform(-18, 0, int(seconds) + 1)), sr)[:n]
    chord = sum(sine(f, seconds, sr, -20) for f in (196.0, 246.9, 293.7, 392.0))
    beat = drums(118, seconds, sr, seed=seed)
    noise = 0.01 * rng.standard_normal(n)
    left = env * (chord + beat) + noise
    right = env * (0.7 * chord + beat) + 0.01 * rng.standard_normal(n)
    return stereo(left, right)


@pytest.mark.parametrize("sr", [44_100, 48_000])
def test_agrees_with_libebur128_on_music_like_material(tmp_path, sr: int) -> None:
    pcm = music_like(sr, 15, seed=sr)
    meter = pyebur128.R128State(2, sr, pyebur128.MeasurementMode.MODE_I)
    meter.add_frames(np.ascontiguousarray(pcm, dtype=np.float32).ravel(), len(pcm))
    expected = pyebur128.get_loudness_global(meter)
    got = analyze_array(tmp_path, pcm, sr, chunk_s=4.1)["lufs"]
    assert got == pytest.approx(expected, abs=0.1)


def test_crest_factor_of_square_and_sine(tmp_path) -> None:
    sr = 44_100
    square = np.sign(sine(441, 3, sr, 0.0) + 1e-12)
    assert analyze_array(tmp_path, stereo(square), sr, name="sq.wav")["crest_db"] == pytest.approx(
        0.0, abs=0.01
    )
    s = analyze_array(tmp_path, stereo(sine(1000, 3, sr, -6)), sr, name="sine.wav")
    assert s["crest_db"] == pytest.approx(20 * np.log10(np.sqrt(2)), abs=0.01)


def test_crest_factor_ignores_silent_part(tmp_path) -> None:
    sr = 44_100
    pcm = np.concatenate([stereo(sine(1000, 3, sr, -6)), np.zeros((sr * 6, 2))])
    assert analyze_array(tmp_path, pcm, sr)["crest_db"] == pytest.approx(3.01, abs=0.02)
