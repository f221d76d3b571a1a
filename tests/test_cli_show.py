"""`fpstream show`: the 25 values by family, with units, and percentiles within the library."""

from __future__ import annotations

import re

import numpy as np
import pytest

from base.fields import FEATURES
from fpstream.cli import main
from fpstream.percentiles import MIN_ROWS_FOR_PERCENTILES, percentile_ranks
from fpstream.show import FAMILIES, UNITS
from tests.cli_support import as_matrix, create_db, done_row, failed_row, random_library

LINE = re.compile(r"^  (?P<name>\w+)\s+(?P<value>-?\d+\.\d+)\s+(?P<unit>\S+)(?:\s+p(?P<pct>\d+))?$")


def parse(out: str) -> dict[str, dict]:
    """Feature lines of `show` output -> {name: {value, unit, pct}}."""
    found = {}
    for line in out.splitlines():
        m = LINE.match(line)
        if m and m["name"] in FEATURES:
            found[m["name"]] = m.groupdict()
    return found


def test_shows_all_25_names_grouped_by_family_with_units_and_percentiles(tmp_path, capsys) -> None:
    rows = random_library(40)
    db = create_db(tmp_path / "lib.db", rows)
    assert main(["show", "/music/track0007.flac", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "/music/track0007.flac"
    assert "among 40 analysed tracks" in out
    shown = parse(out)
    assert list(shown) == list(FEATURES)  # all 25, in docs/fingerprint.md order
    titles = [title for title, _ in FAMILIES]
    assert [line for line in out.splitlines() if line in titles] == titles
    expected = percentile_ranks(as_matrix(rows), as_matrix([rows[7]])[0])
    for (name, item), pct in zip(shown.items(), expected, strict=True):
        assert float(item["value"]) == pytest.approx(rows[7][name], abs=10 ** -UNITS[name][1])
        assert int(item["pct"]) == round(pct)
        assert item["unit"] == UNITS[name][0]


def test_percentiles_are_mid_ranks() -> None:
    m = np.arange(20, dtype=float)[:, None] * np.ones(len(FEATURES))
    assert percentile_ranks(m, m[19]).tolist() == [97.5] * len(FEATURES)
    assert percentile_ranks(m, m[0]).tolist() == [2.5] * len(FEATURES)
    assert percentile_ranks(np.zeros((30, 1)), np.zeros(1)).tolist() == [50.0]


def test_no_percentiles_in_a_small_library(tmp_path, capsys) -> None:
    rows = random_library(MIN_ROWS_FOR_PERCENTILES - 1)
    db = create_db(tmp_path / "lib.db", rows)
    assert main(["show", "/music/track0000.flac", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert f"no percentiles: the library has {MIN_ROWS_FOR_PERCENTILES - 1} analysed tracks" in out
    shown = parse(out)
    assert list(shown) == list(FEATURES)
    assert all(item["pct"] is None for item in shown.values())


def test_failed_track_shows_its_error(tmp_path, capsys) -> None:
    db = create_db(tmp_path / "lib.db", [failed_row("/music/bad.flac", "empty file (0 bytes)")])
    assert main(["show", "/music/bad.flac", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "failed" in out and "error: empty file (0 bytes)" in out
    assert parse(out) == {}


def test_done_track_shows_its_warning_and_its_values(tmp_path, capsys) -> None:
    warning = "truncated: decoded 12.0 s of the 30.0 s declared"
    row = done_row("/music/cut.mp3", np.ones(len(FEATURES)), warning=warning)
    db = create_db(tmp_path / "lib.db", [row, done_row("/music/whole.mp3", np.ones(len(FEATURES)))])
    assert main(["show", "/music/cut.mp3", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[2] == f"  warning: {warning}" and list(parse(out)) == list(FEATURES)
    assert main(["show", "/music/whole.mp3", "--db", str(db)]) == 0
    assert "warning" not in capsys.readouterr().out


def test_relative_path_and_not_in_library(tmp_path, monkeypatch, capsys) -> None:
    (tmp_path / "a b").mkdir()
    db = create_db(tmp_path / "lib.db", [done_row(str(tmp_path / "a b" / "x.wav"), np.ones(len(FEATURES)))])
    monkeypatch.chdir(tmp_path / "a b")
    assert main(["show", "x.wav", "--db", str(db)]) == 0
    assert len(parse(capsys.readouterr().out)) == 25
    assert main(["show", "y.wav", "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'a b' / 'y.wav'} is not in the library" in err
    assert "Traceback" not in err
