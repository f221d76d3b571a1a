"""``fpstream report``: the library as one self-contained HTML page (``fpstream.report``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fpstream.cli_args import atomic_output, database, db_option, formatter, weights


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        formatter_class=formatter,
        help="write the library as one HTML page: summary, distributions, a map, per-track panels",
        description=(
            "Write one self-contained HTML file (styles, script and data inline: it works\n"
            "offline, from file://, and can be mailed) that shows:\n\n"
            "  - the library at a glance: tracks done and failed (with the errors), total\n"
            "    duration, formats, sample rates;\n"
            "  - the distribution of each of the 25 values, by family, with units and the median;\n"
            "  - a map: every track placed by the first two principal components of its scaled\n"
            "    fingerprint (the space of `fpstream similar`); hover for details, colour by any value;\n"
            "  - per track (click a point, or --track PATH): its 25 values as percentiles within\n"
            "    the library and its 10 nearest neighbours.\n\n"
            "It stays usable at 100 000 tracks (about 9 MB, drawn in about a second)."
        ),
        epilog=(
            "examples:\n"
            "  fpstream report                                   writes library.html\n"
            "  fpstream report --output ~/music.html --track ~/Music/a.flac\n"
            "  xdg-open library.html\n\n"
            "The 25 numbers are defined in docs/fingerprint.md."
        ),
    )
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("library.html"),
        metavar="FILE",
        help="the HTML file to write (default library.html; - for stdout)",
    )
    p.add_argument(
        "--track", metavar="TRACK", help="open the page on this track's panel (a path, or words of its tags)"
    )
    p.add_argument(
        "--weights", type=weights, default="default", metavar="SPEC", help="as for `fpstream similar`"
    )
    db_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from fpstream.report import build_report

    track = None
    if args.track is not None:
        from fpstream.names import resolve_track

        track = resolve_track(database(args), args.track)
    html = build_report(database(args), track=track, weights=args.weights)
    if str(args.output) == "-":
        sys.stdout.write(html)
        return 0
    target: Path = args.output
    with atomic_output(target) as out:
        out.write(html)
    print(f"fpstream report: wrote {target} ({len(html.encode()) / 1e6:.1f} MB)", file=sys.stderr)
    return 0
