"""The octave decision by beat parity (dsp.temporal.octave_by_parity) on onset envelopes
whose beat is known: fast rock reads fast, a slow ballad reads slow, and the margin between
the two thresholds keeps an in-between level where the periodicity put it."""

from __future__ import annotations

import numpy as np
import pytest

from dsp.temporal import (
    FPS,
    PARITY_DOWN,
    PARITY_UP,
    beat_parity,
    octave_by_parity,
    rhythm_stability,
    tempo_bpm,
)


def pulses(bpm: float, levels: list[float], seconds: float = 40.0, seed: int = 0) -> np.ndarray:
    """An onset envelope: a 3-frame pulse on every beat of ``bpm``, the beats' heights cycling
    through ``levels``, over a little noise."""
    rng = np.random.default_rng(seed)
    n = round(seconds * FPS)
    env = 0.02 * rng.random(n)
    period = 60.0 * FPS / bpm
    for k in range(int(n / period)):
        i = round(k * period + rng.normal(0, 0.3))
        if 1 <= i < n - 1:
            h = levels[k % len(levels)] * rng.uniform(0.9, 1.0)
            env[i - 1 : i + 2] += h * np.array([0.3, 1.0, 0.4])
    return env.astype(np.float32)


@pytest.mark.parametrize("bpm", [180.0, 190.0, 200.0])
def test_fast_rock_reads_fast_not_half(bpm: float) -> None:
    # kick and snare alternate on the beats, equally strong: the prior would pick half,
    # but every beat is a drum
    env = pulses(bpm, [1.0, 0.99])
    assert tempo_bpm(env) == pytest.approx(bpm, rel=0.02)


@pytest.mark.parametrize("bpm", [60.0, 66.0, 72.0])
def test_slow_ballad_with_eighth_hats_reads_slow(bpm: float) -> None:
    env = pulses(2 * bpm, [1.0, 0.3, 0.9, 0.3])  # drums on the beats, a hi-hat between them
    assert tempo_bpm(env) == pytest.approx(bpm, rel=0.02)


def test_parity_measures_alike_and_alternating_beats() -> None:
    assert beat_parity(pulses(120.0, [1.0]), 120.0) > 0.9
    assert beat_parity(pulses(120.0, [1.0, 0.2]), 120.0) < 0.3


def test_margin_keeps_an_in_between_level() -> None:
    assert PARITY_DOWN < PARITY_UP
    # every other beat at 0.7 of the others: neither clearly equal (up) nor clearly weak (down)
    env = pulses(100.0, [1.0, 0.7])
    assert PARITY_DOWN <= beat_parity(env, 100.0) < PARITY_UP  # the parity sits in the gap
    assert octave_by_parity(env, 100.0) == 100.0
    assert octave_by_parity(pulses(100.0, [1.0, 0.3]), 100.0) == 50.0


def test_stability_ignores_one_skipped_beat() -> None:
    beats = np.arange(0, 200 * 20.0, 20.0)
    skipped = np.delete(beats, 100)  # the tracker missed one beat: one interval doubles
    assert rhythm_stability(beats) == pytest.approx(1.0)
    assert rhythm_stability(skipped) == pytest.approx(1.0)
    wander = np.cumsum(20.0 + np.random.default_rng(1).normal(0, 2.0, 200))
    assert 0.85 < rhythm_stability(wander) < 0.97
