"""``POST /api/fingerprint``: one file fed into the running stack, answered with its row.

It goes through ingest exactly as ``fpstream feed`` does (``python -m ingest`` with
the path on stdin), so skipping, retries and the stack check are ingest's: ingest
exits once the row is committed. A stored row that is current (same size, mtime and
fingerprint version: ``store.readonly.is_current``) is answered at once; without a
stack (no broker answers) the answer is 503.
"""

from __future__ import annotations

import asyncio
import os
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

from fpstream.serve.security import BadRequest
from store.library import LibraryError, connect, get_row
from store.readonly import is_current

INGEST_TIMEOUT_S = 600.0  # one file: a long track on a busy stack stays well inside this


def stored_row(db: Path, key: str) -> dict[str, Any] | None:
    """The row stored under ``key``, or None."""
    with closing(connect(db)) as conn:
        try:
            return get_row(conn, key)
        except LibraryError:
            return None


def current_row(db: Path, key: str, st: os.stat_result) -> dict[str, Any] | None:
    """The stored row of ``key`` when it still describes the file ``st``, else None."""
    row = stored_row(db, key)
    if row and row["status"] == "done" and is_current(
        row["size"], row["mtime_ns"], row["fingerprint_version"], st.st_size, st.st_mtime_ns
    ):
        return row
    return None


async def run_ingest(db: Path, key: str, timeout_s: float = INGEST_TIMEOUT_S) -> tuple[int, str]:
    """Feed ``key`` to ``python -m ingest`` (skipping by the library ``db``); its exit status and
    the tail of its stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ingest",
        "--null",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "FPSTREAM_DB": str(db)},
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(os.fsencode(key) + b"\0"), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise BadRequest(f"the stack did not commit the file within {timeout_s:.0f} s", 504) from None
    return int(proc.returncode or 0), err.decode("utf-8", "replace")[-2000:]


def check_file(path: str, music_dirs: list[str]) -> os.stat_result:
    """The stat of an absolute, readable regular file inside a music dir (when any are set)."""
    if not os.path.isabs(path):
        raise BadRequest("path must be absolute (or relative to a --music-dir)")
    try:
        st = os.stat(path)
    except OSError as exc:
        raise BadRequest(f"cannot read {path}: {exc.strerror}", 404) from None
    if not os.path.isfile(path):
        raise BadRequest(f"{path} is not a regular file")
    if music_dirs:
        real = os.path.realpath(path)
        if not any(real.startswith(os.path.realpath(d).rstrip("/") + "/") for d in music_dirs):
            raise BadRequest(f"{path} is outside every --music-dir", 403)
    return st
