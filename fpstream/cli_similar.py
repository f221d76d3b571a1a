"""``fpstream similar TRACK``: the tracks whose fingerprints are nearest (``fpstream.api.Library``)."""

from __future__ import annotations

import argparse
import sys

from fpstream.cli_args import (
    PROG,
    database,
    db_option,
    env_help,
    format_option,
    formatter,
    positive_int,
    weights,
    weights_help,
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "similar",
        formatter_class=formatter,
        help="the tracks whose fingerprints are nearest to PATH's",
        description=(
            "List the K tracks of the library nearest to PATH, nearest first, PATH itself\n"
            "excluded: rank, distance, path.\n\n"
            "Each of the 25 values is scaled by the library's own 5th-95th percentile range,\n"
            "then the distance is a weighted Euclidean over the 25, normalised so that 1.0 means\n"
            "'one 5-95 range apart per dimension on average'. An identical copy of a track is\n"
            "at distance 0. The search is exact over every analysed track.\n\n"
            + weights_help()
        ),
        epilog=(
            "examples:\n"
            "  fpstream similar ~/Music/a.flac\n"
            "  fpstream similar ~/Music/a.flac -k 50 --weights tempo_bpm=0      ignore tempo\n"
            "  fpstream similar ~/Music/a.flac --weights equal,lufs=0,crest_db=0\n"
            "  fpstream similar ~/Music/a.flac --format jsonl | jq -r .path     for scripts\n\n"
            f"{env_help()}"
        ),
    )
    p.add_argument("path", metavar="PATH", help="an analysed track of the library")
    p.add_argument(
        "-k", type=positive_int, default=10, metavar="K", help="how many tracks to list (default 10)"
    )
    p.add_argument(
        "--weights",
        type=weights,
        default="default",
        metavar="SPEC",
        help="default, equal, or NAME=W overrides, comma-separated (default: default)",
    )
    format_option(p)
    p.add_argument("--json", action="store_true", help="same as --format jsonl (one object a line)")
    db_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from fpstream.api import Library
    from fpstream.output import write_records
    from fpstream.steering import Steering

    library = Library(database(args), weights=args.weights)
    # every analysed track, as `similar` always listed (the steering default leaves out those under 30 s)
    neighbours = library.similar(args.path, args.k, steering=Steering(min_duration_s=None))
    if library.features.stale:
        print(
            f"{PROG} similar: note: {library.features.stale:,} tracks with another fingerprint version were "
            "left out (re-analyse them: fpstream feed --force)",
            file=sys.stderr,
        )
    if not neighbours:
        print(f"{PROG} similar: the library has no other analysed track to compare with", file=sys.stderr)
    records = [
        {"rank": rank, "distance": d, "path": t.path} for rank, (t, d) in enumerate(neighbours, start=1)
    ]
    width = len(str(len(records)))

    def table(listed: list[dict]) -> str:  # the layout `similar` always had: rank, distance, path
        return "".join(f"{r['rank']:>{width}}  {r['distance']:8.4f}  {r['path']}\n" for r in listed)

    fmt = "jsonl" if args.json else args.format
    write_records(records, ("rank", "distance", "path"), fmt, sys.stdout, table=table)
    return 0
