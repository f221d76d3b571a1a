"""The stored fingerprint, in the order of docs/fingerprint.md: names, and what every reader needs to know.

Every process and command imports these instead of re-spelling column names.
:data:`FIELDS` is the one feature table (as essentia keeps its descriptor
metadata next to the names): family, unit, typical range, the value of an
all-silent track, display decimals and the default similarity weight. ``show``,
``similar``, ``report`` and the docs read it from here.
"""

from __future__ import annotations

from dataclasses import dataclass

FINGERPRINT_VERSION = 3  # what moved in each version: docs/changelog.md

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
    (why each weight: :data:`WEIGHT_REASONS`). ``decimals``: what a display
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

#: Why each default weight (:attr:`Field.weight`) is what it is: the one place this is written
#: (docs/cli.md's table is made from it by :func:`weights_table`). One rule: one unit of weight
#: per independent, reliable aspect of the sound; values that measure the same aspect share
#: their unit, values with a known failure mode get half. With equal weights the spectrum would
#: count eleven times (seven bands, centroid, rolloff, bass/mid, partly flatness).
WEIGHT_REASONS: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        BANDS,
        "tonal balance is what listeners notice first and has several degrees of freedom (bassy, "
        "scooped, bright): 1.75 in total. But the shares sum to 1 and neighbours correlate, so each "
        "gets a quarter.",
    ),
    (("lufs",), "playback level is not timbre: a remaster 3 dB louder should stay near its original"),
    (("crest_db",), "how compressed/limited the master is"),
    (("bass_mid_ratio",), "computed from the same power totals as the bands"),
    (("tempo_bpm",), "octave errors (×2, ½) happen to every tempo estimator; half weight limits the damage"),
    (("rhythm_stability",), "steady programmed beat vs. rubato"),
    (("transient_density",), "busy and percussive vs. sparse"),
    (
        ("silence_ratio",),
        "mostly measures gaps, fades and hidden tracks; its 5–95 spread is tiny in most libraries, so "
        "small differences would be blown up",
    ),
    (
        ("spectral_centroid", "spectral_rolloff"),
        "brightness measured twice, and both largely implied by the band shares",
    ),
    (("spectral_flatness",), "noisy vs. tonal, which the bands do not say"),
    (("harmonic_ratio",), "sustained/harmonic vs. percussive content"),
    (
        ("pitch_stability",),
        "a predominant f0 from a full mix can follow the bass or an accompaniment for stretches: a "
        "noisier statistic than the spectral ones",
    ),
    (("chroma_energy",), "tonal focus: one key centre vs. spread"),
    (
        ("dynamic_range_variation", "loudness_variation_std", "peak_consistency"),
        "three views of how dynamics move over time; the gated BS.1770 one is the most robust, the two "
        "1-second-window ones share the rest",
    ),
    (
        ("stereo_width", "phase_correlation"),
        "nearly the same measurement twice: for equal channel levels, width = (1 − correlation) / 2",
    ),
)
assert sorted(n for names, _ in WEIGHT_REASONS for n in names) == sorted(FEATURES)


def weights_table() -> str:
    """:data:`WEIGHT_REASONS` with the weights, as the Markdown table of docs/cli.md."""
    weight = {f.name: f.weight for f in FIELDS}
    lines = ["| dimension | weight | why |", "|---|---|---|"]
    for names, why in WEIGHT_REASONS:
        label = "the 7 band shares" if names == BANDS else ", ".join(f"`{n}`" for n in names)
        values = sorted({weight[n] for n in names})
        each = " each" if len(names) > 1 and len(values) == 1 else ""
        shown = ", ".join(f"{weight[n]:g}" for n in names) if len(values) > 1 else f"{values[0]:g}{each}"
        lines.append(f"| {label} | {shown} | {why} |")
    return "\n".join(lines) + "\n"


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
#   content_id (v4): the file's content identity (audio/identity.py), which a moved or re-tagged file
#   keeps; missing_since (v4): when a run found the file gone (NULL: there, or not looked for);
#   cue_track, cue_start, cue_end, cue_title, cue_performer (v4): a track of a CUE sheet, whose row
#   key is "<image path>#<NN>": its number, span [cue_start, cue_end) in frames of the image
#   (cue_end NULL: to its end) and the sheet's text (docs/cue-and-moves.md).
CUE_COLUMNS: tuple[str, ...] = ("cue_track", "cue_start", "cue_end", "cue_title", "cue_performer")
META_COLUMNS: tuple[str, ...] = ("content_id", *CUE_COLUMNS)  # from TrackRef.meta
#   derived_from: the source path of a file ``fpstream master`` wrote (its mark, ``audio.derived``),
#   stored when such a file is fed on purpose (``fpstream feed --include-derived``); NULL otherwise.
#   title ... musicbrainz_release_id (v7): the file's tags as ingest read them (audio/tags.py), NULL when
#   the file has none; tags_read (v7): 1 once ingest has read the file's tags for this row (rows from
#   before v7 have 0 and get their tags on the next run, without being analysed again).
TAG_COLUMNS: tuple[str, ...] = (
    "title",
    "artist",
    "album_artist",
    "album",
    "track_number",
    "disc_number",
    "date",
    "genre",
    "musicbrainz_recording_id",
    "musicbrainz_release_id",
)
#: The tag columns that hold integers (the others are text).
INTEGER_TAGS: frozenset[str] = frozenset({"track_number", "disc_number"})
#   chromaprint (v6): a ``done`` row's raw Chromaprint (BLOB of little-endian uint32 sub-fingerprints,
#   audio/chromaprint.py); empty for a track too short to fingerprint, NULL when the row was written
#   before fpstream computed it (the next run re-feeds such a row) and on a ``failed`` row.
ADDED_COLUMNS: tuple[str, ...] = (
    "warning", "content_id", "missing_since", *CUE_COLUMNS, "derived_from", "chromaprint", *TAG_COLUMNS,
    "tags_read",
)  # fmt: skip
