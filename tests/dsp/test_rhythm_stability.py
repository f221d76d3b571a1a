"""rhythm_stability from the median of the inter-beat intervals (fingerprint version 3): one
beat the tracker skips leaves a steady track at 1.0; a beat that really wanders lowers it."""

from __future__ import annotations

import numpy as np
import pytest

from dsp.temporal import rhythm_stability


def test_stability_ignores_one_skipped_beat() -> None:
    beats = np.arange(0, 200 * 20.0, 20.0)
    skipped = np.delete(beats, 100)  # the tracker missed one beat: one interval doubles
    assert rhythm_stability(beats) == pytest.approx(1.0)
    assert rhythm_stability(skipped) == pytest.approx(1.0)
    wander = np.cumsum(20.0 + np.random.default_rng(1).normal(0, 2.0, 200))
    assert 0.85 < rhythm_stability(wander) < 0.97
