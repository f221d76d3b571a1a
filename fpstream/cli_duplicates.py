"""``fpstream duplicates``: groups of files holding the same recording."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from base.durations import clock
from fpstream.cli_args import database, db_option, format_option, formatter, weights
from fpstream.thresholds import DEFAULT_MAX_DISTANCE

COLUMNS = ("group", "distance", "format", "size", "duration_s", "sample_rate", "channels")
COLUMNS += ("artist", "title", "album", "path")


def non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "duplicates",
        formatter_class=formatter,
        help="groups of files with (near-)identical fingerprints: one recording, several copies",
        description=(
            "List groups of analysed tracks whose fingerprints are within D of each other\n"
            "(the distance of `fpstream similar`): the same recording as WAV, FLAC, Ogg, MP3,\n"
            "a re-encode or a plain copy. Each file is listed with its distance to the group's\n"
            "first (largest) file, format, size, duration, rate and channels, to choose which\n"
            "to keep.\n\n"
            f"D (--max-distance, default {DEFAULT_MAX_DISTANCE:g}) was chosen from measured distances:\n"
            "on real music, lossless copies were 0.000-0.001 apart, MP3 copies 0.009-0.013,\n"
            "low-bitrate Vorbis re-encodes up to 0.095; different recordings 0.15 and more\n"
            "(docs/cli.md, 'duplicates'). Use a smaller D (e.g. 0.02) for lossless copies only."
        ),
        epilog=(
            "examples:\n"
            "  fpstream duplicates\n"
            "  fpstream duplicates --max-distance 0.01 --format csv > copies.csv\n"
            "  fpstream duplicates --format jsonl | jq -r 'select(.format == \"WAV\") | .path'\n\n"
            "The 25 numbers are defined in docs/fingerprint.md."
        ),
    )
    p.add_argument(
        "--max-distance",
        type=non_negative,
        default=DEFAULT_MAX_DISTANCE,
        metavar="D",
        help=f"largest distance between copies (default {DEFAULT_MAX_DISTANCE:g})",
    )
    p.add_argument(
        "--weights", type=weights, default="default", metavar="SPEC", help="as for `fpstream similar`"
    )
    format_option(p)
    db_option(p)
    p.set_defaults(run=run)


def _size(n: int | None) -> str:
    return "?" if n is None else f"{n / 1e6:.1f} MB"


def run(args: argparse.Namespace) -> int:
    from fpstream.api import Library
    from fpstream.output import write_records

    groups = Library(database(args), weights=args.weights).duplicates(args.max_distance)
    records: list[dict[str, Any]] = [
        {"group": g.group, **{c: getattr(m, c) for c in COLUMNS if c != "group"}}
        for g in groups
        for m in g.members
    ]

    def table(listed: list[dict[str, Any]]) -> str:
        lines = []
        for g in groups:
            named = next((m.display_name for m in g.members if m.title), None)  # the recording, by its tags
            about = f" ({named})" if named else ""
            lines.append(
                f"group {g.group}: {len(g.members)} files{about}, largest distance {g.max_distance:.4f}"
            )
            for m in g.members:
                rate = "?" if m.sample_rate is None else f"{m.sample_rate} Hz"
                lines.append(
                    f"  {m.distance:.4f}  {m.format:<5} {_size(m.size):>9}  {clock(m.duration_s):>8}  "
                    f"{rate:>8} {m.channels or '?'} ch  {m.path}"
                )
        return "\n".join(lines) + "\n" if lines else ""

    write_records(records, COLUMNS, args.format, sys.stdout, table=table)
    extra = sum(m.size or 0 for g in groups for m in g.members[1:])
    print(
        f"fpstream duplicates: {len(groups)} groups, {len(records)} files "
        f"(max distance {args.max_distance:g}); copies beyond the first of each group: {extra / 1e6:.1f} MB",
        file=sys.stderr,
    )
    return 0
