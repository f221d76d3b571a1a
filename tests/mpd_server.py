"""A real MPD (Debian's ``mpd``) for tests: its own config, a free port on 127.0.0.1 and a local
socket, a music folder the test fills, database and state in the test's folder, a null output.

    with MpdServer(workdir, music_dir) as server:   # started, database updated (mpc update --wait)
        server.mpc("add", "a.flac")                  # mpc against this server, output as text
        server.restart()                             # stop (state saved) and start on the same port
    # leaving the block stops MPD (SIGTERM, then SIGKILL)
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

START_TIMEOUT_S = 15.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MpdServer:
    def __init__(self, workdir: Path, music_dir: Path) -> None:
        if shutil.which("mpd") is None or shutil.which("mpc") is None:
            raise RuntimeError("the MPD tests need Debian's mpd and mpc (apt-get install mpd mpc; .ci/run)")
        self.workdir = workdir
        self.music_dir = music_dir
        self.port = free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        # a socket path must stay under ~107 bytes: pytest's tmp_path can be longer
        self.socket_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"fps-mpd-{os.getpid()}-{self.port}"
        self.socket_dir.mkdir(exist_ok=True)
        self.socket = self.socket_dir / "socket"
        self.config = workdir / "mpd.conf"
        self.log = workdir / "mpd.log"
        self.config.write_text(
            f'music_directory "{music_dir}"\n'
            f'db_file "{workdir / "database"}"\n'
            f'state_file "{workdir / "state"}"\n'
            f'log_file "{self.log}"\n'
            f'bind_to_address "127.0.0.1"\n'
            f'bind_to_address "{self.socket}"\n'
            f'port "{self.port}"\n'
            'auto_update "no"\n'
            'zeroconf_enabled "no"\n'
            'audio_output {\n  type "null"\n  name "null"\n}\n'
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        """The environment a client (mpc, fpstream mpd) reaches this server with over TCP."""
        return {**os.environ, "MPD_HOST": "127.0.0.1", "MPD_PORT": str(self.port)}

    def start(self) -> MpdServer:
        self.proc = subprocess.Popen(
            ["mpd", "--no-daemon", "--stderr", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.workdir / "mpd.stderr", "ab"),  # noqa: SIM115 - the child holds it
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(64).startswith(b"OK MPD"):
                        return self
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mpd did not start:\n{self.logs()}")
            time.sleep(0.05)

    def update(self) -> None:
        self.mpc("update", "--wait")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)  # MPD saves its state file on SIGTERM
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def restart(self) -> None:
        self.stop()
        self.start()

    def logs(self) -> str:
        parts = [p.read_text(errors="replace") for p in (self.log, self.workdir / "mpd.stderr") if p.exists()]
        return "\n".join(parts)

    def mpc(self, *args: str) -> str:
        done = subprocess.run(
            ["mpc", "-q", *args], env=self.env, capture_output=True, text=True, timeout=30
        )
        if done.returncode != 0:
            command = " ".join(args)
            raise RuntimeError(f"mpc {command} failed ({done.returncode}): {done.stderr}\n{self.logs()}")
        return done.stdout

    def playlist(self) -> list[str]:
        """The queue's URIs, in order."""
        return self.mpc("playlist", "-f", "%file%").splitlines()

    def position(self) -> int | None:
        """The current song's 0-based position in the queue, None when there is none."""
        out = self.mpc("current", "-f", "%position%").strip()
        return int(out) - 1 if out else None

    def __enter__(self) -> MpdServer:
        self.start()
        self.update()
        return self

    def __exit__(self, *_exc: object) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.socket_dir, ignore_errors=True)
