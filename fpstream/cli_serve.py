"""``fpstream serve``: the library over HTTP (JSON API, Lyrion's mixer API, a web app)."""

from __future__ import annotations

import argparse
import logging
import sys

from fpstream.cli_args import UserError, database, db_option, env_help, formatter, weights

DEFAULT_PORT = 12000  # Lyrion's Bliss Mixer plugin calls http://localhost:12000 unless told otherwise


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        formatter_class=formatter,
        help="serve the library over HTTP: JSON API, Lyrion mixer API, web app",
        description=(
            "An HTTP service on the library: the web app at /, a JSON API over what the query\n"
            "commands do (/api/search, /api/track, /api/similar, /api/playlist, /api/duplicates),\n"
            "the Lyrion mixer API (POST /api/mix, /api/list: the Bliss Mixer plugin works\n"
            "unchanged pointed at this port), POST /api/fingerprint (through the running stack)\n"
            "and GET /health. The library's vectors are held in memory; rows a feed commits are\n"
            "seen within a second, without a restart. Listens on 127.0.0.1 unless --host says\n"
            "otherwise; beyond loopback a token is required (--token, or one generated and\n"
            "printed). Everything is documented in docs/serve.md."
        ),
        epilog=(
            "examples:\n"
            "  fpstream serve                                   # http://127.0.0.1:12000/\n"
            "  fpstream serve --music-dir ~/Music               # Lyrion's music folder, as seen here\n"
            "  fpstream serve --music-dir /srv/music --path-map /media/music=/srv/music\n"
            "  fpstream serve --host 0.0.0.0 --token \"$(cat ~/.fpstream-token)\"\n\n"
            f"{env_help()}"
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})")
    p.add_argument(
        "--music-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="folder that relative paths from a player are resolved against (repeatable)",
    )
    p.add_argument(
        "--path-map",
        action="append",
        default=[],
        metavar="FROM=TO",
        help="an absolute path starting with FROM (the player's mount) is TO + the rest here (repeatable)",
    )
    p.add_argument("--token", help="the token required beyond loopback (default: generated, printed)")
    p.add_argument("--weights", type=weights, default="default", metavar="SPEC", help="as for `similar`")
    db_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from aiohttp import web

    from fpstream.serve.app import make_app
    from fpstream.serve.mixer import PathMap
    from fpstream.serve.security import is_loopback_host, new_token
    from fpstream.serve.vectors import LiveLibrary

    if not 0 < args.port < 65536:
        raise UserError(f"--port must be 1-65535, not {args.port}")
    try:
        paths = PathMap.parse(args.music_dir, args.path_map)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    token = args.token
    if not is_loopback_host(args.host) and not token:
        token = new_token()
        print(f"fpstream serve: token (required beyond loopback): {token}", file=sys.stderr, flush=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s fpstream serve: %(message)s")
    live = LiveLibrary(database(args), args.weights)
    snap = live.snapshot
    print(
        f"fpstream serve: {len(snap.rows):,} rows, {len(snap.features.paths):,} analysed, "
        f"loaded in {snap.load_s:.2f} s; listening on http://{args.host}:{args.port}/",
        file=sys.stderr,
        flush=True,
    )
    app = make_app(live, paths, token if not is_loopback_host(args.host) else args.token)
    try:
        web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)
    except OSError as exc:
        raise UserError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    return 0
