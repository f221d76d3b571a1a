"""`fpstream export`: every row, every column as stored, in JSON Lines and CSV."""

from __future__ import annotations

import csv
import io
import json
import sqlite3

import pytest

from base.fields import FEATURES
from fpstream.cli import main
from store.db import COLUMNS
from tests.cli_support import create_db, failed_row, random_library, run_cli
from tests.stack_harness import read_rows


@pytest.fixture
def db(tmp_path):
    rows = random_library(30)
    rows[3]["path"] = '/music/odd, "quoted"\nname é.flac'  # csv must quote it, json escape it
    rows.append(failed_row("/music/broken.flac"))
    return create_db(tmp_path / "lib.db", rows)


def stored(db) -> list[dict]:
    """The stored rows, ordered by path."""
    return list(read_rows(db).values())


def test_csv_has_a_header_with_all_columns_and_one_line_per_row(db, capsys) -> None:
    assert main(["export", "--format", "csv", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    records = list(csv.reader(io.StringIO(out, newline="")))
    header, body = records[0], records[1:]
    assert header == list(COLUMNS)
    assert all(name in header for name in FEATURES)
    rows = stored(db)
    assert len(body) == len(rows) == 31
    for line, row in zip(body, rows, strict=True):
        for name, text in zip(header, line, strict=True):
            value = row[name]
            if value is None:
                assert text == ""
            elif isinstance(value, float):
                assert float(text) == value  # full precision: exact round trip
            else:
                assert text == str(value)


def test_jsonl_fields_are_as_stored(db, capsys) -> None:
    assert main(["export", "--format", "jsonl", "--db", str(db)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line) for line in lines] == stored(db)
    assert list(json.loads(lines[0])) == list(COLUMNS)


def test_output_file_and_message(db, tmp_path, capsys) -> None:
    target = tmp_path / "out.csv"
    assert main(["export", "--format", "csv", "-o", str(target), "--db", str(db)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "wrote 31 rows to" in captured.err
    with open(target, newline="", encoding="utf-8") as f:
        assert len(list(csv.reader(f))) == 32
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left


def test_unwritable_output_is_an_error_not_a_traceback(db, tmp_path, capsys) -> None:
    assert main(["export", "--format", "jsonl", "-o", str(tmp_path / "no/such/dir/x"), "--db", str(db)]) == 1
    assert "cannot write" in capsys.readouterr().err


def test_empty_library_exports_just_the_header(tmp_path, capsys) -> None:
    db = create_db(tmp_path / "empty.db")
    assert main(["export", "--format", "csv", "--db", str(db)]) == 0
    assert capsys.readouterr().out.strip() == ",".join(COLUMNS)


def test_database_from_the_environment_and_helpful_errors(db, tmp_path) -> None:
    r = run_cli("export", "--format", "jsonl", env={"FPSTREAM_DB": str(db)})
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 31
    r = run_cli("export", "--format", "csv", env={"FPSTREAM_DB": str(tmp_path / "nope.db")})
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "no database at" in r.stderr and "make run" in r.stderr and "FPSTREAM_DB" in r.stderr
    not_ours = tmp_path / "other.db"
    sqlite3.connect(not_ours).execute("CREATE TABLE songs (x)").connection.close()
    r = run_cli("export", "--format", "csv", "--db", str(not_ours))
    assert r.returncode == 1 and "not an fpstream database" in r.stderr
    r = run_cli("export", "--format", "xml", "--db", str(db))
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_rows_of_another_fingerprint_version_are_exported_as_stored_with_a_note(tmp_path, capsys) -> None:
    from base.fields import FINGERPRINT_VERSION
    from tests.cli_support import done_row

    rows = random_library(3)
    old = FINGERPRINT_VERSION - 1
    rows.append(done_row("/music/old.flac", [0.5] * len(FEATURES), fingerprint_version=old))
    db = create_db(tmp_path / "lib.db", rows)
    assert main(["export", "--format", "jsonl", "--db", str(db)]) == 0
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["fingerprint_version"] for r in records].count(old) == 1
    assert "note: 1 rows have another fingerprint version" in captured.err
