"""``fpstream show TRACK``: one track's 25 values by family, with units and percentiles."""

from __future__ import annotations

import argparse
import sys

from fpstream.cli_args import (
    database,
    db_option,
    env_help,
    format_option,
    formatter,
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "show",
        formatter_class=formatter,
        help="print one track's 25 values by family, with units and percentiles",
        description=(
            "Print the stored fingerprint of PATH: the 25 values grouped in the seven families\n"
            "of docs/fingerprint.md, each with its unit and, when the library has at least 20\n"
            "analysed tracks, its percentile within the library (p90: 90 % of the tracks have\n"
            "a lower value). A failed track shows its error instead.\n\n"
            "PATH is looked up as the stack stores it: made absolute (os.path.abspath) from\n"
            "the current directory, symlinks not resolved. Instead of a path, TRACK may be words\n"
            "of the artist, album and title (docs/library.md): several matches are listed and\n"
            "the exit status is 2. Tagged tracks show their tags under the summary line.\n\n"
            "--format json|jsonl|csv: one record with every stored column and, when shown,\n"
            "NAME_percentile for each of the 25 values."
        ),
        epilog=(
            "examples:\n"
            "  fpstream show ~/Music/Artist/Album/01.flac\n"
            "  fpstream show 'quiet ones harbour lights'     by its tags\n"
            "  fpstream show --db ~/music.db song.flac\n"
            "  fpstream show song.flac --format json | jq '.[0].lufs_percentile'\n\n"
            f"{env_help()}"
        ),
    )
    p.add_argument(
        "path", metavar="TRACK", help="a track of the library: its path, or words of its artist, album, title"
    )
    format_option(p)
    db_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from base.fields import FINGERPRINT_VERSION
    from fpstream.api import Library
    from fpstream.names import resolve_track
    from fpstream.show import render

    library = Library(database(args))
    row = library.row(resolve_track(library, args.path))
    # Percentiles only for a current fingerprint: `render` does not use the library otherwise.
    current = row["status"] == "done" and row["fingerprint_version"] == FINGERPRINT_VERSION
    matrix = library.features.matrix if current else None
    if args.format == "table":
        sys.stdout.write(render(row, matrix))
        return 0
    from fpstream.output import write_records
    from fpstream.show import percentile_columns

    record = {**row, **percentile_columns(row, matrix)}
    write_records([record], list(record), args.format, sys.stdout)
    return 0
