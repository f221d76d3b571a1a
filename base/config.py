"""Settings shared by every process, read from environment variables.

All endpoints derive from one address, ``FPSTREAM_BROKER`` (the one
rendezvous): the broker binds them, everyone else connects.

- ``ipc://DIR`` (default ``ipc://$XDG_RUNTIME_DIR/fpstream`` or
  ``ipc:///tmp/fpstream-$UID``): one socket file per channel inside ``DIR``,
  which is created with mode 0700 so only this user can connect.
- ``tcp://HOST:PORT``: seven consecutive ports starting at ``PORT``. Binding a
  non-loopback host requires CurveZMQ keys (see docs/machines.md).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path


class ConfigError(ValueError):
    """A setting (an ``FPSTREAM_*`` variable, a key file, an address) that cannot work, with a
    message that says which and what is expected. Raised in ``base``; each process's ``main`` and
    the ``fpstream`` command turn it into one line on stderr and exit status 1, so a caller of
    the Python API gets an exception, never a stopped interpreter."""


# Channel name -> offset from the base port (tcp) / socket file name (ipc).
CHANNELS: dict[str, int] = {
    "chunks_in": 0,  # ingest PUSH -> broker PULL
    "chunks_out": 1,  # broker PUSH -> analyzer PULL
    "results_in": 2,  # analyzer/ingest PUSH -> broker PULL
    "results_out": 3,  # broker PUSH -> sink PULL
    "acks_in": 4,  # sink PUB -> broker XSUB
    "acks_out": 5,  # broker XPUB -> ingest SUB
    "status": 6,  # broker REP <- REQ (`fpstream status`): counters as a msgpack map
}


def default_runtime_dir() -> Path:
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and Path(xdg).is_dir():
        return Path(xdg) / "fpstream"
    return Path(f"/tmp/fpstream-{os.getuid()}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None


@dataclass(frozen=True)
class Endpoints:
    base: str

    @classmethod
    def from_env(cls) -> Endpoints:
        return cls(os.environ.get("FPSTREAM_BROKER") or f"ipc://{default_runtime_dir()}")

    @property
    def is_ipc(self) -> bool:
        return self.base.startswith("ipc://")

    @property
    def ipc_dir(self) -> Path:
        return Path(self.base[len("ipc://") :])

    @property
    def host(self) -> str:
        return self.base[len("tcp://") :].rsplit(":", 1)[0]

    def __getitem__(self, channel: str) -> str:
        offset = CHANNELS[channel]
        if self.is_ipc:
            return f"ipc://{self.ipc_dir / channel}"
        if not self.base.startswith("tcp://"):
            raise ConfigError(f"FPSTREAM_BROKER={self.base!r}: expected ipc://DIR or tcp://HOST:PORT")
        try:
            port = int(self.base.rsplit(":", 1)[1])
        except (IndexError, ValueError):
            raise ConfigError(f"FPSTREAM_BROKER={self.base!r}: missing port") from None
        return f"tcp://{self.host}:{port + offset}"

    def ensure_private_dir(self) -> None:
        """Create the ipc directory with mode 0700 and refuse one others can enter."""
        if not self.is_ipc:
            return
        d = self.ipc_dir
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = d.stat()
        if st.st_uid != os.getuid():
            raise ConfigError(f"runtime directory {d} belongs to uid {st.st_uid}, not to you")
        if stat.S_IMODE(st.st_mode) & 0o077:
            os.chmod(d, 0o700)


def default_database_path() -> Path:
    """One library per user, wherever a command runs: ``$XDG_DATA_HOME/fpstream/fingerprints.db``.

    The XDG Base Directory convention (``~/.local/share`` when ``XDG_DATA_HOME`` is
    unset or not absolute), as other music-library tools keep one library per user.
    """
    xdg = os.environ.get("XDG_DATA_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".local" / "share"
    return base / "fpstream" / "fingerprints.db"


def database_path() -> Path:
    """The library: ``FPSTREAM_DB`` if set, else the per-user default; always absolute.

    Absolute so that the path printed at start is the file every process uses,
    whatever directory each was started from.
    """
    given = os.environ.get("FPSTREAM_DB")
    return Path(given).expanduser().absolute() if given else default_database_path().absolute()


@dataclass(frozen=True)
class Setting:
    """One environment variable: the one table (:data:`SETTINGS`) that docs/settings.md and every
    process's ``--help`` are made from (``tests/test_settings.py`` checks both)."""

    name: str
    default: str  # as a reader sees it (Markdown: `code` marks literal values)
    used_by: str  # "all", "ingest", "ingest, broker", "sink", "make run", ...
    meaning: str

    def applies_to(self, role: str) -> bool:
        """Whether the process or command ``role`` (``ingest``, ``sink``…) reads this setting."""
        used = self.used_by
        if used.startswith("every") or used == "all":
            return True
        if used.startswith("all but "):
            return role not in used[len("all but ") :].split(", ")
        return role in used.split(", ")


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "FPSTREAM_DB",
        "`$XDG_DATA_HOME/fpstream/fingerprints.db` (`~/.local/share/fpstream/fingerprints.db`)",
        "every command and process",
        (
            "the library, one SQLite file per user whatever the current directory; made absolute and "
            "printed at start (ingest reads it to skip finished files)"
        ),
    ),
    Setting(
        "FPSTREAM_BROKER",
        "`ipc://$XDG_RUNTIME_DIR/fpstream` (or `ipc:///tmp/fpstream-$UID`)",
        "all",
        (
            "the one rendezvous: `ipc://DIR` (one socket file per channel in DIR, created 0700) or "
            "`tcp://HOST:PORT` (seven consecutive ports from PORT)"
        ),
    ),
    Setting(
        "FPSTREAM_CURVE_DIR",
        "unset",
        "all",
        "CurveZMQ keys (docs/machines.md); required for a non-loopback tcp address",
    ),
    Setting(
        "FPSTREAM_CURVE_CLIENT",
        "`client`",
        "all but broker",
        "which key pair in `FPSTREAM_CURVE_DIR` a client uses",
    ),
    Setting(
        "FPSTREAM_INPUT",
        "stdin",
        "ingest",
        "read paths from this file or fifo",
    ),
    Setting(
        "FPSTREAM_NUL",
        "`0`",
        "ingest",
        "`1`: paths are NUL-separated (also `-0`)",
    ),
    Setting(
        "FPSTREAM_FORCE",
        "`0`",
        "ingest",
        "`1`: re-analyse files even if done and unchanged (also `--force`)",
    ),
    Setting(
        "FPSTREAM_RETRY_FAILED",
        "`0`",
        "ingest",
        "`1`: analyse files that failed before even if unchanged (also `--retry-failed`)",
    ),
    Setting(
        "FPSTREAM_LIST_IGNORED",
        "`0`",
        "ingest",
        "`1`: name the files that are not audio in the summary (also `--list-ignored`; docs/library.md)",
    ),
    Setting(
        "FPSTREAM_INCLUDE_DERIVED",
        "`0`",
        "ingest",
        (
            "`1`: feed files written by `fpstream master` too, stored with `derived_from` "
            "(also `--include-derived`)"
        ),
    ),
    Setting(
        "FPSTREAM_STACK_WAIT_S",
        "`5` (`make run`: 600, while its own analyzers start)",
        "ingest",
        (
            "how long to wait at start for the broker, an analyzer and the sink before saying which "
            "is missing; `0`: no check (a broker without the status channel)"
        ),
    ),
    Setting(
        "FPSTREAM_CHUNK_S",
        "`10`",
        "ingest, broker",
        "seconds of audio per chunk (never changes a result, only granularity and memory)",
    ),
    Setting(
        "FPSTREAM_MAX_IN_FLIGHT",
        "`16` (`make run`: 4 × analyzers)",
        "ingest",
        "tracks sent but not yet committed",
    ),
    Setting(
        "FPSTREAM_DECODE_THREADS",
        "one per core, up to `8`",
        "ingest",
        "tracks decoding at once, each on its own thread a couple of chunks ahead (docs/performance.md)",
    ),
    Setting(
        "FPSTREAM_ACK_TIMEOUT_S",
        "`30`",
        "ingest",
        "re-send a track not committed within this many seconds …",
    ),
    Setting(
        "FPSTREAM_ACK_TIMEOUT_PER_AUDIO_S",
        "`2`",
        "ingest",
        "… plus this many per second of its audio",
    ),
    Setting(
        "FPSTREAM_RETRIES",
        "`3`",
        "ingest",
        "re-sends before a track becomes `failed` with a timeout error",
    ),
    Setting(
        "FPSTREAM_REORDER_S",
        "`3`",
        "ingest",
        "re-send a chunk this long after chunks sent later than it were received and it was not",
    ),
    Setting(
        "FPSTREAM_TAIL_S",
        "`10`",
        "ingest",
        "no receipt this long while chunks are outstanding: re-send the oldest one (backs off ×2, up to ×8)",
    ),
    Setting(
        "FPSTREAM_COMMIT_WAIT_S",
        "`10`",
        "ingest",
        "every chunk of a track received but no ack after this long: ask again (its last chunk)",
    ),
    Setting(
        "FPSTREAM_IDLE_WARN_S",
        "`60`",
        "analyzer",
        "warn after this long without work while not connected to the broker",
    ),
    Setting(
        "FPSTREAM_PROGRESS_S",
        "`2` on a terminal, `10` otherwise",
        "ingest",
        "seconds between progress updates",
    ),
    Setting(
        "FPSTREAM_PYTHON",
        "`.venv/bin/python`",
        "Procfile",
        "the Python that runs each process under honcho",
    ),
    Setting(
        "XDG_CACHE_HOME",
        "`~/.cache`",
        "query commands",
        "the library's vectors are cached in `fpstream/` in there until the library changes, so "
        "`show` and `similar` need not read every row",
    ),
    Setting(
        "XDG_STATE_HOME",
        "`~/.local/state`",
        "make run",
        "the stack's log goes to `fpstream/stack.log` in there",
    ),
    Setting(
        "FPSTREAM_QUEUE_MB",
        "`64`",
        "all",
        "byte budget of each chunk queue (sets the ZeroMQ high-water marks)",
    ),
    Setting(
        "FPSTREAM_MAX_MESSAGE_MB",
        "`256`",
        "all",
        "larger messages are refused (ZeroMQ `MAXMSGSIZE`)",
    ),
    Setting(
        "FPSTREAM_BATCH_ROWS",
        "`200`",
        "sink",
        "commit after this many rows …",
    ),
    Setting(
        "FPSTREAM_BATCH_MS",
        "`250`",
        "sink",
        "… or this many milliseconds, whichever is first",
    ),
    Setting(
        "FPSTREAM_STALE_S",
        "`900`",
        "sink",
        "forget a half-assembled track after this long without news",
    ),
    Setting(
        "FPSTREAM_SINK_THREADS",
        "`2`",
        "sink",
        "threads computing final fingerprints",
    ),
    Setting(
        "FPSTREAM_LOG_LEVEL",
        "`INFO`",
        "all",
        "`DEBUG`, `INFO`, `WARNING`, `ERROR`",
    ),
)


SETTINGS_DOC = "docs/settings.md"


def settings_table() -> str:
    """:data:`SETTINGS` as the Markdown table of docs/settings.md."""
    lines = ["| variable | default | used by | meaning |", "|---|---|---|---|"]
    lines += [f"| `{s.name}` | {s.default} | {s.used_by} | {s.meaning} |" for s in SETTINGS]
    return "\n".join(lines) + "\n"


def settings_epilog(role: str) -> str:
    """The settings ``role`` reads, for its ``--help`` epilog (argparse-safe: ``%`` doubled)."""
    items = [f"{s.name} ({s.default.replace('`', '')})" for s in SETTINGS if s.applies_to(role)]
    text = f"Settings (environment): {', '.join(items)}. What each means: {SETTINGS_DOC}."
    return text.replace("%", "%%")
