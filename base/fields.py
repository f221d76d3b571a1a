"""The stored fingerprint, in the order of docs/fingerprint.md: names, and what every reader needs to know.

Every process and command imports these instead of re-spelling column names.
:data:`FIELDS` is the one feature table (as essentia keeps its descriptor
metadata next to the names): family, unit, typical range, the value of an
all-silent track, display decimals and the default similarity weight. ``show``,
``similar``, ``report`` and the docs read it from here.
"""

from __future__ import annotations

from dataclasses import dataclass

FINGERPRINT_VERSION = 3  # what moved in each version: the README changelog

FEATURES: tuple[str, ...] = (
    "sub_bass_pct",
    "bass_pct",
    "low_mid_pct",
    "mid_pct",
    "upper_mid_pct",
    "presence_pct",
    "air_pct",
    "lufs",
    "crest_db",
    "bass_mid_ratio",
    "tempo_bpm",
    "rhythm_stability",
    "transient_density",
    "silence_ratio",
    "spectral_centroid",
    "spectral_rolloff",
    "spectral_flatness",
    "harmonic_ratio",
    "pitch_stability",
    "chroma_energy",
    "dynamic_range_variation",
    "loudness_variation_std",
    "peak_consistency",
    "stereo_width",
    "phase_correlation",
)

#: The seven band shares (``sub_bass_pct`` ... ``air_pct``): the first family, summing to 1.
BANDS: tuple[str, ...] = FEATURES[:7]


@dataclass(frozen=True)
class Field:
    """One of the 25 values, as docs/fingerprint.md defines it.

    ``low``/``high``: the range the definition allows (None: unbounded, e.g. LUFS
    has no fixed floor above the −70 gate). ``silence``: the value of a track
    whose every frame is silent. ``weight``: the default similarity weight
    (why each weight: ``fpstream/similarity.py``). ``decimals``: what a display
    should print.
    """

    name: str
    family: str
    unit: str
    low: float | None
    high: float | None
    silence: float
    decimals: int
    weight: float


#: The seven families of docs/fingerprint.md, in table order
#: (rows 1–7, 8–10, 11–14, 15–17, 18–20, 21–23, 24–25).
FAMILIES: tuple[str, ...] = (
    "Frequency bands (share of total power)",
    "Loudness and dynamics",
    "Rhythm",
    "Spectral shape",
    "Harmony and pitch",
    "Variation over time",
    "Stereo image",
)
_BANDS_F, _LOUD, _RHYTHM, _SPECTRAL, _HARMONY, _VARIATION, _STEREO = FAMILIES

FIELDS: tuple[Field, ...] = (
    *(Field(name, _BANDS_F, "fraction", 0.0, 1.0, 0.0, 4, 0.25) for name in FEATURES[:7]),
    Field("lufs", _LOUD, "LUFS", -70.0, None, -70.0, 2, 0.5),
    Field("crest_db", _LOUD, "dB", 0.0, None, 0.0, 2, 1.0),
    Field("bass_mid_ratio", _LOUD, "dB", -60.0, 60.0, 0.0, 2, 0.5),
    Field("tempo_bpm", _RHYTHM, "BPM", 0.0, 240.0, 0.0, 2, 0.5),
    Field("rhythm_stability", _RHYTHM, "0-1", 0.0, 1.0, 0.0, 3, 1.0),
    Field("transient_density", _RHYTHM, "onsets/s", 0.0, None, 0.0, 2, 1.0),
    Field("silence_ratio", _RHYTHM, "0-1", 0.0, 1.0, 1.0, 3, 0.25),
    Field("spectral_centroid", _SPECTRAL, "Hz", 0.0, 11025.0, 0.0, 1, 0.5),
    Field("spectral_rolloff", _SPECTRAL, "Hz", 0.0, 11025.0, 0.0, 1, 0.5),
    Field("spectral_flatness", _SPECTRAL, "0-1", 0.0, 1.0, 0.0, 4, 1.0),
    Field("harmonic_ratio", _HARMONY, "0-1", 0.0, 1.0, 0.0, 3, 1.0),
    Field("pitch_stability", _HARMONY, "0-1", 0.0, 1.0, 0.0, 3, 0.5),
    Field("chroma_energy", _HARMONY, "1/12-1", 0.0, 1.0, 0.0, 3, 1.0),
    Field("dynamic_range_variation", _VARIATION, "dB", 0.0, None, 0.0, 2, 0.5),
    Field("loudness_variation_std", _VARIATION, "LU", 0.0, None, 0.0, 2, 1.0),
    Field("peak_consistency", _VARIATION, "0-1", 0.0, 1.0, 0.0, 3, 0.5),
    Field("stereo_width", _STEREO, "0-1", 0.0, 1.0, 0.0, 3, 0.5),
    Field("phase_correlation", _STEREO, "-1..1", -1.0, 1.0, 1.0, 3, 0.5),
)
assert tuple(f.name for f in FIELDS) == FEATURES

#: ``FIELD[name]``: the :class:`Field` of one value.
FIELD: dict[str, Field] = {f.name: f for f in FIELDS}

# Value each feature takes when every frame of the track is silent (spec column "silence").
SILENCE_VALUES: dict[str, float] = {f.name: f.silence for f in FIELDS}

# Columns stored per path besides the features.
TRACK_COLUMNS: tuple[str, ...] = (
    "path",
    "status",
    "error",
    "size",
    "mtime_ns",
    "duration_s",
    "sample_rate",
    "channels",
    "analyzed_at",
    "fingerprint_version",
)

# Columns added by later schema versions: they follow the features, in the table as in every row.
#   warning: set on a ``done`` row whose decoding noticed something (e.g. "truncated: decoded 12.0 s
#   of the 30.0 s declared"); NULL when there is nothing to say. A ``failed`` row has ``error`` instead.
ADDED_COLUMNS: tuple[str, ...] = ("warning",)
