"""Settings shared by every process, read from environment variables.

All endpoints derive from one address, ``FPSTREAM_BROKER`` (the one
rendezvous): the broker binds them, everyone else connects.

- ``ipc://DIR`` (default ``ipc://$XDG_RUNTIME_DIR/fpstream`` or
  ``ipc:///tmp/fpstream-$UID``): one socket file per channel inside ``DIR``,
  which is created with mode 0700 so only this user can connect.
- ``tcp://HOST:PORT``: seven consecutive ports starting at ``PORT``. Binding a
  non-loopback host requires CurveZMQ keys (see README, "Multiple machines").
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

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
        raise SystemExit(f"{name}={raw!r} is not an integer") from None


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r} is not a number") from None


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
            raise SystemExit(f"FPSTREAM_BROKER={self.base!r}: expected ipc://DIR or tcp://HOST:PORT")
        try:
            port = int(self.base.rsplit(":", 1)[1])
        except (IndexError, ValueError):
            raise SystemExit(f"FPSTREAM_BROKER={self.base!r}: missing port") from None
        return f"tcp://{self.host}:{port + offset}"

    def ensure_private_dir(self) -> None:
        """Create the ipc directory with mode 0700 and refuse one others can enter."""
        if not self.is_ipc:
            return
        d = self.ipc_dir
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = d.stat()
        if st.st_uid != os.getuid():
            raise SystemExit(f"runtime directory {d} belongs to uid {st.st_uid}, not to you")
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
