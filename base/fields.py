"""The names of the stored fingerprint, in the order of ../shared/FINGERPRINT.md.

Every process and command imports these instead of re-spelling column names.
"""

FINGERPRINT_VERSION = 1

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

# Value each feature takes when every frame of the track is silent (spec column "silence").
SILENCE_VALUES: dict[str, float] = {name: 0.0 for name in FEATURES}
SILENCE_VALUES.update({"lufs": -70.0, "silence_ratio": 1.0, "phase_correlation": 1.0})

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
