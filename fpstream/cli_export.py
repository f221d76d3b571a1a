"""``fpstream export``: the whole library as JSON Lines, JSON or CSV."""

from __future__ import annotations

import argparse
import sqlite3
import sys
import textwrap
from contextlib import closing
from pathlib import Path

from fpstream.cli_args import (
    COLUMN_LIST,
    PROG,
    atomic_output,
    database,
    db_option,
    env_help,
    formatter,
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "export",
        formatter_class=formatter,
        help="write the whole library as JSON Lines or CSV",
        description=(
            textwrap.fill(
                "Write every row of the library, sorted by path, with every column as stored "
                f"({COLUMN_LIST}, then the 25 values, then warning).",
                width=80,
            )
            + "\n\n"
            "  jsonl  one JSON object per line; NULL is null\n"
            "  json   one JSON array of those objects\n"
            "  csv    a header line with the column names, then one line per row; NULL is empty\n\n"
            "Floats keep full precision. Failed rows are included (filter on status)."
        ),
        epilog=(
            "examples:\n"
            "  fpstream export --format csv --output library.csv\n"
            "  fpstream export --format jsonl | jq -c 'select(.status == \"done\") | {path, lufs}'\n"
            "  FPSTREAM_DB=~/music.db fpstream export --format csv > music.csv\n\n"
            f"{env_help()}"
        ),
    )
    p.add_argument("--format", required=True, choices=("jsonl", "json", "csv"), help="output format")
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        default="-",
        help="write to FILE (replaced only once the export is complete) instead of stdout",
    )
    db_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from fpstream.export import export
    from store.library import connect

    with closing(connect(database(args))) as conn:
        _note_other_versions(conn)
        if args.output == "-":
            export(conn, args.format, sys.stdout)
            return 0
        target = Path(args.output)
        with atomic_output(target) as out:
            n = export(conn, args.format, out)
    print(f"{PROG} export: wrote {n:,} rows to {target}", file=sys.stderr)
    return 0


def _note_other_versions(conn: sqlite3.Connection) -> None:
    """Say on stderr how many analysed rows carry another fingerprint version: the export keeps
    every row as stored, but their values are not comparable with the current ones."""
    from base.fields import FINGERPRINT_VERSION
    from store.library import other_versions

    n = other_versions(conn)
    if n:
        print(
            f"{PROG} export: note: {n:,} rows have another fingerprint version than this program's "
            f"(v{FINGERPRINT_VERSION}); their values are not comparable: see fingerprint_version "
            "(a re-run re-analyses them)",
            file=sys.stderr,
        )
