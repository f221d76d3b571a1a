"""Argument conventions every ``fpstream`` subcommand shares.

A subcommand lives in its own module with a ``register(sub)`` function that adds
its parser and sets ``run`` (a function of the parsed namespace returning the exit
status) with ``parser.set_defaults(run=...)``; ``fpstream.cli`` lists the modules.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from base.config import database_path
from base.fields import TRACK_COLUMNS

PROG = "fpstream"

#: The stored columns besides the 25 values, as listed in help texts.
COLUMN_LIST = ", ".join(TRACK_COLUMNS)


class UserError(Exception):
    """Something the user can fix; printed as one line, exit status 1."""


def formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=28)


def db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="FILE",
        type=Path,
        default=None,
        help="the database (default: $FPSTREAM_DB, else $XDG_DATA_HOME/fpstream/fingerprints.db; "
        f"here: {str(database_path()).replace('%', '%%')})",
    )


def positive_int(text: str) -> int:
    try:
        k = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if k < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return k


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def database(args: argparse.Namespace) -> Path:
    """The database a command reads: ``--db``, else ``$FPSTREAM_DB``, else the default."""
    return args.db if args.db is not None else database_path()


def format_option(parser: argparse.ArgumentParser, extra: tuple[str, ...] = ()) -> None:
    """``--format table|json|jsonl|csv`` (``fpstream.output``), plus command-specific ``extra`` formats."""
    from fpstream.output import FORMATS

    choices = (*FORMATS, *extra)
    parser.add_argument(
        "--format",
        choices=choices,
        default="table",
        help=f"output: {', '.join(choices)} (default: table; json is one array, jsonl one object a line)",
    )


def weights(text: str) -> dict[str, float]:
    """``--weights SPEC`` as ``fpstream similar`` takes it (``fpstream.similarity.parse_weights``)."""
    from fpstream.similarity import WeightsError, parse_weights

    try:
        return parse_weights(text)
    except WeightsError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


@contextmanager
def atomic_output(target: Path) -> Iterator[TextIO]:
    """A text file written through a temporary file beside ``target`` and renamed over it
    once complete, so a failed or interrupted write leaves no partial file; an OSError
    becomes a :class:`UserError` naming ``target``."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as out:
            yield out
        os.replace(tmp, target)
    except OSError as exc:
        raise UserError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)


def env_help() -> str:
    """The environment section of the help texts, with the library's path as resolved now."""
    text = f"""\
environment:
  FPSTREAM_DB      the library (default: $XDG_DATA_HOME/fpstream/fingerprints.db, one per user,
                   whatever the current directory); here: {database_path()}
  FPSTREAM_BROKER  where the stack's broker listens (default: ipc://$XDG_RUNTIME_DIR/fpstream)

The 25 numbers are defined in docs/fingerprint.md; settings: docs/settings.md."""
    return text.replace("%", "%%")


def weights_help() -> str:
    """The ``--weights`` paragraph of a help text, made from the feature table (``base.fields``)."""
    import textwrap

    from base.fields import BANDS, FIELDS

    by_weight: dict[float, list[str]] = {}
    for f in FIELDS:
        if f.name not in BANDS and f.weight != 1.0:
            by_weight.setdefault(f.weight, []).append(f.name)
    band = FIELDS[0].weight
    parts = [f"the 7 band shares {band:g} each"]
    parts += [f"{', '.join(names)} {w:g}" for w, names in sorted(by_weight.items(), reverse=True)]
    default = textwrap.fill(
        "one unit per independent aspect of the sound: " + "; ".join(parts) + "; the rest 1 "
        "(why each: docs/cli.md, 'Default weights, and why')",
        width=84,
        initial_indent="  default  ",
        subsequent_indent="           ",
    )
    return (
        "Weights (--weights):\n" + default + "\n  equal    every dimension 1\n"
        "  NAME=W,...  change single weights, on top of default or of a preset given first"
    )
