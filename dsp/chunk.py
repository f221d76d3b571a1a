"""One chunk of PCM -> one partial: the sums and short series the merge needs.

The partial's layout (all arrays via :func:`base.protocol.pack_array`):

native rate, owned samples ``[start, start + frames)``:
  ``sb0`` and the 100 ms sub-block series of :mod:`dsp.dynamics`;
  ``lr``: stereo sums of :mod:`dsp.stereo`.
22 050 Hz mid signal, owned STFT frames ``[frame_lo, frame_hi)``:
  ``onset`` (flux), ``silent`` (flags), ``f0`` (predominant f0, Hz, 0 = unvoiced);
  ``bands`` (power per band, all frames); sums over non-silent frames of
  ``centroid``, ``rolloff``, ``flatness`` and ``chroma`` (with ``chroma_n``).
owned HPSS frames ``[hpss_lo, hpss_hi)``: ``e_h``, ``e_p``.
last chunk only: ``n_samples`` (track length), ``n_frames``; ``warning`` if ingest sent one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from base.protocol import PCM_INT_UNIT, ChunkHeader, Failed, Partial, TrackRef, pack_array, preroll_frames
from dsp import dynamics, harmonic, pitch, spectral, stereo, temporal
from dsp.fingerprint import fingerprint
from dsp.grid import plan_chunk, resampler_for
from dsp.resample import resample_range
from dsp.stages import stage
from dsp.stft import frame_view, magnitude


def mid_signal(pcm: np.ndarray) -> np.ndarray:
    """``m = (L + R) / 2`` in float64 (the first channel for mono)."""
    if pcm.shape[1] == 1:
        return pcm[:, 0].astype(np.float64)
    m = np.add(pcm[:, 0], pcm[:, 1], dtype=np.float64)  # one float64 array, no float64 copies of L and R
    m *= 0.5
    return m


def analyze_chunk(header: ChunkHeader, pcm: np.ndarray) -> dict[str, Any]:
    """The partial for one chunk (msgpack-able); see the module docstring for its fields."""
    sr = header.sample_rate
    body: dict[str, Any] = {"start": header.start, "frames": header.frames}

    with stage("loudness+peaks+stereo"):
        sub = dynamics.subblock_series(pcm, header.preroll, header.start, sr)
        body["sb0"] = sub.pop("sb0")
        body.update({k: pack_array(v) for k, v in sub.items()})
        body["lr"] = pack_array(stereo.lr_sums(pcm, header.preroll))

    plan = plan_chunk(sr, header.start, header.frames, header.last)
    n_track = header.start + header.frames if header.last else None
    y_lo, y_hi = plan.resampled_lo, plan.resampled_hi
    x_start = header.start - header.preroll
    # past the end of the track the 22 050 Hz signal is zero (the last frame is zero padded)
    y_end = y_hi if plan.n_out_total < 0 else max(y_lo, min(y_hi, plan.n_out_total))
    with stage("resample"):
        y = resample_range(resampler_for(sr), mid_signal(pcm), x_start, y_lo, y_end, n_track)
        if len(y) < y_hi - y_lo:
            y = np.pad(y, (0, y_hi - y_lo - len(y)))
    with stage("stft"):
        frames = frame_view(y, y_lo, plan.stft_lo, plan.stft_hi)
        mag = magnitude(frames)
    own = slice(plan.frame_lo - plan.stft_lo, plan.frame_hi - plan.stft_lo)
    own_frames, own_mag = frames[own], mag[own]
    with stage("spectral+chroma+onset"):
        silent = spectral.silent_frames(own_frames)
        loud = ~silent
        flux_lo = max(0, plan.frame_lo - 1) - plan.stft_lo
        onset = temporal.onset_strength(mag[flux_lo : own.stop], track_start=plan.frame_lo == 0)
        shape = spectral.spectral_sums(own_mag, loud)
        loud_mag = own_mag if loud.all() else own_mag[loud]  # the usual case in music: a view, not a copy
    with stage("pitch salience"):
        f0 = np.zeros(len(own_frames), dtype=np.float32)
        f0[loud] = pitch.predominant_f0(loud_mag)
    with stage("hpss"):
        e_h, e_p = harmonic.hpss_energies(
            mag, plan.stft_lo, plan.hpss_lo, plan.hpss_hi, plan.stft_hi if header.last else -1
        )
    body.update(
        frame_lo=plan.frame_lo,
        hpss_lo=plan.hpss_lo,
        hpss_hi=plan.hpss_hi,
        onset=pack_array(onset),
        silent=pack_array(silent.astype(np.uint8)),
        f0=pack_array(f0),
        bands=pack_array(shape.bands),
        centroid=shape.centroid,
        rolloff=shape.rolloff,
        flatness=shape.flatness,
        chroma=shape.chroma,
        chroma_n=shape.chroma_n,
        e_h=e_h,
        e_p=e_p,
    )
    if header.last:
        body["n_samples"] = header.start + header.frames
        body["n_frames"] = plan.frame_hi
    return body


def pcm_float32(pcm: np.ndarray) -> np.ndarray:
    """A chunk's PCM as float32 full scale ±1: integer samples (int16, int32) scaled in one
    pass with no intermediate array, bit for bit the float32 the decoder would have given
    (a power-of-two scale of an integer of at most 24 significant bits is exact); float32
    comes back as it is."""
    if pcm.dtype.kind == "f":
        return pcm
    unit = PCM_INT_UNIT.get(pcm.dtype.str)
    if unit is None:
        raise ValueError(f"no float32 scale for {pcm.dtype} samples")
    return np.multiply(pcm, np.float32(unit), dtype=np.float32)


def partial_for(header: ChunkHeader, pcm: np.ndarray) -> Partial | Failed:
    """What an analyzer sends for one chunk: its partial, or the track failed at this
    chunk if the DSP raises (a chunk never takes the analyzer down). ``pcm`` is float32
    or integer samples (see :func:`pcm_float32`)."""
    try:
        body = analyze_chunk(header, pcm_float32(pcm))
    except Exception as exc:
        error = f"analysis failed at chunk {header.index}: {type(exc).__name__}: {exc}"
        return Failed(header.ref, error, seq=header.seq)
    if header.warning:
        body["warning"] = header.warning  # decoding's note on the track travels on to the stored row
    if header.last:
        body["chromaprint"] = header.chromaprint  # the track's identity fingerprint, on to the row
    if header.derived_from:
        body["derived_from"] = header.derived_from  # so does the source of a mastered file
    return Partial(
        header.ref,
        header.index,
        header.last,
        header.sample_rate,
        header.channels,
        body,
        seq=header.seq,
        tags=header.tags,  # the file's tags (last chunk only) travel on to the stored row
    )


def warm_up() -> None:
    """Compile (or load from the numba cache) every kernel, on a tiny synthetic track,
    so an analyzer is fast from its first real chunk."""
    rng = np.random.default_rng(0)
    sr = 44_100
    pcm = (0.1 * rng.standard_normal((sr * 3, 2))).astype(np.float32)
    ref = TrackRef("warm-up", 0, 0, "", 0, 0)
    bodies = []
    step = sr
    for i, s in enumerate(range(0, len(pcm), step)):
        pre = min(s, preroll_frames(sr))  # the pre-roll ingest sends
        h = ChunkHeader(ref, i, s + step >= len(pcm), sr, 2, s, min(step, len(pcm) - s), pre)
        bodies.append(analyze_chunk(h, np.ascontiguousarray(pcm[s - pre : s + step])))
    fingerprint(bodies, sr, 2)
