"""Bounded tonal EQ toward a target balance of the seven bands.

Seven filters, one per fingerprint band (``BAND_EDGES_HZ`` of :mod:`dsp.frequency`):
a low shelf for the sub-bass, peaks at the geometric centres of the five middle bands,
a high shelf for the air. They overlap, so the gains are solved for (a few fixed-point
steps on the cascade's mean response in each band) to make each band move by the
amount asked, within ``±max_db``. Filters are the RBJ "Audio EQ Cookbook" biquads
(R. Bristow-Johnson), run as second-order sections with state carried between blocks.
"""

from __future__ import annotations

import itertools
import math

import numba as nb
import numpy as np
from scipy.signal import sosfreqz

from dsp.frequency import BAND_EDGES_HZ

#: Below this share a band is left alone: lifting a band that holds no music only lifts noise.
MIN_SHARE = 1e-4
#: Shelf and peak width (Q) of the band filters: about an octave and a half, gentle and broad.
BAND_Q = 0.8


def band_gains_db(shares: np.ndarray, target: np.ndarray, amount: float, max_db: float) -> np.ndarray:
    """dB each band should move so ``shares`` go ``amount`` (0–1) of the way toward ``target``.

    Shares are power fractions, so only the differences between bands matter: the full
    move ``10 log10(t/s)`` is taken relative to its share-weighted mean (the bands that hold
    most of the power move least; the gain stage sets the level anyway). Each gain is then
    clipped to ``±max_db``; bands with a share below :data:`MIN_SHARE` on either side get 0.

    >>> band_gains_db(np.array([0.5, 0.5]), np.array([0.25, 0.75]), 1.0, 3.0).round(2).tolist()
    [-2.39, 2.39]
    """
    shares = np.asarray(shares, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    usable = (shares >= MIN_SHARE) & (target >= MIN_SHARE)
    full = np.zeros(len(shares))
    if not usable.any():
        return full
    full[usable] = 10.0 * np.log10(target[usable] / shares[usable])
    full[usable] -= np.average(full[usable], weights=shares[usable])
    return np.clip(amount * full, -max_db, max_db)


def _centres_hz() -> list[float]:
    return [math.sqrt(lo * hi) for lo, hi in itertools.pairwise(BAND_EDGES_HZ)]


def _biquad(kind: str, f0_hz: float, gain_db: float, sample_rate: int) -> np.ndarray:
    """One RBJ cookbook section ``[b0, b1, b2, 1, a1, a2]``."""
    a = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * math.pi * min(f0_hz, 0.45 * sample_rate) / sample_rate
    alpha = math.sin(w0) / (2.0 * BAND_Q)
    c = math.cos(w0)
    if kind == "peak":
        b = [1 + alpha * a, -2 * c, 1 - alpha * a]
        den = [1 + alpha / a, -2 * c, 1 - alpha / a]
    else:
        sq = 2.0 * math.sqrt(a) * alpha
        sign = 1.0 if kind == "low" else -1.0
        b = [
            a * ((a + 1) - sign * (a - 1) * c + sq),
            sign * 2 * a * ((a - 1) - sign * (a + 1) * c),
            a * ((a + 1) - sign * (a - 1) * c - sq),
        ]
        den = [
            (a + 1) + sign * (a - 1) * c + sq,
            -sign * 2 * ((a - 1) + sign * (a + 1) * c),
            (a + 1) + sign * (a - 1) * c - sq,
        ]
    return np.array([*(v / den[0] for v in b), 1.0, den[1] / den[0], den[2] / den[0]])


def band_sections(gains_db: np.ndarray, sample_rate: int) -> np.ndarray:
    """The seven sections for per-filter gains (low shelf at 60 Hz, peaks at the middle
    bands' centres, high shelf at 8 kHz); sections with 0 dB are left out."""
    edges = BAND_EDGES_HZ
    specs = [("low", edges[1])] + [("peak", f) for f in _centres_hz()[1:6]] + [("high", edges[6])]
    rows = [
        _biquad(kind, f, g, sample_rate) for (kind, f), g in zip(specs, gains_db, strict=True) if g != 0.0
    ]
    return np.array(rows) if rows else np.zeros((0, 6))


def band_response_db(sections: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mean dB response of a cascade in each of the seven bands (log-spaced points)."""
    out = np.zeros(len(BAND_EDGES_HZ) - 1)
    if len(sections) == 0:
        return out
    for b, (lo, hi) in enumerate(itertools.pairwise(BAND_EDGES_HZ)):
        freqs = np.geomspace(lo, min(hi, 0.49 * sample_rate), 16)
        _, h = sosfreqz(sections, worN=freqs, fs=sample_rate)
        out[b] = float(np.mean(20.0 * np.log10(np.abs(h))))
    return out


def solve_sections(wanted_db: np.ndarray, sample_rate: int, max_db: float, steps: int = 6) -> np.ndarray:
    """Sections whose band responses come close to ``wanted_db`` (each filter within ±max_db)."""
    wanted_db = np.asarray(wanted_db, dtype=np.float64)
    if not np.any(wanted_db):
        return np.zeros((0, 6))
    gains = wanted_db.copy()
    for _ in range(steps):
        gains = np.clip(
            gains + (wanted_db - band_response_db(band_sections(gains, sample_rate), sample_rate)),
            -max_db,
            max_db,
        )
        gains[wanted_db == 0.0] = 0.0
    return band_sections(gains, sample_rate)


@nb.njit(cache=True, nogil=True)
def _cascade(x, sos, state):  # pragma: no cover - numba
    n, ch = x.shape
    out = np.empty_like(x)
    for i in range(n):
        for c in range(ch):
            v = x[i, c]
            for s in range(sos.shape[0]):
                y = sos[s, 0] * v + state[s, c, 0]
                state[s, c, 0] = sos[s, 1] * v - sos[s, 4] * y + state[s, c, 1]
                state[s, c, 1] = sos[s, 2] * v - sos[s, 5] * y
                v = y
            out[i, c] = v
    return out


def cascade(block: np.ndarray, sections: np.ndarray, state: np.ndarray) -> np.ndarray:
    """``block`` ``(n, ch)`` through second-order sections ``[b0, b1, b2, 1, a1, a2]`` in
    transposed direct form II, as ``scipy.signal.sosfilt`` computes them; ``state``
    ``(sections, ch, 2)`` is updated in place, so a stream filters like the whole file."""
    return _cascade(np.ascontiguousarray(block, dtype=np.float64), sections, state)


class ToneEq:
    """The cascade as a stream filter on ``(n, ch)`` float64 blocks (a no-op with no sections)."""

    def __init__(self, sections: np.ndarray, channels: int) -> None:
        self.sections = sections
        self.state = np.zeros((len(sections), channels, 2))

    def process(self, block: np.ndarray) -> np.ndarray:
        if len(self.sections) == 0 or len(block) == 0:
            return block
        return cascade(block, self.sections, self.state)
