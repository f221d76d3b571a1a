"""Similarity: robust scaling, weighted distance, ordering, exclusion, weights, and `fpstream similar`."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from base.fields import FEATURES
from fpstream.cli import main
from fpstream.similarity import (
    DEFAULT_WEIGHTS,
    PRESETS,
    WeightsError,
    distances,
    nearest,
    parse_weights,
    robust_scale,
    synthetic_library,
    weight_vector,
)
from tests.cli_support import create_db, done_row, failed_row, random_library

D = len(FEATURES)
EQUAL = weight_vector(PRESETS["equal"])

# ---------------------------------------------------------------- scaling


def test_robust_scale_maps_p5_to_0_and_p95_to_1() -> None:
    col = np.arange(101, dtype=float)  # p5 = 5, p95 = 95
    m = np.tile(col[:, None], (1, D)) * np.arange(1, D + 1)  # each column its own scale
    s = robust_scale(m)
    z = s.apply(m)
    assert np.allclose(z[5], 0.0) and np.allclose(z[95], 1.0)
    assert np.allclose(z[50], 0.5)


def test_scaling_is_not_squashed_by_one_extreme_track() -> None:
    rng = np.random.default_rng(0)
    m = rng.uniform(0, 1, size=(1000, D))
    with_outlier = m.copy()
    with_outlier[0] = 1e6  # a test tone or a broken file
    a, b = robust_scale(m).apply(m[1:]), robust_scale(with_outlier).apply(with_outlier[1:])
    assert np.allclose(a, b, atol=0.01)


def test_zero_spread_falls_back_to_full_range_and_constant_column_to_nothing() -> None:
    m = np.zeros((100, D))
    m[:, 0] = np.linspace(0, 1, 100)  # normal column
    m[:3, 1] = 0.5  # 97 % identical (p5 == p95): the three others must still be apart
    # column 2.. constant
    s = robust_scale(m)
    z = s.apply(m)
    assert np.all(np.isfinite(z))
    assert s.spread[1] == pytest.approx(0.5)  # max - min
    assert np.all(z[:, 2:] == 0.0)


# ---------------------------------------------------------------- distance and search


def test_distance_is_the_weighted_euclidean_over_scaled_values() -> None:
    rng = np.random.default_rng(1)
    scaled = rng.normal(size=(50, D))
    w = weight_vector(DEFAULT_WEIGHTS)
    d = distances(scaled, scaled[7], w)
    expect = [math.sqrt(sum(w[j] * (scaled[i, j] - scaled[7, j]) ** 2 for j in range(D))) for i in range(50)]
    assert np.allclose(d, expect)


def test_nearest_orders_excludes_query_and_puts_identical_copy_first() -> None:
    m = synthetic_library(2000, seed=3)
    m[1500] = m[42]  # an identical copy of track 42
    scaled = robust_scale(m).apply(m)
    w = weight_vector(DEFAULT_WEIGHTS)
    idx, dist = nearest(scaled, scaled[42], w, k=10, exclude=42)
    assert 42 not in idx.tolist()
    assert idx[0] == 1500 and dist[0] == 0.0
    assert np.all(np.diff(dist) >= 0)
    # exact: the same as sorting every distance
    full = distances(scaled, scaled[42], w)
    full[42] = np.inf
    assert idx.tolist() == np.argsort(full, kind="stable")[:10].tolist()


def test_nearest_breaks_ties_by_row_and_handles_small_libraries() -> None:
    scaled = np.zeros((5, D))
    idx, dist = nearest(scaled, scaled[2], EQUAL, k=10, exclude=2)
    assert idx.tolist() == [0, 1, 3, 4] and dist.tolist() == [0.0] * 4
    idx, _ = nearest(scaled[:1], scaled[0], EQUAL, k=3, exclude=0)
    assert idx.size == 0
    with pytest.raises(ValueError):
        nearest(scaled, scaled[0], EQUAL, k=0)


def test_a_zero_weight_dimension_is_ignored_and_weights_change_the_order() -> None:
    base = np.zeros(D)
    tempo = FEATURES.index("tempo_bpm")
    lufs = FEATURES.index("lufs")
    only_tempo = base.copy()
    only_tempo[tempo] = 1.0
    only_lufs = base.copy()
    only_lufs[lufs] = 0.9
    scaled = np.stack([base, only_tempo, only_lufs])
    no_tempo = weight_vector(parse_weights("equal,tempo_bpm=0"))
    idx, dist = nearest(scaled, base, no_tempo, k=2, exclude=0)
    assert idx.tolist() == [1, 2] and dist[0] == 0.0
    idx, _ = nearest(scaled, base, EQUAL, k=2, exclude=0)  # lufs differs less: nearer
    assert idx.tolist() == [2, 1]
    idx, _ = nearest(scaled, base, weight_vector(parse_weights("equal,lufs=4")), k=2, exclude=0)
    assert idx.tolist() == [1, 2]


def test_weights_are_normalised_so_distances_compare_across_presets() -> None:
    a, b = np.zeros(D), np.ones(D)  # one spread apart in every dimension
    for preset in PRESETS.values():
        assert distances(a[None, :], b, weight_vector(preset))[0] == pytest.approx(1.0)


# ---------------------------------------------------------------- weight specs


def test_parse_weights_presets_and_overrides() -> None:
    assert parse_weights("default") == DEFAULT_WEIGHTS
    assert set(parse_weights("equal").values()) == {1.0}
    w = parse_weights("equal, lufs=0 ,crest_db=2.5")
    assert w["lufs"] == 0.0 and w["crest_db"] == 2.5 and w["bass_pct"] == 1.0
    w = parse_weights("tempo_bpm=0")  # overrides apply to default
    assert w["tempo_bpm"] == 0.0 and w["bass_pct"] == DEFAULT_WEIGHTS["bass_pct"]


def test_default_weights_cover_every_dimension_and_follow_the_documented_rule() -> None:
    assert tuple(DEFAULT_WEIGHTS) == FEATURES
    assert all(w in (0.25, 0.5, 1.0) for w in DEFAULT_WEIGHTS.values())
    assert sum(DEFAULT_WEIGHTS[n] for n in FEATURES[:7]) == pytest.approx(1.75)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty"),
        ("cosine", "unknown weight preset"),
        ("loudness=1", "unknown dimension 'loudness'"),
        ("lufs=heavy", "not a number"),
        ("lufs=-1", ">= 0"),
        ("lufs=nan", "finite"),
        ("lufs=1,equal", "preset may only come first"),
        ("equal," + ",".join(f"{n}=0" for n in FEATURES), "every weight is 0"),
    ],
)
def test_bad_weight_specs_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(WeightsError, match=message):
        parse_weights(spec)


# ---------------------------------------------------------------- the command


@pytest.fixture
def library_db(tmp_path):
    rows = random_library(60)
    copy = dict(rows[10], path="/music/zz copy of track0010.flac")
    rows += [copy, failed_row("/music/broken.flac")]
    return create_db(tmp_path / "lib.db", rows)


def test_similar_lists_copy_first_at_zero_and_excludes_the_query(library_db, capsys) -> None:
    assert main(["similar", "/music/track0010.flac", "--db", str(library_db)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 10
    ranks, dists, paths = zip(*(line.split(None, 2) for line in lines), strict=True)
    assert ranks == tuple(str(i) for i in range(1, 11))
    assert paths[0] == "/music/zz copy of track0010.flac" and float(dists[0]) == 0.0
    assert "/music/track0010.flac" not in paths
    assert [float(d) for d in dists] == sorted(float(d) for d in dists)


def test_similar_json_k_and_weights(library_db, capsys) -> None:
    argv = [
        "similar",
        "/music/track0003.flac",
        "-k",
        "70",
        "--json",
        "--weights",
        "equal",
        "--db",
        str(library_db),
    ]
    assert main(argv) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(out) == 60  # 61 done rows, minus the query; the failed row is not a candidate
    assert [o["rank"] for o in out] == list(range(1, 61))
    assert all(o["distance"] > 0 for o in out)
    assert "/music/broken.flac" not in {o["path"] for o in out}


def test_similar_relative_path_is_resolved_like_ingest(tmp_path, monkeypatch, capsys) -> None:
    music = tmp_path / "music"
    music.mkdir()
    rows = random_library(5, root=str(music))
    db = create_db(tmp_path / "lib.db", rows)
    monkeypatch.chdir(music)
    assert main(["similar", "track0002.flac", "-k", "2", "--db", str(db)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_similar_errors_say_what_to_do(library_db, tmp_path, capsys) -> None:
    assert main(["similar", "/music/nope.flac", "--db", str(library_db)]) == 1
    err = capsys.readouterr().err
    assert "/music/nope.flac is not in the library" in err and "fpstream feed" in err
    assert main(["similar", "/music/broken.flac", "--db", str(library_db)]) == 1
    assert "failed analysis (not an audio file" in capsys.readouterr().err
    assert main(["similar", "/music/a.flac", "--db", str(tmp_path / "missing.db")]) == 1
    assert "no database at" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["similar", "/music/a.flac", "--weights", "loudness=2"])
    assert exc.value.code == 2
    assert "unknown dimension 'loudness'" in capsys.readouterr().err


def test_rows_of_another_fingerprint_version_are_left_out_with_a_note(tmp_path, capsys) -> None:
    rows = random_library(4)
    rows.append(done_row("/music/old.flac", rows[0][FEATURES[0]] * np.ones(D), fingerprint_version=0))
    db = create_db(tmp_path / "lib.db", rows)
    assert main(["similar", "/music/track0000.flac", "--db", str(db)]) == 0
    captured = capsys.readouterr()
    assert "/music/old.flac" not in captured.out and len(captured.out.splitlines()) == 3
    assert "1 tracks with another fingerprint version were left out" in captured.err


def test_a_query_of_another_fingerprint_version_says_to_re_analyse(tmp_path, capsys) -> None:
    rows = [*random_library(3), done_row("/music/old.flac", np.ones(D), fingerprint_version=0)]
    db = create_db(tmp_path / "lib.db", rows)
    assert main(["similar", "/music/old.flac", "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert "no fingerprint of the current version" in err and "fpstream feed --force" in err
