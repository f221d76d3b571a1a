"""``fpstream serve`` as a real process on a free loopback port: every endpoint, Lyrion's mixer
requests as the Bliss Mixer plugin sends them, refusals, byte ranges, reload without restart."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import sqlite3
import time
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pytest

from fpstream.similarity import synthetic_library
from tests.cli_support import done_row, failed_row, insert_rows, run_cli
from tests.serve_support import Service, real_library, set_tags, start_service

N_FILES = 16  # real WAV files
N_SYNTH = 300  # rows without files, so that percentiles and neighbours mean something


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("serve")
    values = synthetic_library(N_FILES + N_SYNTH, seed=3)
    synth = [done_row(f"/music/synth/track{i:04d}.flac", values[N_FILES + i]) for i in range(N_SYNTH)]
    outside = folder / "outside.wav"
    outside.write_bytes(b"RIFF not for you")
    extra = [
        *synth,
        failed_row(str(folder / "music" / "broken.mp3")),
        dict(synth[7], path="/music/synth/copy of track0007.ogg"),  # a duplicate pair
    ]
    db, files = real_library(folder, N_FILES, values, extra)
    music = folder / "music"
    # a row whose file is a symlink leading out of its folder
    evil = folder / "elsewhere" / "evil.wav"
    evil.parent.mkdir()
    evil.symlink_to(outside)
    insert_rows_file(db, [done_row(str(evil), values[0] * 1.5)])
    # a second file of one recording (the same values): never answered beside the original
    copy = music / "Artist1" / "Album1" / "01 track01~copy.wav"  # sorts after the original
    os.link(files[1], copy)
    insert_rows_file(db, [done_row(str(copy), values[1], size=copy.stat().st_size, duration_s=80.0)])
    # both hold one recording: the same Chromaprint (a generated one: these files are 2 s long)
    steps = np.random.default_rng(1).integers(0, 32, size=(900, 2))
    walk = np.bitwise_xor.accumulate((1 << steps[:, 0]) | (1 << steps[:, 1])).astype("<u4")
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(
            "UPDATE tracks SET chromaprint = ? WHERE path IN (?, ?)", (walk.tobytes(), files[1], str(copy))
        )
    conn.close()
    # tags on the real files: artists, albums, genres (one Christmas track)
    for i, p in enumerate(files):
        genre = "Christmas" if i == 5 else ("Rock" if i % 2 else "Jazz")
        set_tags(db, p, artist=f"Band {i % 4}", album=f"Record {i % 8}", genre=genre, title=Path(p).stem)
    service = start_service(db, folder, "--music-dir", str(music), "--path-map", f"/mnt/nas/music={music}")
    try:
        yield {"db": db, "music": music, "files": files, "service": service, "evil": str(evil), "dir": folder}
    finally:
        log = service.stop()
        assert "Traceback" not in log, log


def insert_rows_file(db: Path, rows: list[dict]) -> None:
    conn = sqlite3.connect(db)
    try:
        insert_rows(conn, rows)
        conn.commit()
    finally:
        conn.close()


def cli_json(db: Path, *args: str):
    done = run_cli(*args, "--db", str(db), "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# ---------------------------------------------------------------- the JSON API


def test_health(lib: dict) -> None:
    status, h = lib["service"].get_json("/health")
    assert status == 200
    assert h["status"] == "ok" and h["version"] and h["uptime_s"] > 0
    assert h["rows"] == N_FILES + N_SYNTH + 4 and h["analysed"] == N_FILES + N_SYNTH + 3
    assert h["stack"]["up"] is False  # no broker at the test's endpoint


def test_search_by_tags_and_paths_paginated(lib: dict) -> None:
    svc: Service = lib["service"]
    status, page = svc.get_json("/api/search", q='"band 1"', limit=2)
    assert status == 200 and page["total"] == N_FILES // 4 and len(page["tracks"]) == 2
    assert all(t["artist"] == "Band 1" for t in page["tracks"])
    _, rest = svc.get_json("/api/search", q='"band 1"', limit=2, offset=2)
    assert {t["path"] for t in rest["tracks"]}.isdisjoint(t["path"] for t in page["tracks"])
    _, by_path = svc.get_json("/api/search", q="synth track000")
    assert by_path["total"] == 11  # track0000..track0009 and the copy of track0007
    _, unicode = svc.get_json("/api/search", q="ünïcode")
    assert [t["path"] for t in unicode["tracks"]] == [lib["files"][3]]


def test_track_is_show_json(lib: dict) -> None:
    path = lib["files"][2]
    status, record = lib["service"].get_json("/api/track", path=path)
    assert status == 200
    (expected,) = cli_json(lib["db"], "show", path)
    assert record.pop("display_name") == f"Band 2 - {Path(path).stem}"
    assert record == expected
    assert record["tempo_bpm_percentile"] is not None


def test_similar_is_the_cli(lib: dict) -> None:
    path = lib["files"][1]
    status, found = lib["service"].get_json("/api/similar", path=path, k=7)
    assert status == 200
    assert found == cli_json(lib["db"], "similar", path, "-k", "7")


def test_playlists_are_the_cli(lib: dict) -> None:
    svc: Service = lib["service"]
    a, b = lib["files"][0], lib["files"][9]
    _, walk = svc.get_json("/api/playlist", seed=a, n=6)
    assert walk == cli_json(lib["db"], "playlist", a, "-n", "6")
    _, path = svc.get_json("/api/playlist", seed=a, to=b, n=5)
    assert path == cli_json(lib["db"], "playlist", a, "--to", b, "-n", "5")
    assert path[0]["path"] == a and path[-1]["path"] == b
    status, headers, body = svc.request("GET", "/api/playlist", {"seed": a, "to": b, "n": 5, "format": "m3u"})
    assert status == 200 and headers["content-type"].startswith("audio/x-mpegurl")
    lines = body.decode("utf-8").splitlines()
    assert lines[0] == "#EXTM3U" and lines[2::2] == [e["path"] for e in path]
    assert lines[1].startswith("#EXTINF:60,Band 0 - ")


def test_duplicates_are_the_cli(lib: dict) -> None:
    status, page = lib["service"].get_json("/api/duplicates")
    assert status == 200
    expected = cli_json(lib["db"], "duplicates")
    assert page["records"] == expected and page["groups"] == len({r["group"] for r in expected}) >= 1


# ---------------------------------------------------------------- the Lyrion mixer API


def plugin_json(fields: dict) -> bytes:
    """The body as Perl's JSON ``to_json`` writes it: compact, UTF-8, non-ASCII unescaped."""
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def rel(lib: dict, path: str) -> str:
    return os.path.relpath(path, lib["music"])


def mix_fields(lib: dict, seeds: list[str], previous: list[str], **over) -> dict:
    """Exactly the keys Plugin.pm's _getMixData sends (debug only with LMS debug logging)."""
    fields = {
        "count": 5,
        "filtergenre": 0,
        "filterxmas": 1,
        "min": 0,
        "max": 0,
        "maxbpmdiff": 0,
        "tracks": [rel(lib, s) for s in seeds],
        "previous": [rel(lib, p) for p in previous],
        "shuffle": 0,
        "norepart": 0,
        "norepalb": 0,
        "forest": 0,
        "adaptiveweights": 0,
        "genregroups": [],
        "allgenres": 0,
    }
    fields.update(over)
    return fields


def call_mixer(lib: dict, api: str, fields: dict) -> list[str]:
    status, headers, body = lib["service"].request(
        "POST",
        f"/api/{api}",
        body=plugin_json(fields),
        headers={"Content-Type": "application/json;charset=utf-8"},
    )
    assert status == 200, body
    assert headers["content-type"] == "text/plain; charset=utf-8"
    text = body.decode("utf-8")
    assert text == "" or text.endswith("\n")
    return text.splitlines()


def test_mix_as_the_plugin_sends_it(lib: dict) -> None:
    files = lib["files"]
    seeds, previous = [files[3], files[4]], [files[6]]
    answer = call_mixer(lib, "mix", mix_fields(lib, seeds, previous))
    assert len(answer) == 5
    for line in answer:  # relative to the music folder, as the plugin joins it back
        assert not line.startswith("/") and (lib["music"] / line).is_file()
    chosen = [str(lib["music"] / line) for line in answer]
    assert not set(chosen) & set(seeds + previous)
    xmas = files[5]
    if dt.date.today().month != 12:  # bliss-mixer lets Christmas music through in December
        assert xmas not in chosen
    # unfiltered, the answer is the nearest real files by the similarity distance
    _, near = lib["service"].get_json("/api/similar", path=seeds[0], k=N_FILES + N_SYNTH)
    d0 = {n["path"]: n["distance"] for n in near}
    _, near1 = lib["service"].get_json("/api/similar", path=seeds[1], k=N_FILES + N_SYNTH)
    d1 = {n["path"]: n["distance"] for n in near1}
    refused = seeds + previous + ([xmas] if dt.date.today().month != 12 else [])
    best = sorted((p for p in files if p not in refused), key=lambda p: min(d0[p], d1[p]))
    assert chosen == best[:5]


def test_mix_filters(lib: dict) -> None:
    files = lib["files"]
    seed = files[2]
    # norepart: no artist of the queue (Band 0 is files[0,4,8,12]) nor twice within 3 tracks
    answer = call_mixer(lib, "mix", mix_fields(lib, [seed], [files[0]], norepart=3, count=3))
    artists = [int(Path(a).parts[0][-1]) for a in answer]  # ArtistK folder = Band K
    assert 0 not in artists[:2] and len(set(artists)) == 3
    # min/max duration (60 + 20 i seconds): only files 5..9 are 150..240 s
    answer = call_mixer(lib, "mix", mix_fields(lib, [seed], [], min=150, max=240, filterxmas=0))
    assert {str(lib["music"] / a) for a in answer} <= set(files[5:10])
    # genre groups: the seed is Jazz (even index); Rock tracks are refused
    groups = [["Jazz", "Blues"], ["Rock", "Metal"]]
    answer = call_mixer(lib, "mix", mix_fields(lib, [seed], [], filtergenre=1, genregroups=groups, count=10))
    chosen = [str(lib["music"] / a) for a in answer]
    assert any(p in files for p in chosen)  # tagged Jazz tracks, and untagged ones (bliss-mixer keeps those)
    assert all(files.index(p) % 2 == 0 if p in files else p.endswith("~copy.wav") for p in chosen)
    # maxbpmdiff: within the seed's tempo ± 5
    _, seed_row = lib["service"].get_json("/api/track", path=seed)
    answer = call_mixer(lib, "mix", mix_fields(lib, [seed], [], maxbpmdiff=5, count=10))
    for a in answer:
        _, t = lib["service"].get_json("/api/track", path=str(lib["music"] / a))
        assert abs(t["tempo_bpm"] - seed_row["tempo_bpm"]) <= 5
    # shuffle: the same tracks as the 2 x count nearest, in some order
    nearest = call_mixer(lib, "mix", mix_fields(lib, [seed], [], count=8, filterxmas=0))
    shuffled = call_mixer(lib, "mix", mix_fields(lib, [seed], [], count=4, shuffle=1, filterxmas=0))
    assert set(shuffled) <= set(nearest) and len(shuffled) == 4


def test_list_as_the_plugin_sends_it(lib: dict) -> None:
    files = lib["files"]
    fields = {  # exactly Plugin.pm's _getListData
        "count": 4,
        "filtergenre": 0,
        "min": 0,
        "max": 0,
        "maxbpmdiff": 0,
        "track": rel(lib, files[3]),
        "genregroups": [],
        "allgenres": 0,
        "byartist": 0,
    }
    answer = call_mixer(lib, "list", fields)
    _, near = lib["service"].get_json("/api/similar", path=files[3], k=N_FILES + N_SYNTH)
    real = [n["path"] for n in near if n["path"] in files]
    assert [str(lib["music"] / a) for a in answer] == real[:4]
    by_artist = call_mixer(lib, "list", {**fields, "byartist": 1})
    assert by_artist and all(a.startswith("Artist3/") for a in by_artist)
    assert call_mixer(lib, "list", {**fields, "track": "Nobody/Nothing.flac"}) == []  # as bliss-mixer
    status, _, body = lib["service"].request("GET", "/api/ready")
    assert (status, body) == (200, b"1")


def test_path_map_and_absolute_paths(lib: dict) -> None:
    """A player that mounts the music folder elsewhere and sends absolute paths: --path-map."""
    seed = "/mnt/nas/music/" + rel(lib, lib["files"][1])
    answer = call_mixer(lib, "list", {"track": seed, "count": 3, "genregroups": [], "byartist": 0})
    relative = call_mixer(lib, "list", {"track": rel(lib, lib["files"][1]), "count": 3, "byartist": 0})
    assert answer == ["/mnt/nas/music/" + r for r in relative] and len(answer) == 3


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("method", "path", "params", "body", "status"),
    [
        ("POST", "/api/mix", None, b"{not json", 400),
        ("POST", "/api/mix", None, b"[1, 2]", 400),
        ("POST", "/api/mix", None, b'{"count": 5}', 400),
        ("POST", "/api/mix", None, b'{"tracks": "a.flac"}', 400),
        ("POST", "/api/mix", None, b'{"tracks": ["a"], "count": "many"}', 400),
        ("POST", "/api/mix", None, b'{"tracks": ["a"], "genregroups": "Rock"}', 400),
        ("POST", "/api/mix", None, b"\xff\xfe", 400),
        ("POST", "/api/list", None, b'{"count": 2}', 400),
        ("POST", "/api/mix", None, b'{"tracks": [' + b'"x",' * 200_000 + b'"x"]}', 413),
        ("POST", "/api/fingerprint", None, b'{"path": 3}', 400),
        ("GET", "/api/similar", {"path": "/music/synth/track0001.flac", "k": 0}, None, 400),
        ("GET", "/api/similar", {"path": "/music/synth/track0001.flac", "k": 100000}, None, 400),
        ("GET", "/api/similar", {"k": 3}, None, 400),
        ("GET", "/api/similar", {"path": "/music/nowhere.flac"}, None, 404),
        ("GET", "/api/track", {"path": "/music/nowhere.flac"}, None, 404),
        ("GET", "/api/search", {"limit": 5000}, None, 400),
        ("GET", "/api/playlist", {"seed": "/music/synth/track0001.flac", "format": "xml"}, None, 400),
        ("GET", "/api/duplicates", {"max_ber": "nan"}, None, 400),
        ("GET", "/api/nothing-here", None, None, 404),
        ("PUT", "/api/mix", None, b"{}", 405),
    ],
)
def test_bad_input_is_a_4xx_json_error(lib: dict, method, path, params, body, status) -> None:
    got, headers, raw = lib["service"].request(method, path, params, body=body)
    assert got == status, raw[:300]
    assert headers["content-type"].startswith("application/json")
    error = json.loads(raw)["error"]
    assert error and "Traceback" not in error


def test_fingerprint_without_a_stack_is_503(lib: dict) -> None:
    status, headers, raw = lib["service"].post_json("/api/fingerprint", {"path": lib["files"][0] + ".new"})
    assert status == 404 and "cannot read" in json.loads(raw)["error"]
    new = lib["dir"] / "music" / "new.wav"
    new.write_bytes(Path(lib["files"][0]).read_bytes())
    status, headers, raw = lib["service"].post_json("/api/fingerprint", {"path": str(new)})
    assert status == 503 and "no stack is running" in json.loads(raw)["error"]
    outside = lib["dir"] / "outside.wav"
    status, _, raw = lib["service"].post_json("/api/fingerprint", {"path": str(outside)})
    assert status == 403 and "outside every --music-dir" in json.loads(raw)["error"]


# ---------------------------------------------------------------- audio and ranges


def test_audio_ranges(lib: dict) -> None:
    svc: Service = lib["service"]
    path = lib["files"][3]  # a non-ASCII name
    data = Path(path).read_bytes()
    size = len(data)
    q = {"path": path}
    status, h, body = svc.request("GET", "/api/audio", q)
    assert (status, body, h["accept-ranges"], h["content-type"]) == (200, data, "bytes", "audio/wav")
    status, h, body = svc.request("GET", "/api/audio", q, headers={"Range": "bytes=100-199"})
    assert (status, body, h["content-range"]) == (206, data[100:200], f"bytes 100-199/{size}")
    status, h, body = svc.request("GET", "/api/audio", q, headers={"Range": f"bytes={size - 10}-"})
    assert (status, body) == (206, data[-10:])
    status, h, body = svc.request("GET", "/api/audio", q, headers={"Range": "bytes=-16"})
    assert (status, body, h["content-range"]) == (206, data[-16:], f"bytes {size - 16}-{size - 1}/{size}")
    status, h, body = svc.request("GET", "/api/audio", q, headers={"Range": f"bytes=0-{size * 2}"})
    assert (status, body) == (206, data)  # an end past the file is the file's end
    status, h, body = svc.request("GET", "/api/audio", q, headers={"Range": "bytes=10-20,30-40"})
    assert (status, body) == (206, data[10:21])  # one range: the first
    for bad in (f"bytes={size}-", "bytes=50-10", "bytes=-0", "bytes=x-y"):
        status, h, body = svc.request("GET", "/api/audio", q, headers={"Range": bad})
        assert status == 416 and h["content-range"] == f"bytes */{size}", bad
    status, h, body = svc.request("GET", "/api/audio", q, headers={"Range": "items=1-2"})
    assert (status, body) == (200, data)  # another unit: ignored (RFC 9110)
    status, h, body = svc.request("HEAD", "/api/audio", q)
    assert status == 200 and int(h["content-length"]) == size and body == b""
    # a client that leaves mid-file (as a browser on a seek) is no error (the log is checked at the end)
    big = lib["dir"] / "music" / "Artist0" / "Album0" / "00 track00.wav"
    for _ in range(3):
        with socket.create_connection((svc.host, svc.port), timeout=10) as s:
            s.sendall(f"GET /api/audio?{urlencode({'path': str(big)})} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert s.recv(100).startswith(b"HTTP/1.1 200")
    status, _, body = svc.request("GET", "/api/audio", q, headers={"Range": "bytes=0-9"})
    assert (status, body) == (206, data[:10])


def test_only_library_files_are_served(lib: dict) -> None:
    svc: Service = lib["service"]
    for outside in ("/etc/passwd", str(lib["music"]) + "/../outside.wav", str(lib["dir"] / "lib.db")):
        status, _, body = svc.request("GET", "/api/audio", {"path": outside})
        assert status == 404 and b"only tracks of the library" in body, outside
    status, _, body = svc.request("GET", "/api/audio", {"path": lib["evil"]})  # a row, symlinked out
    assert status == 403 and b"RIFF not for you" not in body
    status, _, body = svc.request("GET", "/static/../../../../etc/passwd")
    assert status in (403, 404) and b"root:" not in body


# ---------------------------------------------------------------- the library changes under it


def test_rows_committed_later_are_seen_without_restart(lib: dict) -> None:
    svc: Service = lib["service"]
    new = done_row("/music/late/arrival.flac", np.asarray(synthetic_library(5, seed=9)[0]))
    insert_rows_file(lib["db"], [new])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        _, page = svc.get_json("/api/search", q="late arrival")
        if page["total"] == 1:
            break
        time.sleep(0.2)
    assert page["total"] == 1
    status, found = svc.get_json("/api/similar", path="/music/late/arrival.flac", k=3)
    assert status == 200 and len(found) == 3
    _, h = svc.get_json("/health")
    assert h["rows"] == N_FILES + N_SYNTH + 5 and h["reloads"] >= 1
