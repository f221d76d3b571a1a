"""Progress lines on stderr: at least every ``interval_s`` while running, and a final summary.

    1250/54756 (2.3%) done 1200 failed 2 skipped 48 in flight 8 | 3.1 tracks/s | 412× real time | ETA 4h 47m

``finished/total`` where finished = done + failed + skipped; ``total`` ends in
``+`` while paths are still being read (and the ETA is then ``?``). tracks/s
counts tracks the stack analysed (acknowledged done or failed, not skipped)
since the first was sent; × real time is the audio duration of the ``done``
tracks over the same wall time. On a terminal the line updates in place;
otherwise (honcho, a pipe, a log file) each update is a new line.
``PROGRESS_RE`` parses a line.
"""

from __future__ import annotations

import re
import time
from typing import TextIO

PROGRESS_RE = re.compile(
    r"(?P<finished>\d+)/(?P<total>\d+)(?P<reading>\+?) \((?P<pct>[\d.]+)%\) "
    r"done (?P<done>\d+) failed (?P<failed>\d+) skipped (?P<skipped>\d+) in flight (?P<in_flight>\d+) "
    r"\| (?P<rate>[\d.]+) tracks/s \| (?P<realtime>[\d.]+)× real time \| ETA (?P<eta>.+?)\s*$"
)


def format_duration(seconds: float) -> str:
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}h {s % 3600 // 60}m"
    if s >= 60:
        return f"{s // 60}m {s % 60}s"
    return f"{s}s"


class Progress:
    def __init__(self, stream: TextIO, interval_s: float = 2.0) -> None:
        self.stream = stream
        self.interval_s = interval_s
        self.tty = stream.isatty()
        self.started = time.monotonic()
        self.first_sent: float | None = None
        self.next_print = self.started + interval_s
        self.total = self.done = self.failed = self.skipped = 0
        self.warned = 0  # done, with a warning (e.g. truncated)
        self.audio_s = 0.0

    def finished(self, status: str, duration_s: float, warned: bool = False) -> None:
        if status == "done":
            self.done += 1
            self.warned += warned
            self.audio_s += duration_s
        else:
            self.failed += 1

    def line(self, in_flight: int, reading: bool, now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        finished = self.done + self.failed + self.skipped
        pct = 100.0 * finished / self.total if self.total else 100.0
        elapsed = now - self.first_sent if self.first_sent is not None else 0.0
        analysed = self.done + self.failed
        rate = analysed / elapsed if elapsed > 0 else 0.0
        realtime = self.audio_s / elapsed if elapsed > 0 else 0.0
        remaining = self.total - finished
        if remaining == 0 and not reading:
            eta = "0s"
        elif reading or rate == 0:
            eta = "?"
        else:
            eta = format_duration(remaining / rate)
        return (
            f"{finished}/{self.total}{'+' if reading else ''} ({pct:.1f}%) "
            f"done {self.done} failed {self.failed} skipped {self.skipped} in flight {in_flight} | "
            f"{rate:.1f} tracks/s | "
            f"{realtime:.0f}× real time | ETA {eta}"
        )

    def tick(self, in_flight: int, reading: bool, now: float) -> None:
        if now >= self.next_print:
            self.next_print = now + self.interval_s
            self._write(self.line(in_flight, reading, now))

    def summary(self, in_flight: int, reading: bool) -> None:
        now = time.monotonic()
        self._write(self.line(in_flight, reading, now))
        if self.tty:
            self.stream.write("\n")
        finished = self.done + self.failed + self.skipped
        self.stream.write(
            f"finished {finished} of {self.total} paths in {format_duration(now - self.started)}: "
            f"done {self.done} failed {self.failed} skipped {self.skipped}"
            + (f" ({self.warned} done with a warning: `fpstream show PATH`)" if self.warned else "")
            + "\n"
        )
        self.stream.flush()

    def _write(self, text: str) -> None:
        self.stream.write(f"\r{text}\x1b[K" if self.tty else f"{text}\n")
        self.stream.flush()
