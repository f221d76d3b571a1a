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
from contextlib import closing
from dataclasses import asdict
from typing import Any, TypeVar

from aiohttp import web

from base.status import query_status
from fpstream import __version__
from fpstream.duplicates import DEFAULT_MAX_DISTANCE
from fpstream.serve import fingerprint, media, mixer
from fpstream.serve.security import BadRequest, json_body, query_int, query_str
from fpstream.serve.state import STATE, State
from fpstream.serve.vectors import Snapshot, display_name
from fpstream.show import percentile_columns
from store.library import LibraryError, connect, get_row

T = TypeVar("T")
MAX_K = 500  # neighbours, playlist tracks
MAX_PAGE = 200  # rows per page of search and duplicates
SEARCH_FIELDS = ("path", "status", "duration_s", "title", "artist", "album", "genre")
DUPLICATE_COLUMNS = ("group", "distance", "format", "size", "duration_s", "sample_rate", "channels", "path")


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
    key = snap.key(path)
    with closing(connect(snap.path)) as conn:
        row = get_row(conn, key)
    matrix = snap.features.matrix if key in snap.rows and snap.features.paths else None
    return {**row, **percentile_columns(row, matrix), "display_name": display_name(row)}


async def track(request: web.Request) -> web.Response:
    snap = state(request).live.snapshot
    return _json(await in_pool(_track_record, snap, query_str(request, "path")))


async def similar(request: web.Request) -> web.Response:
    snap = state(request).live.snapshot
    path = query_str(request, "path")
    k = query_int(request, "k", 10, 1, MAX_K)
    found = await in_pool(snap.similar, path, k)
    return _json([asdict(n) for n in found])


def _playlist(snap: Snapshot, seed: str, n: int, to: str | None) -> list[dict[str, Any]]:
    entries = snap.playlist(seed, n=n, to=to)
    keys = ("position", "step", "to_target", "duration_s", "path")
    if to is None:
        keys = tuple(k for k in keys if k != "to_target")
    return [{k: getattr(e, k) for k in keys} for e in entries]


async def playlist(request: web.Request) -> web.StreamResponse:
    snap = state(request).live.snapshot
    seed = query_str(request, "seed")
    to = query_str(request, "to", required=False) or None
    n = query_int(request, "n", 20, 2 if to else 1, MAX_K)
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "m3u"):
        raise BadRequest("format must be json or m3u")
    records = await in_pool(_playlist, snap, seed, n, to)
    if fmt == "json":
        return _json(records)
    out = io.StringIO()
    out.write("#EXTM3U\n")
    for r in records:
        seconds = -1 if r["duration_s"] is None else round(r["duration_s"])
        title = display_name(snap.rows.get(r["path"], {"path": r["path"]})).replace("\n", " ")
        out.write(f"#EXTINF:{seconds},{title}\n{r['path']}\n")
    return web.Response(
        text=out.getvalue(),
        content_type="audio/x-mpegurl",
        charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="fpstream-playlist.m3u"'},
    )


def _duplicate_records(snap: Snapshot, max_distance: float) -> list[list[dict[str, Any]]]:
    cache = snap.__dict__.setdefault("_serve_duplicates", {})
    if max_distance not in cache:
        groups = snap.duplicates(max_distance)
        cache[max_distance] = [
            [
                {"group": g.group, **{c: getattr(m, c) for c in DUPLICATE_COLUMNS if c != "group"}}
                for m in g.members
            ]
            for g in groups
        ]
    return cache[max_distance]


async def duplicates(request: web.Request) -> web.Response:
    snap = state(request).live.snapshot
    raw = request.query.get("max_distance")
    try:
        max_distance = DEFAULT_MAX_DISTANCE if raw is None else float(raw)
    except ValueError:
        raise BadRequest("max_distance must be a number") from None
    if not 0 < max_distance <= 2.0:
        raise BadRequest("max_distance must be in (0, 2]")
    offset = query_int(request, "offset", 0, 0, 10**9)
    limit = query_int(request, "limit", 50, 1, MAX_PAGE)
    groups = await in_pool(_duplicate_records, snap, max_distance)
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
