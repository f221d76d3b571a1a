"""Partials of one track, in chunk order -> its 25 values.

:func:`merge` concatenates the per-frame series and adds the sums (sub-blocks
shared by two chunks are combined by sum or max); :func:`fingerprint` is a
pure function of the merged partial. Merging is associative in chunk order:
any chunking of the same track gives the same merged partial (exactly for
frame-grid quantities, to float rounding for sums).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from base.fields import FEATURES, SILENCE_VALUES
from base.protocol import unpack_array
from dsp import dynamics, frequency, pitch, stereo, temporal, variation
from dsp.grid import subblock_len
from dsp.stages import stage

FRAME_SERIES = ("onset", "silent", "f0")
FRAME_SUMS = ("centroid", "rolloff", "flatness", "chroma", "chroma_n", "e_h", "e_p")


@dataclass(frozen=True)
class Fingerprint:
    duration_s: float
    values: dict[str, float]
    warning: str | None = None  # what decoding noticed (a truncated file, say), from the last partial
    # The track's raw Chromaprint (audio/chromaprint.py) that ingest computed and the last partial
    # carries on; None when it carried none (or something that is not whole uint32 items).
    chromaprint: bytes | None = None
    derived_from: str | None = None  # the source of a file fpstream master wrote, from the last partial


@dataclass
class Merged:
    """The whole track's partial."""

    sample_rate: int
    channels: int
    n_samples: int
    subblocks: dict[str, np.ndarray]
    lr: np.ndarray
    series: dict[str, np.ndarray]
    bands: np.ndarray
    sums: dict[str, float]


def merge(bodies: list[dict[str, Any]], sample_rate: int, channels: int) -> Merged:
    """Merge partial bodies given in chunk order; raises ValueError if they do not tile the track."""
    if not bodies:
        raise ValueError("no partials to merge")
    if "n_samples" not in bodies[-1]:
        raise ValueError("the last partial is not marked as the end of the track")
    expect_start = expect_frame = expect_hpss = 0
    for i, b in enumerate(bodies):
        n_own = len(unpack_array(b["onset"]))
        if (b["start"], b["frame_lo"], b["hpss_lo"]) != (expect_start, expect_frame, expect_hpss):
            raise ValueError(f"partial {i} does not continue the previous one")
        expect_start = b["start"] + b["frames"]
        expect_frame = b["frame_lo"] + n_own
        expect_hpss = b["hpss_hi"]
    n_samples = int(bodies[-1]["n_samples"])
    if expect_start != n_samples or expect_frame != int(bodies[-1]["n_frames"]):
        raise ValueError("partials do not cover the whole track")

    n_sb = max(b["sb0"] + len(unpack_array(b["kw"])) for b in bodies)
    subblocks = {name: np.zeros(n_sb) for name in dynamics.SUBBLOCK_SERIES}
    for b in bodies:
        for name, how in dynamics.SUBBLOCK_COMBINE.items():
            part = unpack_array(b[name])
            dst = subblocks[name][b["sb0"] : b["sb0"] + len(part)]
            if how == "sum":
                dst += part
            else:
                np.maximum(dst, part, out=dst)
    return Merged(
        sample_rate=sample_rate,
        channels=channels,
        n_samples=n_samples,
        subblocks=subblocks,
        lr=np.sum([unpack_array(b["lr"]) for b in bodies], axis=0),
        series={k: np.concatenate([unpack_array(b[k]) for b in bodies]) for k in FRAME_SERIES},
        bands=np.sum([unpack_array(b["bands"]) for b in bodies], axis=0),
        sums={k: float(sum(b[k] for b in bodies)) for k in FRAME_SUMS},
    )


def values(m: Merged) -> dict[str, float]:
    """The 25 values of a merged track, by name (see docs/fingerprint.md)."""
    sb = m.subblocks
    sb_len = subblock_len(m.sample_rate)
    silent = m.series["silent"].astype(bool)
    n_loud = int((~silent).sum())
    duration = m.n_samples / m.sample_rate
    v = dict(SILENCE_VALUES)
    shares = frequency.band_shares(m.bands)
    v.update(zip(FEATURES[:7], map(float, shares), strict=True))
    v["lufs"] = dynamics.integrated_loudness(sb["kw"], sb["count"], sb_len)
    v["crest_db"] = dynamics.crest_db(sb["all_sq"], sb["all_peak"], sb["count"], sb["mid_sq"], m.channels)
    v["bass_mid_ratio"] = frequency.bass_mid_ratio(m.bands)
    v["silence_ratio"] = float(silent.mean()) if len(silent) else 1.0
    v["dynamic_range_variation"] = variation.dynamic_range_variation(
        sb["mid_sq"], sb["mid_peak"], sb["count"], sb_len
    )
    v["loudness_variation_std"] = variation.loudness_variation_std(sb["kw"], sb["count"], sb_len)
    v["peak_consistency"] = variation.peak_consistency(sb["mid_sq"], sb["mid_peak"], sb["count"], sb_len)
    if m.channels > 1:
        v["stereo_width"] = stereo.stereo_width(m.lr)
        v["phase_correlation"] = stereo.phase_correlation(m.lr)
    if n_loud:
        s = m.sums
        v["spectral_centroid"] = s["centroid"] / n_loud
        v["spectral_rolloff"] = s["rolloff"] / n_loud
        v["spectral_flatness"] = s["flatness"] / n_loud
        v["chroma_energy"] = s["chroma"] / s["chroma_n"] if s["chroma_n"] else 0.0
        e = s["e_h"] + s["e_p"]
        v["harmonic_ratio"] = s["e_h"] / e if e > 0 else 0.0
        v["pitch_stability"] = pitch.pitch_stability(m.series["f0"])
        onset = m.series["onset"]
        bpm = temporal.tempo_bpm(onset)
        v["tempo_bpm"] = bpm
        v["rhythm_stability"] = temporal.rhythm_stability(temporal.beat_frames(onset, bpm))
        v["transient_density"] = temporal.transient_density(onset, duration)
    bad = [k for k, x in v.items() if not math.isfinite(x)]
    if bad:
        raise ValueError(f"non-finite values for {', '.join(bad)}")
    return {k: float(v[k]) for k in FEATURES}


def fingerprint(bodies: list[dict[str, Any]], sample_rate: int, channels: int) -> Fingerprint:
    """Merge the partial bodies of a track, in chunk order, into its fingerprint."""
    with stage("merge"):
        m = merge(bodies, sample_rate, channels)
    with stage("finalize (tempo, beats, gating)"):
        warning = bodies[-1].get("warning")
        chromaprint = bodies[-1].get("chromaprint")
        source = bodies[-1].get("derived_from")
        return Fingerprint(
            duration_s=m.n_samples / sample_rate,
            values=values(m),
            warning=warning if isinstance(warning, str) else None,
            chromaprint=chromaprint if isinstance(chromaprint, bytes) and len(chromaprint) % 4 == 0 else None,
            derived_from=source if isinstance(source, str) and source else None,
        )


def fingerprint_or_error(bodies: list[dict[str, Any]], sample_rate: int, channels: int) -> Fingerprint | str:
    """:func:`fingerprint`, or the reason it could not be made (never raises): what the
    sink and ``fpstream analyze`` store as a failed row."""
    try:
        return fingerprint(bodies, sample_rate, channels)
    except Exception as exc:
        return f"fingerprint failed: {type(exc).__name__}: {exc}"
