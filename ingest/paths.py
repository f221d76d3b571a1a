"""Paths to fingerprint, read from stdin or a named file/fifo without blocking the send loop.

Input is a byte stream of paths separated by newlines, or by NUL bytes
(``find -print0``; the only way to feed a path that contains a newline).
A thread reads it, so ingest keeps sending chunks and hearing acks while
``find`` is still walking the disk. It reads the file descriptor itself
(``os.read``), which returns whatever a pipe or terminal holds now: each path
is handed over as soon as its separator arrives, not when a 64 KiB block is
full. And no Python buffer lock is held while it waits, so the interpreter can
exit on Ctrl-C while the thread sits in a read of a terminal.

Paths may also be given as arguments (``fpstream feed DIR FILE...``), instead of
stdin. A path that is a folder, from either source, is walked
(:mod:`ingest.walk`): its files follow in a stable order, as they are found;
folders the walk skips (a symbolic-link loop, no permission) are collected in
``skipped`` for the caller to report.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading

from ingest.walk import Skipped, walk

READ_BYTES = 1 << 16


class PathReader:
    def __init__(self, source: str | None, nul: bool, arguments: list[str] | None = None) -> None:
        """``source``: a file or fifo to read, or None for stdin; ``arguments``: paths given on the
        command line, read instead of either."""
        self.source = source
        self.arguments = arguments or None
        self.sep = b"\0" if nul else b"\n"
        self.queue: queue.SimpleQueue[str | Skipped | BaseException | None] = queue.SimpleQueue()
        self.eof = False
        self.error: BaseException | None = None
        self.skipped: list[Skipped] = []  # folders the walks left out, in the order met
        self._thread = threading.Thread(target=self._read, name="path-reader", daemon=True)

    def start(self) -> PathReader:
        self._thread.start()
        return self

    def _read(self) -> None:
        try:
            if self.arguments is not None:
                for given in self.arguments:
                    self._put(given)
            elif self.source is None:
                self._split(0)  # stdin
            else:
                fd = os.open(self.source, os.O_RDONLY)  # a fifo blocks here until its writer opens it
                try:
                    self._split(fd)
                finally:
                    os.close(fd)
        except BaseException as exc:  # reported by the main loop, which owns the exit code
            self.queue.put(exc)
        self.queue.put(None)

    def _split(self, fd: int) -> None:
        rest = b""
        while block := os.read(fd, READ_BYTES):  # returns what is there now, one byte or many
            parts = (rest + block).split(self.sep)
            rest = parts.pop()
            for raw in parts:
                if raw:
                    self._put(os.fsdecode(raw))
        if rest:
            self._put(os.fsdecode(rest))

    def _put(self, path: str) -> None:
        """Hand over one path, or every file below it if it is a folder."""
        if not os.path.isdir(path):
            self.queue.put(path)
            return
        for item in walk(path):
            self.queue.put(item)

    def take(self, limit: int) -> list[str]:
        """Up to ``limit`` paths that have arrived, without waiting."""
        out: list[str] = []
        while len(out) < limit and not self.eof:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self.eof = True
            elif isinstance(item, Skipped):
                self.skipped.append(item)
            elif isinstance(item, BaseException):
                self.error = item
            else:
                out.append(item)
        return out


class SeenPaths:
    """Remembers which paths were already fed, in 16 bytes each (a 10⁶-track library costs ~60 MB).

    A BLAKE2b-128 digest: a collision among 10⁶ paths has probability ~10⁻²⁷.
    """

    def __init__(self) -> None:
        self._seen: set[bytes] = set()

    def add(self, path: str) -> bool:
        """True if ``path`` is new."""
        digest = hashlib.blake2b(os.fsencode(path), digest_size=16).digest()
        if digest in self._seen:
            return False
        self._seen.add(digest)
        return True
