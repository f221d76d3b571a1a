"""The two ways a duration is written for people, so every command writes them alike.

- :func:`span`: how long something took or will take (elapsed time, an ETA, an
  uptime): ``12s``, ``5m 07s``, ``1h 02m 05s``.
- :func:`clock`: how long a track is, as players show it: ``3:25.4``,
  ``1:30:00.0`` (a 90-minute track is not ``90:00.0``).
"""

from __future__ import annotations


def span(seconds: float) -> str:
    """Whole seconds, with minutes and hours when there are any.

    >>> span(12.4), span(307), span(3725)
    ('12s', '5m 07s', '1h 02m 05s')
    """
    s = int(round(seconds))
    hours, rest = divmod(s, 3600)
    minutes, sec = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {sec:02d}s"
    if minutes:
        return f"{minutes}m {sec:02d}s"
    return f"{sec}s"


def clock(seconds: float | None) -> str:
    """``m:ss.s`` below an hour, ``h:mm:ss.s`` from an hour on; ``?`` when unknown.

    >>> clock(205.44), clock(5400.0), clock(None)
    ('3:25.4', '1:30:00.0', '?')
    """
    if seconds is None:
        return "?"
    tenths = int(round(seconds * 10))
    minutes, tenth_s = divmod(tenths, 600)
    hours, minutes = divmod(minutes, 60)
    sec = tenth_s / 10
    if hours:
        return f"{hours}:{minutes:02d}:{sec:04.1f}"
    return f"{minutes}:{sec:04.1f}"
