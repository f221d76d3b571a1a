"""The one place that creates ZeroMQ sockets: limits, high-water marks, linger, CurveZMQ.

Only the broker binds (``Sockets.bind``); every other process connects
(``Sockets.connect``). Both apply the same limits, so a socket can never be
created without a message-size cap or with an unbounded queue.

Queues are sized from a byte budget, not a message count: ``FPSTREAM_QUEUE_MB``
(default 64) per chunk queue, divided by the size of one chunk at 48 kHz stereo
(``FPSTREAM_CHUNK_S`` + pre-roll). A chunk crosses at most four such queues
(ingest send, broker receive, broker send, analyzer receive; the last two are
kept at ``PREFETCH`` so a worker never hoards work), so the PCM held in queues
is bounded by about twice the budget whatever the library holds.

CurveZMQ (``FPSTREAM_CURVE_DIR``): the broker is the Curve server and only
accepts clients whose public key is in ``DIR/authorized_clients/``; clients use
``DIR/server.key`` and their own key pair ``DIR/<FPSTREAM_CURVE_CLIENT>.key_secret``
(default ``client``). Without keys the broker refuses to bind any tcp address
that is not loopback. ``python -m broker keygen DIR`` writes the files.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from base.config import CHANNELS, ConfigError, Endpoints, env_float, env_int
from base.protocol import DEFAULT_CHUNK_S, MAX_MESSAGE_BYTES, PCM_DTYPE, PREROLL_S

log = logging.getLogger(__name__)

MiB = 1 << 20
# Chunks waiting at the broker's analyzer side and inside each analyzer: small,
# so PUSH round-robin balances by who is free, and a killed analyzer loses little.
PREFETCH = 2
# Partials, failures and acks are small (KBs); this bounds them by count.
RESULT_HWM = 1000
LOOPBACK_HOSTS = {"localhost", "::1", "[::1]"}
# An idle tcp peer that stops answering is dropped after IDLE + INTERVAL x PROBES seconds (25 s).
KEEPALIVE_IDLE_S, KEEPALIVE_INTERVAL_S, KEEPALIVE_PROBES = 10, 5, 3


def chunk_seconds() -> float:
    """Seconds of audio per chunk (``FPSTREAM_CHUNK_S``); results never depend on it."""
    chunk_s = env_float("FPSTREAM_CHUNK_S", DEFAULT_CHUNK_S)
    if not 0.1 <= chunk_s <= 600:
        raise ConfigError(f"FPSTREAM_CHUNK_S={chunk_s}: expected 0.1 to 600 seconds")
    return chunk_s


@dataclass(frozen=True)
class Limits:
    chunk_hwm: int  # messages, for the queues that hold PCM
    max_message_bytes: int  # ZMQ_MAXMSGSIZE: a peer sending more is disconnected

    @classmethod
    def from_env(cls) -> Limits:
        queue_mb = env_int("FPSTREAM_QUEUE_MB", 64)
        max_mb = env_int("FPSTREAM_MAX_MESSAGE_MB", 256)
        if queue_mb < 1 or max_mb < 1:
            raise ConfigError("FPSTREAM_QUEUE_MB and FPSTREAM_MAX_MESSAGE_MB must be at least 1")
        chunk_bytes = (chunk_seconds() + PREROLL_S) * 48_000 * 2 * PCM_DTYPE.itemsize
        return cls(
            chunk_hwm=max(PREFETCH, int(queue_mb * MiB // chunk_bytes)),
            max_message_bytes=min(max_mb * MiB, MAX_MESSAGE_BYTES),
        )


# ---------------------------------------------------------------- CurveZMQ keys


@dataclass(frozen=True)
class CurveKeys:
    """Where the key files live; which of them a process needs depends on its role."""

    dir: Path
    client_name: str = "client"

    @classmethod
    def from_env(cls) -> CurveKeys | None:
        d = os.environ.get("FPSTREAM_CURVE_DIR")
        if not d:
            return None
        return cls(Path(d), os.environ.get("FPSTREAM_CURVE_CLIENT") or "client")

    @property
    def authorized_dir(self) -> Path:
        return self.dir / "authorized_clients"

    def _load(self, name: str, secret: bool) -> tuple[bytes, bytes | None]:
        path = self.dir / (f"{name}.key_secret" if secret else f"{name}.key")
        if not path.is_file():
            raise ConfigError(
                f"FPSTREAM_CURVE_DIR: missing {path} (create keys with: python -m broker keygen DIR)"
            )
        try:
            return zmq.auth.load_certificate(path)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read Curve key {path}: {exc}") from None

    def server(self) -> tuple[bytes, bytes]:
        public, secret = self._load("server", secret=True)
        assert secret is not None
        if not self.authorized_dir.is_dir():
            raise ConfigError(f"FPSTREAM_CURVE_DIR: missing {self.authorized_dir} (the client allow-list)")
        return public, secret

    def client(self) -> tuple[bytes, bytes, bytes]:
        """``(server public, client public, client secret)``."""
        server_public, _ = self._load("server", secret=False)
        public, secret = self._load(self.client_name, secret=True)
        assert secret is not None
        return server_public, public, secret


def generate_keys(key_dir: Path, client_name: str = "client") -> list[Path]:
    """Create the server key pair (once) and a client key pair allowed to connect.

    Returns the files written. Existing keys are kept, so running this again
    with another ``client_name`` adds one more authorised client.
    """
    key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    authorized = key_dir / "authorized_clients"
    authorized.mkdir(mode=0o700, exist_ok=True)
    written: list[Path] = []
    for name in ("server", client_name):
        if not (key_dir / f"{name}.key_secret").exists():
            public, secret = zmq.auth.create_certificates(key_dir, name)
            os.chmod(secret, 0o600)
            written += [Path(public), Path(secret)]
    allowed = authorized / f"{client_name}.key"
    if not allowed.exists():
        shutil.copyfile(key_dir / f"{client_name}.key", allowed)
        written.append(allowed)
    return written


def is_loopback(host: str) -> bool:
    return host in LOOPBACK_HOSTS or host.startswith("127.")


# ---------------------------------------------------------------- sockets


class Sockets:
    """Creates (and remembers, to close) the sockets of one process."""

    def __init__(
        self,
        ctx: zmq.Context[Any],
        endpoints: Endpoints,
        curve: CurveKeys | None,
        limits: Limits,
    ) -> None:
        self.ctx = ctx
        self.endpoints = endpoints
        self.curve = curve  # None: no CurveZMQ (loopback and ipc only)
        self.limits = limits
        self.made: list[zmq.Socket[Any]] = []
        self._auth: ThreadAuthenticator | None = None

    @classmethod
    def from_env(cls, ctx: zmq.Context[Any], endpoints: Endpoints | None = None) -> Sockets:
        """Endpoints (unless given), Curve keys and limits from the FPSTREAM_* environment."""
        return cls(ctx, endpoints or Endpoints.from_env(), CurveKeys.from_env(), Limits.from_env())

    def _socket(self, kind: int, sndhwm: int, rcvhwm: int) -> zmq.Socket[Any]:
        sock = self.ctx.socket(kind)
        sock.linger = 1000
        sock.sndhwm = sndhwm
        sock.rcvhwm = rcvhwm
        sock.setsockopt(zmq.MAXMSGSIZE, self.limits.max_message_bytes)
        # Find dead peers (a host that vanished without closing its connections) with TCP
        # keepalive, answered by the kernel. Not with ZeroMQ heartbeats: a ZMTP PONG travels
        # in-band, so while a high-water mark holds a connection's input (every back-pressured
        # chunk queue) the PONG is never read, the heartbeat times out, the connection is
        # reset, and the message half-way through it is lost without a trace. That was the
        # chunk a busy machine lost (reproduced: a slow PULL reader loses one message per
        # heartbeat timeout); heartbeats with CurveZMQ also made PULL sockets report POLLIN
        # with nothing to read.
        sock.setsockopt(zmq.TCP_KEEPALIVE, 1)
        sock.setsockopt(zmq.TCP_KEEPALIVE_IDLE, KEEPALIVE_IDLE_S)
        sock.setsockopt(zmq.TCP_KEEPALIVE_INTVL, KEEPALIVE_INTERVAL_S)
        sock.setsockopt(zmq.TCP_KEEPALIVE_CNT, KEEPALIVE_PROBES)
        self.made.append(sock)
        return sock

    def bind(
        self, kind: int, channel: str, *, sndhwm: int = RESULT_HWM, rcvhwm: int = RESULT_HWM
    ) -> zmq.Socket[Any]:
        """A listening socket of the broker; refuses a network address without Curve keys."""
        address = self.endpoints[channel]
        if self.endpoints.is_ipc:
            self.endpoints.ensure_private_dir()
        elif not is_loopback(self.endpoints.host) and self.curve is None:
            raise ConfigError(
                f"refusing to listen on {address} without CurveZMQ keys: set FPSTREAM_CURVE_DIR "
                "(python -m broker keygen DIR), or use a 127.0.0.1 / ipc:// address"
            )
        sock = self._socket(kind, sndhwm, rcvhwm)
        if self.curve is not None:
            self._start_authenticator()
            public, secret = self.curve.server()
            sock.zap_domain = channel.encode()  # names the channel in the allow-list's refusals
            sock.curve_server = True
            sock.curve_publickey = public
            sock.curve_secretkey = secret
        try:
            sock.bind(address)
        except zmq.ZMQError as exc:
            raise ConfigError(f"cannot bind {channel} at {address}: {exc}") from None
        return sock

    def connect(
        self, kind: int, channel: str, *, sndhwm: int = RESULT_HWM, rcvhwm: int = RESULT_HWM
    ) -> zmq.Socket[Any]:
        """A socket that connects to the broker (which need not be up yet: zmq reconnects)."""
        sock = self._socket(kind, sndhwm, rcvhwm)
        sock.setsockopt(zmq.RECONNECT_IVL, 100)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, 2000)
        if self.curve is not None:
            server_public, public, secret = self.curve.client()
            sock.curve_serverkey = server_public
            sock.curve_publickey = public
            sock.curve_secretkey = secret
        sock.connect(self.endpoints[channel])
        return sock

    def _start_authenticator(self) -> None:
        if self._auth is not None:
            return
        assert self.curve is not None
        self.curve.server()  # fail early, with a clear message, on missing files
        # ZAP handler: every Curve handshake is checked against the allow-list.
        self._auth = AllowList(self.ctx, self.curve.authorized_dir)
        self._auth.start()

    def close(self, linger_ms: int = 0) -> None:
        """Close every socket made here, dropping what is unsent after ``linger_ms``."""
        for sock in self.made:
            sock.close(linger=linger_ms)
        self.made.clear()
        if self._auth is not None:
            self._auth.stop()
            self._auth = None


class AllowList(ThreadAuthenticator):
    """The broker's ZAP handler: a CurveZMQ client gets in when its public key is one of the
    files in ``authorized_clients/`` (read at start: revoking a key takes a broker restart).

    Each bound socket's ZAP domain is its channel name, so a refusal is logged as a warning
    with the channel, the peer's address and its key (the first 20, then every 100th: a
    refused client keeps reconnecting).
    """

    def __init__(self, ctx: zmq.Context[Any], authorized_dir: Path) -> None:
        super().__init__(ctx, log=logging.getLogger("broker.auth"))
        self.authorized_dir = authorized_dir
        self.allowed = set(zmq.auth.load_certificates(authorized_dir))  # z85 public keys
        self.refused = 0
        self._address = "?"

    def start(self) -> None:
        super().start()
        for channel in CHANNELS:
            self.configure_curve_callback(domain=channel, credentials_provider=self)

    async def handle_zap_message(self, msg: list[bytes]) -> None:
        # frames: version, request id, domain, address, identity, mechanism, credentials
        self._address = msg[3].decode(errors="replace") if len(msg) > 3 else "?"
        await super().handle_zap_message(msg)

    def callback(self, domain: str, z85_key: bytes) -> bool:
        if z85_key in self.allowed:
            return True
        self.refused += 1
        if self.refused <= 20 or self.refused % 100 == 0:
            log.warning(
                "refused connection #%d: DENIED (CURVE) on %s from %s: client key %s is not in %s",
                self.refused,
                domain,
                self._address,
                z85_key.decode(errors="replace"),
                self.authorized_dir,
            )
        return False


def peer_address(frame: Any) -> str | None:
    """The sender's address of a received frame, where the transport knows it (tcp)."""
    try:
        return frame.get("Peer-Address") or None
    except (zmq.ZMQError, AttributeError, TypeError):
        return None
