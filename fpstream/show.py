"""Render one track's row for people: the 25 values by family, with units.

The seven families are those of docs/fingerprint.md (its table's rows 1–7, 8–10,
11–14, 15–17, 18–20, 21–23, 24–25). Next to each value, when the library holds
at least :data:`~fpstream.percentiles.MIN_ROWS_FOR_PERCENTILES` analysed tracks,
``show`` prints the value's percentile within the library: ``p90`` means 90 %
of the library's tracks have a lower value (ties count half).

Example output::

    /music/Artist/Album/01 Song.flac
      done, 3:41.9, 44100 Hz, 2 ch, analysed 2025-01-05T10:12:44.120Z, fingerprint v1
      percentiles (pNN: NN % of the library is lower) among 12,480 analysed tracks

    Frequency bands (share of total power)
      sub_bass_pct                   0.0412  fraction  p71
      ...

    Loudness and dynamics
      lufs                            -8.91  LUFS      p83
"""

from __future__ import annotations

import shlex
from typing import Any

import numpy as np

from base.durations import clock
from base.fields import FAMILIES as FIELD_FAMILIES
from base.fields import FEATURES, FIELDS, FINGERPRINT_VERSION, TAG_COLUMNS
from fpstream.percentiles import MIN_ROWS_FOR_PERCENTILES, percentile_ranks

#: The seven families of docs/fingerprint.md, in table order: (title, feature names), from FIELDS.
FAMILIES: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
    (family, tuple(f.name for f in FIELDS if f.family == family)) for family in FIELD_FAMILIES
)
assert tuple(n for _, names in FAMILIES for n in names) == FEATURES

#: Unit printed after each value, and the number of decimals it deserves (from base.fields.FIELDS).
UNITS: dict[str, tuple[str, int]] = {f.name: (f.unit, f.decimals) for f in FIELDS}


def render(row: dict[str, Any], library: np.ndarray | None = None) -> str:
    """The text ``fpstream show`` prints for ``row`` (a stored row as a dict).

    Parameters
    ----------
    row : dict
        A row of ``tracks`` (see :func:`store.library.get_row`).
    library : np.ndarray, shape (n, 25), optional
        Every analysed track's values, for percentiles. Percentiles are shown
        only if ``n >= MIN_ROWS_FOR_PERCENTILES`` and the row is ``done`` and
        of this program's fingerprint version (else ``library`` is not used).
    """
    lines = [row["path"], "  " + _summary(row), *tag_lines(row)]
    if row.get("cue_track") is not None:
        lines.append("  " + cue_line(row))
    if row.get("missing_since"):
        lines.append(
            f"  missing since {row['missing_since']}: the file is gone; left out of similar, playlist, "
            "duplicates and the report until it is back (`fpstream prune --delete` removes the row)"
        )
    if row.get("warning"):
        lines.append(f"  warning: {row['warning']}")
    if row.get("derived_from"):
        lines.append(f"  written by fpstream master from: {row['derived_from']}")
    if row.get("status") != "done":
        lines.append(f"  error: {row.get('error') or '(none recorded)'}")
        return "\n".join(lines) + "\n"
    values = np.array([row[name] for name in FEATURES], dtype=np.float64)
    ranks: dict[str, float] = {}
    n = 0 if library is None else int(library.shape[0])
    version = row.get("fingerprint_version")
    if version != FINGERPRINT_VERSION:
        older = isinstance(version, int) and version < FINGERPRINT_VERSION
        lines.append(
            f"  no percentiles: this track's fingerprint (v{version}) is {'older than' if older else 'not'} "
            f"this program's (v{FINGERPRINT_VERSION}); "
            f"re-analyse it with `echo {shlex.quote(row['path'])} | fpstream feed --force`"
        )
    elif n >= MIN_ROWS_FOR_PERCENTILES:
        ranks = dict(zip(FEATURES, percentile_ranks(library, values).tolist(), strict=True))
        lines.append(f"  percentiles (pNN: NN % of the library is lower) among {n:,} analysed tracks")
    else:
        lines.append(
            f"  no percentiles: the library has {n:,} analysed tracks of this fingerprint version "
            f"(needs {MIN_ROWS_FOR_PERCENTILES})"
        )
    width = max(len(name) for name in FEATURES) + 2
    for title, names in FAMILIES:
        lines.append("")
        lines.append(title)
        for name in names:
            unit, decimals = UNITS[name]
            text = f"  {name:<{width}}{row[name]:>12.{decimals}f}  {unit:<10}"
            if name in ranks:
                text += f"p{ranks[name]:.0f}"
            lines.append(text.rstrip())
    return "\n".join(lines) + "\n"


def tag_lines(row: dict[str, Any]) -> list[str]:
    """The track's tags, two lines at most (none for a file without tags):
    ``Artist - Title``, album (number, disc), date, genre, album artist; then the MusicBrainz ids."""
    if not any(row.get(c) for c in TAG_COLUMNS):
        return []
    from fpstream.names import display_name

    numbers = ", ".join(
        f"{label} {row[c]}" for label, c in (("track", "track_number"), ("disc", "disc_number")) if row.get(c)
    )
    album = row.get("album")
    parts = [display_name(row)]
    if album or numbers:
        parts.append(f"{album or '(no album)'}{f' ({numbers})' if numbers else ''}")
    parts += [str(row[c]) for c in ("date", "genre") if row.get(c)]
    if row.get("album_artist") and row.get("album_artist") != row.get("artist"):
        parts.append(f"album artist {row['album_artist']}")
    lines = ["  " + " · ".join(parts)]
    ids = [
        f"{label} {row[c]}"
        for label, c in (("recording", "musicbrainz_recording_id"), ("release", "musicbrainz_release_id"))
        if row.get(c)
    ]
    if ids:
        lines.append("  MusicBrainz " + ", ".join(ids))
    return lines


def percentile_columns(row: dict[str, Any], library: np.ndarray | None) -> dict[str, float | None]:
    """``NAME_percentile`` for each of the 25 values, as ``render`` shows them (None where it shows none)."""
    names = [f"{name}_percentile" for name in FEATURES]
    n = 0 if library is None else int(library.shape[0])
    usable = (
        row.get("status") == "done"
        and row.get("fingerprint_version") == FINGERPRINT_VERSION
        and n >= MIN_ROWS_FOR_PERCENTILES
    )
    if not usable:
        return dict.fromkeys(names)
    values = np.array([row[name] for name in FEATURES], dtype=np.float64)
    return dict(zip(names, percentile_ranks(library, values).tolist(), strict=True))


def _summary(row: dict[str, Any]) -> str:
    parts = [str(row.get("status"))]
    if row.get("duration_s") is not None:
        parts.append(clock(float(row["duration_s"])))
    if row.get("sample_rate") is not None:
        parts.append(f"{row['sample_rate']} Hz")
    if row.get("channels") is not None:
        parts.append(f"{row['channels']} ch")
    if row.get("analyzed_at"):
        parts.append(f"analysed {row['analyzed_at']}")
    if row.get("fingerprint_version") is not None:
        version = row["fingerprint_version"]
        note = "" if version == FINGERPRINT_VERSION else f" (this program writes v{FINGERPRINT_VERSION})"
        parts.append(f"fingerprint v{version}{note}")
    return ", ".join(parts)


def _span_clock(seconds: float) -> str:
    """m:ss.mmm: a cue point to the millisecond."""
    minutes, rest = divmod(seconds, 60.0)
    return f"{int(minutes)}:{rest:06.3f}"


def cue_line(row: dict[str, Any]) -> str:
    """What a cue track's row says about its place in the image: number, text, span."""
    image = row["path"].rsplit("#", 1)[0]
    text = " ".join(
        part
        for part in (
            f'"{row["cue_title"]}"' if row.get("cue_title") else "",
            f"by {row['cue_performer']}" if row.get("cue_performer") else "",
        )
        if part
    )
    start, end, rate = row.get("cue_start") or 0, row.get("cue_end"), row.get("sample_rate")
    if rate:
        stop = _span_clock(end / rate) if end is not None else "end"
        frames = f"frames {start}–{'' if end is None else end}"
        span = f"{_span_clock(start / rate)}–{stop} of the image ({frames})"
    else:
        span = f"frames {start}–{'end' if end is None else end} of the image"
    return f"track {row['cue_track']:02d} of the CUE sheet of {image}{': ' + text if text else ''}, {span}"
