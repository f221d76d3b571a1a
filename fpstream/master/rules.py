"""The mastering decisions, each a named function of the fingerprint's values.

The preset rules start from the ancestor's: high tempo with dense transients is
"electronic/metal" (punchy), a high harmonic ratio "vocal/melodic" (warm), a low
one "percussion-heavy" (punchy); intensity scales with the crest factor (0.5–1.0,
gentler on dynamic material). Added here: very dynamic material (classical,
acoustic) is gentle whatever else it shows, and a track whose crest factor says
it is already compressed gets no further compression from ``gentle``.

Every rule returns its answer with the reason in words, so the command can print
``tempo 174 BPM, 5.1 onsets/s → punchy``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from base.fields import BANDS

# Thresholds of the preset rules (fingerprint units).
DYNAMIC_CREST_DB = 18.0  # crest factor of orchestral/acoustic recordings; pop masters sit at 8–12 dB
DENSE_TEMPO_BPM = 120.0
DENSE_ONSETS_PER_S = 3.0
MELODIC_HARMONIC_RATIO = 0.7
PERCUSSIVE_HARMONIC_RATIO = 0.4

# Intensity from crest factor: 1.0 at or below COMPRESSED_CREST_DB, 0.5 at or above DYNAMIC_CREST_DB.
COMPRESSED_CREST_DB = 10.0
MIN_INTENSITY = 0.5

#: Each preset's tonal move, dB per band (sub-bass ... air) at intensity 1, before the ±max_db bound.
PRESET_TILT_DB: dict[str, tuple[float, ...]] = {
    "punchy": (1.5, 1.0, -1.0, 0.0, 0.5, 1.0, 1.0),  # weight and bite, less boxiness
    "warm": (0.5, 1.5, 0.5, 0.0, -0.5, -1.0, -0.5),  # fuller lows, softer top
    "gentle": (0.0, 0.0, -0.5, 0.0, 0.0, 0.5, 0.5),  # a touch of clarity only
    "none": (0.0,) * 7,
}

#: Compression ratio of each preset at intensity 1 on material with crest >= FULL_COMPRESSION_CREST_DB.
PRESET_RATIO = {"punchy": 2.5, "warm": 1.8, "gentle": 1.4, "none": 1.0}
#: Below this crest factor the material is treated as already compressed (no more compression).
NO_COMPRESSION_CREST_DB = 8.0
FULL_COMPRESSION_CREST_DB = 16.0
#: ``gentle`` leaves material below this crest factor uncompressed.
GENTLE_COMPRESSED_CREST_DB = 12.0


@dataclass(frozen=True)
class Decision:
    """A rule's answer and the words that justify it."""

    value: object
    reason: str


def is_dynamic_acoustic(crest_db: float) -> Decision:
    """Very dynamic material (crest >= 18 dB: classical, acoustic) → ``gentle``."""
    yes = crest_db >= DYNAMIC_CREST_DB
    return Decision(yes, f"crest {crest_db:.1f} dB {'≥' if yes else '<'} {DYNAMIC_CREST_DB:g} dB")


def is_dense_rhythmic(tempo_bpm: float, transient_density: float) -> Decision:
    """High tempo and dense transients (electronic/metal) → ``punchy``."""
    yes = tempo_bpm >= DENSE_TEMPO_BPM and transient_density >= DENSE_ONSETS_PER_S
    return Decision(yes, f"tempo {tempo_bpm:.0f} BPM, {transient_density:.1f} onsets/s")


def is_melodic(harmonic_ratio: float) -> Decision:
    """High harmonic ratio (vocal/melodic) → ``warm``."""
    yes = harmonic_ratio >= MELODIC_HARMONIC_RATIO
    return Decision(
        yes, f"harmonic ratio {harmonic_ratio:.2f} {'≥' if yes else '<'} {MELODIC_HARMONIC_RATIO:g}"
    )


def is_percussive(harmonic_ratio: float) -> Decision:
    """Low harmonic ratio (percussion-heavy) → ``punchy``."""
    yes = harmonic_ratio < PERCUSSIVE_HARMONIC_RATIO
    return Decision(
        yes, f"harmonic ratio {harmonic_ratio:.2f} {'<' if yes else '≥'} {PERCUSSIVE_HARMONIC_RATIO:g}"
    )


def choose_preset(fp: Mapping[str, float]) -> Decision:
    """The preset for ``auto``: the first rule that holds, in this order —
    dynamic acoustic → gentle, dense rhythmic → punchy, melodic → warm,
    percussive → punchy, otherwise gentle."""
    checks = (
        (is_dynamic_acoustic(fp["crest_db"]), "gentle"),
        (is_dense_rhythmic(fp["tempo_bpm"], fp["transient_density"]), "punchy"),
        (is_melodic(fp["harmonic_ratio"]), "warm"),
        (is_percussive(fp["harmonic_ratio"]), "punchy"),
    )
    for decision, preset in checks:
        if decision.value:
            return Decision(preset, f"{decision.reason} → {preset}")
    return Decision("gentle", f"no rule matched ({checks[-1][0].reason}) → gentle")


def intensity_from_crest(crest_db: float) -> Decision:
    """Intensity 1.0 at crest <= 10 dB falling linearly to 0.5 at >= 18 dB: gentler on dynamic material."""
    span = DYNAMIC_CREST_DB - COMPRESSED_CREST_DB
    frac = min(1.0, max(0.0, (crest_db - COMPRESSED_CREST_DB) / span))
    value = round(1.0 - (1.0 - MIN_INTENSITY) * frac, 3)
    return Decision(value, f"crest {crest_db:.1f} dB → intensity {value:.2f}")


def compression_ratio(preset: str, crest_db: float, intensity: float) -> Decision:
    """Ratio ``1 + (preset ratio - 1) × intensity × f(crest)``, ``f`` rising from 0 at 8 dB crest
    (already compressed) to 1 at 16 dB; 1.0 (none) for ``none``, and for ``gentle`` below 12 dB."""
    if preset == "none":
        return Decision(1.0, "preset none → no compression")
    if preset == "gentle" and crest_db < GENTLE_COMPRESSED_CREST_DB:
        return Decision(
            1.0, f"gentle, crest {crest_db:.1f} dB < {GENTLE_COMPRESSED_CREST_DB:g}: already compressed"
        )
    span = FULL_COMPRESSION_CREST_DB - NO_COMPRESSION_CREST_DB
    frac = min(1.0, max(0.0, (crest_db - NO_COMPRESSION_CREST_DB) / span))
    ratio = round(1.0 + (PRESET_RATIO[preset] - 1.0) * intensity * frac, 3)
    if ratio <= 1.0:
        return Decision(1.0, f"crest {crest_db:.1f} dB: already compressed → no compression")
    return Decision(ratio, f"crest {crest_db:.1f} dB, intensity {intensity:.2f} → ratio {ratio:.2f}:1")


def band_shares(fp: Mapping[str, float]) -> np.ndarray:
    """The seven band shares of a fingerprint, sub-bass first."""
    return np.array([float(fp[name]) for name in BANDS])


def preset_target_shares(fp: Mapping[str, float], preset: str) -> np.ndarray:
    """The balance a preset aims at: the track's own shares moved by the preset's tilt,
    renormalised to sum to 1 (a preset shapes a track; it does not impose a genre's curve)."""
    shares = band_shares(fp)
    moved = shares * 10.0 ** (np.array(PRESET_TILT_DB[preset]) / 10.0)
    total = moved.sum()
    return moved / total if total > 0 else shares
