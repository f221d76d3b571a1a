"""``fpstream mpd`` against a real MPD (Debian's mpd, tests/mpd_server.py) whose music folder is
generated audio, on a library built by the real stack (broker, sink, analyzers, SQLite)."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import soundfile as sf

from fpstream.api import Library
from fpstream.cli import main
from fpstream.mpd_queue import Address, UriMap, resolve_address
from fpstream.steering import Steering
from tests.cli_support import ROOT, run_cli
from tests.mpd_server import MpdServer
from tests.music_styles import SR, STYLES, style_track
from tests.stack_harness import Stack

PER_ALBUM = 4


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, MpdServer]]:
    """(database, music folder, a running MPD over that folder): 16 tracks in 4 album folders (one
    style each) analysed by the stack, plus one file MPD has but the library does not, and one
    file the library holds as a failed row."""
    work = tmp_path_factory.mktemp("mpd")
    music = work / "music"
    paths = []
    for style in STYLES:
        (music / style).mkdir(parents=True)
        for v in range(0, 2 * PER_ALBUM, 2):
            path = music / style / f"{style}-{v}.flac"
            sf.write(str(path), style_track(style, v), SR, subtype="PCM_16")
            paths.append(path)
    sf.write(str(music / "unanalysed.flac"), style_track(STYLES[0], 1), SR, subtype="PCM_16")
    broken = music / STYLES[1] / "broken.flac"  # MPD skips it too: not FLAC inside
    broken.write_bytes(b"fLaC but not really" * 100)
    with Stack(work) as stack:
        stack.start(analyzers=2)
        stack.ingest([*paths, broken], timeout=300)
    rows = stack.rows()
    assert sum(r["status"] == "done" for r in rows.values()) == len(paths), rows.keys()
    assert rows[str(broken)]["status"] == "failed"
    with MpdServer(work / "mpd", music) as server:
        # 6-s tracks under a real-time null output: single + repeat keeps the current song current
        # until a test moves on (mpc next), so the queue changes only when the test or fpstream does
        server.mpc("repeat", "on")
        server.mpc("single", "on")
        yield stack.db, music, server


def fresh_queue(server: MpdServer, *uris: str, play: int = 0) -> None:
    server.mpc("clear")
    for uri in uris:
        server.mpc("add", uri)
    server.mpc("play", str(play + 1))


def fpstream_mpd(db: Path, server: MpdServer, *args: str) -> subprocess.CompletedProcess[str]:
    """``fpstream mpd --db DB ARGS`` in this process (a Python start costs seconds on a busy
    machine), reaching the server over TCP unless ARGS name another --host."""
    out, err = io.StringIO(), io.StringIO()
    where = [] if "--host" in args else ["--host", "127.0.0.1", "--port", str(server.port)]
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["mpd", "--db", str(db), *where, *args])
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def nearest(db: Path, music: Path, uri: str, k: int) -> list[str]:
    """The ``k`` nearest by ``fpstream similar``, as URIs."""
    done = run_cli("similar", str(music / uri), "-k", str(k), "--format", "json", "--db", str(db))
    assert done.returncode == 0, done.stderr
    return [os.path.relpath(r["path"], music) for r in json.loads(done.stdout)]


def steered(db: Path, music: Path, uri: str, k: int, queue: list[str], **steering) -> list[str]:
    """The ``k`` nearest that ``Library.similar`` allows after ``queue``, as URIs."""
    previous = tuple(str(music / u) for u in queue)
    got = Library(db).similar(str(music / uri), k, steering=Steering(previous=previous, **steering))
    return [os.path.relpath(t.path, music) for t, _ in got]


def test_address_as_mpc_reads_it() -> None:
    assert resolve_address(None, None, {}).host in ("localhost", "/run/mpd/socket")
    assert resolve_address(None, None, {"MPD_HOST": "pw@h", "MPD_PORT": "7"}) == Address("h", 7, "pw")
    assert resolve_address(None, None, {"MPD_HOST": "@mpd"}) == Address("@mpd", 6600, None)
    assert resolve_address("/run/x.sock", 9, {"MPD_HOST": "other"}).is_socket
    m = UriMap("/srv/music/")
    assert m.to_path("a/b.flac") == "/srv/music/a/b.flac" and m.to_uri("/srv/music/a/b.flac") == "a/b.flac"
    assert m.to_path("http://radio/x") is None and m.to_uri("/srv/musicals/x.flac") is None


def test_queue_appends_exactly_the_nearest_by_similar(world) -> None:
    db, music, server = world
    seed = f"{STYLES[2]}/{STYLES[2]}-2.flac"
    fresh_queue(server, seed)
    # over MPD's local socket: the music folder is MPD's own (config)
    done = fpstream_mpd(db, server, "--host", str(server.socket), "queue", "5", "--min-duration", "0")
    assert done.returncode == 0, done.stderr
    expected = nearest(db, music, seed, 5)
    assert server.playlist() == [seed, *expected]
    assert done.stdout.splitlines() == expected
    assert "appended 5 tracks" in done.stderr
    # Again, keeping albums apart: the 5 queued are never chosen twice, no-repeat counts the queue.
    queue = server.playlist()
    done = fpstream_mpd(
        db, server, "--music-dir", str(music), "queue", "4", "--min-duration", "0", "--no-repeat-album", "1"
    )
    assert done.returncode == 0, done.stderr
    added = server.playlist()[len(queue):]
    assert added == steered(db, music, seed, 4, queue, min_duration_s=None, no_repeat_album=1)
    assert not set(added) & set(queue)
    albums = [u.split("/")[0] for u in [queue[-1], *added]]
    assert all(a != b for a, b in zip(albums, albums[1:], strict=False)), albums
    # The default minimum duration, 30 s (the mixer API's), leaves none of these 6-s tracks.
    done = fpstream_mpd(db, server, "--music-dir", str(music), "queue", "3")
    assert done.returncode == 0 and "appended 0 tracks" in done.stderr, done.stderr
    assert len(server.playlist()) == 10


def test_queue_album_appends_the_nearest_whole_album(world) -> None:
    db, music, server = world
    seed = f"{STYLES[0]}/{STYLES[0]}-0.flac"
    fresh_queue(server, seed)
    done = fpstream_mpd(db, server, "--music-dir", str(music), "queue", "1", "--album", "--min-duration", "0")
    assert done.returncode == 0, done.stderr
    steering = Steering(previous=(str(music / seed),), min_duration_s=None)
    chain = Library(db).album_playlist(str(music / seed), 2, steering=steering)
    album = os.path.relpath(chain[-1].path, music).split("/")[0]
    assert album != STYLES[0]
    expected = sorted(f"{album}/{album}-{v}.flac" for v in range(0, 2 * PER_ALBUM, 2))
    assert server.playlist() == [seed, *expected]


def test_a_song_outside_the_library_is_named_and_nothing_is_queued(world) -> None:
    db, music, server = world
    fresh_queue(server, "unanalysed.flac")
    done = fpstream_mpd(db, server, "--music-dir", str(music), "queue", "3", "--min-duration", "0")
    assert done.returncode == 1
    assert "the current song unanalysed.flac" in done.stderr and "is not in the library" in done.stderr
    assert "Traceback" not in done.stderr
    assert server.playlist() == ["unanalysed.flac"]
    # Over TCP MPD does not tell its music folder: without --music-dir, a clear error.
    done = fpstream_mpd(db, server, "queue", "3")
    assert done.returncode == 1 and "give --music-dir" in done.stderr, done.stderr
    # A port where no MPD listens.
    done = fpstream_mpd(db, server, "--host", "127.0.0.1", "--port", "1", "queue", "3")
    assert done.returncode == 1 and "cannot reach MPD at 127.0.0.1:1" in done.stderr, done.stderr


def wait_for(what: str, check, timeout: float = 20.0, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            err = proc.stderr.read() if proc is not None and proc.poll() is not None else ""
            raise AssertionError(f"timed out waiting for {what} {err}")
        time.sleep(0.1)


def after_current(server: MpdServer) -> int:
    pos = server.position()
    return -1 if pos is None else len(server.playlist()) - pos - 1


def test_auto_keeps_the_queue_topped_up_and_survives_an_mpd_restart(world, tmp_path) -> None:
    db, music, server = world
    seed = f"{STYLES[1]}/{STYLES[1]}-0.flac"
    fresh_queue(server, seed)
    log = tmp_path / "auto.log"
    with open(log, "w") as err:
        auto = subprocess.Popen(
            [sys.executable, "-m", "fpstream.cli", "mpd", "--db", str(db), "--host", str(server.socket),
             "auto", "--keep", "3", "--min-duration", "0"],
            env={**server.env, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        # The music folder came from MPD itself (config, over the local socket).
        wait_for("the first top-up", lambda: after_current(server) == 3)
        assert server.playlist() == [seed, *steered(db, music, seed, 3, [seed], min_duration_s=None)]
        for _ in range(2):
            server.mpc("next")
            wait_for("a top-up after mpc next", lambda: after_current(server) == 3)
        queue = server.playlist()
        assert len(queue) == len(set(queue)) == 6  # never a track twice
        assert not {"unanalysed.flac", f"{STYLES[1]}/broken.flac"} & set(queue)
        # MPD goes away and comes back (its state file keeps queue and playback): auto reconnects.
        server.restart()
        wait_for("the reconnection", lambda: "reconnected to MPD" in log.read_text())
        server.mpc("play")  # the restored state may be paused
        server.mpc("next")
        wait_for("a top-up after the restart", lambda: after_current(server) == 3)
        assert len(server.playlist()) == 7 and len(set(server.playlist())) == 7
        assert "lost MPD at" in log.read_text()
        # Ctrl-C: exit status 130, no traceback.
        auto.send_signal(signal.SIGINT)
        assert auto.wait(10) == 130
        text = log.read_text()
        assert "Traceback" not in text, text
    finally:
        if auto.poll() is None:
            auto.kill()
            auto.wait(5)


def test_a_choice_outside_the_folder_or_unknown_to_mpd_is_skipped_and_replaced(world) -> None:
    db, music, server = world
    from fpstream.mpd_queue import append, connect

    seed = f"{STYLES[3]}/{STYLES[3]}-0.flac"
    fresh_queue(server, seed)
    offers = [["/elsewhere/x.flac", str(music / "not-in-mpd.flac"), str(music / seed)], [str(music / "a")]]
    asked: list[tuple[int, tuple[str, ...]]] = []

    def choose(k: int, previous: tuple[str, ...]) -> list[str]:
        asked.append((k, previous))
        return offers[len(asked) - 1] if len(asked) <= len(offers) else []

    said: list[str] = []
    client = connect(resolve_address(str(server.socket), None, {}))
    try:
        added = append(client, UriMap(str(music)), choose, 2, [str(music / seed)], said.append)
    finally:
        client.disconnect()
    # The seed itself is a real file MPD has: added (append trusts its chooser); the two others not.
    assert added == [str(music / seed)] and server.playlist() == [seed, seed]
    # Asked again for the one missing, with the skipped ones as the oldest of the queue.
    assert asked[1] == (1, ("/elsewhere/x.flac", str(music / "not-in-mpd.flac"), str(music / seed), *added))
    assert any("MPD has no not-in-mpd.flac" in s for s in said), said
    assert any("skipped 1 similar tracks outside MPD's music folder" in s for s in said), said
