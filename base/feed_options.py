"""The options of a feed, written once for the three doors that take them: ``python -m ingest``,
``fpstream feed`` (which becomes ``python -m ingest``) and ``make run`` (``ingest.run``)."""

from __future__ import annotations

import argparse
from typing import Any

#: name -> (flags, argparse keywords). ``paths`` is the positional list of folders and files.
OPTIONS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "null": (("-0", "--null"), {"action": "store_true", "help": "paths are NUL-separated (find -print0)"}),
    "force": (("--force",), {"action": "store_true", "help": "re-analyse files even if done and unchanged"}),
    "retry_failed": (
        ("--retry-failed",),
        {"action": "store_true", "help": "analyse files that failed before even if unchanged"},
    ),
    "input": (("--input",), {"metavar": "FILE", "help": "read paths from FILE (or a fifo) instead of stdin"}),
    "include_derived": (
        ("--include-derived",),
        {
            "action": "store_true",
            "help": "feed files written by `fpstream master` too (skipped by default: they carry its mark)",
        },
    ),
    "list_ignored": (
        ("--list-ignored",),
        {"action": "store_true", "help": "name the files that are not audio in the summary"},
    ),
    "paths": (
        ("paths",),
        {
            "nargs": "*",
            "metavar": "PATH",
            "help": "folders and files to feed instead of stdin; a folder is walked, sorted, links "
            "followed (docs/library.md)",
        },
    ),
}


def add_feed_options(parser: argparse.ArgumentParser, *names: str) -> None:
    """Add the feed options ``names`` (all of them when none is named) to ``parser``."""
    for name in names or tuple(OPTIONS):
        flags, keywords = OPTIONS[name]
        parser.add_argument(*flags, **keywords)


def feed_argv(args: argparse.Namespace) -> list[str]:
    """``args`` (parsed with every feed option) as the command line of ``python -m ingest``."""
    argv: list[str] = []
    for name, (flags, keywords) in OPTIONS.items():
        value = getattr(args, name)
        if name == "paths":
            argv += ["--", *value]
        elif keywords.get("action") == "store_true":
            argv += [flags[-1]] if value else []
        elif value is not None:
            argv += [flags[-1], value]
    return argv
