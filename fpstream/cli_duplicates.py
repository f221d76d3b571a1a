"""``fpstream duplicates``: groups of files holding the same recording, and which one to keep."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from fpstream.cli_args import database, db_option, format_option, formatter
from fpstream.thresholds import MAX_BER


def ber_limit(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < 0.5:
        raise argparse.ArgumentTypeError("must be at least 0 and below 0.5 (0.5 is chance)")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "duplicates",
        formatter_class=formatter,
        help="groups of files holding the same recording (Chromaprint), and which file to keep",
        description=(
            "List groups of analysed tracks that hold the same recording: the same audio as\n"
            "FLAC, WAV, MP3, AAC, Opus, Vorbis, WMA, a re-encode or a copy trimmed by a few\n"
            "seconds. 'The same recording' is decided by Chromaprint, the AcoustID fingerprint\n"
            "the stack stores with every track: the bit error rate (BER) between the two\n"
            "prints aligned (offsets up to 10 s searched) is at most B. Copies measured at\n"
            "BER 0.00-0.05; different recordings, two versions of one theme included, at\n"
            "0.18 and above. Two tracks that only sound alike are `fpstream similar`.\n\n"
            "Each group names the file to keep, by this rule: an original over anything\n"
            "fpstream wrote (ENCODER=fpstream... / DERIVED_FROM tags), then lossless over\n"
            "lossy, then the higher bit rate, then the longer file, then the smaller file.\n"
            "It never suggests deleting an original in favour of a derived file.\n"
            "Details: docs/duplicates.md."
        ),
        epilog=(
            "examples:\n"
            "  fpstream duplicates\n"
            "  fpstream duplicates --format csv > copies.csv\n"
            "  fpstream duplicates --format jsonl | jq -r 'select(.action == \"copy\") | .path'\n\n"
            "How copies are found and the rule: docs/duplicates.md. The 25 numbers of\n"
            "`fpstream similar` (sounds alike) are defined in docs/fingerprint.md."
        ),
    )
    p.add_argument(
        "--max-ber",
        type=ber_limit,
        default=MAX_BER,
        metavar="B",
        help=f"largest bit error rate between copies (default {MAX_BER:g})",
    )
    format_option(p)
    db_option(p)
    p.set_defaults(run=run)


def _size(n: int | None) -> str:
    return "?" if n is None else f"{n / 1e6:.1f} MB"


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, sec = divmod(seconds, 60.0)
    return f"{int(minutes)}:{sec:04.1f}"


def run(args: argparse.Namespace) -> int:
    from fpstream.api import Library
    from fpstream.output import write_records

    found = Library(database(args)).duplicates(args.max_ber)
    groups = found.groups
    from fpstream.same_recording import RECORD_COLUMNS, group_records

    records: list[dict[str, Any]] = [r for g in groups for r in group_records(g)]

    def table(listed: list[dict[str, Any]]) -> str:
        lines = []
        for g in groups:
            k = g.kept
            name = (
                f" ({k.artist} - {k.title})" if k.artist and k.title else f" ({k.title})" if k.title else ""
            )
            lines.append(f"group {g.group}{name}: {len(g.members)} files, keep the first: {g.reason}")
            for m in g.members:
                kind = "lossless" if m.lossless else "lossy"
                rate = "?" if m.bit_rate is None else f"{m.bit_rate / 1000:.0f} kb/s"
                marks = " derived" if m.derived else ""
                marks += f" ({m.note})" if m.note else ""
                lines.append(
                    f"  {'keep' if m.keep else 'copy'}  BER {m.ber:.3f} {m.offset_s:+5.1f} s  {m.codec:<9} "
                    f"{kind:<8} {rate:>10} {_clock(m.duration_s):>7} {_size(m.size):>9}  {m.path}{marks}"
                )
        return "\n".join(lines) + "\n" if lines else ""

    write_records(records, RECORD_COLUMNS, args.format, sys.stdout, table=table)
    extra = sum(m.size or 0 for g in groups for m in g.members[1:])
    print(
        f"fpstream duplicates: {len(groups)} groups, {len(records)} files among {found.indexed:,} tracks "
        f"(max BER {args.max_ber:g}); the copies besides each kept file: {extra / 1e6:.1f} MB",
        file=sys.stderr,
    )
    if found.without_print:
        print(
            f"fpstream duplicates: note: {found.without_print:,} analysed tracks have no Chromaprint yet "
            "(analysed before fpstream computed it): feed the library again to fill them in",
            file=sys.stderr,
        )
    return 0
