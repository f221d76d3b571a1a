"""Predominant f0 and pitch steadiness: tones, melodies, noise and a polyphonic mix
whose melody is known."""

from __future__ import annotations

import numpy as np
import pytest

from dsp.grid import HOP, N_FFT
from dsp.pitch import predominant_f0
from dsp.stft import magnitude
from tests.synth import analyze_array, drums, sine

SR = 22_050


def magnitudes(y: np.ndarray) -> np.ndarray:
    """Magnitude spectra of ``y`` on the analyzer's frame grid (whole frames only)."""
    n = 1 + (len(y) - N_FFT) // HOP
    return magnitude(np.lib.stride_tricks.sliding_window_view(y[: (n - 1) * HOP + N_FFT], N_FFT)[::HOP])


def harmonic_tone(f0_hz: float, seconds: float, dbfs: float) -> np.ndarray:
    """Seven harmonics falling 6 dB each (those below 10 kHz)."""
    return sum(sine(f0_hz * h, seconds, SR, dbfs - 6 * (h - 1)) for h in range(1, 8) if f0_hz * h < 10_000)


@pytest.mark.parametrize("f0_hz", [65.5, 110.0, 261.6, 440.0, 1000.0, 2000.0])
def test_f0_of_tones_within_10_cents(f0_hz: float) -> None:
    for y in (sine(f0_hz, 1, SR, -10), harmonic_tone(f0_hz, 1, -10)):
        f0 = predominant_f0(magnitudes(y))
        assert (f0 > 0).all()
        np.testing.assert_allclose(1200 * np.log2(f0 / f0_hz), 0.0, atol=10.0)


def test_melody_over_chords_and_drums_is_found(tmp_path) -> None:
    # a melody of 250 ms notes, 12 dB above each chord tone, over drums: the predominant
    # f0 must be the melody on most frames, not a chord tone, a drum or an octave of either
    rng = np.random.default_rng(5)
    seconds = 12
    melody_hz = 330.0 * 2.0 ** (rng.integers(-5, 8, size=seconds * 4) / 12)
    melody = np.concatenate([harmonic_tone(f, 0.25, -12) for f in melody_hz])
    chords = sum(harmonic_tone(f, seconds, -24) for f in (130.81, 164.81, 196.0))
    y = melody + chords[: len(melody)] + 0.5 * drums(100, seconds, SR)[: len(melody)]
    f0 = predominant_f0(magnitudes(y))
    centre = (np.arange(len(f0)) * HOP + N_FFT // 2) / SR  # frame centre, s
    truth = melody_hz[np.minimum((centre / 0.25).astype(int), len(melody_hz) - 1)]
    right = (f0 > 0) & (np.abs(12 * np.log2(np.maximum(f0, 1.0) / truth)) < 0.5)
    print(f"melody found on {right.mean():.3f} of frames, voiced {np.mean(f0 > 0):.3f}")
    assert right.mean() >= 0.8
    # through the whole path: notes held for 250 ms are steadier than the 60 ms melody below
    assert 0.75 <= analyze_array(tmp_path, y, SR)["pitch_stability"] < 0.98


def test_held_tone_is_pitch_stable_and_melody_is_not(tmp_path) -> None:
    held = analyze_array(tmp_path, sine(330.0, 4, SR, -10), SR, name="held.wav")
    assert held["pitch_stability"] >= 0.95
    chord_held = analyze_array(tmp_path, harmonic_tone(110.0, 4, -10), SR, name="held2.wav")
    assert chord_held["pitch_stability"] >= 0.95
    # short notes (60 ms, three STFT hops) a whole tone apart
    notes = [sine(220.0 * 2 ** (k % 8 * 2 / 12), 0.06, SR, -10) for k in range(60)]
    melody = analyze_array(tmp_path, np.concatenate(notes), SR, name="melody.wav")
    assert melody["pitch_stability"] < 0.8


def test_unpitched_noise_has_no_pitch_stability(tmp_path) -> None:
    noise = np.random.default_rng(0).standard_normal(10 * SR) * 0.1
    assert (predominant_f0(magnitudes(noise)) == 0).all()
    assert analyze_array(tmp_path, noise, SR)["pitch_stability"] == 0.0


def test_fewer_than_ten_voiced_frames_read_zero(tmp_path) -> None:
    # a 70 ms tone inside digital silence: a few voiced frames, too few to be a statistic
    y = np.concatenate([np.zeros(SR), sine(440.0, 3 * HOP / SR, SR, -10), np.zeros(SR)])
    f0 = predominant_f0(magnitudes(y))
    assert 0 < np.count_nonzero(f0) < 10
    assert analyze_array(tmp_path, y, SR)["pitch_stability"] == 0.0
