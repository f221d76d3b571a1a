"""``fpstream analyze FILE…``: fingerprint files in this process, no stack, one JSON object per file."""

from __future__ import annotations

import argparse
import json
import os
import textwrap

from fpstream.cli_args import (
    COLUMN_LIST,
    formatter,
    positive_float,
    positive_int,
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "analyze",
        formatter_class=formatter,
        help="fingerprint files in this process and print one JSON object per file",
        description=(
            "Fingerprint each FILE in this process (no stack, no database) and print one\n"
            "JSON object per file on stdout, in the order given, as soon as it is done.\n\n"
            + textwrap.fill(
                f"Each object has the columns the stack stores ({COLUMN_LIST}), the 25 values and warning, "
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
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
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
