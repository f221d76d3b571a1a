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
            "excluded: rank, distance, path (and \"Artist - Title\" before it when tagged).\n"
            "PATH may also be words of the track's artist, album and title (docs/library.md).\n\n"
            "Each of the 25 values is scaled by the library's own 5th-95th percentile range,\n"
            "then the distance is a weighted Euclidean over the 25, normalised so that 1.0 means\n"
            "'one 5-95 range apart per dimension on average'. An identical copy of a track is\n"
            "at distance 0. The search is exact over every analysed track.\n\n"
            + weights_help()
        ),
        epilog=(
            "examples:\n"
            "  fpstream similar ~/Music/a.flac\n"
            "  fpstream similar 'quiet ones harbour lights'     by its tags\n"
            "  fpstream similar ~/Music/a.flac -k 50 --weights tempo_bpm=0      ignore tempo\n"
            "  fpstream similar ~/Music/a.flac --weights equal,lufs=0,crest_db=0\n"
            "  fpstream similar ~/Music/a.flac --format jsonl | jq -r .path     for scripts\n\n"
            f"{env_help()}"
        ),
    )
    p.add_argument(
        "path", metavar="TRACK", help="an analysed track: its path, or words of its artist, album, title"
    )
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
    from fpstream.names import resolve_track
    from fpstream.output import write_records
    from fpstream.steering import Steering

    library = Library(database(args), weights=args.weights)
    path = resolve_track(library, args.path)  # a path, or words of its tags (docs/library.md)
    # every analysed track, as `similar` always listed (the steering default leaves out those under 30 s)
    neighbours = library.similar(path, args.k, steering=Steering(min_duration_s=None))
    if library.features.stale:
        print(
            f"{PROG} similar: note: {library.features.stale:,} tracks with another fingerprint version were "
            "left out (re-analyse them: fpstream feed --force)",
            file=sys.stderr,
        )
    if not neighbours:
        print(f"{PROG} similar: the library has no other analysed track to compare with", file=sys.stderr)
    columns = ("rank", "distance", "artist", "title", "album", "path")
    records = [
        dict(zip(columns, (rank, d, t.artist or t.album_artist, t.title, t.album, t.path), strict=True))
        for rank, (t, d) in enumerate(neighbours, start=1)
    ]
    width = len(str(len(records)))
    names = {t.path: t.display_name if t.title else "" for t, _ in neighbours}
    name_width = max((len(name) for name in names.values()), default=0)

    def table(listed: list[dict]) -> str:
        # rank, distance, path, as `similar` always printed; "Artist - Title" before the path when tagged
        return "".join(
            f"{r['rank']:>{width}}  {r['distance']:8.4f}  "
            + (f"{names[r['path']]:<{name_width}}  " if name_width else "")
            + f"{r['path']}\n"
            for r in listed
        )

    fmt = "jsonl" if args.json else args.format
    write_records(records, columns, fmt, sys.stdout, table=table)
    return 0
