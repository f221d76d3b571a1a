"""The mastering chain, streamed in blocks: EQ → compressor → gain → true-peak limiter → writer.

Two kinds of pass over the file, each reading it block by block (memory does not
grow with the track's length):

1. :func:`measure` — the input's loudness, true peak and loudness range, and the
   loudness and true peak after EQ and compression (what the gain is computed from).
2. :func:`render` — the whole chain into a temporary file, measuring the output as
   written (after quantisation). If the output misses the target by more than
   :data:`LOUDNESS_TOLERANCE_LU` (the limiter took some loudness away) the gain is
   corrected and the file rendered again; if its true peak exceeds the ceiling, the
   limiter's ceiling is lowered by the excess and the file rendered again (the trim).

Loudness is the analyzer's BS.1770-4 meter (:mod:`fpstream.master.meter`), true peak
the BS.1770-4 Annex 2 meter (:mod:`fpstream.master.truepeak`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from audio.readers import DecodeError, open_reader
from fpstream.master.compressor import Compressor
from fpstream.master.eq import ToneEq
from fpstream.master.limiter import TruePeakLimiter
from fpstream.master.meter import Loudness, LoudnessMeter
from fpstream.master.writer import AtomicPcmWriter

BLOCK_FRAMES = 65_536
#: The shortest input whose integrated loudness exists (one 400 ms gating block).
MIN_SECONDS = 0.4
#: The limiter aims this far under the ceiling: other 4x meters (libebur128's interpolator
#: is not the Annex 2 filter) read a few hundredths of a dB differently on high frequencies.
LIMITER_MARGIN_DB = 0.1
#: Render again with a corrected gain while the output misses the target by more than this.
LOUDNESS_TOLERANCE_LU = 0.05
MAX_RENDERS = 4
SKIP_WITHIN_LU = 0.5


class MasterError(Exception):
    """A file that cannot be mastered; the message says why."""


@dataclass(frozen=True)
class Processing:
    """What the chain does before the gain: EQ sections and compressor settings."""

    sections: np.ndarray  # (k, 6) second-order sections, may be empty
    ratio: float
    threshold_db: float  # mean-square level per channel, dB re full scale

    @property
    def is_identity(self) -> bool:
        """No EQ and no compression: the signal reaches the gain as it is."""
        return len(self.sections) == 0 and self.ratio <= 1.0

    def stages(self, sample_rate: int, channels: int) -> list[Callable[[np.ndarray], np.ndarray]]:
        if self.is_identity:
            return []
        eq = ToneEq(self.sections, channels)
        comp = Compressor(sample_rate, self.threshold_db, self.ratio)
        return [eq.process, comp.process]


@dataclass(frozen=True)
class Measured:
    sample_rate: int
    channels: int
    frames: int
    input: Loudness
    processed_lufs: float
    processed_true_peak_dbtp: float


@dataclass
class Rendered:
    output: Loudness
    gain_db: float
    max_gain_reduction_db: float
    renders: int = 0
    notes: list[str] = field(default_factory=list)


def read_blocks(path: str, frames: int = BLOCK_FRAMES) -> Iterator[tuple[int, int, np.ndarray]]:
    """``(sample_rate, channels, block)`` for consecutive ``(n, ch)`` float64 blocks of ``path``.

    Read through ingest's readers (``audio.readers.open_reader``: libsndfile or
    FFmpeg, chosen by the file's signature), so every format the library
    fingerprints (M4A/AAC, WMA, Opus, MP3... ) can be mastered, decoded the same way.
    """
    try:
        reader = open_reader(path)
    except DecodeError as exc:
        raise MasterError(str(exc)) from None
    try:
        sr, ch = int(reader.samplerate), int(reader.channels)
        while True:
            try:
                block = reader.read(frames)
            except DecodeError as exc:
                raise MasterError(str(exc)) from None
            if len(block) == 0:
                return
            yield sr, ch, block.astype(np.float64)
            if len(block) < frames:
                return
    finally:
        reader.close()


def measure(path: str, processing: Processing) -> Measured:
    """Pass 1: the input's loudness, and the loudness and true peak after EQ and compression."""
    meters: tuple[LoudnessMeter, LoudnessMeter] | None = None
    stages: list[Callable[[np.ndarray], np.ndarray]] = []
    frames = sr = ch = 0
    for sr, ch, block in read_blocks(path):
        if meters is None:
            first = LoudnessMeter(sr, ch)
            meters = (first, first if processing.is_identity else LoudnessMeter(sr, ch))
            stages = processing.stages(sr, ch)
        meters[0].add(block)
        for stage in stages:
            block = stage(block)
        if meters[1] is not meters[0]:
            meters[1].add(block)
        frames += len(block)
    if meters is None or frames < MIN_SECONDS * sr:
        ms = 1000.0 * frames / sr if sr else 0.0
        raise MasterError(
            f"too short: {ms:.0f} ms; loudness needs at least {MIN_SECONDS * 1000:.0f} ms of audio"
        )
    before = meters[0].finish()
    after = before if meters[1] is meters[0] else meters[1].finish()
    if before.lufs <= -70.0 or after.lufs <= -70.0:
        raise MasterError("silent: no 400 ms block is louder than -70 LUFS, there is nothing to master")
    return Measured(sr, ch, frames, before, after.lufs, after.true_peak_dbtp)


def render(
    path: str,
    writer: AtomicPcmWriter,
    processing: Processing,
    gain_db: float,
    limiter_ceiling_dbtp: float,
    measured: Measured,
) -> tuple[Loudness, float]:
    """Pass 2: the chain into ``writer``; returns the output's measurement and the limiter's
    largest gain reduction (dB). The limiter's latency is compensated: the output has exactly
    the input's frames, aligned with it."""
    sr, ch = measured.sample_rate, measured.channels
    stages = processing.stages(sr, ch)
    gain = 10.0 ** (gain_db / 20.0)
    limiter = TruePeakLimiter(sr, ch, limiter_ceiling_dbtp)
    meter = LoudnessMeter(sr, ch)
    late = limiter.latency  # output samples still to drop at the start

    def emit(block: np.ndarray) -> None:
        nonlocal late
        out = limiter.process(block)
        if late:
            drop = min(late, len(out))
            out, late = out[drop:], late - drop
        if len(out):
            meter.add(writer.write(out))

    for _, _, block in read_blocks(path):
        for stage in stages:
            block = stage(block)
        emit(block * gain)
    emit(np.zeros((limiter.latency, ch)))
    return meter.finish(), limiter.max_reduction_db
