"""Streaming decode: a file becomes numbered chunks of float32 PCM with pre-roll.

The file is read block by block with soundfile, so memory is one chunk plus its
pre-roll whatever the track's length. Each chunk carries ``preroll`` frames of
the samples before it, the context an analyzer needs to compute exactly the
frames it owns (filter state, STFT windows, median filters), so chunk size
never changes a result.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf

from base.protocol import DEFAULT_CHUNK_S, PCM_DTYPE, PREROLL_S, ChunkHeader, TrackRef, preroll_frames


class DecodeError(Exception):
    """A file that cannot be opened or decoded; the message is the row's error."""


def file_identity(path: str) -> tuple[int, int]:
    """``(size, mtime_ns)`` of a path, or DecodeError saying why it is not a readable file."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DecodeError("file not found") from None
    except PermissionError:
        raise DecodeError("permission denied") from None
    except OSError as exc:
        raise DecodeError(f"cannot stat: {exc.strerror or exc}") from None
    if Path(path).is_dir():
        raise DecodeError("is a directory, not an audio file")
    return st.st_size, st.st_mtime_ns


# Containers whose seek lands on the exact sample (uncompressed PCM, and FLAC's sample-accurate
# seek table search): a re-sent chunk seeks there. Other formats decode from the start and skip.
EXACT_SEEK_FORMATS = frozenset({"WAV", "WAVEX", "AIFF", "AU", "W64", "RF64", "CAF", "RAW", "FLAC"})


def iter_chunks(
    path: str,
    ref: TrackRef,
    chunk_s: float = DEFAULT_CHUNK_S,
    preroll_s: float = PREROLL_S,
    first: int = 0,
) -> Iterator[tuple[ChunkHeader, np.ndarray]]:
    """Yield ``(header, pcm)`` for each chunk of ``path`` from chunk ``first`` on; ``pcm`` is
    ``(preroll+frames, ch)``. Chunk ``i`` is the same whatever ``first`` is (a lost chunk is
    re-sent alone).

    Raises DecodeError (possibly after some chunks were yielded) if the file
    cannot be opened or its data cannot be decoded, whatever went wrong: a file
    that surprises libsndfile, or a bug here, is still just a failed row.
    """
    try:
        yield from _chunks(path, ref, chunk_s, preroll_s, first)
    except DecodeError:
        raise
    except Exception as exc:
        raise DecodeError(f"decode failed: {type(exc).__name__}: {exc}") from exc


def _chunks(
    path: str, ref: TrackRef, chunk_s: float, preroll_s: float, first: int = 0
) -> Iterator[tuple[ChunkHeader, np.ndarray]]:
    if ref.size == 0:
        raise DecodeError("empty file (0 bytes)")
    try:
        f = sf.SoundFile(os.fsencode(path))  # bytes: names that are not UTF-8 open too
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise DecodeError(f"not a readable audio file: {_describe(exc)}") from None
    except OSError as exc:
        raise DecodeError(f"cannot open: {exc.strerror or exc}") from None
    with f:
        sr, ch = int(f.samplerate), int(f.channels)
        if sr <= 0 or ch <= 0:
            raise DecodeError(f"invalid format: {sr} Hz, {ch} channels")
        chunk = max(1, round(chunk_s * sr))
        preroll_max = preroll_frames(sr, preroll_s)
        tail = np.zeros((0, ch), dtype=PCM_DTYPE)
        start, index = 0, 0
        if first > 0 and f.seekable() and f.format in EXACT_SEEK_FORMATS:
            start, index = first * chunk, first
            pre = min(start, preroll_max)
            try:
                f.seek(start - pre)
            except (sf.LibsndfileError, RuntimeError) as exc:
                raise DecodeError(f"cannot seek to chunk {first}: {_describe(exc)}") from None
            tail = _read(f, pre, start - pre)
            if len(tail) < pre:
                raise DecodeError(f"chunk {first} is beyond the end of the file")
        block = _read(f, chunk, start)
        while True:
            nxt = _read(f, chunk, start + len(block)) if len(block) == chunk else None
            last = nxt is None or len(nxt) == 0
            pcm = np.empty((len(tail) + len(block), ch), dtype=PCM_DTYPE)
            pcm[: len(tail)] = tail
            pcm[len(tail) :] = block
            header = ChunkHeader(
                ref=ref,
                index=index,
                last=last,
                sample_rate=sr,
                channels=ch,
                start=start,
                frames=len(block),
                preroll=len(tail),
            )
            if index >= first:
                yield header, pcm
            if last:
                if index < first:
                    raise DecodeError(f"chunk {first} is beyond the end of the file")
                return
            tail = pcm[max(0, len(pcm) - preroll_max) :].copy()
            start += len(block)
            index += 1
            block = nxt


def _read(f: sf.SoundFile, n: int, at: int) -> np.ndarray:
    try:
        return f.read(n, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise DecodeError(f"decode error after {at} frames: {_describe(exc)}") from None


def _describe(exc: BaseException) -> str:
    text = str(exc)
    # soundfile prefixes the path; the row already has it
    if ": " in text and text.startswith("Error opening"):
        text = text.split(": ", 1)[1]
    return text.strip() or type(exc).__name__
