"""What the handlers share: the live library, the path mapping, the start time."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from aiohttp import web

from fpstream.serve.mixer import PathMap
from fpstream.serve.vectors import LiveLibrary

MAX_FEEDS = 2  # ingest processes POST /api/fingerprint may run at once


@dataclass
class State:
    live: LiveLibrary
    paths: PathMap
    started: float = field(default_factory=time.monotonic)
    feeds: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(MAX_FEEDS))


STATE = web.AppKey("state", State)
