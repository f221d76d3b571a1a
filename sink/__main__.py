"""Sink: merges each track's partials into its row, commits rows in batches, then acknowledges them.

    broker PUSH results_out ──► PULL [assemble → fingerprint → batch → commit] PUB ──► broker XSUB acks_in

A track's ack (topic = its ingest id) is published only after its row is
committed, so an acknowledged track is on disk. Fingerprinting (tempo and
beat tracking, ~10-50 ms a track) runs in a thread pool, off the event loop;
its kernels release the GIL. Commits happen every ``FPSTREAM_BATCH_ROWS`` rows
or ``FPSTREAM_BATCH_MS`` milliseconds, whichever comes first.

Receipts: after each batch of received messages, the sink tells each ingest
which of its chunk sends (``seq``) it now holds, on the ack channel, with this
sink's instance id. Ingest uses them to re-send a lost chunk within seconds
(``ingest/tracker.py``); a new instance id tells it that what the previous sink
held but had not committed is gone. Every receive is ``NOBLOCK``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import signal
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiosqlite
import zmq
import zmq.asyncio

from base import logs, protocol
from base.config import database_path, env_float, env_int, settings_epilog
from base.sockets import RESULT_HWM, Sockets
from dsp.fingerprint import fingerprint_or_error
from sink.assembler import Assembler, Complete, Decision, Reack
from store import db as store

log = logging.getLogger("sink")

RECEIVE_BATCH = 500  # messages handled before the loop checks whether a commit is due
SHUTDOWN_GRACE_S = 1.0  # how long SIGTERM waits for fingerprints already being computed
GIVE_UP_AFTER_S = 60.0  # a database that refuses writes this long stops the sink (and the stack)


def compute_row(track: Complete) -> store.Row:
    """The row for a complete track (runs in a worker thread). Never raises: failure is a row too."""
    merged = fingerprint_or_error(track.bodies, track.sample_rate, track.channels)
    row = store.track_row(track.ref, track.sample_rate, track.channels, merged, track.tags)
    if row.status == "failed":
        log.warning("%s: %s", track.ref.path, row.error)
    return row


class Sink:
    def __init__(self, sockets: Sockets, db: aiosqlite.Connection, threads: int) -> None:
        self.results = sockets.connect(zmq.PULL, "results_out", rcvhwm=RESULT_HWM)
        self.acks = sockets.connect(zmq.PUB, "acks_in", sndhwm=RESULT_HWM)
        self.db = db
        self.batch_rows = env_int("FPSTREAM_BATCH_ROWS", 200)
        self.batch_s = env_float("FPSTREAM_BATCH_MS", 250) / 1000
        self.assembler = Assembler(stale_after_s=env_float("FPSTREAM_STALE_S", 900))
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="fingerprint")
        self.drop = logs.DropReport(log)
        self.pending: list[tuple[store.Row, protocol.Ack]] = []
        self.pending_tags: list[tuple[tuple[Any, ...], protocol.Ack]] = []  # tags-only updates
        self.commit_at: float | None = None  # set when the first row of a batch is added
        self.failing_since: float | None = None
        self.fingerprinting: set[asyncio.Task[None]] = set()
        self.committed = {"done": 0, "failed": 0}
        self.tags_written = 0  # tags-only updates committed
        self.instance = secrets.token_hex(8)
        self.receipts: defaultdict[str, list[int]] = defaultdict(list)  # ingest id -> seqs received

    async def run(self, stop: asyncio.Event) -> None:
        next_eviction = time.monotonic() + 5
        while not stop.is_set():
            if await self.results.poll(self.ms_until_commit(), zmq.POLLIN):
                for _ in range(RECEIVE_BATCH):
                    try:
                        frames = await self.results.recv_multipart(zmq.NOBLOCK, copy=False)
                    except zmq.Again:
                        break  # drained, or POLLIN with nothing to read (CurveZMQ handshakes)
                    await self.handle(frames)
                await self.send_receipts()
            if self.commit_due():
                await self.commit()
            if time.monotonic() > next_eviction:
                next_eviction = time.monotonic() + 5
                if n := self.assembler.evict_stale():
                    log.warning("evicted %d incomplete tracks that received nothing for a while", n)

    async def handle(self, frames: list[zmq.Frame]) -> None:
        try:
            result = protocol.decode_result(frames)
            if isinstance(result, protocol.TagsUpdate):
                self.add_tags(result)
                return
            if isinstance(result, protocol.Update | protocol.Sweep):
                first = self.assembler.single(result.ref)
                if result.seq >= 0:
                    self.receipts[result.ref.ingest].append(result.seq)
                if first is True:
                    try:
                        await self.perform(result)
                    except Exception as exc:  # a database error: not acked, so ingest sends it again
                        log.error("%s of %s failed (will be re-sent): %s: %s", type(result).__name__,
                                  result.ref.path, type(exc).__name__, exc)
                        self.assembler.decided.pop((result.ref.ingest, result.ref.track), None)
                elif isinstance(first, Reack):
                    await self.publish(first.ack)
                return
            decision: Decision = (
                self.assembler.partial(result)
                if isinstance(result, protocol.Partial)
                else self.assembler.failed(result)
            )
        except Exception as exc:  # ProtocolError, or anything a hostile message provokes
            self.drop("results_out", exc, frames)
            return
        if result.seq >= 0:
            self.receipts[result.ref.ingest].append(result.seq)
        if isinstance(decision, Complete):
            task = asyncio.create_task(self.fingerprint(decision))
            self.fingerprinting.add(task)
            task.add_done_callback(self.fingerprinting.discard)
        elif isinstance(decision, protocol.Failed):
            self.add(store.failed_row(decision.ref, decision.error), decision.ref)
        elif isinstance(decision, Reack):
            await self.publish(decision.ack)

    async def perform(self, message: protocol.Update | protocol.Sweep) -> None:
        """Apply an update or sweep now (after the rows already waiting: order is kept), then ack it.

        An update whose row is gone (pruned meanwhile) becomes a failed row without size or
        mtime, so that the next run analyses the file."""
        if self.pending or self.pending_tags:
            await self.commit()
        ref = message.ref
        if isinstance(message, protocol.Sweep):
            await store.mark_missing(self.db, message.missing, message.found, message.since)
            status = "done"
        else:
            status = await store.apply_update(self.db, ref, message.old_path) or ""
            if not status:
                error = f"its fingerprint (stored as {message.old_path}) was removed before it could be kept"
                log.warning("%s: %s", ref.path, error)
                unknown = protocol.TrackRef(ref.ingest, ref.track, ref.attempt, ref.path, -1, -1, ref.meta)
                await store.upsert(self.db, [store.failed_row(unknown, error)])
                status = "failed"
            elif message.old_path != ref.path:
                log.info("%s: moved from %s, fingerprint kept", ref.path, message.old_path)
        ack = protocol.Ack(ingest=ref.ingest, track=ref.track, path=ref.path, status=status)
        self.committed[status] += 1
        self.assembler.committed(ack)
        await self.publish(ack)

    async def fingerprint(self, track: Complete) -> None:
        row = await asyncio.get_running_loop().run_in_executor(self.executor, compute_row, track)
        self.add(row, track.ref)

    def add(self, row: store.Row, ref: protocol.TrackRef) -> None:
        ack = protocol.Ack(ingest=ref.ingest, track=ref.track, path=ref.path, status=row.status)
        self.pending.append((row, ack))
        if self.commit_at is None:
            self.commit_at = time.monotonic() + self.batch_s

    def add_tags(self, update: protocol.TagsUpdate) -> None:
        """A done row gets its tags (idempotent: a re-sent update writes the same values again)."""
        ref = update.ref
        ack = protocol.Ack(ingest=ref.ingest, track=ref.track, path=ref.path, status="done")
        self.pending_tags.append((store.tags_update(ref.path, update.tags), ack))
        if self.commit_at is None:
            self.commit_at = time.monotonic() + self.batch_s

    def ms_until_commit(self) -> int:
        if self.commit_at is None:
            return 250
        return max(0, min(250, int((self.commit_at - time.monotonic()) * 1000)))

    def commit_due(self) -> bool:
        if not self.pending and not self.pending_tags:
            return False
        assert self.commit_at is not None
        n = len(self.pending) + len(self.pending_tags)
        return n >= self.batch_rows or time.monotonic() >= self.commit_at

    async def commit(self) -> None:
        batch, self.pending, self.commit_at = self.pending, [], None
        tag_batch, self.pending_tags = self.pending_tags, []
        try:
            await store.upsert(self.db, [row for row, _ in batch], [params for params, _ in tag_batch])
        except Exception as exc:
            # Keep the rows (and their acks) and retry: an ack promises the row is on disk.
            now = time.monotonic()
            self.failing_since = self.failing_since or now
            log.error("commit of %d rows failed (will retry): %s: %s", len(batch), type(exc).__name__, exc)
            if now - self.failing_since > GIVE_UP_AFTER_S:
                raise SystemExit(
                    f"database {database_path()} refused writes for {GIVE_UP_AFTER_S:.0f} s"
                ) from exc
            self.pending = batch + self.pending
            self.pending_tags = tag_batch + self.pending_tags
            self.commit_at = now + 1.0  # retry in about a second
            return
        self.failing_since = None
        for _, ack in batch:
            self.committed[ack.status] += 1
            self.assembler.committed(ack)
            await self.publish(ack)
        for _, ack in tag_batch:
            self.tags_written += 1
            await self.publish(ack)
        log.debug("committed %d rows, %d tags-only updates", len(batch), len(tag_batch))

    async def publish(self, ack: protocol.Ack) -> None:
        await self.acks.send_multipart(protocol.encode_ack(ack))

    async def send_receipts(self) -> None:
        """Tell each ingest which of its chunk sends arrived since the last receipts."""
        receipts, self.receipts = self.receipts, defaultdict(list)
        for ingest, seqs in receipts.items():
            for i in range(0, len(seqs), protocol.MAX_RECEIPT_SEQS):
                receipt = protocol.Receipt(ingest, self.instance, seqs[i : i + protocol.MAX_RECEIPT_SEQS])
                await self.acks.send_multipart(protocol.encode_receipt(receipt))

    async def shutdown(self) -> None:
        """Finish the fingerprints in progress (briefly), commit everything, acknowledge it."""
        if self.fingerprinting:
            _, unfinished = await asyncio.wait(self.fingerprinting, timeout=SHUTDOWN_GRACE_S)
            if unfinished:
                # Not acknowledged, so ingest re-sends these tracks to the next sink.
                log.info("stopping: %d fingerprints still computing are left to be re-sent", len(unfinished))
                for task in unfinished:
                    task.cancel()
        if self.pending or self.pending_tags:
            await self.commit()
        self.executor.shutdown(wait=False, cancel_futures=True)


async def serve() -> int:
    path = database_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)  # the per-user default's directory may not exist yet
        db = await store.open_database(path)
    except (store.SchemaError, aiosqlite.Error, OSError) as exc:
        log.error("cannot open database %s: %s", path, exc)
        return 1
    ctx = zmq.asyncio.Context()
    sockets = Sockets.from_env(ctx)
    sink = Sink(sockets, db, threads=env_int("FPSTREAM_SINK_THREADS", 2))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("ready: writing %s, pulling from %s (instance %s)", path, sockets.endpoints.base, sink.instance)
    try:
        await sink.run(stop)
        log.info("shutting down")
        await sink.shutdown()
        await asyncio.sleep(0.05)  # let the last acks leave before the sockets close
    finally:
        sockets.close(linger_ms=500)
        ctx.term()
        await db.close()
    a = sink.assembler
    log.info(
        "stopped: committed %d done, %d failed; ignored %d duplicate messages; evicted %d; %d incomplete",
        sink.committed["done"],
        sink.committed["failed"],
        a.duplicates,
        a.evicted,
        len(a.assembling),
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="python -m sink",
        description="The fpstream sink: merges partial fingerprints per track, writes one row per path "
        "into SQLite in batches, and acknowledges committed tracks to ingest.",
        epilog=settings_epilog("sink"),
    ).parse_args(argv)
    logs.setup("sink")
    return asyncio.run(serve())


if __name__ == "__main__":
    logs.run_main(main, "python -m sink")
