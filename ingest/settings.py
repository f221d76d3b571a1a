"""Ingest's settings: the command line and the FPSTREAM_* environment, read once at start."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

from base.config import env_float, env_int
from base.sockets import chunk_seconds


def env_flag(name: str) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise SystemExit(f"{name}={raw!r}: expected 1 or 0")


@dataclass(frozen=True)
class Settings:
    source: str | None  # a file or fifo of paths; None = stdin
    nul: bool
    arguments: list[str]  # paths given as arguments (read instead of stdin), folders walked
    list_ignored: bool  # name the files that are not audio in the summary
    force: bool
    retry_failed: bool
    include_derived: bool  # feed files written by fpstream master (audio.derived) too
    chunk_s: float
    max_in_flight: int
    ack_timeout_s: float
    ack_timeout_per_audio_s: float
    retries: int
    progress_s: float | None  # None: 2 s on a terminal, 10 s otherwise
    stack_wait_s: float  # how long to wait at start for broker, analyzer and sink
    reorder_s: float
    tail_s: float
    commit_s: float
    decode_threads: int

    @classmethod
    def from_env(cls, args: argparse.Namespace) -> Settings:
        settings = cls(
            source=args.input or os.environ.get("FPSTREAM_INPUT") or None,
            nul=args.null or env_flag("FPSTREAM_NUL"),
            arguments=list(args.paths),
            list_ignored=args.list_ignored or env_flag("FPSTREAM_LIST_IGNORED"),
            force=args.force or env_flag("FPSTREAM_FORCE"),
            retry_failed=args.retry_failed or env_flag("FPSTREAM_RETRY_FAILED"),
            include_derived=args.include_derived or env_flag("FPSTREAM_INCLUDE_DERIVED"),
            chunk_s=chunk_seconds(),
            max_in_flight=env_int("FPSTREAM_MAX_IN_FLIGHT", 16),
            ack_timeout_s=env_float("FPSTREAM_ACK_TIMEOUT_S", 30.0),
            ack_timeout_per_audio_s=env_float("FPSTREAM_ACK_TIMEOUT_PER_AUDIO_S", 2.0),
            retries=env_int("FPSTREAM_RETRIES", 3),
            progress_s=env_float("FPSTREAM_PROGRESS_S", 0.0) or None,
            stack_wait_s=env_float("FPSTREAM_STACK_WAIT_S", 5.0),
            reorder_s=env_float("FPSTREAM_REORDER_S", 3.0),
            tail_s=env_float("FPSTREAM_TAIL_S", 10.0),
            commit_s=env_float("FPSTREAM_COMMIT_WAIT_S", 10.0),
            decode_threads=env_int("FPSTREAM_DECODE_THREADS", default_decode_threads()),
        )
        if settings.max_in_flight < 1 or settings.retries < 0 or settings.ack_timeout_s <= 0:
            raise SystemExit("FPSTREAM_MAX_IN_FLIGHT >= 1, FPSTREAM_RETRIES >= 0, FPSTREAM_ACK_TIMEOUT_S > 0")
        if settings.decode_threads < 1:
            raise SystemExit("FPSTREAM_DECODE_THREADS must be >= 1")
        return settings


def default_decode_threads() -> int:
    """One decoding thread per core, up to 8: one thread decodes FLAC for about five analyzer cores."""
    return max(1, min(8, os.cpu_count() or 1))

