"""Decoding threads for ingest: several tracks decode at once while one loop sends.

Each track being sent gets a thread that runs its chunk iterator
(``audio.decode.iter_chunks``) and leaves each decoded chunk in the track's
small buffer. libsndfile (cffi) and FFmpeg (PyAV) release the GIL while they
decode, and numpy while it copies, so ``threads`` tracks decode on up to
``threads`` cores; the Python between those calls is what still takes turns
(docs/performance.md has the measurements, against several ingest processes).

The ingest loop stays the only thread that touches sockets and the tracker:
it takes whichever chunk is ready (:meth:`DecodePool.take`, oldest track
first, each track's chunks in order), so chunks of different tracks
interleave on the wire, which the sink accepts as it accepts results that
overtake each other. A worker that has filled its buffer (``depth`` chunks)
waits, so memory is at most ``threads x (depth + 1)`` chunks. A worker writes
a byte to a pipe whenever it leaves something, so the loop's poll wakes for it
(:attr:`DecodePool.fd`).

A decode failure arrives as the track's last item (a ``DecodeError``), after
any chunks decoded before it, exactly as the iterator raised it.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

from audio.decode import DecodeError
from base.protocol import ChunkHeader

T = TypeVar("T")  # what the loop tracks per job (ingest's Track)

DEFAULT_DEPTH = 2  # decoded chunks a worker may hold ready: enough to cover the loop's turn
THREAD_NAME = b"fps-decode"  # what ps, top and the benchmark (/proc/PID/task/TID/comm) see

_LIBC = ctypes.CDLL(None) if sys.platform.startswith("linux") else None


def _name_this_thread() -> None:
    """Give the calling OS thread its name (Linux prctl PR_SET_NAME), so its CPU can be told apart."""
    if _LIBC is not None:
        _LIBC.prctl(15, ctypes.c_char_p(THREAD_NAME), 0, 0, 0)


@dataclass
class Job(Generic[T]):
    """One track decoding on its own thread."""

    owner: T
    chunks: Iterator[tuple[ChunkHeader, np.ndarray]]
    ready: deque[tuple[ChunkHeader, np.ndarray] | DecodeError] = field(default_factory=deque)
    ended: bool = False  # the worker has left its last item (or was cancelled)
    cancelled: bool = False
    thread: threading.Thread | None = None


class DecodePool(Generic[T]):
    """At most ``threads`` tracks decoding at once, each in its own thread, ``depth`` chunks ahead."""

    def __init__(self, threads: int, depth: int = DEFAULT_DEPTH) -> None:
        if threads < 1 or depth < 1:
            raise ValueError("a decode pool needs threads >= 1 and depth >= 1")
        self.threads = threads
        self.depth = depth
        self.jobs: list[Job[T]] = []  # in start order: the oldest track is sent first
        self._cv = threading.Condition()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)

    @property
    def fd(self) -> int:
        """Readable when a worker has left a chunk or a failure since the last :meth:`take`."""
        return self._wake_r

    def has_room(self) -> bool:
        return len(self.jobs) < self.threads

    def job_of(self, owner: T) -> Job[T] | None:
        return next((j for j in self.jobs if j.owner is owner), None)

    def start(self, owner: T, chunks: Iterator[tuple[ChunkHeader, np.ndarray]]) -> Job[T]:
        """Decode ``chunks`` (an un-started iterator: only the worker advances it) for ``owner``."""
        if not self.has_room():
            raise RuntimeError("the decode pool is full")
        job: Job[T] = Job(owner, chunks)
        job.thread = threading.Thread(target=self._work, args=(job,), name="decode", daemon=True)
        self.jobs.append(job)
        job.thread.start()
        return job

    def has_ready(self) -> bool:
        with self._cv:
            return any(j.ready for j in self.jobs)

    def take(self) -> tuple[Job[T], tuple[ChunkHeader, np.ndarray] | DecodeError] | None:
        """The next decoded item of the oldest track that has one, or None if none is ready.

        A job leaves the pool with its last chunk or its failure."""
        self.drain_wakeups()
        with self._cv:
            for job in self.jobs:
                if job.ready:
                    item = job.ready.popleft()
                    if isinstance(item, DecodeError) or item[0].last:
                        self.jobs.remove(job)
                    self._cv.notify_all()  # its worker may go on
                    return job, item
        return None

    def cancel(self, owner: T) -> bool:
        """Stop decoding ``owner``'s track (acknowledged meanwhile); False if it is not decoding."""
        with self._cv:
            job = self.job_of(owner)
            if job is None:
                return False
            job.cancelled = True
            job.ready.clear()
            self.jobs.remove(job)
            self._cv.notify_all()
        return True

    def close(self, timeout_s: float = 5.0) -> None:
        """Cancel every job and wait for the workers (each closes its file)."""
        with self._cv:
            jobs, self.jobs = self.jobs, []
            for job in jobs:
                job.cancelled = True
                job.ready.clear()
            self._cv.notify_all()
        for job in jobs:
            if job.thread is not None:
                job.thread.join(timeout_s)
        if all(j.thread is None or not j.thread.is_alive() for j in jobs):
            # (a worker still inside a decoder keeps the pipe: its fd number must not be reused under it)
            os.close(self._wake_r)
            os.close(self._wake_w)

    # ------------------------------------------------------------ the worker

    def _work(self, job: Job[T]) -> None:
        _name_this_thread()
        failure: DecodeError | None = None
        try:
            for item in job.chunks:
                with self._cv:
                    while len(job.ready) >= self.depth and not job.cancelled:
                        self._cv.wait()
                    if job.cancelled:
                        return
                    job.ready.append(item)
                    if item[0].last:
                        return
                self._wake()
            failure = DecodeError("decode failed: the decoder stopped before the last chunk")
        except DecodeError as exc:
            failure = exc
        except Exception as exc:  # a bug must still end as this track's failed row, not hang the loop
            failure = DecodeError(f"decode failed: {type(exc).__name__}: {exc}")
        finally:
            if failure is not None:
                with self._cv:
                    if not job.cancelled:
                        job.ready.append(failure)
            close = getattr(job.chunks, "close", None)
            if close is not None:
                close()  # a generator: closes its file, in the thread that ran it
            with self._cv:
                job.ended = True
            self._wake()

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"!")
        except (BlockingIOError, OSError):
            pass  # the pipe is full (the loop wakes anyway) or closed (the pool is closing)

    def drain_wakeups(self) -> None:
        """Empty the wake-up pipe. The loop calls it on every wake-up, whether it can send or not:
        a pipe left readable while the socket is full would make its poll return at once, a busy loop."""
        try:
            while os.read(self._wake_r, 4096):
                pass
        except (BlockingIOError, OSError):
            pass
