"""What the broker counts for its ``status`` channel (the answer's shape and the client that
asks are in :mod:`base.status`)."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from base.config import CHANNELS

FORWARDING_CHANNELS = ("chunks_in", "results_in", "acks_in")


class Counters:
    """What the broker has seen, kept by the forwarding loop and read by ``status``."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.forwarded: Counter[str] = Counter({c: 0 for c in FORWARDING_CHANNELS})
        self.dropped: Counter[str] = Counter({c: 0 for c in FORWARDING_CHANNELS})
        self.peers: Counter[str] = Counter({c: 0 for c in CHANNELS})

    def snapshot(self, pid: int, endpoint: str, curve: bool) -> dict[str, Any]:
        return {
            "pid": pid,
            "endpoint": endpoint,
            "curve": curve,
            "uptime_s": round(time.monotonic() - self.started, 3),
            "forwarded": dict(self.forwarded),
            "dropped": dict(self.dropped),
            "peers": {c: max(0, n) for c, n in self.peers.items()},
        }
