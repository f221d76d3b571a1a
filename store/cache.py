"""The library's vectors cached beside it, so a query command does not re-read 10⁵ rows of 25
columns from SQLite every time (about 0.5 s per 100 000 rows; the cache loads in milliseconds).

The cache is a NumPy ``.npz`` in ``$XDG_CACHE_HOME/fpstream/`` named after the database file. It
is valid exactly while ``library_state.generation`` is what it was when the cache was written:
triggers increase that counter on every insert, update and delete of ``tracks`` (schema v3), and
the cache records the counter read in the same transaction as its rows. Anything else (a missing
or damaged cache, an older schema, a read-only cache folder) falls back to reading the rows:
the cache can make a query faster, never different.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from base.fields import FEATURES, FINGERPRINT_VERSION

if TYPE_CHECKING:
    from store.library import Features

CACHE_FORMAT = 1  # bump when the file's layout changes


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/fpstream`` (``~/.cache/fpstream`` when unset or not absolute)."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "fpstream"


def database_file(conn: sqlite3.Connection) -> str | None:
    """The file behind ``conn``'s main database (None for an in-memory one)."""
    for _seq, name, file in conn.execute("PRAGMA database_list"):
        if name == "main":
            return file or None
    return None


def generation(conn: sqlite3.Connection) -> int | None:
    """The library's change counter, or None when the schema has none (older than v3)."""
    try:
        row = conn.execute("SELECT generation FROM library_state").fetchone()
    except sqlite3.OperationalError:
        return None
    return None if row is None else int(row[0])


def cache_path(db_file: str) -> Path:
    digest = hashlib.blake2b(os.fsencode(os.path.realpath(db_file)), digest_size=12).hexdigest()
    return cache_dir() / f"features-{digest}.npz"


def cached_features(conn: sqlite3.Connection, read: Callable[[sqlite3.Connection], Features]) -> Features:
    """``read(conn)`` (the rows, from SQLite), or the same from the cache when it is current.

    The generation and the rows are read in one transaction, so the rows cached are exactly
    the library of the generation recorded beside them.
    """
    import numpy as np

    from store.library import Features

    db_file = database_file(conn)
    if db_file is None or conn.in_transaction:
        return read(conn)
    conn.execute("BEGIN")  # one snapshot for the counter and the rows (WAL readers do not block)
    try:
        gen = generation(conn)
        if gen is None:
            return read(conn)
        path = cache_path(db_file)
        key = np.array([CACHE_FORMAT, FINGERPRINT_VERSION, len(FEATURES), gen], dtype=np.int64)
        try:
            with np.load(path, allow_pickle=False) as cached:
                if np.array_equal(cached["key"], key):
                    names = bytes(cached["paths"]).decode("utf-8")
                    return Features(
                        paths=names.split("\0") if names else [],
                        matrix=cached["matrix"],
                        stale=int(cached["stale"]),
                    )
        except (OSError, ValueError, KeyError):
            pass  # no cache yet, or one this code cannot read: the rows decide
        features = read(conn)
    finally:
        conn.execute("COMMIT")
    _write(path, key, features)
    return features


def _write(path: Path, key: object, features: Features) -> None:
    """Write the cache atomically (temporary file, then rename); a failure only costs speed."""
    import numpy as np

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as out:
            np.savez(
                out,
                key=key,
                paths=np.frombuffer("\0".join(features.paths).encode("utf-8"), dtype=np.uint8),
                matrix=features.matrix,
                stale=np.int64(features.stale),
            )
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
