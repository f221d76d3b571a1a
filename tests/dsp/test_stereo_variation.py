"""Stereo image and level variation on signals whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from tests.synth import analyze_array, db_to_amp, sine, stereo

SR = 22_050


def noise(seconds: float, seed: int) -> np.ndarray:
    return 0.1 * np.random.default_rng(seed).standard_normal(int(seconds * SR))


@pytest.mark.parametrize(
    ("pcm", "width", "corr"),
    [
        (stereo(sine(440, 2, SR, -6)), 0.0, 1.0),  # mono in two channels
        (stereo(sine(440, 2, SR, -6), -sine(440, 2, SR, -6)), 1.0, -1.0),  # opposite polarity
        (stereo(noise(4, 1), noise(4, 2)), 0.5, 0.0),  # independent equal channels
        (stereo(sine(440, 2, SR, -6), np.zeros(2 * SR)), 0.5, 1.0),  # a silent channel
    ],
    ids=["mono", "inverted", "independent", "silent-right"],
)
def test_stereo_pair(tmp_path, pcm: np.ndarray, width: float, corr: float) -> None:
    r = analyze_array(tmp_path, pcm, SR)
    assert r["stereo_width"] == pytest.approx(width, abs=0.02)
    assert r["phase_correlation"] == pytest.approx(corr, abs=0.02)


def test_mono_file(tmp_path) -> None:
    r = analyze_array(tmp_path, sine(440, 2, SR, -6), SR)
    assert (r["stereo_width"], r["phase_correlation"]) == (0.0, 1.0)


def test_steady_tone_does_not_vary(tmp_path) -> None:
    r = analyze_array(tmp_path, sine(440, 8, SR, -12), SR)
    assert r["dynamic_range_variation"] == pytest.approx(0.0, abs=0.01)
    assert r["loudness_variation_std"] == pytest.approx(0.0, abs=0.01)
    assert r["peak_consistency"] == pytest.approx(1.0, abs=0.001)


def test_alternating_levels_vary(tmp_path) -> None:
    # 4 s at -6 dBFS, 4 s at -18 dBFS, repeated: short-term loudness (3 s windows)
    # sits at two levels 12 dB apart most of the time
    seg = [sine(440, 4, SR, lvl) for lvl in (-6.0, -18.0)] * 3
    r = analyze_array(tmp_path, np.concatenate(seg), SR)
    assert 4.0 < r["loudness_variation_std"] < 6.0
    peaks = np.array([db_to_amp(-6.0), db_to_amp(-18.0)])
    expected_pc = 1 / (1 + peaks.std() / peaks.mean())
    assert r["peak_consistency"] == pytest.approx(expected_pc, abs=0.03)
    assert r["dynamic_range_variation"] == pytest.approx(0.0, abs=0.05)  # a sine's crest is level-free


def test_crest_variation_between_sine_and_noise_seconds(tmp_path) -> None:
    rng = np.random.default_rng(0)
    seg = []
    for k in range(8):
        s = sine(440, 1, SR, -10) if k % 2 == 0 else 0.05 * rng.standard_normal(SR)
        seg.append(s)
    r = analyze_array(tmp_path, np.concatenate(seg), SR)
    # sine crest 3 dB, Gaussian noise crest ~12 dB: std of the two populations ~4.5 dB
    assert 3.0 < r["dynamic_range_variation"] < 6.0
