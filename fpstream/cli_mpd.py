"""``fpstream mpd``: queue tracks similar to MPD's current song (``queue``), or keep the queue
topped up while it plays (``auto``). The work is in ``fpstream.mpd_queue``; docs/mpd.md."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fpstream.cli_args import UserError, database, db_option, env_help, formatter, positive_int
from fpstream.cli_playlist import count, seconds, steering_of


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError("must be 1-65535")
    return port


def _steering_options(p: argparse.ArgumentParser) -> None:
    """The filters of ``fpstream playlist`` (and of the Lyrion mixer API), read by its ``steering_of``."""
    p.add_argument(
        "--no-repeat-artist", type=count, default=0, metavar="N",
        help="no two tracks of one artist within N tracks, the queue included; soft",
    )
    p.add_argument(
        "--no-repeat-album", type=count, default=0, metavar="N",
        help="no two tracks of one album within N tracks, the queue included; soft",
    )
    p.add_argument(
        "--min-duration", type=seconds, default=30.0, metavar="S",
        help="never queue a track shorter than S seconds (default 30; 0 keeps every track)",
    )
    p.add_argument(
        "--max-duration", type=seconds, default=None, metavar="S", help="never queue a track longer than S s"
    )
    p.add_argument(
        "--exclude", action="append", default=[], metavar="GLOB",
        help="never queue a track whose full path matches GLOB (fnmatch; repeatable)",
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "mpd",
        formatter_class=formatter,
        help="queue tracks similar to MPD's current song, once or whenever the queue runs low",
        description=(
            "Queue tracks similar to what MPD plays (the distance of `fpstream similar`):\n\n"
            "  queue N   append the N tracks nearest to the current song (--album: N whole\n"
            "            albums, as `fpstream playlist --album` chains them)\n"
            "  auto      run until Ctrl-C: whenever fewer than K tracks follow the current song\n"
            "            (MPD's idle events tell), append similar ones; survives MPD restarts\n\n"
            "Only tracks that are analysed rows of the library and lie in MPD's music folder\n"
            "are queued, never one already in the queue. MPD is reached as mpc reaches it:\n"
            "--host/--port, else MPD_HOST (host, socket path, or password@host) and MPD_PORT.\n"
            "MPD's URIs are relative to its music_directory, which MPD tells over a local\n"
            "socket; over TCP give --music-dir (the same folder, as the library's paths name it)."
        ),
        epilog=(
            "examples:\n"
            "  fpstream mpd queue 10\n"
            "  fpstream mpd --host 192.168.1.5 --music-dir /srv/music queue 3 --album\n"
            "  MPD_HOST=/run/mpd/socket fpstream mpd auto --keep 5\n\n"
            "exit status: 0 done, 1 a problem it names (MPD unreachable, song not in the\n"
            "library...), 2 usage error, 130 Ctrl-C. More: docs/mpd.md.\n\n"
            f"{env_help()}"
        ),
    )
    p.add_argument(
        "--host", metavar="H", help="MPD's host, socket path or password@host (default: $MPD_HOST)"
    )
    p.add_argument("--port", type=_port, metavar="P", help="MPD's TCP port (default: $MPD_PORT, else 6600)")
    p.add_argument(
        "--music-dir", type=Path, metavar="DIR",
        help="MPD's music folder as the library names it (default: MPD's music_directory, over a socket)",
    )
    db_option(p)
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    q = actions.add_parser(
        "queue", formatter_class=formatter, help="append N tracks similar to the current song",
        description="Append N tracks similar to MPD's current song and print their URIs.",
    )
    q.add_argument("n", type=positive_int, metavar="N", help="tracks (with --album: albums) to append")
    q.add_argument("--album", action="store_true", help="append N whole albums instead of N tracks")
    _steering_options(q)
    q.set_defaults(run=run_queue)

    a = actions.add_parser(
        "auto", formatter_class=formatter, help="keep the queue topped up until Ctrl-C",
        description=(
            "Whenever fewer than K tracks follow the current song while MPD plays, append\n"
            "tracks similar to it until K do. Waits on MPD's idle events (player, playlist);\n"
            "reconnects with backoff when MPD goes away. One log line per action on stderr."
        ),
    )
    a.add_argument("--keep", type=positive_int, default=5, metavar="K",
                   help="tracks to keep after the current one (default 5)")
    _steering_options(a)
    a.set_defaults(run=run_auto)


def run_queue(args: argparse.Namespace) -> int:
    from fpstream import mpd_queue as player
    from fpstream.api import Library

    steering = steering_of(args)
    lib = Library(database(args))
    addr = player.resolve_address(args.host, args.port)
    try:
        client = player.connect(addr)
    except player.LOST as exc:
        raise UserError(f"cannot reach MPD at {addr}: {player.reason(exc)}") from None
    try:
        urimap = player.UriMap(player.music_directory(client, addr, args.music_dir))
        seed, added = player.queue_similar(
            client, lib, urimap, args.n, steering, args.album, player.say_stderr
        )
    except player.LOST as exc:
        raise UserError(f"lost MPD at {addr}: {player.reason(exc)}") from None
    finally:
        player.disconnect(client)
    for path in added:
        print(urimap.to_uri(path))
    what = "albums' tracks" if args.album else "tracks"
    seed_name = urimap.to_uri(seed) or seed
    print(f"fpstream mpd: appended {len(added)} {what} similar to {seed_name}", file=sys.stderr)
    if not args.album and len(added) < args.n:
        print(f"fpstream mpd: only {len(added)} more tracks were within the filters", file=sys.stderr)
    return 0


def run_auto(args: argparse.Namespace) -> int:
    from fpstream import mpd_queue as player
    from fpstream.api import Library

    steering = steering_of(args)
    db = database(args)
    Library(db)  # a missing or foreign database fails now, not at the first top-up
    addr = player.resolve_address(args.host, args.port)
    player.auto(addr, args.music_dir, player.LibraryCache(db), args.keep, steering, player.say_stderr)
    return 0
