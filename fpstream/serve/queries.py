"""The JSON API: what the query commands answer, with the same fields as their ``--format json``.

Each handler reads the current :class:`~fpstream.serve.vectors.Snapshot` and runs
its numpy work in the loop's thread pool, so a slow query never stalls the others.
docs/serve.md lists every endpoint with an example.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from base.fields import FINGERPRINT_VERSION
from base.status import query_status
from fpstream import __version__
from fpstream.cli_playlist import COLUMNS as PLAYLIST_COLUMNS
from fpstream.cli_playlist import write_m3u
from fpstream.recordings import MAX_BER
from fpstream.same_recording import group_records
from fpstream.serve import fingerprint, media, mixer
from fpstream.serve.security import BadRequest, json_body, query_int, query_str
from fpstream.serve.state import STATE, State
from fpstream.serve.vectors import Snapshot, display_name
from fpstream.show import percentile_columns
from fpstream.steering import Steering
from store.library import LibraryError

T = TypeVar("T")
MAX_K = 500  # neighbours, playlist tracks
MAX_PAGE = 200  # rows per page of search and duplicates
SEARCH_FIELDS = ("path", "status", "duration_s", "title", "artist", "album", "genre")


async def in_pool(fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


def state(request: web.Request) -> State:
    return request.app[STATE]


def _json(data: Any) -> web.Response:
    return web.json_response(data, dumps=_dumps)


def _dumps(data: Any) -> str:
    import json

    return json.dumps(data, allow_nan=False, ensure_ascii=False)


async def health(request: web.Request) -> web.Response:
    st = state(request)
    snap = st.live.snapshot
    broker = await in_pool(query_status, None, 0.5)
    return _json(
        {
            "status": "ok",
            "version": __version__,
            "uptime_s": round(time.monotonic() - st.started, 3),
            "database": str(st.live.path),
            "rows": len(snap.rows),
            "analysed": len(snap.features.paths),
            "reloads": st.live.reloads,
            "stack": {
                "up": broker is not None,
                "endpoint": None if broker is None else broker.get("endpoint"),
                "peers": None if broker is None else broker.get("peers"),
            },
        }
    )


async def search(request: web.Request) -> web.Response:
    snap = state(request).live.snapshot
    text = query_str(request, "q", required=False)
    offset = query_int(request, "offset", 0, 0, 10**9)
    limit = query_int(request, "limit", 50, 1, MAX_PAGE)
    total, rows = await in_pool(snap.search, text, offset, limit)
    tracks = [{**{f: r[f] for f in SEARCH_FIELDS}, "display_name": display_name(r)} for r in rows]
    return _json({"total": total, "offset": offset, "limit": limit, "tracks": tracks})


def _track_record(snap: Snapshot, path: str) -> dict[str, Any]:
    row = snap.row(path)  # every stored column, from the file (as `fpstream show`)
    current = row["status"] == "done" and row["fingerprint_version"] == FINGERPRINT_VERSION
    matrix = snap.features.matrix if current else None
    return {**row, **percentile_columns(row, matrix), "display_name": display_name(row)}


async def track(request: web.Request) -> web.Response:
    snap = state(request).live.snapshot
    return _json(await in_pool(_track_record, snap, query_str(request, "path")))


def _similar(snap: Snapshot, path: str, k: int) -> list[dict[str, Any]]:
    found = snap.similar(path, k, Steering(min_duration_s=None))  # as `fpstream similar`
    return [
        {"rank": r, "distance": d, "artist": t.artist or t.album_artist, "title": t.title, "album": t.album,
         "path": t.path}
        for r, (t, d) in enumerate(found, start=1)
    ]  # fmt: skip  (the records of `fpstream similar --format json`)


async def similar(request: web.Request) -> web.Response:
    snap = state(request).live.snapshot
    path = query_str(request, "path")
    k = query_int(request, "k", 10, 1, MAX_K)
    return _json(await in_pool(_similar, snap, path, k))


def _steering(request: web.Request) -> Steering:
    """The playlist options of `fpstream playlist`, with its defaults (min_duration 30 s)."""
    raw_min = request.query.get("min_duration", "30")
    raw_max = request.query.get("max_duration")
    try:
        min_s = float(raw_min)
        max_s = None if raw_max in (None, "") else float(raw_max)
        return Steering(
            no_repeat_artist=query_int(request, "no_repeat_artist", 0, 0, 1000),
            no_repeat_album=query_int(request, "no_repeat_album", 0, 0, 1000),
            min_duration_s=min_s or None,
            max_duration_s=max_s,
            exclude=tuple(request.query.getall("exclude", []))[:MAX_PAGE],
        )
    except ValueError as exc:
        raise BadRequest(f"playlist options: {exc}") from None


def _playlist(snap: Snapshot, seeds: list[str], n: int, to: str | None, steering: Steering) -> list:
    return snap.playlist_entries(seeds, n, to=to, steering=steering)


async def playlist(request: web.Request) -> web.StreamResponse:
    snap = state(request).live.snapshot
    seeds = request.query.getall("seed", [])
    if not seeds or not all(seeds):
        raise BadRequest("the query parameter seed is required (repeat it for several seeds)")
    if len(seeds) > 50:
        raise BadRequest("at most 50 seeds")
    to = query_str(request, "to", required=False) or None
    n = query_int(request, "n", 20, 2 if to else 1, MAX_K)
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "m3u"):
        raise BadRequest("format must be json or m3u")
    entries = await in_pool(_playlist, snap, seeds, n, to, _steering(request))
    if fmt == "json":
        columns = PLAYLIST_COLUMNS if to else tuple(c for c in PLAYLIST_COLUMNS if c != "to_target")
        tags = ("artist", "title", "album")  # as `fpstream playlist --format json` lists them
        return _json([{**{c: getattr(e, c) for c in columns}, **{t: getattr(e.track, t, None) for t in tags}}
                      for e in entries])  # fmt: skip
    out = io.StringIO()
    write_m3u(entries, out)  # the M3U of `fpstream playlist --format m3u`
    return web.Response(
        text=out.getvalue(),
        content_type="audio/x-mpegurl",
        charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="fpstream-playlist.m3u"'},
    )


def _duplicate_records(snap: Snapshot, max_ber: float) -> list[list[dict[str, Any]]]:
    """The records of ``fpstream duplicates --format json``, by group (Chromaprint: docs/duplicates.md)."""
    cache = snap.__dict__.setdefault("_serve_duplicates", {})
    if max_ber not in cache:
        cache[max_ber] = [group_records(g) for g in snap.duplicates(max_ber).groups]
    return cache[max_ber]


async def duplicates(request: web.Request) -> web.Response:
    snap = state(request).live.snapshot
    raw = request.query.get("max_ber")
    try:
        max_ber = MAX_BER if raw is None else float(raw)
    except ValueError:
        raise BadRequest("max_ber must be a number") from None
    if not 0 <= max_ber < 0.5:
        raise BadRequest("max_ber must be at least 0 and below 0.5")
    offset = query_int(request, "offset", 0, 0, 10**9)
    limit = query_int(request, "limit", 50, 1, MAX_PAGE)
    groups = await in_pool(_duplicate_records, snap, max_ber)
    page = [r for g in groups[offset : offset + limit] for r in g]
    return _json({"groups": len(groups), "offset": offset, "limit": limit, "records": page})


async def audio(request: web.Request) -> web.StreamResponse:
    st = state(request)
    snap = st.live.snapshot
    path = query_str(request, "path")
    key = snap.key(path)
    if key not in snap.rows:
        raise BadRequest("only tracks of the library are served, and this path is not one", 404)
    real, stat_result = media.safe_file(key, st.paths.music_dirs)
    return await media.send_file(request, real, stat_result)


async def mix(request: web.Request) -> web.Response:
    return await _mixer(request, single=False)


async def mix_list(request: web.Request) -> web.Response:
    return await _mixer(request, single=True)


async def _mixer(request: web.Request, single: bool) -> web.Response:
    st = state(request)
    body = await json_body(request)
    text = await in_pool(mixer.answer, st.live.snapshot, st.paths, body, single)
    return web.Response(text=text, content_type="text/plain", charset="utf-8")


async def ready(request: web.Request) -> web.Response:
    return web.Response(text="1", content_type="text/plain")


async def fingerprint_file(request: web.Request) -> web.Response:
    st = state(request)
    body = await json_body(request)
    given = body.get("path")
    if not isinstance(given, str) or not given or len(given) > 4096 or "\x00" in given:
        raise BadRequest("path (a file path string) is required")
    key = given if given.startswith("/") else next(iter(st.paths.candidates(given)), given)
    key = st.live.snapshot.key(key)
    stat_result = fingerprint.check_file(key, list(st.paths.music_dirs))
    row = await in_pool(fingerprint.current_row, st.live.path, key, stat_result)
    if row is not None:
        return _json({"analysed": False, "row": row})
    if await in_pool(query_status, None, 1.0) is None:
        raise BadRequest("no stack is running (no broker answered): start one with `make run`", 503)
    async with st.feeds:
        code, err = await fingerprint.run_ingest(st.live.path, key)
    row = await in_pool(fingerprint.stored_row, st.live.path, key)
    if code != 0 or row is None:
        tail = err.strip().splitlines()[-1] if err.strip() else f"exit status {code}"
        raise BadRequest(f"ingest did not commit {key}: {tail}", 502)
    return _json({"analysed": True, "row": row})


ROUTES: tuple[tuple[str, str, Callable[[web.Request], Any]], ...] = (
    ("GET", "/health", health),
    ("GET", "/api/search", search),
    ("GET", "/api/track", track),
    ("GET", "/api/similar", similar),
    ("GET", "/api/playlist", playlist),
    ("GET", "/api/duplicates", duplicates),
    ("GET", "/api/audio", audio),
    ("POST", "/api/fingerprint", fingerprint_file),
    ("POST", "/api/mix", mix),
    ("POST", "/api/list", mix_list),
    ("GET", "/api/ready", ready),
)

__all__ = ["ROUTES", "LibraryError"]
