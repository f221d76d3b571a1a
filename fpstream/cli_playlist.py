"""``fpstream playlist``: a smooth sequence from seeds, a path from one track to another, or whole albums,
steered by ``fpstream.steering`` (no-repeat, durations, excluded globs)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from fpstream.cli_args import UserError, database, db_option, format_option, formatter, positive_int, weights
from fpstream.thresholds import DEFAULT_MAX_DISTANCE

if TYPE_CHECKING:  # the parser is built without numpy (tests/test_cli_startup.py); steering needs it
    from fpstream.steering import Steering

COLUMNS = ("position", "step", "to_target", "duration_s", "path")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "playlist",
        formatter_class=formatter,
        help="a playlist that moves smoothly from SEED... (or from SEED to --to TRACK, or whole albums)",
        description=(
            "Build a playlist from SEED through the fingerprint space (the distance of\n"
            "`fpstream similar`):\n\n"
            "  one SEED      N tracks: each next one is the not-yet-played track nearest to\n"
            "                the current one, so every step is short;\n"
            "  SEED SEED...  N tracks near the set: each seed in turn adds its nearest track\n"
            "                (round-robin, so every seed gets its share), then the tracks are\n"
            "                put in a smooth order starting with the first seed;\n"
            "  --to TRACK    at most N tracks from SEED to TRACK: every track is closer to TRACK\n"
            "                than the one before, and the largest step is as small as possible;\n"
            "  --album       N whole albums, from SEED's: each next album is the one whose mean\n"
            "                fingerprint is nearest to the current album's.\n\n"
            "No track appears twice, and neither do two copies of one recording (tracks within\n"
            f"the duplicates distance, {DEFAULT_MAX_DISTANCE:g}, of one already listed).\n\n"
            "Steering (every mode; the seeds and TRACK always play): --min-duration (default\n"
            "30 s, so jingles stay out), --max-duration, --exclude GLOB; --no-repeat-artist N\n"
            "and --no-repeat-album N keep an artist or album out of the next N tracks, softly\n"
            "(as Lyrion's mixers do: when no candidate is left, the window shrinks). Artist and\n"
            "album are the tags when the library has them, else the folders Artist/Album/file.\n"
            "Details: docs/playlists.md.\n\n"
            "Output: a table (position, step = distance from the previous track, distance to\n"
            "the target, duration, path), json/jsonl/csv, or extended M3U (--format m3u, or\n"
            "--m3u FILE to write a playlist file for a player)."
        ),
        epilog=(
            "examples:\n"
            "  fpstream playlist ~/Music/a.flac -n 30\n"
            "  fpstream playlist a.flac b.ogg c.mp3 -n 40 --no-repeat-album 3 --min-duration 60\n"
            "  fpstream playlist ~/Music/a.flac --album -n 3 --m3u albums.m3u\n"
            "  fpstream playlist ~/Music/a.flac --exclude '*/Christmas/*' --exclude '*jingle*'\n"
            "  fpstream playlist ~/Music/calm.flac --to ~/Music/loud.flac -n 12 --m3u warmup.m3u\n"
            "  fpstream playlist ~/Music/a.flac --format m3u > a.m3u\n"
            "  fpstream playlist ~/Music/a.flac --format jsonl | jq -r .path\n\n"
            "The 25 numbers are defined in docs/fingerprint.md."
        ),
    )
    p.add_argument(
        "seeds", nargs="+", metavar="SEED", help="the first track(s): paths, or words of artist, album, title"
    )
    p.add_argument(
        "-n", type=positive_int, default=None, metavar="N", help="tracks to list (default 20; albums: 3)"
    )
    p.add_argument("--to", metavar="TRACK", help="end at TRACK, getting closer to it at every step")
    p.add_argument("--album", action="store_true", help="whole albums (N albums), in order of similarity")
    p.add_argument(
        "--no-repeat-artist",
        type=count,
        default=0,
        metavar="N",
        help="no two tracks of one artist within N tracks (albums with --album); soft",
    )
    p.add_argument(
        "--no-repeat-album",
        type=count,
        default=0,
        metavar="N",
        help="no two tracks of one album within N tracks; soft",
    )
    p.add_argument(
        "--min-duration",
        type=seconds,
        default=30.0,
        metavar="S",
        help="leave out tracks shorter than S seconds (default 30; 0 keeps every track)",
    )
    p.add_argument(
        "--max-duration", type=seconds, default=None, metavar="S", help="leave out tracks longer than S s"
    )
    p.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="leave out tracks whose full path matches GLOB (fnmatch: * ? [..]; repeatable)",
    )
    p.add_argument("--m3u", metavar="FILE", type=Path, help="also write the playlist to FILE as extended M3U")
    p.add_argument(
        "--weights", type=weights, default="default", metavar="SPEC", help="as for `fpstream similar`"
    )
    format_option(p, extra=("m3u",))
    db_option(p)
    p.set_defaults(run=run)


def count(text: str) -> int:
    """A number of tracks, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def seconds(text: str) -> float:
    """A duration in seconds, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds, 0 or more, got {text}")
    return value


def steering_of(args: argparse.Namespace) -> Steering:
    """The :class:`~fpstream.steering.Steering` the options ask for."""
    from fpstream.steering import Steering

    try:
        return Steering(
            no_repeat_artist=args.no_repeat_artist,
            no_repeat_album=args.no_repeat_album,
            min_duration_s=args.min_duration or None,
            max_duration_s=args.max_duration,
            exclude=tuple(args.exclude),
        )
    except ValueError as exc:
        raise UserError(
            str(exc).replace("min_duration_s", "--min-duration").replace("max_duration_s", "--max-duration")
        ) from None


def write_m3u(entries: list, out: TextIO) -> None:
    """Extended M3U: ``#EXTM3U``, then ``#EXTINF:<seconds>,<Artist - Title or file name>`` and the path."""
    out.write("#EXTM3U\n")
    for e in entries:
        seconds = -1 if e.duration_s is None else round(e.duration_s)
        name = e.track.display_name if e.track is not None else Path(e.path).stem
        title = name.replace("\n", " ")
        out.write(f"#EXTINF:{seconds},{title}\n{e.path}\n")


def run(args: argparse.Namespace) -> int:
    from fpstream.api import Library
    from fpstream.names import resolve_track
    from fpstream.output import write_records

    steering = steering_of(args)
    lib = Library(database(args), weights=args.weights)
    # a SEED or TRACK may be words of its tags (docs/library.md)
    args.seeds = [resolve_track(lib, seed) for seed in args.seeds]
    args.to = None if args.to is None else resolve_track(lib, args.to)
    if args.album:
        if args.to is not None or len(args.seeds) > 1:
            raise UserError("--album takes one SEED and no --to")
        n = 3 if args.n is None else args.n
        entries = lib.album_playlist_entries(args.seeds[0], n, steering)
    else:
        n = 20 if args.n is None else args.n
        entries = lib.playlist_entries(args.seeds, n, to=args.to, steering=steering)
    if args.m3u is not None:
        tmp = args.m3u.with_name(f".{args.m3u.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as out:
                write_m3u(entries, out)
            os.replace(tmp, args.m3u)
        except OSError as exc:
            raise UserError(f"cannot write {args.m3u}: {exc.strerror or exc}") from None
        finally:
            tmp.unlink(missing_ok=True)
    if args.format == "m3u":
        write_m3u(entries, sys.stdout)
        return 0
    columns = COLUMNS if args.to else tuple(c for c in COLUMNS if c != "to_target")
    tags = ("artist", "title", "album")
    if args.format != "table" or any(e.track is not None and e.track.title for e in entries):
        columns = (*columns[:-1], *tags, columns[-1])  # the tags, before the path
    records = [
        {**{c: getattr(e, c) for c in COLUMNS}, **{t: getattr(e.track, t, None) for t in tags}}
        for e in entries
    ]
    write_records(records, columns, args.format, sys.stdout)
    if len(entries) < n and args.to is None and not args.album:
        print(
            f"fpstream playlist: the library had only {len(entries)} distinct tracks allowed", file=sys.stderr
        )
    if not args.album and (steering.no_repeat_artist or steering.no_repeat_album):
        from fpstream.steering import Spacing

        rows = [lib.features.index_of(e.path) for e in entries]
        if gave_way := len(Spacing(lib.catalogue, steering).conflicts(rows)):
            print(
                f"fpstream playlist: note: {gave_way} tracks follow one of their artist or album sooner than "
                "asked: too few other candidates (the no-repeat rules are soft)",
                file=sys.stderr,
            )
    return 0
