"""Odd but valid audio: every value finite, silence values where they apply."""

from __future__ import annotations

import math

import numpy as np
import pytest

from base.fields import FEATURES, SILENCE_VALUES
from tests.synth import analyze_array, sine


def assert_finite(r: dict) -> None:
    assert all(math.isfinite(r[n]) for n in FEATURES), r


@pytest.mark.parametrize(
    ("seconds", "sr", "channels"),
    [(0.05, 44_100, 2), (3, 8_000, 1), (3, 96_000, 2), (3, 48_000, 6), (0.001, 22_050, 1)],
    ids=["50ms", "8k-mono", "96k", "6ch", "1ms"],
)
def test_odd_formats_are_finite(tmp_path, seconds: float, sr: int, channels: int) -> None:
    x = sine(440, seconds, sr, -12)
    pcm = np.stack([x * (1 + c / 10) for c in range(channels)], axis=1)
    r = analyze_array(tmp_path, pcm, sr)
    assert_finite(r)
    assert r["duration_s"] == pytest.approx(len(x) / sr)
    if seconds >= 1:
        assert r["chroma_energy"] > 0.9  # A440 at any rate
        assert r["silence_ratio"] == 0.0


def test_six_channel_loudness_uses_bs1770_weights(tmp_path) -> None:
    sr = 48_000
    x = sine(1000, 5, sr, -23)
    pcm = np.zeros((len(x), 6))
    pcm[:, 0] = pcm[:, 1] = x  # L, R
    pcm[:, 3] = x  # LFE: not counted
    assert analyze_array(tmp_path, pcm, sr)["lufs"] == pytest.approx(-23.0, abs=0.1)


@pytest.mark.parametrize("channels", [1, 2])
def test_all_zero_file_gives_the_silence_values(tmp_path, channels: int) -> None:
    r = analyze_array(tmp_path, np.zeros((5 * 44_100, channels)), 44_100)
    assert {n: r[n] for n in FEATURES} == SILENCE_VALUES


def test_96k_content_above_11k_is_not_aliased(tmp_path) -> None:
    # 15 kHz is above the 22 050 Hz Nyquist: a proper resampler removes it (>= 40 dB)
    # instead of folding it to 7.05 kHz, where it would take half the power
    x = sine(1000, 2, 96_000, -6) + sine(15_000, 2, 96_000, -6)
    r = analyze_array(tmp_path, x, 96_000)
    assert r["presence_pct"] < 1e-4
    assert r["mid_pct"] > 0.999
