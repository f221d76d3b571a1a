"""store.cache: the library's vectors cached beside it are used only while they are the library."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from base.fields import FEATURES
from store.cache import cache_path
from store.library import load_features
from tests.cli_support import create_db, done_row, random_library


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_the_second_load_comes_from_the_cache_and_equals_the_rows(tmp_path: Path) -> None:
    db = create_db(tmp_path / "lib.db", random_library(50))
    first = load_features(db)
    assert cache_path(str(db)).is_file()
    second = load_features(db)
    assert second.paths == first.paths and np.array_equal(second.matrix, first.matrix)
    # the cache is what was read: make it say something else and the next load shows it
    with np.load(cache_path(str(db))) as cached:
        parts = dict(cached)
    parts["matrix"] = parts["matrix"] + 1.0
    np.savez(cache_path(str(db)), **parts)
    assert np.array_equal(load_features(db).matrix, first.matrix + 1.0)


@pytest.mark.parametrize("change", ["insert", "update", "delete"])
def test_any_change_of_the_library_makes_the_cache_stale(tmp_path: Path, change: str) -> None:
    db = create_db(tmp_path / "lib.db", random_library(20))
    before = load_features(db)
    conn = sqlite3.connect(db)
    with conn:
        if change == "insert":
            row = done_row("/music/zzz-new.flac", np.full(len(FEATURES), 0.5))
            conn.execute(
                f"INSERT INTO tracks ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                list(row.values()),
            )
        elif change == "update":
            conn.execute("UPDATE tracks SET lufs = -99.0 WHERE path = ?", (before.paths[3],))
        else:
            conn.execute("DELETE FROM tracks WHERE path = ?", (before.paths[0],))
    conn.close()
    after = load_features(db)
    if change == "insert":
        assert after.paths[-1] == "/music/zzz-new.flac" and len(after.paths) == 21
    elif change == "update":
        assert after.matrix[3, FEATURES.index("lufs")] == -99.0
    else:
        assert after.paths == before.paths[1:]


def test_a_damaged_cache_is_ignored(tmp_path: Path) -> None:
    db = create_db(tmp_path / "lib.db", random_library(10))
    rows = load_features(db)
    cache_path(str(db)).write_bytes(b"not a zip file")
    again = load_features(db)
    assert again.paths == rows.paths and np.array_equal(again.matrix, rows.matrix)


def test_a_library_without_the_change_counter_is_read_without_a_cache(tmp_path: Path) -> None:
    db = create_db(tmp_path / "lib.db", random_library(10))
    conn = sqlite3.connect(db)
    conn.execute("DROP TABLE library_state")
    conn.close()
    assert len(load_features(db).paths) == 10
    assert not cache_path(str(db)).exists()
