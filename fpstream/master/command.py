"""``fpstream master``: the command line of the mastering chain (see ``plan.master_file``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

from base.config import default_database_path
from fpstream.cli_args import UserError, database, db_option, formatter
from fpstream.master.targets import PRESETS, TARGETS

if TYPE_CHECKING:
    from fpstream.master.plan import Outcome

OUTPUT_SUFFIX = ".mastered"


def _number(low: float, high: float, unit: str):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g} {unit}")
        return value

    return parse


def register(sub: argparse._SubParsersAction) -> None:
    targets = ", ".join(f"{n} ({lufs:g} LUFS, {tp:g} dBTP)" for n, (lufs, tp) in TARGETS.items())
    p = sub.add_parser(
        "master",
        formatter_class=formatter,
        help="master files to a loudness target, with EQ and compression chosen from their fingerprints",
        description=(
            "Master each FILE: tonal EQ (at most ±3 dB) toward its preset's balance or a reference's,\n"
            "gentle compression, gain to the loudness target, a lookahead true-peak limiter, and a\n"
            "final true-peak check. Writes FILE's name + '.mastered.wav' into --out-dir (default\n"
            "$XDG_DATA_HOME/fpstream/mastered/, outside the music folders), atomically; an input is\n"
            "never overwritten, an earlier output only with --force. Each output is marked (its\n"
            "software/comment tag: 'fpstream master VERSION from SOURCE'), so that `fpstream feed`\n"
            "skips it (--include-derived feeds it). Reads every format the library fingerprints\n"
            "(FLAC, WAV, AIFF, MP3, M4A/AAC/ALAC, Opus, Ogg Vorbis, WMA...). docs/mastering.md.\n\n"
            + textwrap.fill(
                "The fingerprint decides the preset and intensity (printed with the reasons); it is read "
                "from the library when current, otherwise computed here and stored. Status per file: "
                "mastered; capped (the target needs more limiting than --max-limit: mastered as loud as "
                "that allows); skipped (already within 0.5 LU of the target and under the ceiling; "
                "--force masters it anyway); failed (the reason is printed; the other files go on).",
                width=88,
            )
            + f"\n\ntargets: {targets}"
        ),
        epilog=(
            "exit status:\n"
            "  0  every file was mastered, capped or skipped\n"
            "  1  at least one file failed (the others were still processed)\n"
            "  2  usage error\n\n"
            "examples:\n"
            "  fpstream master song.flac\n"
            "  fpstream master *.flac --out-dir mastered/ --target streaming\n"
            '  fpstream master demo.wav --reference "Some Album/04 Favourite.flac"\n'
            "  fpstream master song.flac --preset warm --intensity 0.6 --dry-run --json\n\n"
            "The 25 numbers it decides from are defined in docs/fingerprint.md."
        ),
    )
    p.add_argument(
        "files", nargs="+", metavar="FILE", help="audio files (any format the library fingerprints)"
    )
    p.add_argument(
        "--target",
        choices=tuple(TARGETS),
        default=None,
        help="loudness and ceiling preset (default: streaming, or the reference's loudness)",
    )
    p.add_argument(
        "--lufs",
        type=_number(-40.0, -5.0, "LUFS"),
        default=None,
        metavar="LUFS",
        help="integrated loudness target (overrides --target)",
    )
    p.add_argument(
        "--ceiling",
        type=_number(-20.0, -0.1, "dBTP"),
        default=None,
        metavar="DBTP",
        help="true-peak ceiling (default -1)",
    )
    p.add_argument(
        "--reference",
        metavar="TRACK",
        default=None,
        help="match this track's tonal balance (seven band shares) and loudness",
    )
    p.add_argument(
        "--preset",
        choices=("auto", *PRESETS),
        default="auto",
        help="auto (from the fingerprint, default), punchy, warm, gentle, or none (gain and limiter only)",
    )
    p.add_argument(
        "--intensity",
        type=_number(0.0, 1.0, ""),
        default=None,
        metavar="X",
        help="0–1: how far EQ and compression go (default: from the crest factor, 0.5–1.0)",
    )
    p.add_argument(
        "--max-eq",
        type=_number(0.0, 6.0, "dB"),
        default=3.0,
        metavar="DB",
        help="largest EQ boost or cut, dB (default 3)",
    )
    p.add_argument(
        "--max-limit",
        type=_number(0.0, 20.0, "dB"),
        default=6.0,
        metavar="DB",
        help="most gain reduction the limiter may apply before the file is 'capped' (default 6)",
    )
    p.add_argument(
        "--codec",
        choices=("wav", "flac"),
        default="wav",
        help="output file type (default wav; --format is the query commands' report format, not this)",
    )
    p.add_argument(
        "--bits",
        type=int,
        choices=(24, 16),
        default=24,
        help="output bit depth (default 24; 16 is TPDF-dithered)",
    )
    p.add_argument(
        "--out-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="write outputs here (created if missing; default $XDG_DATA_HOME/fpstream/mastered)",
    )
    p.add_argument("--dry-run", action="store_true", help="decide and measure, write nothing")
    p.add_argument(
        "--force",
        action="store_true",
        help="master files already at the target too, replacing earlier outputs",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per file on stdout")
    db_option(p)
    p.set_defaults(run=run)


def default_out_dir() -> Path:
    """``$XDG_DATA_HOME/fpstream/mastered`` (beside the library's default file, never in a music folder)."""
    return default_database_path().parent / "mastered"


def output_path(path: str, out_dir: Path | None, fmt: str) -> Path:
    """``song.flac`` → ``song.mastered.wav`` in ``out_dir`` (default :func:`default_out_dir`)."""
    src = Path(path)
    return (out_dir if out_dir is not None else default_out_dir()) / f"{src.stem}{OUTPUT_SUFFIX}.{fmt}"


def _same_file(a: Path, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def _named_file(given: str, db_path: Path) -> str:
    """``given`` if it is a file on disk, else the library track its words name (fpstream.names)."""
    if os.path.exists(given) or not db_path.exists():
        return given
    from fpstream.names import resolve_track

    return resolve_track(db_path, given)


def run(args: argparse.Namespace) -> int:
    from fpstream.master.fingerprint import FingerprintError, fingerprint_of
    from fpstream.master.plan import Outcome, Request, master_file

    db_path = database(args)
    # A FILE (or --reference) that is not on disk may name a library track by its tags.
    args.files = [_named_file(f, db_path) for f in args.files]
    if args.reference is not None:
        args.reference = _named_file(args.reference, db_path)
    lufs, ceiling = TARGETS[args.target or "streaming"]
    reference = reference_name = None
    if args.reference is not None:
        try:
            reference = fingerprint_of(args.reference, db_path)
        except FingerprintError as exc:
            raise UserError(f"reference {args.reference}: {exc}") from None
        reference_name = Path(args.reference).name
        lufs = None if args.target is None else lufs  # the reference's loudness unless a target is named
    request = Request(
        lufs=args.lufs if args.lufs is not None else lufs,
        ceiling_dbtp=args.ceiling if args.ceiling is not None else ceiling,
        preset=args.preset,
        intensity=args.intensity,
        reference=reference,
        reference_name=reference_name,
        max_eq_db=args.max_eq,
        max_limit_db=args.max_limit,
        force=args.force,
        dry_run=args.dry_run,
        fmt=args.codec,
        bits=args.bits,
    )
    failed = 0
    claimed: set[str] = set()
    for path in args.files:
        out = output_path(path, args.out_dir, args.codec)
        if any(_same_file(out, other) for other in args.files):
            outcome = Outcome(input=path, error=f"the output {out} would overwrite an input")
        elif str(out.absolute()) in claimed:
            outcome = Outcome(input=path, error=f"the output {out} is also an earlier file's output")
        elif out.exists() and not args.force and not args.dry_run:
            outcome = Outcome(
                input=path,
                error=f"{out} exists (from an earlier run): --force replaces it, or choose --out-dir",
            )
        else:
            claimed.add(str(out.absolute()))
            outcome = master_file(path, out, db_path, request)
        failed += outcome.status == "failed"
        _report(outcome, args.json)
    return 1 if failed else 0


def _report(o: Outcome, as_json: bool) -> None:
    if as_json:
        print(json.dumps(o.as_dict(), ensure_ascii=False), flush=True)
        return
    if o.status == "failed":
        print(f"fpstream master: {o.input}: {o.error}", file=sys.stderr, flush=True)
        return
    head = f"{o.input}: {o.status}"
    if o.output:
        head += f" → {o.output}"
    if o.input_lufs is not None:
        head += f"; in {o.input_lufs:.1f} LUFS {o.input_true_peak_dbtp:.1f} dBTP"
    if o.output_lufs is not None:
        head += f", out {o.output_lufs:.1f} LUFS {o.output_true_peak_dbtp:.1f} dBTP"
    if o.gain_db is not None:
        head += f", gain {o.gain_db:+.1f} dB, limiting {o.max_gain_reduction_db:.1f} dB"
    print(head, flush=True)
    for reason in o.reasons:
        print(f"  {reason}", flush=True)
