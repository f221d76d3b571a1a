"""``fpstream status``: is a stack running, what the broker sees, and the library's row counts."""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import closing

from fpstream.cli_args import (
    PROG,
    UserError,
    database,
    db_option,
    env_help,
    formatter,
    positive_float,
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "status",
        formatter_class=formatter,
        help="is a stack running: connected processes, message counts, tracks/s",
        description=(
            "Ask the running stack's broker what it sees: how long it has run, which processes\n"
            "are connected (ingests, analyzers, sinks), messages forwarded and dropped, chunks\n"
            "waiting for an analyzer, and the commit rate in tracks/s (measured over --interval).\n"
            "Then count the done and failed rows in the database.\n\n"
            "Exit status 0 when a broker answered, 1 when none did (no stack is running at\n"
            "FPSTREAM_BROKER)."
        ),
        epilog=(
            "examples:\n"
            "  fpstream status\n"
            "  watch -n 5 fpstream status\n"
            "  FPSTREAM_BROKER=tcp://10.0.0.5:5555 fpstream status      a stack on another machine\n\n"
            f"{env_help()}"
        ),
    )
    p.add_argument(
        "--interval",
        type=float,
        default=1.0,
        metavar="S",
        help="seconds between the two samples that give tracks/s (default 1; 0 skips the rate)",
    )
    p.add_argument(
        "--timeout",
        type=positive_float,
        default=1.0,
        metavar="S",
        help="how long to wait for the broker's answer (default 1)",
    )
    p.add_argument("--json", action="store_true", help="print the broker's counters and row counts as JSON")
    db_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from base.config import Endpoints
    from base.protocol import ProtocolError
    from base.status import query_status
    from fpstream.status import render_status
    from store.library import LibraryError, connect, status_counts

    endpoints = Endpoints.from_env()
    try:
        first = query_status(endpoints, timeout_s=args.timeout)
        second, elapsed = None, 0.0
        if first is not None and args.interval > 0:
            t0 = time.monotonic()
            time.sleep(args.interval)
            second = query_status(endpoints, timeout_s=args.timeout)
            elapsed = time.monotonic() - t0
    except ProtocolError as exc:  # e.g. a broker of another fpstream version
        raise UserError(f"the broker at {endpoints.base} answered, but not readably: {exc}") from None
    db_path = database(args)
    try:
        with closing(connect(db_path)) as conn:
            counts: dict[str, int] | None = status_counts(conn)
        db_note = ""
    except LibraryError as exc:
        counts, db_note = None, str(exc)
    if args.json:
        print(json.dumps({"broker": second or first, "database": str(db_path), "rows": counts}))
    else:
        sys.stdout.write(render_status(endpoints.base, first, second, elapsed, str(db_path), counts, db_note))
    if first is None:
        print(
            f"{PROG} status: no fpstream stack is running at {endpoints.base} (no answer within "
            f"{args.timeout:g} s): start one with `make run` or `honcho start`, or set FPSTREAM_BROKER "
            "to the address of a running broker",
            file=sys.stderr,
        )
        return 1
    return 0
