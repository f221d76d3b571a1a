"""Which file of a group of copies to keep, by a stated rule.

In order, the first that tells two files apart decides:

1. **an original over anything fpstream wrote** (a file tagged
   ``ENCODER=fpstream …`` or ``DERIVED_FROM=…``, ``audio/codec.py``, or whose row
   names a source in ``derived_from``). This comes first, whatever the rest
   says, so the rule never suggests deleting an original in favour of a derived
   file: a mastered WAV is lossless and would win every later step;
2. **lossless over lossy** (FLAC, WAV, ALAC, WavPack… over MP3, AAC, Opus,
   Vorbis, WMA);
3. **the higher bit rate** (kbit/s, rounded: a lossy file's average rate; for a
   lossless one the PCM it holds, so 24-bit beats 16-bit and a WAV ties the FLAC
   of the same audio);
4. **the longer** (duration rounded to 0.1 s: a trimmed copy loses);
5. then, for files still tied, the smaller file (the same audio in less space:
   FLAC over WAV), then the path, so the choice is always the same.

A file that cannot be read now (moved, deleted) is never the one kept.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    """What the rule looks at in one file."""

    path: str
    readable: bool
    derived: bool
    lossless: bool
    bit_rate: int | None  # bits per second
    duration_s: float | None
    size: int | None


def _kbps(c: Candidate) -> int:
    return round((c.bit_rate or 0) / 1000)


def _tenths(c: Candidate) -> int:
    return round((c.duration_s or 0.0) * 10)


def rank_key(c: Candidate) -> tuple[object, ...]:
    """Sort key: the file to keep sorts first."""
    return (not c.readable, c.derived, not c.lossless, -_kbps(c), -_tenths(c), c.size or 0, c.path)


def order(candidates: list[Candidate]) -> list[Candidate]:
    """``candidates``, the one to keep first, then the others by the same rule."""
    return sorted(candidates, key=rank_key)


def reason(kept: Candidate, runner_up: Candidate) -> str:
    """Which step of the rule chose ``kept`` over the next best file, in words."""
    if runner_up.readable is False and kept.readable:
        return "the other files cannot be read now"
    if kept.derived != runner_up.derived:
        return "an original over files fpstream wrote"
    if kept.lossless != runner_up.lossless:
        return "lossless over lossy"
    if _kbps(kept) != _kbps(runner_up):
        return f"higher bit rate ({_kbps(kept)} vs {_kbps(runner_up)} kbit/s)"
    if _tenths(kept) != _tenths(runner_up):
        return f"longer ({_tenths(kept) / 10:.1f} vs {_tenths(runner_up) / 10:.1f} s)"
    if (kept.size or 0) != (runner_up.size or 0):
        return "the same audio in a smaller file"
    return "tied on every step: the first by path"
