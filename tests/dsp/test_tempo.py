"""Tempo, beat regularity and onset density on generated rhythms with known tempo.

Accuracy1 (within 4 %) and Accuracy2 (also x2, x3, 1/2, 1/3) as in Gouyon et
al. 2006, "An experimental comparison of audio tempo induction algorithms".
"""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from dsp.grid import HOP, N_FFT
from dsp.stft import magnitude
from dsp.temporal import PERIODICITY_THRESHOLD, onset_strength, tempo_and_strength, tempo_bpm
from tests.synth import DRUM_PATTERNS, analyze_array, clicks, drum_pattern, drums

SR = 22_050
TEMPI = (60, 72, 85, 97, 110, 120, 128, 140, 155, 170, 190)


def accuracy(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    """(Accuracy1, Accuracy2) over ``(truth, estimate)`` pairs."""

    def close(est: float, ref: float) -> bool:
        return abs(est - ref) <= 0.04 * ref

    acc1 = sum(close(e, t) for t, e in pairs) / len(pairs)
    acc2 = sum(any(close(e, t * f) for f in (1, 2, 3, 0.5, 1 / 3)) for t, e in pairs) / len(pairs)
    return acc1, acc2


@pytest.fixture(scope="module")
def click_results(tmp_path_factory) -> dict[float, dict]:
    d = tmp_path_factory.mktemp("clicks")
    return {bpm: analyze_array(d, clicks(bpm, 20, SR), SR, name=f"{bpm}.wav") for bpm in TEMPI}


def test_click_tempo_accuracy(click_results) -> None:
    acc1, acc2 = accuracy([(bpm, r["tempo_bpm"]) for bpm, r in click_results.items()])
    print(f"clicks: Accuracy1 {acc1:.2f} Accuracy2 {acc2:.2f}")
    # a metronome has one period: only the 190 BPM one may fold to 95 under the 120 BPM prior
    assert acc1 >= 0.9
    assert acc2 == 1.0


def test_metronome_is_stable_and_dense_as_clicked(click_results) -> None:
    for bpm, r in click_results.items():
        assert r["rhythm_stability"] >= 0.98, bpm
        assert r["transient_density"] == pytest.approx(bpm / 60.0, rel=0.05), bpm


def test_120_click_reads_120_not_60(click_results) -> None:
    assert click_results[120]["tempo_bpm"] == pytest.approx(120.0, rel=0.01)


def test_tempo_is_continuous(tmp_path) -> None:
    a = analyze_array(tmp_path, clicks(128.0, 20, SR), SR, name="a.wav")["tempo_bpm"]
    b = analyze_array(tmp_path, clicks(128.5, 20, SR), SR, name="b.wav")["tempo_bpm"]
    assert a == pytest.approx(128.0, abs=0.15)
    assert b == pytest.approx(128.5, abs=0.15)
    assert b - a == pytest.approx(0.5, abs=0.2)


def test_click_every_250_ms_reads_4_onsets_per_second(tmp_path) -> None:
    assert analyze_array(tmp_path, clicks(240, 20, SR), SR)["transient_density"] == pytest.approx(
        4.0, abs=0.05
    )


def test_humanised_drum_tempo_accuracy(tmp_path) -> None:
    pairs = []
    for bpm in TEMPI:
        r = analyze_array(tmp_path, drums(bpm, 20, SR, jitter_s=0.008, seed=bpm), SR, name=f"d{bpm}.wav")
        pairs.append((bpm, r["tempo_bpm"]))
        assert 0.9 <= r["rhythm_stability"] < 1.0
    acc1, acc2 = accuracy(pairs)
    print(f"drums: Accuracy1 {acc1:.2f} Accuracy2 {acc2:.2f}", pairs)
    # Hi-hats on every eighth make slow beats read double and fast ones half under a
    # 120 BPM prior (the metrical-level ambiguity Gouyon's Accuracy2 exists for):
    # every reading must be at a metrical level of the truth; between 85 and 140 BPM,
    # where the prior has no doubt, at the beat itself.
    assert acc2 == 1.0
    assert all(abs(e - t) <= 0.04 * t for t, e in pairs if 85 < t <= 140)
    assert acc1 >= 0.4


def test_steady_tone_has_no_rhythm_to_speak_of(tmp_path) -> None:
    from tests.synth import sine

    r = analyze_array(tmp_path, sine(440, 10, SR, -6), SR)
    assert r["transient_density"] <= 0.2


def onset_envelope(y: np.ndarray) -> np.ndarray:
    """The analyzer's onset envelope of ``y`` (22 050 Hz) on its frame grid."""
    n = 1 + (len(y) - N_FFT) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(y[: (n - 1) * HOP + N_FFT], N_FFT)[::HOP]
    return onset_strength(magnitude(frames), track_start=True)


DRUM_TEMPI = (68, 88, 108, 132, 158)  # each pattern shifted by 3 BPM per pattern index


def test_drum_set_metrical_levels_and_librosa(tmp_path) -> None:
    # 25 tracks: five patterns whose other metrical levels compete (2, 3, 3:2, 4:3) at five tempi
    pairs, peer = [], []
    for i, pattern in enumerate(DRUM_PATTERNS):
        for j, base in enumerate(DRUM_TEMPI):
            bpm = base + 3 * i
            y = drum_pattern(pattern, bpm, 20, SR, seed=10 * i + j)
            pairs.append((bpm, tempo_bpm(onset_envelope(y))))
            peer.append((bpm, float(np.atleast_1d(librosa.beat.beat_track(y=y, sr=SR)[0])[0])))
    acc1, acc2 = accuracy(pairs)
    lib1, lib2 = accuracy(peer)
    print(f"drum set: fpstream Accuracy1 {acc1:.2f} Accuracy2 {acc2:.2f}; librosa {lib1:.2f} {lib2:.2f}")
    # Slow triplet-feel patterns (12/8 shuffle, 6/8 below 80 BPM) may read at 3/2 of the
    # beat, next to the prior's centre, as librosa reads them too: the price of the prior
    # that gets real music right (see docs/evaluation.md). Everything else is at a level.
    assert acc2 >= 0.9, [p for p in pairs if accuracy([p])[1] < 1]
    assert acc1 >= lib1
    assert acc2 >= lib2


def poisson_notes(seconds: float, seed: int) -> np.ndarray:
    """Plucked harmonic notes at random (Poisson, 2 per second) times and pitches: onsets, no beat."""
    rng = np.random.default_rng(seed)
    n = round(seconds * SR)
    t = np.arange(SR) / SR
    out = np.zeros(n)
    for start in np.cumsum(rng.exponential(0.5, int(4 * seconds))):
        i = round(start * SR)
        if i + SR <= n:
            f = 220.0 * 2.0 ** (rng.integers(0, 24) / 12)
            out[i : i + SR] += 0.1 * np.exp(-t / 0.4) * sum(
                np.sin(2 * np.pi * f * h * t) * 10 ** (-0.3 * (h - 1)) for h in range(1, 6)
            )
    return out


def poisson_clicks(seconds: float, seed: int) -> np.ndarray:
    """Noise bursts at random (Poisson, 2.5 per second) times."""
    rng = np.random.default_rng(seed)
    n = round(seconds * SR)
    out = np.zeros(n)
    for start in np.cumsum(rng.exponential(0.4, int(5 * seconds))):
        i = round(start * SR)
        if i + 300 <= n:
            out[i : i + 300] += 0.2 * rng.standard_normal(300) * np.exp(-np.arange(300) / 50)
    return out


def swelling_noise(seconds: float, seed: int) -> np.ndarray:
    """Low-passed noise whose level swells and fades at random over seconds."""
    rng = np.random.default_rng(seed)
    n = round(seconds * SR)
    b = np.cumsum(rng.standard_normal(n))
    b -= np.convolve(b, np.ones(400) / 400, mode="same")
    return 0.01 * b * np.interp(np.arange(n), np.linspace(0, n, 12), rng.uniform(0.2, 1, 12))


@pytest.mark.parametrize("signal", ["white noise", "random notes", "random clicks", "swelling noise"])
def test_no_steady_beat_reads_zero_tempo_and_stability(tmp_path, signal: str) -> None:
    y = {
        "white noise": lambda: 0.1 * np.random.default_rng(1).standard_normal(40 * SR),
        "random notes": lambda: poisson_notes(40, 2),
        "random clicks": lambda: poisson_clicks(40, 3),
        "swelling noise": lambda: swelling_noise(40, 4),
    }[signal]()
    r = analyze_array(tmp_path, y, SR)
    assert r["tempo_bpm"] == 0.0
    assert r["rhythm_stability"] == 0.0


def test_periodicity_strength_separates_beat_from_no_beat() -> None:
    _, metronome = tempo_and_strength(onset_envelope(clicks(120, 40, SR)))
    _, beat = tempo_and_strength(onset_envelope(drum_pattern("rock 4/4", 100, 40, SR, seed=1)))
    _, none = tempo_and_strength(onset_envelope(poisson_notes(40, 7)))
    assert metronome > 0.7
    assert beat > 3 * PERIODICITY_THRESHOLD
    assert none < PERIODICITY_THRESHOLD
