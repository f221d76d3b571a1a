"""Harmonic/percussive balance, pitch steadiness: synthetic truths and librosa as oracle."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from analyzer.pitch import yin_f0
from tests.synth import analyze_array, clicks, drums, sine

SR = 22_050


def chord(seconds: float) -> np.ndarray:
    return sum(sine(f, seconds, SR, -16) for f in (261.63, 329.63, 392.0))


def test_held_chord_is_harmonic_and_clicks_are_percussive(tmp_path) -> None:
    assert analyze_array(tmp_path, chord(4), SR, name="c.wav")["harmonic_ratio"] > 0.9
    assert analyze_array(tmp_path, clicks(120, 4, SR), SR, name="k.wav")["harmonic_ratio"] < 0.1


def librosa_harmonic_ratio(y: np.ndarray) -> float:
    """The oracle: ``E_H / (E_H + E_P)`` from librosa's full-resolution HPSS."""
    mag = np.abs(librosa.stft(y.astype(np.float64), n_fft=2048, hop_length=512, center=False))
    harm, perc = librosa.decompose.hpss(mag, kernel_size=31, power=2.0)
    e_h, e_p = np.sum(harm**2), np.sum(perc**2)
    return float(e_h / (e_h + e_p))


def test_hpss_agrees_with_librosa_full_resolution(tmp_path) -> None:
    n = 2048 + 512 * 300
    y = (chord(n / SR)[:n] + drums(110, n / SR, SR)[:n]).astype(np.float32)
    r = analyze_array(tmp_path, y, SR, chunk_s=1.7)
    assert r["harmonic_ratio"] == pytest.approx(librosa_harmonic_ratio(y), abs=1e-6)
    assert 0.2 < r["harmonic_ratio"] < 0.99  # a real mixture, not a degenerate case


def melody_of_250ms_notes(seconds: float) -> np.ndarray:
    notes = [sine(220.0 * 2 ** (k % 8 * 2 / 12), 0.25, SR, -10) for k in range(int(seconds * 4))]
    return np.concatenate(notes)


@pytest.mark.parametrize(
    "signal",
    ["chord+drums", "chord+loud drums", "noise", "melody", "chirp", "tremolo noise"],
)
def test_hpss_equals_librosa_on_hard_signals(tmp_path, signal: str) -> None:
    # the chirp sweeps 390 Hz/s, where HPSS turns from harmonic to percussive: any
    # approximation shows there (merging bin pairs moved it by 0.08)
    n = 2048 + 512 * 427  # whole frames (about 10 s), as librosa's center=False frames them
    t = np.arange(n) / SR
    rng = np.random.default_rng(3)
    y = {
        "chord+drums": lambda: chord(11)[:n] + drums(110, 11, SR)[:n],
        "chord+loud drums": lambda: chord(11)[:n] + 3 * drums(95, 11, SR)[:n],
        "noise": lambda: 0.1 * rng.standard_normal(n),
        "melody": lambda: melody_of_250ms_notes(11)[:n],
        "chirp": lambda: 0.3 * np.sin(2 * np.pi * np.cumsum(np.linspace(100, 4000, n)) / SR),
        "tremolo noise": lambda: 0.1 * rng.standard_normal(n) * (1 + np.sin(2 * np.pi * 2 * t)),
    }[signal]().astype(np.float32)
    ours = analyze_array(tmp_path, y, SR, chunk_s=3.1)["harmonic_ratio"]
    assert ours == pytest.approx(librosa_harmonic_ratio(y), abs=1e-6)


def test_yin_agrees_with_librosa_on_a_tone() -> None:
    y = sine(220.0, 1, SR, -6)
    frames = librosa.util.frame(y, frame_length=2048, hop_length=512).T
    ours = yin_f0(np.ascontiguousarray(frames))
    ref = librosa.yin(y, fmin=65, fmax=2093, sr=SR, frame_length=2048, center=False, trough_threshold=0.1)
    np.testing.assert_allclose(ours, 220.0, rtol=2e-3)
    np.testing.assert_allclose(ours, ref, rtol=2e-3)


def test_held_tone_is_pitch_stable_and_melody_is_not(tmp_path) -> None:
    held = analyze_array(tmp_path, sine(330.0, 4, SR, -10), SR, name="held.wav")
    assert held["pitch_stability"] >= 0.95
    # short notes (60 ms, three STFT hops) a whole tone apart
    notes = [sine(220.0 * 2 ** (k % 8 * 2 / 12), 0.06, SR, -10) for k in range(60)]
    melody = analyze_array(tmp_path, np.concatenate(notes), SR, name="melody.wav")
    assert melody["pitch_stability"] < 0.8


def test_unpitched_noise_has_no_pitch_stability(tmp_path) -> None:
    noise = np.random.default_rng(0).standard_normal(3 * SR) * 0.1
    assert analyze_array(tmp_path, noise, SR)["pitch_stability"] == 0.0
