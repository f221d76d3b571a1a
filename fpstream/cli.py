"""The ``fpstream`` command: assembles the subcommands, each of which lives in a module of
its own with ``register(sub)`` (:data:`COMMAND_MODULES`), and turns errors into exit statuses.

Errors a user can fix are one line on stderr saying what to do (exit 1); usage
errors exit 2, as argparse does. Building the parser imports no DSP, numpy or
scipy: a command module imports its heavy parts inside its ``run``.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys

from base.config import ConfigError
from fpstream import __version__
from fpstream.cli_args import PROG, UserError, env_help, formatter

#: Modules that each add one subcommand with ``register(sub)``.
COMMAND_MODULES: tuple[str, ...] = (
    "fpstream.cli_analyze",
    "fpstream.cli_export",
    "fpstream.cli_show",
    "fpstream.cli_similar",
    "fpstream.cli_status",
    "fpstream.cli_feed",
    "fpstream.cli_report",
    "fpstream.cli_playlist",
    "fpstream.cli_duplicates",
    "fpstream.master.command",
    "fpstream.prune",
    "fpstream.cli_search",
    "fpstream.cli_serve",
    "fpstream.cli_mpd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        formatter_class=formatter,
        description=(
            "Whole-track acoustic fingerprints (25 numbers per file) for a music library,\n"
            "kept in SQLite for similarity search, playlists and mastering decisions.\n\n"
            "Build the library with the stack (`make run MUSIC=~/Music`),\n"
            "then query it with the commands below. `fpstream COMMAND --help` documents each."
        ),
        epilog=(
            "examples:\n"
            "  fpstream analyze song.flac                 fingerprint one file, no stack needed\n"
            "  fpstream show ~/Music/a.flac               its 25 values, grouped, with percentiles\n"
            "  fpstream similar ~/Music/a.flac -k 20      the 20 most similar tracks\n"
            "  fpstream similar 'artist title'            a track named by its tags\n"
            "  fpstream export --format csv -o lib.csv    everything, for a spreadsheet\n"
            "  fpstream feed ~/Music                      add a folder to a running stack\n"
            "  fpstream status                            is a stack running, and how fast\n\n"
            f"{env_help()}\n"
            "The schema and SQL examples: docs/database.md."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    # Subcommands in modules of their own (see fpstream.cli_args): one line each.
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``fpstream`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    from store.library import LibraryError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (UserError, LibraryError, ConfigError) as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_status", 1)  # 2: a text naming several tracks (fpstream.names)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `fpstream export ... | head`: the reader left; stop quietly, as cat does.
        _silence_stdout()
        return 141
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EIO):
            raise
        print(f"{PROG} {args.command}: error: cannot write the output: {exc.strerror}", file=sys.stderr)
        _silence_stdout()
        return 1


def _silence_stdout() -> None:
    # Point stdout at /dev/null so the interpreter's final flush cannot fail again.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())
