"""One file's mastering, decided and done: the request, the decisions, the passes, the outcome.

:func:`master_file` never raises for a bad file: the outcome's ``status`` is
``failed`` with the reason in ``error``, and nothing is left behind.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from audio.derived import mark_text
from audio.readers import DecodeError, open_reader
from base.fields import BANDS
from fpstream import __version__
from fpstream.master import rules
from fpstream.master.chain import (
    LIMITER_MARGIN_DB,
    LOUDNESS_TOLERANCE_LU,
    MAX_RENDERS,
    SKIP_WITHIN_LU,
    MasterError,
    Measured,
    Processing,
    measure,
    render,
)
from fpstream.master.eq import band_gains_db, solve_sections
from fpstream.master.fingerprint import Fingerprint, FingerprintError, fingerprint_of
from fpstream.master.targets import TARGETS  # noqa: F401  (re-exported: plan.TARGETS)
from fpstream.master.writer import AtomicPcmWriter

#: Named targets: integrated loudness (LUFS) and true-peak ceiling (dBTP).
#: The compressor starts this far above the track's integrated loudness (its loud passages only).
THRESHOLD_ABOVE_LOUDNESS_DB = 2.0


@dataclass(frozen=True)
class Request:
    """What the user asked for (the command's options)."""

    lufs: float | None  # None: the reference's loudness (with a reference) else the target's
    ceiling_dbtp: float
    preset: str = "auto"  # auto, punchy, warm, gentle, none
    intensity: float | None = None  # None: from the crest factor
    reference: Fingerprint | None = None
    reference_name: str | None = None
    max_eq_db: float = 3.0
    max_limit_db: float = 6.0
    force: bool = False
    dry_run: bool = False
    fmt: str = "wav"
    bits: int = 24


@dataclass
class Outcome:
    """One file's line of ``--json`` (see docs/mastering.md)."""

    input: str
    output: str | None = None
    status: str = "failed"  # mastered, capped, skipped, failed (planned with --dry-run)
    error: str | None = None
    dry_run: bool = False
    fingerprint: str | None = None  # library or analyzed
    preset: str | None = None
    intensity: float | None = None
    reasons: list[str] = field(default_factory=list)
    target_lufs: float | None = None
    ceiling_dbtp: float | None = None
    input_lufs: float | None = None
    input_true_peak_dbtp: float | None = None
    input_lra_lu: float | None = None
    output_lufs: float | None = None
    output_true_peak_dbtp: float | None = None
    output_lra_lu: float | None = None
    gain_db: float | None = None
    max_gain_reduction_db: float | None = None
    eq_db: dict[str, float] | None = None
    compression_ratio: float | None = None
    renders: int = 0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, float):
                out[key] = round(value, 3) if math.isfinite(value) else None
        return out


@dataclass(frozen=True)
class Decisions:
    preset: str
    intensity: float
    eq_db: np.ndarray
    processing: Processing
    target_lufs: float
    reasons: list[str]


def decide(fp: dict[str, float], request: Request, sample_rate: int) -> Decisions:
    """Preset, intensity, EQ and compression for a fingerprint, each with its reason."""
    reasons: list[str] = []
    if request.preset == "auto":
        choice = rules.choose_preset(fp)
        preset = str(choice.value)
        reasons.append(choice.reason)
    else:
        preset = request.preset
        reasons.append(f"preset {preset} (asked)")
    if request.intensity is None:
        by_crest = rules.intensity_from_crest(fp["crest_db"])
        intensity = float(by_crest.value)  # type: ignore[arg-type]
        reasons.append(by_crest.reason)
    else:
        intensity = request.intensity
        reasons.append(f"intensity {intensity:.2f} (asked)")
    shares = rules.band_shares(fp)
    if request.reference is not None:
        target_shares = rules.band_shares(request.reference.values)
        reasons.append(f"tonal balance toward the reference {request.reference_name}")
    else:
        target_shares = rules.preset_target_shares(fp, preset)
    eq_db = (
        np.zeros(7)
        if preset == "none"
        else band_gains_db(shares, target_shares, intensity, request.max_eq_db)
    )
    ratio = rules.compression_ratio(preset, fp["crest_db"], intensity)
    reasons.append(ratio.reason)
    if request.lufs is not None:
        target = request.lufs
    elif request.reference is not None:
        target = request.reference.values["lufs"]
        reasons.append(f"loudness of the reference: {target:.1f} LUFS")
    else:
        raise ValueError("no loudness target")
    processing = Processing(
        sections=solve_sections(eq_db, sample_rate, request.max_eq_db) if np.any(eq_db) else np.zeros((0, 6)),
        ratio=float(ratio.value),  # type: ignore[arg-type]
        threshold_db=fp["lufs"] + THRESHOLD_ABOVE_LOUDNESS_DB,
    )
    return Decisions(preset, intensity, eq_db, processing, target, reasons)


def _sample_rate(path: str) -> int:
    try:
        reader = open_reader(path)
    except DecodeError as exc:
        raise MasterError(str(exc)) from None
    try:
        return int(reader.samplerate)
    finally:
        reader.close()


def master_file(path: str, out: Path, db_path: Path, request: Request) -> Outcome:
    """Master ``path`` into ``out`` (written atomically); the outcome says what happened."""
    outcome = Outcome(input=path, dry_run=request.dry_run, ceiling_dbtp=request.ceiling_dbtp)
    try:
        _master(path, out, db_path, request, outcome)
    except (MasterError, FingerprintError) as exc:
        outcome.status, outcome.error, outcome.output = "failed", str(exc), None
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        outcome.status, outcome.output = "failed", None
        outcome.error = f"cannot write{where}: {exc.strerror or exc}"
    except (sf.LibsndfileError, RuntimeError) as exc:
        outcome.status, outcome.error, outcome.output = "failed", f"cannot write {out}: {exc}", None
    return outcome


def _master(path: str, out: Path, db_path: Path, request: Request, outcome: Outcome) -> None:
    fp = fingerprint_of(path, db_path)
    outcome.fingerprint = fp.source
    if fp.stored:
        outcome.reasons.append(fp.stored)
    d = decide(fp.values, request, _sample_rate(path))
    outcome.preset, outcome.intensity, outcome.target_lufs = d.preset, d.intensity, d.target_lufs
    outcome.reasons.extend(d.reasons)
    outcome.eq_db = {name: round(float(g), 2) for name, g in zip(BANDS, d.eq_db, strict=True)}
    outcome.compression_ratio = d.processing.ratio
    m = measure(path, d.processing)
    outcome.input_lufs = m.input.lufs
    outcome.input_true_peak_dbtp = m.input.true_peak_dbtp
    outcome.input_lra_lu = m.input.lra_lu
    if (
        not request.force
        and abs(m.input.lufs - d.target_lufs) <= SKIP_WITHIN_LU
        and m.input.true_peak_dbtp <= request.ceiling_dbtp
    ):
        outcome.status = "skipped"
        outcome.reasons.append(
            f"already {m.input.lufs:.1f} LUFS (within {SKIP_WITHIN_LU} LU of {d.target_lufs:.1f}) and "
            f"{m.input.true_peak_dbtp:.1f} dBTP (under {request.ceiling_dbtp:.1f}); --force masters it anyway"
        )
        return
    limiter_ceiling = request.ceiling_dbtp - LIMITER_MARGIN_DB
    gain, capped = _capped_gain(d.target_lufs - m.processed_lufs, m, limiter_ceiling, request.max_limit_db)
    outcome.gain_db = gain
    outcome.max_gain_reduction_db = max(0.0, m.processed_true_peak_dbtp + gain - limiter_ceiling) + 0.0
    outcome.status = "capped" if capped else "mastered"
    if capped:
        outcome.reasons.append(_cap_reason(request.max_limit_db))
    if request.dry_run:
        outcome.status = f"{outcome.status} (planned)"
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    # The mark (audio.derived) makes a later feed skip the output, and names its source.
    marks = (mark_text(__version__), mark_text(__version__, os.path.abspath(path)))
    writer = AtomicPcmWriter(out, m.sample_rate, m.channels, request.fmt, request.bits, marks)
    try:
        _render_until_right(path, writer, d, m, request, outcome, gain, capped, limiter_ceiling)
        outcome.output = str(writer.commit())
    finally:
        writer.discard()


def _capped_gain(gain: float, m: Measured, limiter_ceiling: float, max_limit_db: float) -> tuple[float, bool]:
    """The gain, lowered so the limiter's largest reduction stays within ``max_limit_db``."""
    most = limiter_ceiling + max_limit_db - m.processed_true_peak_dbtp
    return (most, True) if gain > most else (gain, False)


def _cap_reason(max_limit_db: float) -> str:
    return f"the target needs more than {max_limit_db:g} dB of limiting: mastered as loud as that allows"


def _render_until_right(
    path: str,
    writer: AtomicPcmWriter,
    d: Decisions,
    m: Measured,
    request: Request,
    outcome: Outcome,
    gain: float,
    capped: bool,
    limiter_ceiling: float,
) -> None:
    """Render; correct the gain toward the target and trim the limiter's ceiling, render again if needed.

    The gain correction is a secant step on the renders so far (output loudness against gain):
    under heavy limiting a dB of gain adds less than a dB of loudness, and the secant learns how much.
    """
    tried: list[tuple[float, float]] = []  # (gain dB, output LUFS) at the current limiter ceiling
    for attempt in range(1, MAX_RENDERS + 1):
        if attempt > 1:
            writer.restart()
        loud, reduction = render(path, writer, d.processing, gain, limiter_ceiling, m)
        outcome.renders = attempt
        outcome.gain_db, outcome.max_gain_reduction_db = gain, reduction
        outcome.output_lufs, outcome.output_true_peak_dbtp, outcome.output_lra_lu = (
            loud.lufs,
            loud.true_peak_dbtp,
            loud.lra_lu,
        )
        over = loud.true_peak_dbtp - request.ceiling_dbtp
        miss = d.target_lufs - loud.lufs
        if over > 0.0:
            limiter_ceiling -= over + 0.02  # the final trim: the limiter aims lower by the excess
            tried.clear()
            continue
        if capped or abs(miss) <= LOUDNESS_TOLERANCE_LU:
            return
        tried.append((gain, loud.lufs))
        slope = 1.0
        if len(tried) >= 2 and tried[-1][0] != tried[-2][0]:
            slope = (tried[-1][1] - tried[-2][1]) / (tried[-1][0] - tried[-2][0])
            slope = min(1.0, max(0.1, slope))  # a dB of gain adds at most a dB of loudness
        gain, capped = _capped_gain(gain + miss / slope, m, limiter_ceiling, request.max_limit_db)
        if capped:
            outcome.status = "capped"
            outcome.reasons.append(_cap_reason(request.max_limit_db))
    if outcome.output_true_peak_dbtp is not None and outcome.output_true_peak_dbtp > request.ceiling_dbtp:
        raise MasterError(
            f"output true peak {outcome.output_true_peak_dbtp:.2f} dBTP stays above the ceiling "
            f"after {MAX_RENDERS} renders"
        )
