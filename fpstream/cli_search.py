"""``fpstream search TEXT``: the tracks whose artist, album or title match (as a TRACK argument)."""

from __future__ import annotations

import argparse
import sys
from contextlib import closing

from fpstream.cli_args import database, db_option, env_help, format_option, formatter

COLUMNS = ("artist", "album", "track_number", "title", "date", "duration_s", "status", "path")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "search",
        formatter_class=formatter,
        help="list the tracks whose artist, album or title match TEXT",
        description=(
            "List the tracks of the library that TEXT names, as a TRACK argument of show,\n"
            "similar, playlist, report and master is matched: every word of TEXT must start a\n"
            "word of the artist, album artist, album or title (the file name when the track has\n"
            "no title), ignoring case and accents (\"ete brule\" finds \"Émilie Brûlé - Été\").\n"
            "Sorted by path. Exit status 1 when nothing matches (the closest titles are named\n"
            "on stderr). Rules: docs/library.md."
        ),
        epilog=(
            "examples:\n"
            "  fpstream search love theme\n"
            "  fpstream search 'quiet ones' --format csv > quiet.csv\n"
            "  fpstream search brule --format jsonl | jq -r .path\n\n"
            f"{env_help()}"
        ),
    )
    p.add_argument("text", nargs="+", metavar="TEXT", help="words of the artist, album or title")
    format_option(p)
    db_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from fpstream.names import closest, describe, display_name, search
    from fpstream.output import write_records
    from store.library import connect, name_rows

    text = " ".join(args.text)
    with closing(connect(database(args))) as conn:
        rows = list(name_rows(conn))
    found = search(rows, text)
    if not found:
        near = closest(rows, text)
        listed = "".join(f"\n  {describe(r)}" for r in near)
        hint = f"; the closest titles:{listed}" if near else ""
        print(f"fpstream search: no track matches {text!r}{hint}", file=sys.stderr)
        return 1

    def table(listed: list[dict]) -> str:
        name_width = max(len(display_name(r)) for r in listed)
        album_width = max(len(r["album"] or "") for r in listed)
        return "".join(
            f"{display_name(r):<{name_width}}  {r['album'] or '':<{album_width}}  {r['path']}\n"
            for r in listed
        )

    write_records([{c: r[c] for c in COLUMNS} for r in found], COLUMNS, args.format, sys.stdout, table=table)
    return 0
