"""Collects the partials of each track until it is complete, and decides each track once.

A track is keyed by ``(ingest id, track number)``. Its chunks arrive in any
order, from any analyzer and any attempt: ingest re-sends a track that was not
acknowledged in time, and since chunking is deterministic, chunk ``i`` of
attempt 2 is the same as chunk ``i`` of attempt 1, so the first copy of each
index is kept and later copies are ignored.

A track is *decided* by whichever comes first: its complete set of partials
(-> a ``done`` row, unless fingerprinting fails) or a ``Failed`` message (->
a ``failed`` row). Everything that arrives for a decided track afterwards is a
duplicate: it never causes a second write. If the track's row is already
committed, a duplicate that ends an attempt (last chunk, or ``Failed``) is
answered with the same ack again, because ingest re-sends exactly when an
ack was lost. Decided keys are remembered up to ``remember`` tracks.

Memory is bounded: a track that receives nothing for ``stale_after_s`` is
dropped (ingest will re-send it or report it failed), and at most
``max_tracks`` tracks are assembled at once (the oldest is dropped first).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from base.protocol import Ack, Failed, Partial, ProtocolError, TrackRef

Key = tuple[str, int]


def key_of(ref: TrackRef) -> Key:
    return (ref.ingest, ref.track)


@dataclass
class Assembly:
    ref: TrackRef
    sample_rate: int
    channels: int
    touched: float
    bodies: dict[int, dict[str, Any]] = field(default_factory=dict)
    last_index: int | None = None
    tags: dict[str, str | int] = field(default_factory=dict)  # from the last chunk's partial

    @property
    def complete(self) -> bool:
        return self.last_index is not None and len(self.bodies) == self.last_index + 1


@dataclass(frozen=True)
class Complete:
    """Every chunk of a track is here: fingerprint it."""

    ref: TrackRef
    sample_rate: int
    channels: int
    bodies: list[dict[str, Any]]  # in chunk order
    tags: dict[str, str | int] = field(default_factory=dict)


@dataclass(frozen=True)
class Reack:
    ack: Ack


Decision = Complete | Failed | Reack | None  # Failed: write a failed row


class Assembler:
    def __init__(
        self, stale_after_s: float = 900.0, max_tracks: int = 10_000, remember: int = 200_000
    ) -> None:
        self.stale_after_s = stale_after_s
        self.max_tracks = max_tracks
        self.remember = remember
        self.assembling: OrderedDict[Key, Assembly] = OrderedDict()  # least recently touched first
        self.decided: OrderedDict[Key, Ack | None] = OrderedDict()  # None until its row is committed
        self.duplicates = 0
        self.evicted = 0

    def partial(self, p: Partial, now: float | None = None) -> Decision:
        """Take one partial; raises ProtocolError if it contradicts the track's other partials."""
        now = time.monotonic() if now is None else now
        key = key_of(p.ref)
        if key in self.decided:
            self.duplicates += 1
            ack = self.decided[key]
            return Reack(ack) if ack is not None and p.last else None
        a = self.assembling.get(key)
        if a is None:
            a = self.assembling[key] = Assembly(p.ref, p.sample_rate, p.channels, now)
            self._bound_tracks()
        last = p.index if p.last else a.last_index
        if (p.sample_rate, p.channels, p.ref.path) != (a.sample_rate, a.channels, a.ref.path):
            contradiction = "disagrees with its other chunks on format or path"
        elif last is not None and (p.index > last or (a.bodies and max(a.bodies) > last)):
            contradiction = f"contradicts the others: chunks beyond the last chunk {last}"
        else:
            contradiction = ""
        if contradiction:
            # Which message is wrong is unknowable: start the track over, so a re-send can complete it.
            del self.assembling[key]
            raise ProtocolError(
                f"partial {p.index} of track {key} {contradiction}; its partials are discarded"
            )
        a.touched = now
        self.assembling.move_to_end(key)
        if p.index in a.bodies:
            self.duplicates += 1
            return None
        a.bodies[p.index] = p.body
        a.last_index = last
        if p.last:
            a.tags = p.tags
        if not a.complete:
            return None
        del self.assembling[key]
        self._decide(key)
        bodies = [a.bodies[i] for i in range(len(a.bodies))]
        return Complete(a.ref, a.sample_rate, a.channels, bodies, a.tags)

    def failed(self, f: Failed) -> Decision:
        key = key_of(f.ref)
        if key in self.decided:
            self.duplicates += 1
            ack = self.decided[key]
            return Reack(ack) if ack is not None else None
        self.assembling.pop(key, None)
        self._decide(key)
        return f

    def single(self, ref: TrackRef) -> bool | Reack | None:
        """A one-message unit (an update or a sweep): True the first time (perform it), else the
        duplicate's answer (a Reack once performed, None while it is being performed)."""
        key = key_of(ref)
        if key in self.decided:
            self.duplicates += 1
            ack = self.decided[key]
            return Reack(ack) if ack is not None else None
        self.assembling.pop(key, None)
        self._decide(key)
        return True

    def committed(self, ack: Ack) -> None:
        """The track's row is in the database: duplicates from now on are re-acknowledged."""
        self.decided[(ack.ingest, ack.track)] = ack

    def evict_stale(self, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        n = 0
        while self.assembling:
            key, a = next(iter(self.assembling.items()))
            if now - a.touched < self.stale_after_s:
                break
            del self.assembling[key]
            n += 1
        self.evicted += n
        return n

    def _decide(self, key: Key) -> None:
        self.decided[key] = None
        while len(self.decided) > self.remember:
            self.decided.popitem(last=False)

    def _bound_tracks(self) -> None:
        while len(self.assembling) > self.max_tracks:
            self.assembling.popitem(last=False)
            self.evicted += 1
