"""Progress on stderr: one line updating in place on a terminal, plain lines otherwise, then a summary.

    12/63 (19.0%) done 10 failed 1 skipped 1 in flight 8 | 2.1 tracks/s | 310× real time | ETA 3m 05s

``finished/total``: finished = done + failed + skipped; total = every distinct
path read so far. While input is still open the total ends in ``+`` (more
may come) and the ETA is a lower bound (``ETA ≥3m 05s``, for the paths known
so far); once input has ended the total is final.

Rates are measured over the last ``WINDOW_S`` seconds, not since the start,
so they follow a machine that gets busier or a library whose second half is
longer. The ETA is in audio seconds: tracks differ in length, so what is left
is the known durations of the tracks in flight plus, for tracks not decoded
yet, the mean duration of the tracks done so far; divided by the audio
seconds analysed per wall second over the window. ``tracks/s`` counts tracks
the stack analysed (done or failed, not skipped); ``× real time`` is audio
seconds per wall second over the window.

``PROGRESS_RE`` parses a line.
"""

from __future__ import annotations

import logging
import re
import shutil
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TextIO

from audio.not_audio import summary as not_audio_summary
from base.durations import span

PROGRESS_RE = re.compile(
    r"(?P<finished>\d+)/(?P<total>\d+)(?P<reading>\+?) \((?P<pct>[\d.]+)%\) "
    r"done (?P<done>\d+) failed (?P<failed>\d+) skipped (?P<skipped>\d+) in flight (?P<in_flight>\d+) "
    r"\| (?P<rate>[\d.]+) tracks/s \| (?P<realtime>[\d.]+)× real time \| ETA (?P<eta>.+?)\s*$"
)

WINDOW_S = 60.0  # rates are measured over this many seconds of the recent past
SHOWN_FAILURES = 10  # failed paths named in the summary; the rest are counted
LIST_FAILED = 'fpstream export --format jsonl | grep \'"status": "failed"\''


@dataclass
class Failure:
    path: str
    error: str | None  # None until looked up in the database (a failure the stack decided)


@dataclass
class Progress:
    stream: TextIO
    interval_s: float = 2.0
    tty: bool = False
    started: float = field(default_factory=time.monotonic)
    first_sent: float | None = None
    total: int = 0  # distinct paths read so far
    done: int = 0
    failed: int = 0  # failed in this run
    skipped_done: int = 0  # done before, unchanged
    skipped_failed: int = 0  # failed before, unchanged (not retried)
    skipped_derived: int = 0  # written by fpstream master (audio.derived), not fed without --include-derived
    kept: int = 0  # moved, renamed or re-tagged: the stored fingerprint was kept, nothing analysed
    audio_s: float = 0.0  # audio seconds of the tracks done in this run
    warned: int = 0  # done in this run, with a warning (e.g. truncated)
    tags_added: int = 0  # done before and unchanged, whose tags were read now (a row from before tags)
    ignored: dict[str, int] = field(default_factory=dict)  # files that are not audio, by kind
    ignored_paths: list[tuple[str, str]] = field(default_factory=list)  # (path, kind), for --list-ignored
    failures: list[Failure] = field(default_factory=list)  # new failures, first SHOWN_FAILURES
    failed_before: list[Failure] = field(default_factory=list)  # skipped failures, first SHOWN_FAILURES
    _recent: deque[tuple[float, float]] = field(default_factory=deque)  # (when, audio s) per analysed track
    _next_print: float = 0.0
    _shown: str = ""  # the line on screen (a terminal), redrawn after a log message

    @classmethod
    def on(cls, stream: TextIO, interval_s: float | None = None) -> Progress:
        """Progress on ``stream``: every 2 s on a terminal, every 10 s into a pipe or file by default."""
        tty = stream.isatty()
        return cls(stream, interval_s if interval_s is not None else (2.0 if tty else 10.0), tty)

    @property
    def skipped(self) -> int:
        return self.skipped_done + self.skipped_failed + self.skipped_derived

    @property
    def finished_count(self) -> int:
        return self.done + self.failed + self.skipped + self.kept + sum(self.ignored.values())

    def ignore(self, path: str, kind: str, keep_path: bool) -> None:
        """A file that is not audio (``audio.not_audio``): counted by kind, never a row."""
        self.ignored[kind] = self.ignored.get(kind, 0) + 1
        if keep_path:
            self.ignored_paths.append((path, kind))

    # ------------------------------------------------------------ events

    def finished(
        self,
        status: str,
        duration_s: float,
        path: str = "",
        error: str | None = None,
        now: float | None = None,
        warned: bool = False,
    ) -> None:
        """A track analysed in this run was committed as ``status`` (done or failed), ``warned`` if done
        with a warning."""
        now = time.monotonic() if now is None else now
        if status == "done":
            self.done += 1
            self.warned += warned
            self.audio_s += duration_s
            self._recent.append((now, duration_s))
        else:
            self.failed += 1
            self._recent.append((now, 0.0))
            if len(self.failures) < SHOWN_FAILURES:
                self.failures.append(Failure(path, error))

    def skip(self, failed_before: bool, path: str = "", error: str | None = None) -> None:
        if not failed_before:
            self.skipped_done += 1
            return
        self.skipped_failed += 1
        if len(self.failed_before) < SHOWN_FAILURES:
            self.failed_before.append(Failure(path, error))

    # ------------------------------------------------------------ rates

    def rates(self, now: float) -> tuple[float, float]:
        """(tracks/s, audio s per wall s) over the last WINDOW_S seconds (or since the first send)."""
        while self._recent and self._recent[0][0] < now - WINDOW_S:
            self._recent.popleft()
        if self.first_sent is None:
            return 0.0, 0.0
        span = min(WINDOW_S, now - self.first_sent)
        if span <= 0:
            return 0.0, 0.0
        return len(self._recent) / span, sum(a for _, a in self._recent) / span

    def eta_s(self, now: float, in_flight_audio_s: float, in_flight_known: int) -> float | None:
        """Seconds until every path known now is finished, or None while there is nothing to go by."""
        remaining = self.total - self.finished_count
        if remaining <= 0:
            return 0.0
        track_rate, audio_rate = self.rates(now)
        if self.done and audio_rate > 0:
            mean_s = self.audio_s / self.done
            left_audio = in_flight_audio_s + max(0, remaining - in_flight_known) * mean_s
            return left_audio / audio_rate
        if track_rate > 0:  # nothing done yet, only failures: go by tracks
            return remaining / track_rate
        return None

    # ------------------------------------------------------------ output

    def line(
        self,
        in_flight: int,
        reading: bool,
        in_flight_audio_s: float = 0.0,
        in_flight_known: int = 0,
        now: float | None = None,
    ) -> str:
        now = time.monotonic() if now is None else now
        finished = self.finished_count
        pct = 100.0 * finished / self.total if self.total else 0.0
        track_rate, audio_rate = self.rates(now)
        eta = self.eta_s(now, in_flight_audio_s, in_flight_known)
        if eta is None:
            eta_text = "?"
        else:
            eta_text = ("≥" if reading else "") + span(eta)
        return (
            f"{finished}/{self.total}{'+' if reading else ''} ({pct:.1f}%) "
            f"done {self.done} failed {self.failed} skipped {self.skipped} in flight {in_flight} | "
            f"{track_rate:.{2 if track_rate < 1 else 1}f} tracks/s | "
            f"{audio_rate:.{1 if audio_rate < 10 else 0}f}× real time | ETA {eta_text}"
        )

    def due(self, now: float) -> bool:
        if now < self._next_print:
            return False
        self._next_print = now + self.interval_s
        return True

    def show(self, text: str) -> None:
        """Write a progress (or waiting) line: in place on a terminal, a new line otherwise."""
        if self.tty:
            width = shutil.get_terminal_size((200, 24)).columns - 1
            text = text[:width]  # a wrapped line could not be rewritten in place
            self._shown = text
            self.stream.write(f"\r{text}\x1b[K")
        else:
            self.stream.write(f"{text}\n")
        self.stream.flush()

    def end_line(self) -> None:
        """Leave the in-place line on screen and move below it."""
        if self.tty and self._shown:
            self.stream.write("\n")
            self.stream.flush()
            self._shown = ""

    def summary(
        self, line: str, interrupted: bool = False, database: str = "", stopped: bool = False
    ) -> None:
        """The last progress line, then what happened, naming failed paths (at most SHOWN_FAILURES)."""
        self.show(line)
        self.end_line()
        elapsed = span(time.monotonic() - self.started)
        out = []
        if interrupted or stopped:
            out.append(
                f"{'stopped' if stopped else 'interrupted'} after {elapsed}: {self.finished_count} of "
                f"{self.total} paths finished; committed rows are kept, run the same command again to finish "
                "the rest"
            )
        else:
            out.append(f"finished {self.finished_count} of {self.total} paths in {elapsed}")
        out.append(f"  done     {self.done:>6}   analysed now")
        if self.warned:
            warned = f"({self.warned} done with a warning: fpstream show PATH says why)"
            out.append(" " * 20 + warned)
        out.append(f"  failed   {self.failed:>6}   new failures in this run")
        out.append(f"  skipped  {self.skipped_done:>6}   done before, unchanged")
        if self.tags_added:
            out.append(" " * 20 + f"({self.tags_added} of them had their tags read now, without analysis)")
        if self.kept:
            out.append(f"  kept     {self.kept:>6}   moved, renamed or re-tagged: fingerprint kept")
        out.append(
            f"  skipped  {self.skipped_failed:>6}   failed before, unchanged (not retried; --retry-failed, "
            "or FPSTREAM_RETRY_FAILED=1 for make run, retries them)"
        )
        if self.skipped_derived:
            out.append(
                f"  skipped  {self.skipped_derived:>6}   files written by fpstream master "
                "(--include-derived feeds them)"
            )
        shown = 0
        for title, items, count in (
            ("failed now", self.failures, self.failed),
            ("failed before, unchanged", self.failed_before, self.skipped_failed),
        ):
            if not count:
                continue
            out.append(f"{title} ({count}):")
            for f in items[: SHOWN_FAILURES - shown]:
                out.append(f"  {f.path}: {f.error or 'failed (error not recorded)'}")
                shown += 1
        if self.failed + self.skipped_failed > shown:
            out.append(f"  … and {self.failed + self.skipped_failed - shown} more")
        if self.failed + self.skipped_failed:
            db = f"FPSTREAM_DB={database} " if database else ""
            out.append(f"every failed row, with its error: {db}{LIST_FAILED}")
        if self.ignored:
            listed = " (--list-ignored names them)" if not self.ignored_paths else ":"
            out.append(not_audio_summary(self.ignored) + listed)
            out.extend(f"  {path}  ({kind})" for path, kind in self.ignored_paths)
        if database:
            out.append(f"library: {database}")
        self.stream.write("\n".join(out) + "\n")
        self.stream.flush()

    # ------------------------------------------------------------ log lines between progress lines

    def log_handler(self, formatter: logging.Formatter) -> logging.Handler:
        """A handler that keeps the in-place line intact: clear it, write the message, redraw it."""
        return _AroundProgress(self, formatter)


class _AroundProgress(logging.Handler):
    def __init__(self, progress: Progress, formatter: logging.Formatter) -> None:
        super().__init__()
        self.progress = progress
        self.setFormatter(formatter)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            p = self.progress
            if p.tty and p._shown:
                p.stream.write(f"\r\x1b[K{text}\n{p._shown}")
            else:
                p.stream.write(f"{text}\n")
            p.stream.flush()
        except Exception:
            self.handleError(record)
