"""Turn the broker's counters (``base.status``) and the row counts into ``fpstream status`` text.

The broker answers a map (see ``base/status.py``)::

    {"pid", "endpoint", "curve", "uptime_s",
     "forwarded": {"chunks_in", "results_in", "acks_in"},   # messages since start
     "dropped":   {...same channels...},                     # malformed, logged
     "peers":     {channel: connected peers}}

From two answers ``elapsed`` seconds apart this module derives the commit
rate: each committed track is one acknowledgement the sink publishes through
the broker (``acks_in``), so ``Δacks / Δt`` is tracks per second.

"Chunks waiting" is ``chunks_in - results_in``: chunks the ingests handed to
the broker for which no partial (or failure) has come back yet, i.e. queued at
the broker, queued at an analyzer, or being analysed. It is an estimate: a
file that fails to decode sends a failure without any chunk, which makes the
difference read slightly low (never below 0 is shown).

Example output::

    stack at ipc:///run/user/1000/fpstream: up 1h 02m 13s (broker pid 41872)
      connected: 1 ingest, 4 analyzers, 1 sink
      forwarded: 54,210 chunks, 54,190 results, 1,250 commits; 0 malformed dropped
      chunks waiting for or in analysis: ~20
      committing 3.1 tracks/s (over 1.0 s)
    database fingerprints.db: 1,248 done, 2 failed
"""

from __future__ import annotations

from typing import Any

from base.durations import span

#: Peers per bound channel, and what they are (see ``base/status.py``).
ROLES: tuple[tuple[str, str], ...] = (
    ("chunks_in", "ingest"),
    ("chunks_out", "analyzer"),
    ("results_out", "sink"),
)


def rate(first: dict[str, Any], second: dict[str, Any] | None, elapsed: float) -> float | None:
    """Tracks committed per second between two answers (None without a second one)."""
    if second is None or elapsed <= 0 or second.get("pid") != first.get("pid"):
        return None
    acks = _count(second, "forwarded", "acks_in") - _count(first, "forwarded", "acks_in")
    return max(0, acks) / elapsed


def render_status(
    endpoint: str,
    first: dict[str, Any] | None,
    second: dict[str, Any] | None,
    elapsed: float,
    db_path: str,
    counts: dict[str, int] | None,
    db_note: str = "",
) -> str:
    """The text ``fpstream status`` prints (stdout); ``first`` None means no broker answered."""
    lines: list[str] = []
    if first is None:
        lines.append(f"stack at {endpoint}: not running (no broker answered)")
    else:
        latest = second or first
        security = ", CurveZMQ" if latest.get("curve") else ""
        lines.append(
            f"stack at {latest.get('endpoint', endpoint)}: up {span(float(latest.get('uptime_s', 0)))} "
            f"(broker pid {latest.get('pid')}{security})"
        )
        peers = latest.get("peers", {})
        connected = [_plural(int(peers.get(channel, 0)), role) for channel, role in ROLES]
        lines.append("  connected: " + ", ".join(connected))
        chunks = _count(latest, "forwarded", "chunks_in")
        results = _count(latest, "forwarded", "results_in")
        acks = _count(latest, "forwarded", "acks_in")
        dropped = sum(int(v) for v in latest.get("dropped", {}).values())
        lines.append(
            f"  forwarded: {chunks:,} chunks, {results:,} results, {acks:,} commits; "
            f"{dropped:,} malformed dropped"
        )
        lines.append(f"  chunks waiting for or in analysis: ~{max(0, chunks - results):,}")
        r = rate(first, second, elapsed)
        if r is not None:
            lines.append(f"  committing {r:.1f} tracks/s (over {elapsed:.1f} s)")
        for channel, role in ROLES:
            if int(peers.get(channel, 0)) == 0 and role != "ingest":
                lines.append(f"  warning: no {role} is connected (start one: python -m {role})")
    if counts is not None:
        done, failed = counts.get("done", 0), counts.get("failed", 0)
        lines.append(f"database {db_path}: {done:,} done, {failed:,} failed")
    else:
        lines.append(f"database: {db_note}")
    return "\n".join(lines) + "\n"


def _count(snapshot: dict[str, Any], group: str, channel: str) -> int:
    return int(snapshot.get(group, {}).get(channel, 0))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


