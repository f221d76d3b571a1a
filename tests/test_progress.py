"""The progress line and summary (ingest/progress.py): totals, the windowed ETA in audio seconds, failures."""

from __future__ import annotations

import io

import pytest

from ingest.progress import PROGRESS_RE, SHOWN_FAILURES, WINDOW_S, Progress


def fields(p: Progress, in_flight: int = 0, reading: bool = False, now: float = 0.0, **kw: float) -> dict:
    m = PROGRESS_RE.search(p.line(in_flight, reading, now=now, **kw))
    assert m, p.line(in_flight, reading, now=now, **kw)
    return m.groupdict()


def test_the_total_is_marked_until_input_ends_and_the_eta_is_then_a_lower_bound() -> None:
    p = Progress(io.StringIO(), started=0.0, first_sent=0.0)
    p.total = 4
    for t in (10.0, 20.0):
        p.finished("done", 100.0, now=t)
    open_input = fields(p, 2, reading=True, now=20.0)
    assert (open_input["finished"], open_input["total"], open_input["reading"]) == ("2", "4", "+")
    assert open_input["eta"].startswith("≥")
    final = fields(p, 2, reading=False, now=20.0)
    assert (final["total"], final["reading"], final["pct"]) == ("4", "", "50.0")
    # 200 audio seconds in 20 s = 10x real time; 2 tracks left at the mean 100 s of audio: 20 s
    assert (final["realtime"], final["eta"]) == ("10", "20s")


def test_the_eta_uses_known_durations_and_the_recent_rate() -> None:
    p = Progress(io.StringIO(), started=0.0, first_sent=0.0)
    p.total = 12
    for i in range(10):  # 10 short tracks early on, at 1 track per second
        p.finished("done", 60.0, now=float(i + 1))
    # later, the machine got slower: one track of 60 s in the last window
    late = 10.0 + 2 * WINDOW_S
    p.finished("done", 60.0, now=late)
    rate, audio_rate = p.rates(late)
    assert rate == pytest.approx(1 / WINDOW_S) and audio_rate == pytest.approx(60 / WINDOW_S)
    # one track left, in flight with a known duration of 600 s: 600 / (60 / WINDOW_S) seconds
    assert p.eta_s(late, in_flight_audio_s=600.0, in_flight_known=1) == pytest.approx(600 * WINDOW_S / 60)
    # not decoded yet: counted at the mean duration of the done tracks (60 s)
    assert p.eta_s(late, 0.0, 0) == pytest.approx(60 * WINDOW_S / 60)


def test_no_eta_before_anything_finished_and_zero_at_the_end() -> None:
    p = Progress(io.StringIO(), started=0.0, first_sent=0.0)
    p.total = 3
    assert fields(p, 3, now=5.0)["eta"] == "?"
    p.skip(failed_before=False)
    p.skip(failed_before=True, path="/m/bad.ogg", error="empty file (0 bytes)")
    p.finished("failed", 0.0, "/m/x.ogg", "file not found", now=6.0)
    f = fields(p, 0, now=6.0)
    assert (f["finished"], f["failed"], f["skipped"], f["eta"]) == ("3", "1", "2", "0s")


def test_the_summary_names_failures_separately_and_at_most_ten() -> None:
    out = io.StringIO()
    p = Progress(out, started=0.0, first_sent=0.0)
    p.total = 15
    for i in range(12):
        p.finished("failed", 0.0, f"/m/new{i:02d}.ogg", "not a readable audio file", now=1.0)
    p.skip(failed_before=True, path="/m/old.ogg", error="empty file (0 bytes)")
    p.skip(failed_before=False)
    p.skip(failed_before=False)
    p.summary(p.line(0, False, now=2.0), database="/home/me/lib.db")
    text = out.getvalue()
    assert "failed now (12):" in text and "failed before, unchanged (1):" in text
    named = [line for line in text.splitlines() if line.startswith("  /m/")]
    assert len(named) == SHOWN_FAILURES == 10
    assert "  /m/new00.ogg: not a readable audio file" in named
    assert "… and 3 more" in text
    assert "FPSTREAM_DB=/home/me/lib.db fpstream export --format jsonl" in text
    assert text.count("skipped") >= 2 and "done before, unchanged" in text


def test_on_a_terminal_the_line_is_rewritten_in_place_and_log_lines_go_above_it() -> None:
    import logging

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Tty()
    p = Progress.on(out)
    assert (p.tty, p.interval_s) == (True, 2.0)
    p.show("1/2 (50.0%) …")
    handler = p.log_handler(logging.Formatter("%(message)s"))
    handler.emit(logging.LogRecord("ingest", logging.WARNING, "", 0, "the stack is incomplete", None, None))
    assert out.getvalue() == "\r1/2 (50.0%) …\x1b[K\r\x1b[Kthe stack is incomplete\n1/2 (50.0%) …"
    assert Progress.on(io.StringIO()).interval_s == 10.0  # a pipe or a log: fewer, plain lines
