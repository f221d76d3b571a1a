"""The mastering chain's parts against ground truth and libebur128 (pyebur128), no files."""

from __future__ import annotations

import numpy as np
import pytest

from fpstream.master import rules
from fpstream.master.chain import LIMITER_MARGIN_DB
from fpstream.master.eq import band_gains_db, band_response_db, solve_sections
from fpstream.master.limiter import TruePeakLimiter
from fpstream.master.meter import LoudnessMeter
from fpstream.master.truepeak import TruePeakMeter
from tests.master_audio import ebur128_of, isp_tone, kick_mix


def _stream(process, pcm: np.ndarray, block: int) -> np.ndarray:
    return np.concatenate([process(pcm[i : i + block]) for i in range(0, len(pcm), block)])


def test_true_peak_of_isp_tone_is_3_db_over_its_samples():
    pcm = isp_tone(48_000, 0.5, sample_peak=0.5)  # true peak 0.707: -3.01 dBTP, samples at -6.02 dBFS
    meter = TruePeakMeter(2)
    meter.add(pcm)
    ours = meter.finish()
    _, theirs = ebur128_of(pcm, 48_000)
    assert ours == pytest.approx(-3.01, abs=0.15)  # the Annex 2 filter reads ~0.1 dB high at fs/4
    assert ours >= theirs - 1e-6  # never under the oracle: a ceiling we hold must hold there


@pytest.mark.parametrize("sr", [44_100, 96_000])
def test_loudness_meter_agrees_with_libebur128_whatever_the_block(sr):
    pcm = kick_mix(sr, 2.0)
    meter = LoudnessMeter(sr, 2)
    for i in range(0, len(pcm), 4_321):
        meter.add(pcm[i : i + 4_321])
    got = meter.finish()
    lufs, tp = ebur128_of(pcm, sr)
    assert got.lufs == pytest.approx(lufs, abs=0.01)
    assert got.true_peak_dbtp >= tp - 1e-6


@pytest.mark.parametrize("sr", [44_100, 48_000, 96_000])
def test_limiter_holds_the_ceiling_on_libebur128(sr):
    pcm = isp_tone(sr, 0.3) * 2.0  # +8 dBTP of inter-sample peaks
    pcm = np.concatenate([pcm, kick_mix(sr, 0.7) * 4.0])  # and clipped-looking transients
    lim = TruePeakLimiter(sr, 2, -1.0 - LIMITER_MARGIN_DB)  # as the chain sets it for a -1 dBTP ceiling
    out = _stream(lim.process, np.concatenate([pcm, np.zeros((lim.latency, 2))]), 10_000)[lim.latency :]
    _, tp = ebur128_of(out, sr)
    assert tp <= -1.0
    assert lim.max_reduction_db > 6.0


def test_limiter_is_block_size_independent_and_latency_exact():
    sr = 44_100
    pcm = kick_mix(sr, 1.0) * 3.0
    outs = []
    for block in (512, 44_100):
        lim = TruePeakLimiter(sr, 2, -1.0)
        padded = np.concatenate([pcm, np.zeros((lim.latency, 2))])
        outs.append(_stream(lim.process, padded, block)[lim.latency :])
    assert np.array_equal(outs[0], outs[1])
    quiet = kick_mix(sr, 1.0) * 0.1  # under the ceiling: the limiter is a pure delay
    lim = TruePeakLimiter(sr, 2, -1.0)
    out = _stream(lim.process, np.concatenate([quiet, np.zeros((lim.latency, 2))]), 1000)[lim.latency :]
    assert np.array_equal(out, quiet)


def test_limiter_release_does_not_pump_on_a_steady_beat():
    """Kicks every 0.5 s over a pad, limited by ~6 dB: between kicks, after the first few
    beats, the gain holds (the slow envelope) instead of recovering fully and slamming down
    again at each kick, which is what pumping is."""
    sr = 44_100
    pcm = kick_mix(sr, 6.0) * 2.0
    lim = TruePeakLimiter(sr, 2, -1.0)
    out = _stream(lim.process, np.concatenate([pcm, np.zeros((lim.latency, 2))]), 4096)[lim.latency :]
    pad = slice(round(0.35 * sr), round(0.49 * sr))  # between kicks, away from them
    gains = []
    for beat in range(6, 11):
        seg = slice(pad.start + beat * sr // 2, pad.stop + beat * sr // 2)
        gains.append(np.sqrt(np.mean(out[seg] ** 2) / np.mean(pcm[seg] ** 2)))
    swing_db = 20 * np.log10(max(gains) / min(gains))
    assert swing_db < 0.5
    assert 20 * np.log10(np.mean(gains)) < -0.3  # the gain between kicks is held down, not released


def test_preset_rules_name_their_reasons():
    base = {"crest_db": 12.0, "tempo_bpm": 100.0, "transient_density": 1.0, "harmonic_ratio": 0.5}
    dense = rules.choose_preset({**base, "tempo_bpm": 174.0, "transient_density": 5.1})
    assert (dense.value, dense.reason) == ("punchy", "tempo 174 BPM, 5.1 onsets/s → punchy")
    assert rules.choose_preset({**base, "harmonic_ratio": 0.85}).value == "warm"
    assert rules.choose_preset({**base, "harmonic_ratio": 0.2}).value == "punchy"
    loud_and_dynamic = {**base, "crest_db": 21.0, "tempo_bpm": 174.0, "transient_density": 6}
    assert rules.choose_preset(loud_and_dynamic).value == "gentle"
    assert rules.choose_preset(base).value == "gentle"


def test_intensity_and_compression_follow_the_crest_factor():
    assert rules.intensity_from_crest(6.0).value == 1.0
    assert rules.intensity_from_crest(14.0).value == 0.75
    assert rules.intensity_from_crest(25.0).value == 0.5
    assert rules.compression_ratio("gentle", 9.0, 1.0).value == 1.0  # already compressed
    assert rules.compression_ratio("punchy", 7.0, 1.0).value == 1.0
    assert rules.compression_ratio("punchy", 16.0, 1.0).value == 2.5
    assert rules.compression_ratio("punchy", 12.0, 0.5).value == pytest.approx(1.375)
    assert rules.compression_ratio("none", 20.0, 1.0).value == 1.0


def test_eq_moves_bands_toward_the_target_within_the_bound():
    shares = np.array([0.05, 0.3, 0.2, 0.25, 0.1, 0.07, 0.03])
    target = np.array([0.02, 0.2, 0.15, 0.3, 0.15, 0.12, 0.06])
    want = band_gains_db(shares, target, 1.0, 3.0)
    assert np.all(np.abs(want) <= 3.0)
    assert np.all(np.sign(want[[0, 1, 5, 6]]) == [-1, -1, 1, 1])
    got = band_response_db(solve_sections(want, 44_100, 3.0), 44_100)
    # overlapping filters cannot follow every band exactly; the shape must be close
    assert np.max(np.abs((got - got.mean()) - (want - want.mean()))) < 0.8
    assert len(solve_sections(np.zeros(7), 44_100, 3.0)) == 0
