"""``fpstream playlist``: a smooth sequence from a seed, or a path from one track to another."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TextIO

from fpstream.cli_args import UserError, database, db_option, format_option, formatter, positive_int, weights
from fpstream.thresholds import DEFAULT_MAX_DISTANCE

COLUMNS = ("position", "step", "to_target", "duration_s", "path")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "playlist",
        formatter_class=formatter,
        help="a playlist that moves smoothly from SEED (or from SEED to --to TRACK)",
        description=(
            "Build a playlist from SEED through the fingerprint space (the distance of\n"
            "`fpstream similar`):\n\n"
            "  without --to  N tracks: each next one is the not-yet-played track nearest to\n"
            "                the current one, so every step is short;\n"
            "  --to TRACK    at most N tracks from SEED to TRACK: every track is closer to TRACK\n"
            "                than the one before, and the largest step is as small as possible.\n\n"
            "No track appears twice, and neither do two copies of one recording (tracks within\n"
            f"the duplicates distance, {DEFAULT_MAX_DISTANCE:g}, of one already listed).\n\n"
            "Output: a table (position, step = distance from the previous track, distance to\n"
            "the target, duration, path), json/jsonl/csv, or extended M3U (--format m3u, or\n"
            "--m3u FILE to write a playlist file for a player)."
        ),
        epilog=(
            "examples:\n"
            "  fpstream playlist ~/Music/a.flac -n 30\n"
            "  fpstream playlist ~/Music/calm.flac --to ~/Music/loud.flac -n 12 --m3u warmup.m3u\n"
            "  fpstream playlist ~/Music/a.flac --format m3u > a.m3u\n"
            "  fpstream playlist ~/Music/a.flac --format jsonl | jq -r .path\n\n"
            "The 25 numbers are defined in docs/fingerprint.md."
        ),
    )
    p.add_argument("seed", metavar="SEED", help="the first track (an analysed track of the library)")
    p.add_argument("-n", type=positive_int, default=20, metavar="N", help="tracks to list (default 20)")
    p.add_argument("--to", metavar="TRACK", help="end at TRACK, getting closer to it at every step")
    p.add_argument("--m3u", metavar="FILE", type=Path, help="also write the playlist to FILE as extended M3U")
    p.add_argument(
        "--weights", type=weights, default="default", metavar="SPEC", help="as for `fpstream similar`"
    )
    format_option(p, extra=("m3u",))
    db_option(p)
    p.set_defaults(run=run)


def write_m3u(entries: list, out: TextIO) -> None:
    """Extended M3U: ``#EXTM3U``, then ``#EXTINF:<seconds>,<title>`` and the path per track."""
    out.write("#EXTM3U\n")
    for e in entries:
        seconds = -1 if e.duration_s is None else round(e.duration_s)
        title = Path(e.path).stem.replace("\n", " ")
        out.write(f"#EXTINF:{seconds},{title}\n{e.path}\n")


def run(args: argparse.Namespace) -> int:
    from fpstream.api import Library
    from fpstream.output import write_records

    entries = Library(database(args), weights=args.weights).playlist(args.seed, n=args.n, to=args.to)
    if args.m3u is not None:
        tmp = args.m3u.with_name(f".{args.m3u.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as out:
                write_m3u(entries, out)
            os.replace(tmp, args.m3u)
        except OSError as exc:
            raise UserError(f"cannot write {args.m3u}: {exc.strerror or exc}") from None
        finally:
            tmp.unlink(missing_ok=True)
    if args.format == "m3u":
        write_m3u(entries, sys.stdout)
        return 0
    columns = COLUMNS if args.to else tuple(c for c in COLUMNS if c != "to_target")
    write_records([asdict(e) for e in entries], columns, args.format, sys.stdout)
    if len(entries) < args.n and args.to is None:
        print(f"fpstream playlist: the library had only {len(entries)} distinct tracks", file=sys.stderr)
    return 0
