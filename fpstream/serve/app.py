"""The aiohttp application of ``fpstream serve`` and its server loop.

:func:`make_app` wires the routes (``queries.ROUTES``), the web app's static files
(``fpstream/serve/static``), the guard middleware (``security``) and a watcher
task that reloads the library when the file changed (``vectors``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from aiohttp import web

from fpstream.serve.mixer import PathMap
from fpstream.serve.queries import ROUTES
from fpstream.serve.security import MAX_BODY, TOKEN_KEY, guard
from fpstream.serve.state import STATE, State
from fpstream.serve.vectors import LiveLibrary

log = logging.getLogger("fpstream.serve")
STATIC = Path(__file__).with_name("static")
WATCH_S = 0.5  # how often the database's data_version is asked (microseconds each)


async def _index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


async def _watch(app: web.Application) -> None:
    """Reload the library whenever another connection committed (a feed) or the file was replaced."""
    live = app[STATE].live
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(WATCH_S)
        try:
            version = await loop.run_in_executor(None, live.changed)
            if version is not None:
                fresh = await loop.run_in_executor(None, live.reload, version)
                log.info(
                    "library reloaded: %d rows, %d analysed (%.2f s)",
                    len(fresh.rows),
                    len(fresh.features.paths),
                    fresh.load_s,
                )
        except Exception as exc:  # a database briefly unreadable: keep the old snapshot, try again
            log.warning("library reload failed, keeping the loaded one: %s", exc)


async def _watcher(app: web.Application):
    task = asyncio.create_task(_watch(app))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    app[STATE].live.close()


def make_app(live: LiveLibrary, paths: PathMap, token: str | None = None) -> web.Application:
    """The service: ``live`` answers the queries, ``paths`` maps player paths, ``token`` (when set)
    is required from peers beyond loopback."""
    app = web.Application(middlewares=[guard], client_max_size=MAX_BODY)
    app[STATE] = State(live, paths)
    if token:
        app[TOKEN_KEY] = token
    for method, route, handler in ROUTES:
        if method == "GET":
            app.router.add_get(route, handler)  # and HEAD
        else:
            app.router.add_route(method, route, handler)
    app.router.add_get("/", _index)
    app.router.add_static("/static/", STATIC, follow_symlinks=False)
    app.cleanup_ctx.append(_watcher)
    return app
