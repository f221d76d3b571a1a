"""Chromaprint, the AcoustID fingerprint, computed from a track's PCM while it is decoded.

This is the *identity* fingerprint ("the same recording"), beside the 25
numbers that describe how a track sounds. libchromaprint (Debian's
``libchromaprint1``) is called through pyacoustid's ctypes binding
(``import chromaprint``), the one beets and MusicBrainz Picard's ecosystem
maintain.

A :class:`TrackPrint` is fed the decoded PCM of one track in order, block by
block, exactly as it comes out of the decoder, and finished once at the end.
Chromaprint keeps its own state (resampler, FFT frames, the filter window) from
one call to the next, so the result is a function of the contiguous sample
stream only: how the stream is cut into blocks, and so how ingest cuts it into
chunks, cannot change it (``tests/test_chromaprint.py`` checks this).

What is stored is the *raw* fingerprint: one 32-bit sub-fingerprint per
≈0.124 s (chromaprint's default algorithm, ``TEST2``: audio at 11025 Hz,
4096-sample frames, a hop of 1365.33 samples, 16 filters × 2 bits), packed as
little-endian ``uint32`` bytes. Like ``fpcalc`` and AcoustID, only the first
:data:`MAX_SECONDS` of a track are fingerprinted: enough to identify a recording,
and a bounded size per row (≈3.9 kB).
"""

from __future__ import annotations

import chromaprint
import numpy as np

from base.protocol import PCM_INT_UNIT

#: Seconds of audio fingerprinted from the start of a track (fpcalc's default ``-length``).
MAX_SECONDS = 120.0
#: Sub-fingerprints per second of audio: 11025 Hz / (4096 / 3) hop.
ITEMS_PER_SECOND = 11025 / (4096 / 3)
#: The wire and storage form of one sub-fingerprint.
ITEM_DTYPE = np.dtype("<u4")
#: Bytes a fingerprint of MAX_SECONDS takes, with room to spare (a protocol limit).
MAX_BYTES = 4 * (int(MAX_SECONDS * ITEMS_PER_SECOND) + 64)

ALGORITHM = chromaprint.Fingerprinter.ALGORITHM_DEFAULT  # TEST2: the algorithm AcoustID indexes


#: libchromaprint refuses rates up to this (and says so on stderr): such audio gets no fingerprint.
MIN_SAMPLE_RATE = 1000


class TrackPrint:
    """Chromaprint of one track, fed its decoded PCM in order.

    Parameters
    ----------
    sample_rate : int
        Of the PCM fed, in Hz.
    channels : int
        Interleaved channels of the PCM fed (chromaprint mixes them to mono).
    max_s : float
        Seconds fingerprinted from the start; later samples are ignored.

    Never raises: a track libchromaprint refuses (a rate of 1000 Hz or less) gets an
    empty fingerprint and :attr:`error` says why; its 25 values are not affected.
    """

    def __init__(self, sample_rate: int, channels: int, max_s: float = MAX_SECONDS) -> None:
        self.remaining = max(0, round(max_s * sample_rate))  # frames still wanted
        self.error: str | None = None
        self._printer: chromaprint.Fingerprinter | None = None
        if sample_rate <= MIN_SAMPLE_RATE:
            self.error = f"no Chromaprint: {sample_rate} Hz is below what libchromaprint takes"
            return
        self._printer = chromaprint.Fingerprinter(ALGORITHM)
        try:
            self._printer.start(sample_rate, channels)
        except chromaprint.FingerprintError:
            self._fail(f"libchromaprint cannot start at {sample_rate} Hz with {channels} channels")

    def _fail(self, why: str) -> None:
        self.error = f"no Chromaprint: {why}"
        self._printer = None

    def feed(self, pcm: np.ndarray) -> None:
        """Take the next ``(frames, channels)`` block: float32 PCM (full scale ±1), or the decoder's
        int16 or int32 samples (``base.protocol.PCM_INT_UNIT``); each gives the same fingerprint as
        the float32 the decoder would have given."""
        if self._printer is None or self.remaining == 0 or len(pcm) == 0:
            return
        block = pcm[: self.remaining]
        self.remaining -= len(block)
        if block.dtype == np.int16:
            ints = block.astype("<i2", copy=False)
        else:
            if block.dtype.kind == "i":  # int32 (24-bit sources): the float32 the decoder gives
                block = np.multiply(block, np.float32(PCM_INT_UNIT[block.dtype.newbyteorder("<").str]))
            # float32 from a 16-bit source is s/32768 exactly: rounding gives back the file's samples
            scaled = np.multiply(block, np.float32(32768.0), dtype=np.float32)
            np.rint(scaled, out=scaled)
            np.clip(scaled, -32768.0, 32767.0, out=scaled)
            ints = scaled.astype("<i2")
        try:
            self._printer.feed(np.ascontiguousarray(ints).tobytes())
        except chromaprint.FingerprintError:
            self._fail("libchromaprint refused a block of audio")

    def finish(self) -> bytes:
        """The raw fingerprint, little-endian uint32 sub-fingerprints; empty for a track too short
        to fingerprint (under about 3 s) or refused (:attr:`error`)."""
        if self._printer is None:
            return b""
        try:
            encoded = self._printer.finish()
        except chromaprint.FingerprintError:
            self._fail("libchromaprint could not finish the fingerprint")
            return b""
        self._printer = None
        if not encoded:
            return b""
        raw, _algorithm = chromaprint.decode_fingerprint(encoded)
        return np.asarray(raw, dtype=ITEM_DTYPE).tobytes()


def fingerprint_pcm(pcm: np.ndarray, sample_rate: int, max_s: float = MAX_SECONDS) -> bytes:
    """The raw Chromaprint of a whole ``(frames, channels)`` float32 track at ``sample_rate`` Hz."""
    printer = TrackPrint(sample_rate, pcm.shape[1], max_s)
    printer.feed(pcm)
    return printer.finish()


def items(raw: bytes) -> np.ndarray:
    """The sub-fingerprints of a stored raw fingerprint, as ``uint32``."""
    if len(raw) % ITEM_DTYPE.itemsize:
        raise ValueError(f"a raw chromaprint has a multiple of 4 bytes, not {len(raw)}")
    return np.frombuffer(raw, dtype=ITEM_DTYPE).astype(np.uint32)
