"""``python -m ingest`` (and ``fpstream feed``): the command line, the signals, and the
sockets and threads the run needs, closed at its end."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable

import zmq

from base import logs
from base.config import database_path, settings_epilog
from base.feed_options import add_feed_options
from base.sockets import Sockets
from ingest.loop import Ingest
from ingest.paths import PathReader
from ingest.settings import Settings
from ingest.skip import PreviousRun

log = logging.getLogger("ingest")  # one logger for the process, whichever module speaks


def build_parser(prog: str = "python -m ingest") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Feed audio file paths into a running fpstream stack: each file is decoded in "
        "chunks and sent to the analyzers; exits 0 once every path has a committed row (done or failed). "
        "Paths are read as they arrive, one per line (or NUL-separated with -0). Files done before and "
        "unchanged (size, mtime) are skipped, and so are files that failed before and are unchanged "
        "(--retry-failed retries them). Before sending anything it checks that the broker, an analyzer "
        "and the sink are there, and says which is missing.",
        epilog=f"The library here: {database_path()}. ".replace("%", "%%") + settings_epilog("ingest"),
    )
    add_feed_options(parser)
    return parser


def main(
    argv: list[str] | None = None,
    *,
    announce: bool = True,
    started: Callable[[Ingest], None] | None = None,
) -> int:
    """Run ingest to the end; the exit status.

    ``announce``: print the library's path first (``make run`` prints it itself).
    ``started``: called with the Ingest before its loop runs (``make run`` keeps it to ``abort`` it).
    """
    args = build_parser().parse_args(argv)
    logs.setup("ingest")
    settings = Settings.from_env(args)
    db = database_path()
    if announce:
        print(f"library: {db}", file=sys.stderr, flush=True)
    previous = PreviousRun(db, force=settings.force, retry_failed=settings.retry_failed)
    if settings.source is None and not settings.arguments and sys.stdin.isatty():
        print("reading paths from the terminal, one per line; end with Ctrl-D", file=sys.stderr, flush=True)
    reader = PathReader(settings.source, settings.nul, settings.arguments).start()
    ctx = zmq.Context()
    sockets = Sockets.from_env(ctx)
    ingest = Ingest(sockets, settings, reader, previous)
    root = logging.getLogger()
    if ingest.progress.tty:  # log lines must not break the line that updates in place
        root.handlers[:] = [ingest.progress.log_handler(root.handlers[0].formatter or logging.Formatter())]

    def stop(signum: int, _frame: object) -> None:
        ingest.stopping = signum

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.debug(
        "ingest %s feeding %s (max %d tracks in flight)",
        ingest.id,
        sockets.endpoints.base,
        settings.max_in_flight,
    )
    if started is not None:
        started(ingest)
    try:
        return ingest.run()
    finally:
        ingest.watch.stop()
        ingest.pool.close()
        previous.close()
        sockets.close(linger_ms=0)
        ctx.term()
