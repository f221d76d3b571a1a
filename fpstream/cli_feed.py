"""``fpstream feed``: paths from stdin into a running stack (this process becomes ``python -m ingest``)."""

from __future__ import annotations

import argparse
import os
import sys

from base.feed_options import add_feed_options, feed_argv
from fpstream.cli_args import (
    env_help,
    formatter,
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "feed",
        formatter_class=formatter,
        help="send paths from stdin into a running stack and wait until they are stored",
        description=(
            "Read audio file paths from stdin (one per line, or NUL-separated with -0), or take\n"
            "the PATHs given (a folder is walked: every file below it, sorted), and feed\n"
            "them into the running stack, printing progress on stderr. Returns once every path\n"
            "has a committed row (done or failed). Files already done and unchanged (same path,\n"
            "size and mtime) are skipped unless --force; files that failed and are unchanged\n"
            "are skipped unless --retry-failed. It first checks that the broker, an analyzer\n"
            "and the sink are there (exit 1 within seconds, naming what is missing). This is\n"
            "what `make run` does after starting the stack; use it when you keep a stack up\n"
            "(docs/running.md, 'Keep a stack up')."
        ),
        epilog=(
            "examples:\n"
            "  fpstream feed ~/Music                       every file below ~/Music\n"
            "  find ~/Music -type f -name '*.flac' | fpstream feed\n"
            "  find ~/Music -type f -print0 | fpstream feed -0\n"
            "  echo ~/Music/remastered.flac | fpstream feed --force\n\n"
            "exit status: 0 when every path was committed, 1 if the stack is incomplete or some\n"
            "paths were never acknowledged, 2 if the path list could not be read, 130 on Ctrl-C\n"
            "(committed rows are kept: feed the same paths again to finish).\n\n"
            f"{env_help()}\n"
            "  more settings (FPSTREAM_MAX_IN_FLIGHT, FPSTREAM_RETRIES, ...): python -m ingest --help"
        ),
    )
    add_feed_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Become ``python -m ingest`` (the feeder process) with the same options, stdin and terminal."""
    argv = feed_argv(args)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "ingest", *argv])
