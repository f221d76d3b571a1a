"""``fpstream prune``: remove the rows whose file is gone (deleted, moved, renamed).

A dry run by default: it lists the rows it would remove and changes nothing;
``--delete`` removes them, in one transaction (the sink may be writing at the
same time: SQLite waits for its lock). Rows whose whole directory is gone
are called out, because a disk that is not mounted looks the same as a
library that was deleted.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections import Counter
from contextlib import closing
from pathlib import Path

from audio.paths import row_file_exists, stored_path
from fpstream.cli_args import UserError, database, db_option, formatter


def file_exists(row_path: str) -> bool:
    """Whether the file of a stored path (or the image of a cue track's row) is there."""
    return row_file_exists(row_path)


def gone_rows(conn: sqlite3.Connection, under: str | None) -> list[str]:
    """Stored paths (under ``under``, if given) whose file does not exist, sorted."""
    from store.library import stored_paths

    return [p for p in stored_paths(conn, under) if not file_exists(p)]


def missing_dirs(paths: list[str]) -> Counter[str]:
    """For rows whose directory is gone too: the top-most missing directory, with its row count."""
    found: Counter[str] = Counter()
    for p in paths:
        d = Path(p).parent
        if d.exists():
            continue
        while not d.parent.exists() and d.parent != d:
            d = d.parent
        found[str(d)] += 1
    return found


def delete(db_path: Path, paths: list[str]) -> int:
    """Remove the rows of ``paths`` in one transaction; returns how many went."""
    from store.db import delete_paths  # aiosqlite (asyncio) only when deleting

    try:
        return delete_paths(db_path, paths)
    except sqlite3.Error as exc:
        raise UserError(f"cannot delete from {db_path}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    db_path = database(args)
    under = stored_path(args.under) if args.under else None
    from store.library import connect

    with closing(connect(db_path)) as conn:
        gone = gone_rows(conn, under)
    scope = f" under {under}" if under else ""
    if not gone:
        print(f"fpstream prune: every file{scope} in {db_path} is there; nothing to remove", file=sys.stderr)
        return 0
    if not args.delete:
        for p in gone:
            print(p)
    for d, n in sorted(missing_dirs(gone).items()):
        print(
            f"fpstream prune: note: {n} of them are under {d}, which does not exist "
            "(a disk that is not mounted?)",
            file=sys.stderr,
        )
    if not args.delete:
        print(
            f"fpstream prune: {len(gone)} rows{scope} whose file is gone (listed above); nothing changed. "
            f"Remove them with: fpstream prune --delete{' --under ' + args.under if args.under else ''}",
            file=sys.stderr,
        )
        return 0
    n = delete(db_path, gone)
    print(f"fpstream prune: removed {n} rows{scope} whose file is gone from {db_path}", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "prune",
        formatter_class=formatter,
        help="remove rows whose file is gone (lists them first)",
        description=(
            "Find the rows of the library whose file no longer exists (deleted, moved or\n"
            "renamed) and list them, one path per line on stdout, changing nothing.\n"
            "With --delete, remove them. A moved file is added again under its new path\n"
            "by the next `make run` or `fpstream feed`."
        ),
        epilog=(
            "examples:\n"
            "  fpstream prune                          list rows whose file is gone\n"
            "  fpstream prune --delete                 remove them\n"
            "  fpstream prune --under ~/Music/old      only rows under this directory\n\n"
            "The 25 numbers are defined in docs/fingerprint.md."
        ),
    )
    p.add_argument("--delete", action="store_true", help="remove the rows (default: only list them)")
    p.add_argument("--under", metavar="DIR", help="only rows whose path is under DIR")
    db_option(p)
    p.set_defaults(run=run)
