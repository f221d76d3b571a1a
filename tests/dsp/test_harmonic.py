"""Harmonic/percussive balance: synthetic truths and librosa as oracle."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("rows", "cols", "out_lo", "out_hi", "n_total"),
    [
        (460, 1025, 15, 445, -1),  # a chunk's time median: context both sides, track end not here
        (200, 130, 0, 200, 200),  # both track edges reflected; the last tile overlaps the one before
        (1025, 37, 0, 1025, 1025),  # frequency median over fewer frames than one tile of lanes
        (9, 70, 0, 9, 9),  # shorter than the kernel: reflection wraps more than once
    ],
)
def test_running_median_is_scipys_median_filter(rows, cols, out_lo, out_hi, n_total, dtype) -> None:
    import scipy.ndimage

    from dsp.harmonic import _running_median

    a = np.random.default_rng(rows).random((rows, cols)).astype(dtype)
    a[:, 3] = 0.25  # ties
    ours = _running_median(a, 0, out_lo, out_hi, n_total)
    ref = scipy.ndimage.median_filter(a, size=(31, 1), mode="reflect")[out_lo:out_hi]
    np.testing.assert_array_equal(ours, ref)
