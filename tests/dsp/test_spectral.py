"""Spectral balance, shape, chroma and silence: synthetic truths and librosa as oracle."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from base.fields import FEATURES
from dsp.dynamics import SILENCE_MS
from tests.synth import analyze_array, drums, sine, stereo

SR = 22_050
BAND_NAMES = FEATURES[:7]
BAND_TONES_HZ = (40.0, 150.0, 375.0, 1000.0, 3000.0, 6000.0, 9500.0)


@pytest.mark.parametrize("band", range(7))
def test_a_sine_lands_in_its_band_at_any_level(tmp_path, band: int) -> None:
    shares = []
    for level in (-6.0, -46.0):
        r = analyze_array(tmp_path, sine(BAND_TONES_HZ[band], 3, SR, level), SR, name=f"{level}.wav")
        shares.append([r[n] for n in BAND_NAMES])
        assert sum(shares[-1]) == pytest.approx(1.0, abs=1e-9)
        assert r[BAND_NAMES[band]] > 0.99
    # no per-bin floor: the shares do not move with playback level
    np.testing.assert_allclose(shares[0], shares[1], rtol=1e-6, atol=1e-12)


def test_bass_mid_ratio(tmp_path) -> None:
    x = sine(100, 3, SR, -6) + sine(1000, 3, SR, -16)  # 10 dB more power in the bass
    assert analyze_array(tmp_path, x, SR)["bass_mid_ratio"] == pytest.approx(10.0, abs=0.2)


def oracle_frames(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """librosa magnitude spectrogram with the spec's framing, and its non-silent frames."""
    mag = np.abs(librosa.stft(y, n_fft=2048, hop_length=512, window="hann", center=False))
    frames = librosa.util.frame(y, frame_length=2048, hop_length=512)
    loud = np.mean(frames**2, axis=0) >= SILENCE_MS
    return mag, loud


def test_shape_agrees_with_librosa(tmp_path) -> None:
    rng = np.random.default_rng(3)
    n = 2048 + 512 * 600  # whole frames: same frame count with or without end padding
    y = (drums(100, n / SR, SR)[:n] + sine(330, n / SR, SR, -20)[:n] + 0.003 * rng.standard_normal(n)).astype(
        np.float32
    )
    y[SR * 5 : SR * 7] = 0.0  # a digital-silence section
    r = analyze_array(tmp_path, y, SR, chunk_s=2.5)
    y64 = y.astype(np.float64)
    mag, loud = oracle_frames(y64)
    centroid = librosa.feature.spectral_centroid(S=mag, sr=SR)[0]
    rolloff = librosa.feature.spectral_rolloff(S=mag, sr=SR, roll_percent=0.85)[0]
    flatness = librosa.feature.spectral_flatness(S=mag, amin=1e-10, power=2.0)[0]
    assert r["spectral_centroid"] == pytest.approx(centroid[loud].mean(), rel=1e-6)
    assert r["spectral_rolloff"] == pytest.approx(rolloff[loud].mean(), rel=1e-6)
    assert r["spectral_flatness"] == pytest.approx(flatness[loud].mean(), rel=1e-6)
    assert r["silence_ratio"] == pytest.approx(1.0 - loud.mean(), abs=1e-12)


def test_silence_ratio_of_digital_silence_sections(tmp_path) -> None:
    x = np.concatenate([sine(440, 5, SR, -20), np.zeros(5 * SR), sine(440, 5, SR, -20), np.zeros(5 * SR)])
    assert analyze_array(tmp_path, x, SR)["silence_ratio"] == pytest.approx(0.5, abs=0.01)


def test_quiet_but_not_silent_is_not_silence(tmp_path) -> None:
    # -50 dBFS RMS is quiet, not silent: the threshold is absolute, not relative
    x = np.concatenate([sine(440, 3, SR, 0.0), sine(440, 3, SR, -47.0)])
    assert analyze_array(tmp_path, x, SR)["silence_ratio"] == pytest.approx(0.0, abs=0.01)


def test_chroma_of_a440_and_white_noise(tmp_path) -> None:
    a440 = analyze_array(tmp_path, sine(440, 3, SR, -6), SR, name="a.wav")["chroma_energy"]
    assert a440 > 0.95
    noise = np.random.default_rng(0).standard_normal(3 * SR) * 0.1
    white = analyze_array(tmp_path, noise, SR, name="n.wav")["chroma_energy"]
    assert 1 / 12 <= white < 0.1


def test_chroma_pitch_class_mapping_agrees_with_the_spec() -> None:
    from dsp.harmonic import CHROMA
    from dsp.stft import FREQS

    def pc(freq: float) -> int:
        return int(np.argmax(CHROMA[int(np.argmin(np.abs(FREQS - freq)))]))

    assert pc(440.0) == 9  # A
    assert pc(261.63) == 0  # C
    assert pc(392.0) == 7  # G
    assert CHROMA[FREQS < 55].sum() == 0 and CHROMA[FREQS > 5000].sum() == 0


def test_stereo_tone_at_44k_matches_mono_at_22k(tmp_path) -> None:
    # the 22 050 Hz path after an anti-aliased resample sees the same spectrum
    a = analyze_array(tmp_path, stereo(sine(1000, 3, 44_100, -6)), 44_100, name="a.wav")
    b = analyze_array(tmp_path, sine(1000, 3, SR, -6), SR, name="b.wav")
    assert a["spectral_centroid"] == pytest.approx(b["spectral_centroid"], rel=1e-3)
    assert a["mid_pct"] == pytest.approx(b["mid_pct"], abs=1e-4)
