"""Logging for the stack's processes: one format, stderr, and bounded reports of dropped messages."""

from __future__ import annotations

import logging
import os
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from base.config import ConfigError
from base.sockets import peer_address


def setup(process: str) -> logging.Logger:
    """Log to stderr as ``process[pid] LEVEL message`` (honcho adds the time and process name)."""
    level = os.environ.get("FPSTREAM_LOG_LEVEL", "INFO").upper()
    if level not in logging.getLevelNamesMapping():
        raise ConfigError(f"FPSTREAM_LOG_LEVEL={level!r}: expected DEBUG, INFO, WARNING or ERROR")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{process}[%(process)d] %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    return logging.getLogger(process)


def exit_now(code: int) -> NoReturn:
    """Leave the process at once, once its work is closed: flush the logs and skip the interpreter's
    teardown, which takes seconds (numba, numpy) on a loaded machine and would make SIGTERM slow."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run_main(main: Callable[[], int], prog: str) -> NoReturn:
    """A process's entry point: run ``main`` and leave with its status (:func:`exit_now`); a
    :class:`~base.config.ConfigError` becomes one line on stderr (``prog: message``) and status 1."""
    try:
        code = main()
    except ConfigError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        code = 1
    exit_now(code)


class DropReport:
    """Logs each malformed message once, naming the socket it came in on.

    A peer that floods garbage must not flood the log too: after the first
    ``verbose`` drops on a socket, only every ``every``-th is logged, with the count.
    """

    def __init__(self, log: logging.Logger, verbose: int = 20, every: int = 1000) -> None:
        self.log = log
        self.verbose = verbose
        self.every = every
        self.counts: Counter[str] = Counter()

    def __call__(self, socket_name: str, reason: object, frames: Sequence[Any]) -> None:
        """Count (and maybe log) ``frames``, received on ``socket_name`` and dropped for ``reason``."""
        self.counts[socket_name] += 1
        n = self.counts[socket_name]
        if n <= self.verbose or n % self.every == 0:
            peer = peer_address(frames[0]) if frames else None
            origin = f"{socket_name} (peer {peer})" if peer else socket_name
            self.log.warning("dropped malformed message #%d on %s: %s", n, origin, reason)
