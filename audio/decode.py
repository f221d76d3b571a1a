"""Streaming decode: a file becomes numbered chunks of PCM with pre-roll.

The file is read block by block through :func:`audio.readers.open_reader`
(libsndfile or FFmpeg, chosen per format), so memory is one chunk plus its
pre-roll whatever the track's length. Each chunk carries ``preroll`` frames of
the samples before it, the context an analyzer needs to compute exactly the
frames it owns (filter state, STFT windows, median filters), so chunk size
never changes a result.

While it decodes a track from its start, each decoded block also goes, in
order, to the track's Chromaprint (:class:`audio.chromaprint.TrackPrint`), and
the finished fingerprint rides on the last chunk's header: the identity
fingerprint costs no second read of the file, and since it is fed the
contiguous decode, not the chunks, the chunk size cannot change it either.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from audio.chromaprint import TrackPrint
from audio.readers import DecodeError, open_reader
from base.protocol import DEFAULT_CHUNK_S, PREROLL_S, ChunkHeader, TrackRef, preroll_frames

__all__ = ["DecodeError", "file_identity", "iter_chunks"]


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


def iter_chunks(
    path: str,
    ref: TrackRef,
    chunk_s: float = DEFAULT_CHUNK_S,
    preroll_s: float = PREROLL_S,
    first: int = 0,
    span: tuple[int, int | None] | None = None,
    dtype: str = "float32",
) -> Iterator[tuple[ChunkHeader, np.ndarray]]:
    """Yield ``(header, pcm)`` for each chunk of ``path`` from chunk ``first`` on; ``pcm`` is
    ``(preroll+frames, ch)`` float32 full scale ±1, or with ``dtype="native"`` the decoder's own
    samples where they are integers (int16, or int32 for 24-bit; ``dsp.chunk.pcm_float32``
    gives back exactly the float32), else float32; ``header.dtype`` says which. Chunk ``i`` is
    the same whatever ``first`` is (a lost chunk is
    re-sent alone): a reader whose seek is sample-exact seeks to it, the others decode from the
    start and skip. Only a decode from the start (``first == 0``) gives the last header the
    track's ``chromaprint``; otherwise it is ``b""`` (ingest keeps the first one).

    ``span``: ``(start, end)`` frames of the file (``end`` None: to its end), a CUE sheet's
    track. The chunks are then exactly those of the span cut out into a file of its own:
    ``start`` counts from the span's first frame, and no pre-roll reaches before it.

    Raises DecodeError (possibly after some chunks were yielded) if the file
    cannot be opened or its data cannot be decoded, whatever went wrong: a file
    that surprises libsndfile, or a bug here, is still just a failed row.
    """
    try:
        yield from _chunks(path, ref, chunk_s, preroll_s, first, span, dtype)
    except DecodeError:
        raise
    except Exception as exc:
        raise DecodeError(f"decode failed: {type(exc).__name__}: {exc}") from exc


def _chunks(
    path: str,
    ref: TrackRef,
    chunk_s: float,
    preroll_s: float,
    first: int = 0,
    span: tuple[int, int | None] | None = None,
    dtype: str = "float32",
) -> Iterator[tuple[ChunkHeader, np.ndarray]]:
    if dtype not in ("float32", "native"):
        raise ValueError(f"dtype {dtype!r}: expected 'float32' or 'native'")
    if ref.size == 0:
        raise DecodeError("empty file (0 bytes)")
    reader = open_reader(path)
    if span is not None:
        reader = SpanReader(reader, span[0], span[1])
    try:
        sr, ch = reader.samplerate, reader.channels
        kind = np.dtype(reader.native_dtype if dtype == "native" else "float32").newbyteorder("<")
        chunk = max(1, round(chunk_s * sr))
        preroll_max = preroll_frames(sr, preroll_s)
        tail = np.zeros((0, ch), dtype=kind)
        start, index = 0, 0
        printer = TrackPrint(sr, ch) if first == 0 else None
        if first > 0 and reader.exact_seek:
            start, index = first * chunk, first
            pre = min(start, preroll_max)
            reader.seek(start - pre)
            tail = reader.read(pre, kind.name)
            if len(tail) < pre:
                raise DecodeError(f"chunk {first} is beyond the end of the file")
        block = reader.read(chunk, kind.name)
        while True:
            nxt = reader.read(chunk, kind.name) if len(block) == chunk else None
            last = nxt is None or len(nxt) == 0
            if printer is not None:
                printer.feed(block)
            pcm = np.empty((len(tail) + len(block), ch), dtype=kind)
            pcm[: len(tail)] = tail
            pcm[len(tail) :] = block
            # the last chunk tells what the reader noticed once the whole stream was read
            notes = list(reader.warnings(start + len(block))) if last else []
            chromaprint = printer.finish() if last and printer is not None else b""
            if last and printer is not None and printer.error:
                notes.append(printer.error)
            warning = "; ".join(notes)
            if last and start + len(block) == 0 and warning.startswith("truncated"):
                raise DecodeError(f"{warning}: no audio decodes")  # nothing to fingerprint
            header = ChunkHeader(
                ref=ref,
                index=index,
                last=last,
                sample_rate=sr,
                channels=ch,
                start=start,
                frames=len(block),
                preroll=len(tail),
                dtype=kind.str,
                warning=warning,
                chromaprint=chromaprint,
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
    finally:
        reader.close()


class SpanReader:
    """A reader limited to frames ``[start, end)`` of another, seen as a file of its own.

    Frame 0 is the span's first frame and reading stops at ``end`` (None: the end
    of the file). A reader without sample-exact seek decodes from the start of
    the file and discards what lies before the span: slower for a late track of
    a long image, but exactly the samples a cut-out file would hold.
    """

    def __init__(self, inner: Any, start: int, end: int | None) -> None:
        if start < 0 or (end is not None and end <= start):
            inner.close()
            raise DecodeError(f"empty or reversed span [{start}, {end}) of the image")
        self.inner, self.start, self.end = inner, start, end
        self.name, self.samplerate, self.channels = inner.name, inner.samplerate, inner.channels
        self.exact_seek = inner.exact_seek
        self.native_dtype = inner.native_dtype
        self._at = 0  # frames of the span read so far
        self._skip(start)

    def _skip(self, start: int) -> None:
        if self.inner.exact_seek:
            self.inner.seek(start)
            return
        step = max(1, self.samplerate * 10)
        left = start
        while left > 0:
            got = len(self.inner.read(min(step, left)))
            if got == 0:
                raise DecodeError(f"the cue track starts at {start / self.samplerate:.2f} s, "
                                  "beyond the end of the image")
            left -= got

    def seek(self, frame: int) -> None:
        self.inner.seek(self.start + frame)
        self._at = frame

    def read(self, n: int, dtype: str = "float32") -> np.ndarray:
        if self.end is not None:
            n = max(0, min(n, self.end - self.start - self._at))
        block = self.inner.read(n, dtype) if n > 0 else np.zeros((0, self.channels), dtype=dtype)
        self._at += len(block)
        return block

    def warnings(self, decoded: int) -> list[str]:
        if self.end is not None and decoded < self.end - self.start:
            return [f"truncated: the image ends {(self.end - self.start - decoded) / self.samplerate:.1f} s "
                    "before this cue track does"]
        # the inner reader judges the image as a whole (a truncated image, skipped packets)
        return self.inner.warnings(self.start + decoded) if self.end is None else []

    def close(self) -> None:
        self.inner.close()
