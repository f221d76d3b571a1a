"""Steered playlists (fpstream.steering through fpstream.api.Library and `fpstream playlist`) on real
SQLite files: filters, soft no-repeat by folders and by tags, several seeds, --album, A->B."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from base.fields import FEATURES
from fpstream.api import Library, Track
from fpstream.cli import main
from fpstream.similarity import synthetic_library
from fpstream.steering import Spacing, Steering, admissible, album_key, artist_key
from store.library import LISTING_COLUMNS, TAG_COLUMNS, LibraryError
from tests.cli_support import create_db, done_row

N_ALBUMS, PER_ALBUM = 8, 6


def clustered(seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """8 albums of 6 tracks (2 albums per artist folder); an album's tracks sound alike, but no two
    are copies (within the duplicates distance, 0.12: nearest pair about 0.13, other albums 0.29+)."""
    rng = np.random.default_rng(seed)
    centres = synthetic_library(N_ALBUMS, seed=seed)
    spread = centres.std(axis=0) + 1e-9
    rows, paths = [], []
    for a in range(N_ALBUMS):
        for t in range(PER_ALBUM):
            rows.append(centres[a] + rng.normal(size=len(FEATURES)) * spread * 0.6)
            paths.append(f"/music/Artist{a // 2}/Album{a}/{t + 1:02d} track.flac")
    return np.array(rows), paths


def album_of(path: str) -> str:
    return Path(path).parent.name


def add_tag_columns(db: Path, tags: dict[str, dict[str, object]]) -> None:
    """The tag columns of branch `lib`'s migration (CONTRACTS.md; added here if the schema lacks
    them), filled with ``tags`` per path."""
    conn = sqlite3.connect(db)
    try:
        have = {r[1] for r in conn.execute("PRAGMA table_info(tracks)")}
        for name in TAG_COLUMNS:
            kind = "INTEGER" if name in ("track_number", "disc_number") else "TEXT"
            if name not in have:
                conn.execute(f"ALTER TABLE tracks ADD COLUMN {name} {kind}")
        for path, values in tags.items():
            sets = ", ".join(f"{k} = ?" for k in values)
            conn.execute(f"UPDATE tracks SET {sets} WHERE path = ?", (*values.values(), path))
        conn.commit()
    finally:
        conn.close()


@pytest.fixture
def library(tmp_path) -> tuple[Path, list[str]]:
    matrix, paths = clustered()
    rows = [done_row(p, matrix[i]) for i, p in enumerate(paths)]
    rows[3]["duration_s"] = 8.0  # a jingle inside Album0
    rows[9]["duration_s"] = 700.0  # a long suite inside Album1
    return create_db(tmp_path / "lib.db", rows), paths


def test_keys_come_from_tags_when_present_else_folders() -> None:
    values = dict.fromkeys(LISTING_COLUMNS)
    row = tuple(values.values())
    assert album_key("/m/A/B/x.flac", row) == album_key("/m/A/B/y.flac") == "dir:/m/A/B"
    assert artist_key("/m/A/B/x.flac", row) == "dir:/m/A"
    values.update(artist="Kevin", album="Rise", album_artist=None)
    row = tuple(values.values())
    assert album_key("/elsewhere/x.flac", row) == album_key("/m/A/B/x.flac", row) != "dir:/m/A/B"
    assert artist_key("/x/y/z.flac", row) == "tag:kevin"
    values.update(album_artist="Various Artists")
    assert artist_key("/x/y/z.flac", tuple(values.values())) == "tag:various artists"
    with pytest.raises(ValueError, match="no_repeat_album must be a whole number"):
        Steering(no_repeat_album=-1)
    with pytest.raises(ValueError, match="above max_duration_s"):
        Steering(min_duration_s=100, max_duration_s=50)


def test_similar_applies_every_filter(library) -> None:
    db, paths = library
    lib = Library(db)
    seed = paths[0]
    everything = [t.path for t, _ in lib.similar(seed, 47, Steering(min_duration_s=None))]
    assert len(everything) == 47 and paths[3] in everything
    default = [t.path for t, _ in lib.similar(seed, 47)]
    assert paths[3] not in default and len(default) == 46  # the 8 s jingle: default min 30 s
    assert paths[9] not in [t.path for t, _ in lib.similar(seed, 47, Steering(max_duration_s=600))]
    no_album1 = [t.path for t, _ in lib.similar(seed, 47, Steering(exclude=("*/Album1/*", "*/Album2/0?*")))]
    assert not {album_of(p) for p in no_album1} & {"Album1", "Album2"} and len(no_album1) == 46 - 12
    previous = tuple(default[:4])
    later = [t.path for t, _ in lib.similar(seed, 10, Steering(previous=previous))]
    assert later == default[4:14]  # the queue is never chosen again; the ranking is otherwise the same
    tempo = lib.get(seed).features["tempo_bpm"]
    near_tempo = lib.similar(seed, 47, Steering(max_bpm_diff=5.0))
    assert near_tempo and all(abs(t.features["tempo_bpm"] - tempo) <= 5.0 for t, _ in near_tempo)
    assert len(near_tempo) < 46
    distances = [d for _, d in lib.similar(seed, 10)]
    assert distances == sorted(distances) and all(isinstance(t, Track) for t, _ in lib.similar(seed, 2))


def test_no_repeat_album_by_folders_is_kept_and_gives_way_when_it_must(library) -> None:
    db, paths = library
    lib = Library(db)
    plain = [t.path for t in lib.playlist(paths[0], 12)]
    assert album_of(plain[1]) == "Album0"  # unsteered, an album's tracks follow each other
    steered = [t.path for t in lib.playlist(paths[0], 12, steering=Steering(no_repeat_album=3))]
    assert len(steered) == 12 and steered[0] == paths[0]
    albums = [album_of(p) for p in steered]
    assert all(albums[i] not in albums[max(0, i - 3) : i] for i in range(len(albums))), albums
    artist = [
        Path(t.path).parent.parent.name
        for t in lib.playlist(paths[0], 10, steering=Steering(no_repeat_artist=2))
    ]
    assert all(artist[i] not in artist[max(0, i - 2) : i] for i in range(len(artist))), artist
    # Soft: with only Album0 and Album1 allowed, 10 tracks still come, as far apart as possible.
    two = Steering(no_repeat_album=3, exclude=tuple(f"*/Album{a}/*" for a in range(2, 8)))
    soft = [album_of(t.path) for t in lib.playlist(paths[0], 10, steering=two)]
    assert len(soft) == 10 and {"Album0", "Album1"} == set(soft)
    assert soft[:4] == ["Album0", "Album1", "Album0", "Album1"]


def test_no_repeat_by_tags_overrides_folders(library) -> None:
    db, paths = library
    # Every file in one folder per album, but the tags say two albums share one artist name.
    tags = {
        p: {
            "artist": "Same Artist" if album_of(p) in ("Album0", "Album5") else album_of(p),
            "album": album_of(p),
        }
        for p in paths
    }
    add_tag_columns(db, tags)
    lib = Library(db)
    t = lib.get(paths[0])
    assert t.artist == "Same Artist" and t.album == "Album0" and t.display_name == "01 track"
    arts = [
        lib.get(p).artist
        for p in (x.path for x in lib.playlist(paths[0], 12, steering=Steering(no_repeat_artist=4)))
    ]
    assert all(arts[i] not in arts[max(0, i - 4) : i] for i in range(len(arts))), arts
    spacing = Spacing(lib.catalogue, Steering(no_repeat_artist=1))
    a0, a5 = lib.features.index_of(paths[0]), lib.features.index_of(paths[5 * PER_ALBUM])
    assert spacing.conflicts([a0, a5]) == [(1, 0)]  # different folders, one tagged artist


def test_several_seeds_share_the_playlist(library) -> None:
    db, paths = library
    lib = Library(db)
    seeds = [paths[0], paths[2 * PER_ALBUM], paths[5 * PER_ALBUM]]
    listed = [t.path for t in lib.playlist(seeds, 12)]
    assert listed[0] == seeds[0] and set(seeds) <= set(listed) and len(set(listed)) == 12
    counts = {a: sum(album_of(p) == a for p in listed) for a in ("Album0", "Album2", "Album5")}
    assert counts == {"Album0": 4, "Album2": 4, "Album5": 4}  # round-robin: an equal share each
    emb = lib.embedded[[lib.features.index_of(p) for p in listed]]
    steps = np.linalg.norm(np.diff(emb, axis=0), axis=1)
    assert np.sum(steps > 5 * np.median(steps)) <= 2  # ordered smoothly: two jumps between 3 groups
    with pytest.raises(LibraryError, match="do not fit"):
        lib.playlist(seeds, 2)
    with pytest.raises(LibraryError, match="one seed"):
        lib.playlist(seeds, 12, to=paths[-1])


def test_album_playlist_lists_whole_albums_by_mean_similarity(library) -> None:
    db, paths = library
    tags = {p: {"track_number": PER_ALBUM - int(Path(p).name[:2]) + 1} for p in paths}  # reversed numbering
    add_tag_columns(db, tags)
    lib = Library(db)
    steering = Steering(min_duration_s=None)
    listed = [t.path for t in lib.album_playlist(paths[7], 3, steering=steering)]
    albums = [album_of(p) for p in listed]
    assert len(listed) == 3 * PER_ALBUM and albums[:PER_ALBUM] == ["Album1"] * PER_ALBUM
    assert [albums[i] for i in range(0, len(albums), PER_ALBUM)] == list(dict.fromkeys(albums))
    assert listed[:PER_ALBUM] == [paths[PER_ALBUM + 5 - k] for k in range(PER_ALBUM)]  # by track number
    means = {
        a: lib.embedded[[i for i, p in enumerate(lib.features.paths) if album_of(p) == a]].mean(axis=0)
        for a in {album_of(p) for p in paths}
    }
    second = min(
        (a for a in means if a != "Album1"), key=lambda a: np.linalg.norm(means[a] - means["Album1"])
    )
    assert albums[PER_ALBUM] == second
    no_jingle = [t.path for t in lib.album_playlist(paths[0], 1)]
    assert paths[3] not in no_jingle and len(no_jingle) == PER_ALBUM - 1  # default: no track under 30 s


def test_path_to_a_target_obeys_the_filters(library) -> None:
    db, paths = library
    lib = Library(db)
    a = paths[0]
    everything = Steering(min_duration_s=None)
    # The far end whose path passes through the most tracks (some pairs have an empty lens between them).
    b = max(paths[PER_ALBUM:], key=lambda p: (len(lib.playlist(a, 12, to=p, steering=everything)), p))
    free = [t.path for t in lib.playlist(a, 12, to=b, steering=everything)]
    assert free[0] == a and free[-1] == b
    middle = free[1:-1]
    assert len(middle) >= 2, free
    banned = Steering(exclude=tuple(middle[:1]), min_duration_s=None)
    steered = [t.path for t in lib.playlist(a, 12, to=b, steering=banned)]
    assert middle[0] not in steered and steered[0] == a and steered[-1] == b
    spaced = [t.path for t in lib.playlist(a, 12, to=b, steering=Steering(no_repeat_album=1))]
    assert len(spaced) >= 3
    albums = [album_of(p) for p in spaced]
    assert all(x != y for x, y in zip(albums, albums[1:], strict=False)), albums
    assert paths[3] not in spaced


def test_christmas_genre_and_allowed_genres(library) -> None:
    db, paths = library
    add_tag_columns(db, {p: {"genre": "Christmas;Pop" if album_of(p) == "Album1" else "Rock"} for p in paths})
    cat = Library(db).catalogue
    xmas = admissible(cat, Steering(exclude_christmas=True), [0], month=6)
    assert not xmas[PER_ALBUM : 2 * PER_ALBUM].any() and xmas[2 * PER_ALBUM :].all()
    assert admissible(cat, Steering(exclude_christmas=True), [0], month=12)[PER_ALBUM : 2 * PER_ALBUM].all()
    pop = admissible(cat, Steering(genres=frozenset({"POP"}), min_duration_s=None), [0])
    assert pop.sum() == PER_ALBUM and pop[PER_ALBUM : 2 * PER_ALBUM].all()


def test_cli_steering_options(library, tmp_path, capsys) -> None:
    db, paths = library
    base = ["--db", str(db), "--format", "json"]

    def run(*args: str) -> list[str]:
        assert main(["playlist", *args, *base]) == 0, capsys.readouterr().err
        return [r["path"] for r in json.loads(capsys.readouterr().out)]

    assert paths[3] not in run(paths[0], "-n", "47") and paths[3] in run(
        paths[0], "-n", "48", "--min-duration", "0"
    )
    assert paths[9] not in run(paths[0], "-n", "48", "--max-duration", "600")
    excluded = run(paths[0], "-n", "40", "--exclude", "*/Album1/*", "--exclude", "*/Artist3/*")
    assert not {album_of(p) for p in excluded} & {"Album1", "Album6", "Album7"}
    albums = [album_of(p) for p in run(paths[0], "-n", "10", "--no-repeat-album", "2")]
    assert all(albums[i] not in albums[max(0, i - 2) : i] for i in range(len(albums)))
    artists = [Path(p).parent.parent.name for p in run(paths[0], "-n", "8", "--no-repeat-artist", "1")]
    assert all(x != y for x, y in zip(artists, artists[1:], strict=False))
    several = run(paths[0], paths[40], "-n", "6")
    assert several[0] == paths[0] and paths[40] in several
    whole = run(paths[PER_ALBUM], "--album", "-n", "2", "--min-duration", "0")
    assert len(whole) == 2 * PER_ALBUM and {album_of(p) for p in whole[:PER_ALBUM]} == {"Album1"}
    to = run(paths[0], "--to", paths[-1], "-n", "8", "--exclude", "*/Album0/*")
    assert to[0] == paths[0] and to[-1] == paths[-1] and all(album_of(p) != "Album0" for p in to[1:])
    only_two = [f"--exclude=*/Album{a}/*" for a in range(2, 8)]
    assert main(["playlist", paths[0], "-n", "8", "--no-repeat-album", "3", *only_two, *base]) == 0
    assert "note: 6 tracks follow one of their artist or album sooner than asked" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main(["playlist", paths[0], "--no-repeat-album", "-2", *base])
    assert usage.value.code == 2 and "must be 0 or more, got -2" in capsys.readouterr().err
    assert main(["playlist", paths[0], "--min-duration", "90", "--max-duration", "60", *base]) == 1
    assert "--min-duration (90) is above --max-duration" in capsys.readouterr().err
    m3u = tmp_path / "a.m3u"
    assert main(["playlist", paths[0], "-n", "3", "--m3u", str(m3u), *base]) == 0
    assert m3u.read_text().splitlines()[1] == "#EXTINF:180,01 track"
