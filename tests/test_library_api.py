"""The Python API (fpstream.api.Library), the shared --format convention, and the duplicate and
playlist algorithms on synthetic fingerprints (real SQLite files, real CLI)."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from base.fields import FEATURES, FIELD, FIELDS
from fpstream.api import Library, Track
from fpstream.cli import main
from fpstream.duplicates import close_pairs, duplicate_groups
from fpstream.playlist import path_to, walk
from store.library import LibraryError, load_features
from tests.cli_support import create_db, done_row, failed_row, random_library


@pytest.fixture
def library_db(tmp_path):
    rows = random_library(60)
    rows += [
        dict(rows[10], path="/music/zz copy of track0010.ogg", size=123),
        failed_row("/music/broken.flac"),
    ]
    return create_db(tmp_path / "lib.db", rows)


def test_feature_table_holds_what_readers_need() -> None:
    assert tuple(f.name for f in FIELDS) == FEATURES
    assert len({f.family for f in FIELDS}) == 7
    assert FIELD["lufs"].unit == "LUFS" and FIELD["lufs"].silence == -70.0
    assert FIELD["phase_correlation"].low == -1.0 and FIELD["phase_correlation"].silence == 1.0
    assert sum(f.weight for f in FIELDS if f.family.startswith("Frequency")) == pytest.approx(1.75)


def test_load_features_takes_a_path_string_and_says_what_is_wrong(library_db, tmp_path) -> None:
    features = load_features(str(library_db))
    assert features.matrix.shape == (61, 25)
    with pytest.raises(LibraryError, match="no database at"):
        load_features(str(tmp_path / "missing.db"))
    with pytest.raises(TypeError, match="database path or connection"):
        load_features(42)  # type: ignore[arg-type]


def test_library_tracks_get_similar_are_plain_data(library_db, capsys) -> None:
    lib = Library(library_db)
    tracks = lib.tracks()
    assert len(tracks) == 62 and all(isinstance(t, Track) for t in tracks)
    assert [t.path for t in tracks] == sorted(t.path for t in tracks)
    broken = lib.get("/music/broken.flac")
    assert broken.status == "failed" and broken.features is None and "not an audio file" in broken.error
    t = lib.get("/music/track0010.flac")
    assert t.format == "FLAC" and set(t.features) == set(FEATURES)
    assert json.loads(json.dumps(t.to_dict()))["path"] == t.path
    near = lib.similar("/music/track0010.flac", 5)
    assert all(isinstance(t, Track) for t, _ in near)
    assert near[0][0].path == "/music/zz copy of track0010.ogg" and near[0][1] == 0.0
    # The CLI is a layer over the same computation.
    assert (
        main(["similar", "/music/track0010.flac", "-k", "5", "--format", "json", "--db", str(library_db)])
        == 0
    )
    cli = json.loads(capsys.readouterr().out)
    assert [(r["rank"], r["path"]) for r in cli] == [(rank, t.path) for rank, (t, _) in enumerate(near, 1)]
    assert [r["distance"] for r in cli] == pytest.approx([d for _, d in near], abs=1e-12)
    with pytest.raises(LibraryError, match="failed analysis"):
        lib.similar("/music/broken.flac")
    with pytest.raises(LibraryError, match="not in the library"):
        lib.get("/music/nothing.flac")


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "table"])
def test_every_query_command_speaks_the_same_formats(library_db, capsys, fmt) -> None:
    db = ["--db", str(library_db)]
    outputs = {}
    for command in (["show", "/music/track0003.flac"], ["similar", "/music/track0003.flac", "-k", "3"]):
        assert main([*command, "--format", fmt, *db]) == 0
        outputs[command[0]] = capsys.readouterr().out
    show, similar = outputs["show"], outputs["similar"]
    if fmt == "json":
        (record,) = json.loads(show)
        assert record["lufs"] == pytest.approx(
            Library(library_db).get("/music/track0003.flac").features["lufs"]
        )
        assert 0 <= record["lufs_percentile"] <= 100
        assert [r["rank"] for r in json.loads(similar)] == [1, 2, 3]
    elif fmt == "jsonl":
        assert len(show.splitlines()) == 1 and "tempo_bpm_percentile" in json.loads(show)
        assert [json.loads(line)["rank"] for line in similar.splitlines()] == [1, 2, 3]
    elif fmt == "csv":
        (record,) = list(csv.DictReader(io.StringIO(show)))
        assert record["path"] == "/music/track0003.flac" and float(record["crest_db_percentile"]) >= 0
        assert list(csv.DictReader(io.StringIO(similar)))[2]["rank"] == "3"
    else:
        assert "Frequency bands" in show and "p" in show.splitlines()[-1]
        assert similar.splitlines()[0].split()[0] == "1"
    # `--json` stays an alias of --format jsonl for similar
    assert main(["similar", "/music/track0003.flac", "-k", "3", "--json", *db]) == 0
    assert [json.loads(line)["rank"] for line in capsys.readouterr().out.splitlines()] == [1, 2, 3]


def test_export_json_is_the_jsonl_rows_in_one_array(library_db, capsys) -> None:
    assert main(["export", "--format", "json", "--db", str(library_db)]) == 0
    whole = json.loads(capsys.readouterr().out)
    assert main(["export", "--format", "jsonl", "--db", str(library_db)]) == 0
    assert whole == [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_close_pairs_finds_exactly_the_brute_force_pairs() -> None:
    rng = np.random.default_rng(3)
    points = rng.normal(size=(400, 25)) * 0.05
    points[200:230] = points[:30] + rng.normal(size=(30, 25)) * 0.002  # near-copies
    d = np.linalg.norm(points[:, None] - points[None], axis=2)
    for limit in (0.01, 0.15):
        i, j = close_pairs(points, limit)
        expected = {(a, b) for a, b in zip(*np.nonzero(np.triu(d <= limit, k=1)), strict=True)}
        assert set(zip(i.tolist(), j.tolist(), strict=True)) == expected
    groups = duplicate_groups(points, 0.03)
    assert sorted(g.rows for g in groups) == sorted((k, 200 + k) for k in range(30))
    assert all(g.max_distance <= 0.03 for g in groups)


def test_duplicates_of_a_library_without_chromaprints_says_to_feed_it_again(library_db, capsys) -> None:
    """Rows from before Chromaprint (NULL): nothing can be matched, and the command says why.
    Copies grouping by Chromaprint: tests/test_duplicates.py."""
    found = Library(library_db).duplicates()
    assert found.groups == [] and found.indexed == 0 and found.without_print == 61
    assert main(["duplicates", "--format", "jsonl", "--db", str(library_db)]) == 0
    out = capsys.readouterr()
    assert out.out == "" and "61 analysed tracks have no Chromaprint yet" in out.err


def test_walk_and_path_to_on_a_synthetic_library() -> None:
    rng = np.random.default_rng(5)
    points = rng.normal(size=(300, 25)) * 0.1
    points[299] = points[0]  # a copy of the seed
    order = walk(points, 0, 40, duplicate_distance=0.001)
    assert len(order) == len(set(order)) == 40 and 299 not in order
    steps = np.linalg.norm(np.diff(points[order], axis=0), axis=1)
    random_steps = np.linalg.norm(np.diff(points[rng.permutation(300)[:40]], axis=0), axis=1)
    assert steps.mean() < 0.8 * random_steps.mean()
    path = path_to(points, 0, 7, 12, duplicate_distance=0.001)
    to_b = np.linalg.norm(points[path] - points[7], axis=1)
    assert path[0] == 0 and path[-1] == 7 and 2 < len(path) <= 12
    assert np.all(np.diff(to_b) < 0)
    direct = np.linalg.norm(points[0] - points[7])
    assert np.linalg.norm(np.diff(points[path], axis=0), axis=1).max() < direct


def test_playlist_command_writes_extended_m3u(library_db, tmp_path, capsys) -> None:
    target = tmp_path / "list.m3u"
    argv = ["playlist", "/music/track0001.flac", "-n", "5", "--m3u", str(target), "--db", str(library_db)]
    assert main(argv) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["position", "step", "duration_s", "path"] and len(table) == 6
    lines = target.read_text().splitlines()
    assert lines[0] == "#EXTM3U" and len(lines) == 11
    assert lines[1] == "#EXTINF:180,track0001" and lines[2] == "/music/track0001.flac"
    assert main(["playlist", "/music/broken.flac", "--db", str(library_db)]) == 1
    assert "failed analysis" in capsys.readouterr().err


def test_a_library_of_one_track(tmp_path) -> None:
    db = create_db(tmp_path / "one.db", [done_row("/m/a.flac", np.linspace(0, 1, 25))])
    lib = Library(db)
    assert lib.similar("/m/a.flac") == [] and lib.duplicates().groups == []
    assert [e.path for e in lib.playlist("/m/a.flac", n=5)] == ["/m/a.flac"]
