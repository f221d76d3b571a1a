"""Analyse one file in this process: the stack's pipeline without the sockets.

:func:`analyze_file` runs exactly what the stack runs for a track, in the same
order, with the same code:

1. ``audio.decode.file_identity`` and ``audio.decode.iter_chunks``
   (streaming decode into chunks with pre-roll),
2. ``dsp.chunk.partial_for`` on every chunk (the analyzer's partial,
   or the track failed at that chunk),
3. a msgpack round trip of each partial through ``base.protocol``
   (what travels from analyzer to sink), so the merge sees the very bytes the
   sink would see,
4. ``dsp.fingerprint.fingerprint_or_error`` on the partials in chunk order, and
   ``store.db.track_row`` (the sink's merge and row),

and returns the row the sink would store. ``fpstream analyze`` prints these
rows; tests use it as the reference the stack must agree with.

Examples
--------
>>> row = analyze_file("song.flac")                      # doctest: +SKIP
>>> row["status"], row["lufs"]                           # doctest: +SKIP
('done', -9.84)
>>> analyze_file("missing.flac")["error"]                # doctest: +SKIP
'file not found'
"""

from __future__ import annotations

import dataclasses
import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from threadpoolctl import threadpool_limits

from audio.decode import DecodeError, file_identity, iter_chunks
from audio.identity import content_id
from audio.paths import stored_path
from audio.tags import read_tags
from base.protocol import (
    DEFAULT_CHUNK_S,
    PREROLL_S,
    Failed,
    Partial,
    TrackRef,
    decode_result,
    encode_partial,
)
from dsp.chunk import partial_for
from dsp.fingerprint import fingerprint_or_error
from dsp.stages import stage
from store import db as store

#: Column order of a row: the track columns, then the 25 values (as the sink stores them).
ROW_COLUMNS: tuple[str, ...] = store.COLUMNS


def analyze_file(
    path: str,
    chunk_s: float = DEFAULT_CHUNK_S,
    preroll_s: float = PREROLL_S,
    threads: int = 1,
) -> dict[str, Any]:
    """:func:`analyze_row` as a dict by column name (what ``fpstream analyze`` prints)."""
    return analyze_row(path, chunk_s, preroll_s, threads).as_dict()


def analyze_row(
    path: str,
    chunk_s: float = DEFAULT_CHUNK_S,
    preroll_s: float = PREROLL_S,
    threads: int = 1,
) -> store.Row:
    """Fingerprint one file into the row the sink would store; never raises for a bad file.

    Parameters
    ----------
    path : str
        The audio file. Stored as ``os.path.abspath(path)``, as ingest does
        (a name that is not UTF-8 keeps its odd bytes as ``\\xNN`` escapes).
    chunk_s, preroll_s : float
        Chunking, as in the stack. The result must not depend on ``chunk_s``
        (docs/fingerprint.md, "Whole-track, streamed"); changing it is a way to
        check that.
    threads : int
        Chunks analysed at once, each on its own thread (the kernels release
        the GIL), while this thread decodes the next one: use the number of
        cores. The result does not depend on it: partials are merged in chunk
        order, as the sink does. At most ``threads + 1`` chunks are in memory.

    Returns
    -------
    store.db.Row
        As the sink would store it (``store.db.done_row`` / ``failed_row``):
        ``status`` is ``'done'`` with the 25 values as finite floats, or
        ``'failed'`` with ``error`` saying why (the same words the stack uses).
    """
    real = os.path.abspath(path)
    ref = TrackRef(ingest="analyze", track=0, attempt=0, path=stored_path(path), size=-1, mtime_ns=-1)
    try:
        size, mtime_ns = file_identity(real)
    except DecodeError as exc:
        return store.failed_row(ref, str(exc))
    try:
        meta = {"content_id": content_id(real)}  # as ingest stores it: what a moved file keeps
    except OSError:
        meta = {}  # unreadable: decoding says why
    ref = dataclasses.replace(ref, size=size, mtime_ns=mtime_ns, meta=meta)
    threads = max(1, threads)
    # One BLAS thread per analysing thread: OpenBLAS's own threads would spin on the same cores.
    with threadpool_limits(1), ThreadPoolExecutor(max_workers=threads) as pool:
        return _analyze(real, ref, chunk_s, preroll_s, pool, threads)


def _analyze(
    real: str, ref: TrackRef, chunk_s: float, preroll_s: float, pool: ThreadPoolExecutor, threads: int
) -> store.Row:
    """The stored row for ``real``: ingest's decode, the analyzer's partials, the sink's merge."""
    bodies: list[dict[str, Any]] = []
    sample_rate = channels = 0
    pending: deque[Future[Partial | Failed]] = deque()

    def collect() -> Failed | None:
        """Wait for the oldest chunk in flight: its partial joins ``bodies``, or its Failed is returned."""
        result = pending.popleft().result()
        if isinstance(result, Failed):
            return result
        # What the sink receives: the partial after a msgpack round trip.
        bodies.append(decode_result(encode_partial(result)).body)
        return None

    def fail(error: str) -> store.Row:
        for future in pending:
            future.cancel()
        return store.failed_row(ref, error)

    chunks = iter_chunks(real, ref, chunk_s=chunk_s, preroll_s=preroll_s)
    while True:
        try:
            with stage("decode"):
                header, pcm = next(chunks)
        except StopIteration:
            break
        except DecodeError as exc:
            return fail(str(exc))
        sample_rate, channels = header.sample_rate, header.channels
        pending.append(pool.submit(partial_for, header, pcm))
        if len(pending) > threads and (failed := collect()) is not None:
            chunks.close()
            return fail(failed.error)
    while pending:
        if (failed := collect()) is not None:
            return fail(failed.error)
    merged = fingerprint_or_error(bodies, sample_rate, channels)
    return store.track_row(ref, sample_rate, channels, merged, read_tags(real))  # tags as ingest reads them
