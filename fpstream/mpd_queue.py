"""MPD as a player of the library: queue tracks similar to MPD's current song, once or whenever
the queue runs low (``fpstream mpd``, docs/mpd.md).

MPD names a song by its URI relative to its ``music_directory``; the library names a track by the
absolute path ingest stored. :class:`UriMap` translates both ways, so only tracks that are rows
of the library *and* lie inside MPD's music folder are ever queued. MPD is reached as ``mpc``
reaches it (:func:`resolve_address`), through python-mpd2.

Examples
--------
>>> addr = resolve_address(None, None, {"MPD_HOST": "secret@music.lan", "MPD_PORT": "6601"})
>>> (addr.host, addr.port, addr.password)
('music.lan', 6601, 'secret')
>>> UriMap("/srv/music").to_uri("/srv/music/a/b.flac")
'a/b.flac'
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

import mpd

from audio.paths import stored_path
from fpstream.api import Library
from fpstream.cli_args import UserError
from fpstream.steering import Steering
from store.library import LibraryError

DEFAULT_PORT = 6600
COMMAND_TIMEOUT_S = 10.0  # one MPD command; idle itself waits as long as it takes
RECONNECT_FIRST_S = 0.5
RECONNECT_MAX_S = 10.0

#: What losing MPD looks like: the socket closed or refused (python-mpd2 raises its own
#: ConnectionError for a connection lost mid-read, the OS raises OSError for the rest).
LOST = (mpd.ConnectionError, OSError)


# ---------------------------------------------------------------- reaching MPD


@dataclass(frozen=True)
class Address:
    """Where MPD listens: ``host`` is a host name, a socket path (``/…``) or an abstract socket (``@…``)."""

    host: str
    port: int
    password: str | None = None

    @property
    def is_socket(self) -> bool:
        return self.host.startswith(("/", "@"))

    def __str__(self) -> str:
        return self.host if self.is_socket else f"{self.host}:{self.port}"


def default_sockets(environ: Mapping[str, str]) -> list[str]:
    """The local sockets libmpdclient (``mpc``) tries when ``MPD_HOST`` is unset, in its order."""
    runtime = environ.get("XDG_RUNTIME_DIR")
    return [*([f"{runtime}/mpd/socket"] if runtime else []), "/run/mpd/socket"]


def resolve_address(host: str | None, port: int | None, environ: Mapping[str, str] = os.environ) -> Address:
    """MPD's address as ``mpc`` finds it: ``--host``/``--port``, else ``MPD_HOST``/``MPD_PORT``.

    ``MPD_HOST`` may be ``password@host``, a socket path or ``@abstract``; when neither is given,
    the first existing default socket (:func:`default_sockets`), else ``localhost``. Port: 6600.
    """
    text = host if host is not None else environ.get("MPD_HOST", "")
    password = None
    # "@name" is an abstract socket, not an empty password (libmpdclient's rule)
    if "@" in text and not text.startswith("@"):
        password, text = text.split("@", 1)
    if not text:
        text = next((s for s in default_sockets(environ) if os.path.exists(s)), "localhost")
    if port is None:
        raw = environ.get("MPD_PORT", "")
        try:
            port = int(raw) if raw else DEFAULT_PORT
        except ValueError:
            raise UserError(f"MPD_PORT={raw!r} is not a port number") from None
    if not 0 < port < 65536:
        raise UserError(f"MPD port {port} is out of range (1-65535)")
    return Address(text, port, password or None)


def reason(exc: BaseException) -> str:
    """A one-line cause for a connection failure."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def connect(addr: Address) -> mpd.MPDClient:
    """A connected client (password sent); raises an OSError or ``mpd.ConnectionError`` if MPD is
    not there, :class:`UserError` if it refuses the password."""
    client = mpd.MPDClient()
    client.timeout = COMMAND_TIMEOUT_S
    client.idletimeout = None
    client.connect(addr.host, addr.port)
    if addr.password is not None:
        try:
            client.password(addr.password)
        except mpd.CommandError as exc:
            client.disconnect()
            raise UserError(f"MPD at {addr} refused the password: {exc}") from None
    return client


def disconnect(client: mpd.MPDClient) -> None:
    try:
        client.disconnect()
    except LOST:
        pass  # already gone: nothing to close


def music_directory(client: mpd.MPDClient, addr: Address, given: Path | None) -> str:
    """The folder MPD's URIs are relative to, as the library's paths name it.

    ``--music-dir`` when given (MPD's folder may be mounted elsewhere here); else MPD's own
    ``music_directory``, which MPD tells only over a local socket.
    """
    if given is not None:
        return stored_path(os.path.expanduser(given))
    if not addr.is_socket:
        raise UserError(
            f"MPD at {addr} is reached over TCP, where MPD does not tell its music_directory: "
            "give --music-dir DIR (the folder MPD's music_directory is, as the library's paths name it)"
        )
    try:
        folder = client.config()
    except mpd.CommandError as exc:
        raise UserError(
            f"MPD at {addr} did not tell its music_directory ({exc}): give --music-dir DIR"
        ) from None
    if not folder:
        raise UserError(f"MPD at {addr} has no music_directory: give --music-dir DIR")
    return stored_path(folder)


class UriMap:
    """MPD URIs (relative to ``root``, MPD's music folder) to library paths and back."""

    def __init__(self, root: str) -> None:
        self.root = stored_path(root)
        self._prefix = self.root.rstrip("/") + "/"

    def to_path(self, uri: str) -> str | None:
        """The library path of an MPD song URI; None for a stream (``http://…``)."""
        if uri.startswith("file://"):
            return stored_path(unquote(urlsplit(uri).path))
        if "://" in uri:
            return None
        if uri.startswith("/"):  # a file a local client added by its absolute path
            return stored_path(uri)
        return stored_path(os.path.join(self.root, uri))

    def to_uri(self, path: str) -> str | None:
        """The URI MPD knows ``path`` by; None when it lies outside the music folder."""
        return path[len(self._prefix) :] if path.startswith(self._prefix) else None


# ---------------------------------------------------------------- choosing tracks


def similar_paths(lib: Library, seed: str, n: int, steering: Steering) -> list[str]:
    """Up to ``n`` analysed tracks nearest to ``seed``, nearest first, as ``steering`` allows
    (``steering.previous``: the queue, oldest first; never chosen, and counted for no-repeat)."""
    return [track.path for track, _ in lib.similar(seed, n, steering=steering)]


def similar_albums(lib: Library, seed: str, n_albums: int, steering: Steering) -> list[str]:
    """The ``n_albums`` whole albums that follow ``seed``'s in :meth:`Library.album_playlist`
    (each the nearest to the one before), their tracks in album order; ``seed``'s album left out."""
    albums = lib.catalogue.albums
    index = lib.features.index_of
    own = albums[index(seed)]
    tracks = lib.album_playlist(seed, n_albums + 1, steering=steering)
    return [t.path for t in tracks if albums[index(t.path)] != own]


# ---------------------------------------------------------------- the queue


Say = Callable[[str], None]


def say_stderr(text: str) -> None:
    """One log line on stderr: ``fpstream mpd HH:MM:SS text``."""
    print(f"fpstream mpd {time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Current:
    """MPD's current song, its place in the queue and the queue's files."""

    uri: str
    position: int
    queue: tuple[str, ...]

    @property
    def remaining(self) -> int:
        """Tracks after the current one."""
        return len(self.queue) - self.position - 1


def current(client: mpd.MPDClient) -> Current | None:
    """The current song (playing, paused or selected while stopped); None when there is none."""
    song = client.currentsong()
    if not song or "file" not in song:
        return None
    queue = tuple(entry["file"] for entry in client.playlistinfo())
    return Current(song["file"], int(song.get("pos", 0)), queue)


def seed_path(lib: Library, urimap: UriMap, uri: str) -> str:
    """The library path of the current song; :class:`UserError` saying why it cannot seed."""
    path = urimap.to_path(uri)
    if path is None:
        raise UserError(f"the current song {uri} is a stream, not a file of the library")
    try:
        track = lib.get(path)
    except LibraryError:
        raise UserError(
            f"the current song {uri} ({path}) is not in the library {lib.path}: "
            f"add it with `echo {shlex.quote(path)} | fpstream feed` while a stack runs"
        ) from None
    if track.status != "done":
        raise UserError(f"the current song {uri} failed analysis ({track.error}), so it has no fingerprint")
    return path


def append(
    client: mpd.MPDClient,
    urimap: UriMap,
    choose: Callable[[int, tuple[str, ...]], list[str]],
    count: int,
    queue_paths: Iterable[str],
    say: Say,
) -> list[str]:
    """Add up to ``count`` tracks from ``choose(n, previous)`` to the end of MPD's queue.

    A track outside the music folder, or one MPD's database does not hold, is skipped (logged)
    and replaced by the next choice; returns the paths added, in order.
    """
    added: list[str] = []
    passed: list[str] = []
    outside = 0
    previous = tuple(queue_paths)
    while len(added) < count:
        # the skipped count as the oldest of the queue: never chosen, barely in the no-repeat window
        candidates = choose(count - len(added), (*passed, *previous, *added))
        if not candidates:
            break
        for path in candidates:
            uri = urimap.to_uri(path)
            if uri is None:  # counted, not logged: a library may span many folders MPD never sees
                outside += 1
                passed.append(path)
                continue
            try:
                client.add(uri)
            except mpd.CommandError as exc:
                say(f"skipped {path}: MPD has no {uri} in its database ({exc}; run `mpc update`?)")
                passed.append(path)
                continue
            added.append(path)
    if outside:
        say(f"skipped {outside} similar tracks outside MPD's music folder {urimap.root}")
    return added


def queue_paths(urimap: UriMap, queue: Iterable[str]) -> tuple[str, ...]:
    return tuple(p for p in map(urimap.to_path, queue) if p is not None)


def queue_similar(
    client: mpd.MPDClient, lib: Library, urimap: UriMap, n: int, steering: Steering, album: bool, say: Say
) -> tuple[str, list[str]]:
    """``fpstream mpd queue``: append ``n`` tracks (``album``: ``n`` whole albums) similar to the
    current song; returns (the seed's path, the paths added)."""
    now = current(client)
    if now is None:
        raise UserError("MPD has no current song: play something first (mpc play)")
    seed = seed_path(lib, urimap, now.uri)
    previous = queue_paths(urimap, now.queue)
    if album:
        albums = similar_albums(lib, seed, n, replace(steering, previous=previous))

        def choose(_n: int, prev: tuple[str, ...]) -> list[str]:
            # one batch: the albums are whole, and a track MPD lacks is skipped, not replaced
            return [p for p in albums if p not in prev]

        count = len(albums)
    else:

        def choose(k: int, prev: tuple[str, ...]) -> list[str]:
            return similar_paths(lib, seed, k, replace(steering, previous=prev))

        count = n
    return seed, append(client, urimap, choose, count, previous, say)


class LibraryCache:
    """A :class:`Library` opened again when its file changes (a feed commits rows under ``auto``)."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self._stamp: tuple[int, ...] | None = None
        self._lib: Library | None = None

    def _signature(self) -> tuple[int, ...]:
        stamps = []
        for name in (str(self.db), f"{self.db}-wal"):
            try:
                st = os.stat(name)
                stamps += [st.st_mtime_ns, st.st_size]
            except FileNotFoundError:
                stamps += [0, 0]
        return tuple(stamps)

    def get(self) -> Library:
        stamp = self._signature()
        if self._lib is None or stamp != self._stamp:
            self._lib, self._stamp = Library(self.db), stamp
        return self._lib


class Topper:
    """``fpstream mpd auto``'s one decision: when fewer than ``keep`` tracks follow the current
    song, add as many similar ones as it takes; says each thing once per song."""

    def __init__(self, libs: LibraryCache, keep: int, steering: Steering, say: Say) -> None:
        self.libs, self.keep, self.steering, self.say = libs, keep, steering, say
        self._told: tuple[str, str] | None = None

    def _tell(self, uri: str, text: str) -> None:
        if self._told != (uri, text):  # each song's trouble once, not at every idle event
            self._told = (uri, text)
            self.say(text)

    def check(self, client: mpd.MPDClient, urimap: UriMap) -> list[str]:
        if client.status().get("state") != "play":
            return []  # stopped or paused: the listener decides, not us
        now = current(client)
        if now is None or now.remaining >= self.keep:
            return []
        lib = self.libs.get()
        try:
            seed = seed_path(lib, urimap, now.uri)
        except UserError as exc:
            self._tell(now.uri, f"cannot top up: {exc}")
            return []
        want = self.keep - now.remaining

        def choose(k: int, prev: tuple[str, ...]) -> list[str]:
            return similar_paths(lib, seed, k, replace(self.steering, previous=prev))

        try:
            added = append(client, urimap, choose, want, queue_paths(urimap, now.queue), self.say)
        except LibraryError as exc:  # e.g. the seed's row was re-analysed into another version
            self._tell(now.uri, f"cannot top up: {exc}")
            return []
        if added:
            self.say(f"added {len(added)} after {now.uri}: " + ", ".join(map(urimap.to_uri, added)))
        if len(added) < want:
            self._tell(now.uri, f"the library has no more tracks to add after {now.uri} within the filters")
        return added


def auto(
    addr: Address, given_dir: Path | None, libs: LibraryCache, keep: int, steering: Steering, say: Say
) -> None:
    """Keep ``keep`` tracks queued after the current song, forever: check, then wait for MPD's
    ``player``/``playlist`` idle events; reconnect with backoff when MPD goes away. Stops only
    on Ctrl-C (KeyboardInterrupt) or a :class:`UserError`."""
    topper = Topper(libs, keep, steering, say)
    delay = RECONNECT_FIRST_S
    lost = False
    while True:
        try:
            client = connect(addr)
        except LOST as exc:
            say(f"cannot reach MPD at {addr} ({reason(exc)}); retrying in {delay:g} s")
            time.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_S)
            continue
        try:
            urimap = UriMap(music_directory(client, addr, given_dir))
            say(
                f"{'reconnected' if lost else 'connected'} to MPD {client.mpd_version} at {addr} "
                f"(music folder {urimap.root}); keeping {keep} tracks after the current one"
            )
            delay = RECONNECT_FIRST_S
            while True:
                topper.check(client, urimap)
                client.idle("player", "playlist")
        except LOST as exc:
            lost = True
            say(f"lost MPD at {addr} ({reason(exc)}); reconnecting")
        finally:
            disconnect(client)
