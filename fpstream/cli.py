"""The ``fpstream`` command: analyse files, query the library, feed and watch the stack.

Each subcommand is a thin wrapper: argument parsing and messages live here,
the work in ``fpstream.analyze_file``, ``library``, ``show``, ``similarity``,
``export``, ``base.status`` and ``ingest``. Errors a user can fix are one
line on stderr saying what to do (exit 1); usage errors exit 2, as argparse
does.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import json
import os
import sqlite3
import sys
import textwrap
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from base.config import database_path
from base.fields import TRACK_COLUMNS
from fpstream import __version__
from fpstream.cli_args import (
    UserError,
    atomic_output,
    database,
    db_option,
    format_option,
    formatter,
    positive_float,
    positive_int,
)

PROG = "fpstream"

#: Modules that each add one subcommand with ``register(sub)``.
COMMAND_MODULES: tuple[str, ...] = (
    "fpstream.cli_report",
    "fpstream.cli_playlist",
    "fpstream.cli_duplicates",
    "fpstream.master.command",
    "fpstream.prune",
)

#: The stored columns besides the 25 values, as listed in help texts.
_COLUMN_LIST = ", ".join(TRACK_COLUMNS)


def env_help() -> str:
    """The environment section of the help texts, with the library's path as resolved now."""
    text = f"""\
environment:
  FPSTREAM_DB      the library (default: $XDG_DATA_HOME/fpstream/fingerprints.db, one per user,
                   whatever the current directory); here: {database_path()}
  FPSTREAM_BROKER  where the stack's broker listens (default: ipc://$XDG_RUNTIME_DIR/fpstream)

The 25 numbers are defined in docs/fingerprint.md; settings: README.md, section Settings."""
    return text.replace("%", "%%")


def _weights(text: str) -> dict[str, float]:
    from fpstream.similarity import WeightsError, parse_weights

    try:
        return parse_weights(text)
    except WeightsError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        formatter_class=formatter,
        description=(
            "Whole-track acoustic fingerprints (25 numbers per file) for a music library,\n"
            "kept in SQLite for similarity search, playlists and mastering decisions.\n\n"
            "Build the library with the stack (`find ~/Music -name '*.flac' | make run`),\n"
            "then query it with the commands below. `fpstream COMMAND --help` documents each."
        ),
        epilog=(
            "examples:\n"
            "  fpstream analyze song.flac                 fingerprint one file, no stack needed\n"
            "  fpstream show ~/Music/a.flac               its 25 values, grouped, with percentiles\n"
            "  fpstream similar ~/Music/a.flac -k 20      the 20 most similar tracks\n"
            "  fpstream export --format csv -o lib.csv    everything, for a spreadsheet\n"
            "  find ~/Music -name '*.flac' | fpstream feed   add files to a running stack\n"
            "  fpstream status                            is a stack running, and how fast\n\n"
            f"{env_help()}\n"
            "The README has the schema and SQL examples."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    # ------------------------------------------------------------ analyze
    p = sub.add_parser(
        "analyze",
        formatter_class=formatter,
        help="fingerprint files in this process and print one JSON object per file",
        description=(
            "Fingerprint each FILE in this process (no stack, no database) and print one\n"
            "JSON object per file on stdout, in the order given, as soon as it is done.\n\n"
            + textwrap.fill(
                f"Each object has the columns the stack stores ({_COLUMN_LIST}), the 25 values and warning, "
                "with full float precision. It runs the stack's own code (decode, chunk, analyse, "
                "msgpack round trip, merge), so the numbers are the ones the stack stores.",
                width=84,
            )
            + "\n\n"
            "A file that cannot be read or decoded still prints its row, with\n"
            '"status": "failed" and the reason in "error".'
        ),
        epilog=(
            "exit status:\n"
            "  0  every file was analysed\n"
            "  1  at least one file failed (its row says why; the others were still analysed)\n"
            "  2  usage error\n\n"
            "examples:\n"
            "  fpstream analyze song.flac\n"
            "  fpstream analyze *.wav > fingerprints.jsonl\n"
            "  fpstream analyze song.flac | jq '{lufs, tempo_bpm}'\n"
            "  fpstream analyze --chunk-s 3 song.flac      same numbers, smaller chunks\n\n"
            "The 25 numbers are defined in docs/fingerprint.md."
        ),
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="audio files (anything libsndfile reads)")
    p.add_argument(
        "--chunk-s",
        type=positive_float,
        default=None,
        metavar="S",
        help="seconds of audio per chunk (default 10, as the stack; results do not depend on it)",
    )
    p.add_argument(
        "--threads",
        type=positive_int,
        default=len(os.sched_getaffinity(0)),
        metavar="N",
        help="chunks analysed at once, one per thread (default: the cores this process may use, "
        "here %(default)s; results do not depend on it)",
    )

    # ------------------------------------------------------------ export
    p = sub.add_parser(
        "export",
        formatter_class=formatter,
        help="write the whole library as JSON Lines or CSV",
        description=(
            textwrap.fill(
                "Write every row of the library, sorted by path, with every column as stored "
                f"({_COLUMN_LIST}, then the 25 values, then warning).",
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

    # ------------------------------------------------------------ show
    p = sub.add_parser(
        "show",
        formatter_class=formatter,
        help="print one track's 25 values by family, with units and percentiles",
        description=(
            "Print the stored fingerprint of PATH: the 25 values grouped in the seven families\n"
            "of docs/fingerprint.md, each with its unit and, when the library has at least 20\n"
            "analysed tracks, its percentile within the library (p90: 90 % of the tracks have\n"
            "a lower value). A failed track shows its error instead.\n\n"
            "PATH is looked up as the stack stores it: made absolute (os.path.abspath) from\n"
            "the current directory, symlinks not resolved.\n\n"
            "--format json|jsonl|csv: one record with every stored column and, when shown,\n"
            "NAME_percentile for each of the 25 values."
        ),
        epilog=(
            "examples:\n"
            "  fpstream show ~/Music/Artist/Album/01.flac\n"
            "  fpstream show --db ~/music.db song.flac\n"
            "  fpstream show song.flac --format json | jq '.[0].lufs_percentile'\n\n"
            f"{env_help()}"
        ),
    )
    p.add_argument("path", metavar="PATH", help="an audio file in the library")
    format_option(p)
    db_option(p)

    # ------------------------------------------------------------ similar
    p = sub.add_parser(
        "similar",
        formatter_class=formatter,
        help="the tracks whose fingerprints are nearest to PATH's",
        description=(
            "List the K tracks of the library nearest to PATH, nearest first, PATH itself\n"
            "excluded: rank, distance, path.\n\n"
            "Each of the 25 values is scaled by the library's own 5th-95th percentile range,\n"
            "then the distance is a weighted Euclidean over the 25, normalised so that 1.0 means\n"
            "'one 5-95 range apart per dimension on average'. An identical copy of a track is\n"
            "at distance 0. The search is exact over every analysed track.\n\n"
            "Weights (--weights):\n"
            "  default  one unit per independent aspect of the sound: the 7 band shares 0.25\n"
            "           each; lufs, bass_mid_ratio, tempo_bpm, spectral_centroid,\n"
            "           spectral_rolloff, pitch_stability, dynamic_range_variation,\n"
            "           peak_consistency, stereo_width, phase_correlation 0.5; silence_ratio\n"
            "           0.25; the rest 1.0 (why: README.md, section 'Default weights,\n"
            "           and why', or the docstring of fpstream/similarity.py)\n"
            "  equal    every dimension 1.0\n"
            "  NAME=W,...  change single weights, on top of default or of a preset given first"
        ),
        epilog=(
            "examples:\n"
            "  fpstream similar ~/Music/a.flac\n"
            "  fpstream similar ~/Music/a.flac -k 50 --weights tempo_bpm=0      ignore tempo\n"
            "  fpstream similar ~/Music/a.flac --weights equal,lufs=0,crest_db=0\n"
            "  fpstream similar ~/Music/a.flac --format jsonl | jq -r .path     for scripts\n\n"
            f"{env_help()}"
        ),
    )
    p.add_argument("path", metavar="PATH", help="an analysed track of the library")
    p.add_argument(
        "-k", type=positive_int, default=10, metavar="K", help="how many tracks to list (default 10)"
    )
    p.add_argument(
        "--weights",
        type=_weights,
        default="default",
        metavar="SPEC",
        help="default, equal, or NAME=W overrides, comma-separated (default: default)",
    )
    format_option(p)
    p.add_argument("--json", action="store_true", help="same as --format jsonl (one object a line)")
    db_option(p)

    # ------------------------------------------------------------ status
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

    # ------------------------------------------------------------ feed
    p = sub.add_parser(
        "feed",
        formatter_class=formatter,
        help="send paths from stdin into a running stack and wait until they are stored",
        description=(
            "Read audio file paths from stdin (one per line, or NUL-separated with -0) and feed\n"
            "them into the running stack, printing progress on stderr. Returns once every path\n"
            "has a committed row (done or failed). Files already done and unchanged (same path,\n"
            "size and mtime) are skipped unless --force; files that failed and are unchanged\n"
            "are skipped unless --retry-failed. It first checks that the broker, an analyzer\n"
            "and the sink are there (exit 1 within seconds, naming what is missing). This is\n"
            "what `make run` does after starting the stack; use it when you keep a stack up\n"
            "(README.md, section 'Keep a stack up')."
        ),
        epilog=(
            "examples:\n"
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
    p.add_argument("-0", "--null", action="store_true", help="paths are NUL-separated (find -print0)")
    p.add_argument("--force", action="store_true", help="re-analyse files even if done and unchanged")
    p.add_argument(
        "--retry-failed", action="store_true", help="analyse files that failed before even if unchanged"
    )
    p.add_argument("--input", metavar="FILE", help="read paths from FILE (or a fifo) instead of stdin")

    # Subcommands in modules of their own (see fpstream.cli_args): one line each.
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


# ---------------------------------------------------------------- commands


def _db(args: argparse.Namespace) -> Path:
    return database(args)


def cmd_analyze(args: argparse.Namespace) -> int:
    from fpstream.analyze_file import analyze_file
    from store.library import text_value

    kwargs = {} if args.chunk_s is None else {"chunk_s": args.chunk_s}
    failed = 0
    for path in args.files:
        row = analyze_file(path, threads=args.threads, **kwargs)
        failed += row["status"] != "done"
        printable = {k: text_value(v) for k, v in row.items()}  # the chromaprint BLOB as base64
        print(json.dumps(printable, allow_nan=False, ensure_ascii=False), flush=True)
    return 1 if failed else 0


def cmd_export(args: argparse.Namespace) -> int:
    from fpstream.export import export
    from store.library import connect

    with closing(connect(_db(args))) as conn:
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

    (n,) = conn.execute(
        "SELECT COUNT(*) FROM tracks WHERE status = 'done' AND fingerprint_version IS NOT ?",
        (FINGERPRINT_VERSION,),
    ).fetchone()
    if n:
        print(
            f"{PROG} export: note: {n:,} rows have another fingerprint version than this program's "
            f"(v{FINGERPRINT_VERSION}); their values are not comparable: see fingerprint_version "
            "(a re-run re-analyses them)",
            file=sys.stderr,
        )


def cmd_show(args: argparse.Namespace) -> int:
    from audio.paths import stored_path
    from base.fields import FINGERPRINT_VERSION
    from fpstream.show import render
    from store.library import connect, get_row, load_features

    with closing(connect(_db(args))) as conn:
        row = get_row(conn, stored_path(args.path))
        # Percentiles only for a current fingerprint: `render` does not use the library otherwise.
        current = row["status"] == "done" and row["fingerprint_version"] == FINGERPRINT_VERSION
        library = load_features(conn).matrix if current else None
    if args.format == "table":
        sys.stdout.write(render(row, library))
        return 0
    from fpstream.output import write_records
    from fpstream.show import percentile_columns

    record = {**row, **percentile_columns(row, library)}
    write_records([record], list(record), args.format, sys.stdout)
    return 0


def cmd_similar(args: argparse.Namespace) -> int:
    from audio.paths import stored_path
    from base.fields import FINGERPRINT_VERSION
    from fpstream.similarity import nearest, robust_scale, weight_vector
    from store.library import LibraryError, connect, get_row, load_features, not_current_version

    with closing(connect(_db(args))) as conn:
        row = get_row(conn, stored_path(args.path))
        if row["status"] != "done":
            raise UserError(
                f"{row['path']} failed analysis ({row['error']}), so it has no fingerprint to compare"
            )
        if row["fingerprint_version"] != FINGERPRINT_VERSION:  # before loading the whole library
            raise LibraryError(not_current_version(row["path"]))
        features = load_features(conn)
    query = features.index_of(row["path"])
    if features.stale:
        print(
            f"{PROG} similar: note: {features.stale:,} tracks with another fingerprint version were left out "
            "(re-analyse them: fpstream feed --force)",
            file=sys.stderr,
        )
    scaled = robust_scale(features.matrix).apply(features.matrix)
    idx, dist = nearest(scaled, scaled[query], weight_vector(args.weights), args.k, exclude=query)
    if idx.size == 0:
        print(f"{PROG} similar: the library has no other analysed track to compare with", file=sys.stderr)
    from fpstream.output import write_records

    records = [
        {"rank": rank, "distance": d, "path": features.paths[i]}
        for rank, (i, d) in enumerate(zip(idx.tolist(), dist.tolist(), strict=True), start=1)
    ]
    width = len(str(idx.size))

    def table(listed: list[dict]) -> str:  # the layout `similar` always had: rank, distance, path
        return "".join(f"{r['rank']:>{width}}  {r['distance']:8.4f}  {r['path']}\n" for r in listed)

    fmt = "jsonl" if args.json else args.format
    write_records(records, ("rank", "distance", "path"), fmt, sys.stdout, table=table)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
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
    db_path = _db(args)
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


def cmd_feed(args: argparse.Namespace) -> int:
    """Become ``python -m ingest`` (the feeder process) with the same options, stdin and terminal."""
    argv = [*(["--null"] if args.null else []), *(["--force"] if args.force else [])]
    argv += ["--retry-failed"] if args.retry_failed else []
    if args.input:
        argv += ["--input", args.input]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "ingest", *argv])


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "analyze": cmd_analyze,
    "export": cmd_export,
    "show": cmd_show,
    "similar": cmd_similar,
    "status": cmd_status,
    "feed": cmd_feed,
}


def main(argv: list[str] | None = None) -> int:
    """Run ``fpstream`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    from store.library import LibraryError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        run = COMMANDS.get(args.command) or args.run
        return run(args)
    except (UserError, LibraryError) as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return 1
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
