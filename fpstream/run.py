"""What ``make run`` runs: the Procfile stack under honcho, fed with this process's stdin.

    stdin ─► [copy thread] ─► fifo (FPSTREAM_INPUT) ─► ingest ─► broker ─► analyzers × N ─► sink

honcho gives its processes no stdin, so the paths go through a fifo in a
private temporary directory, named to ingest by ``FPSTREAM_INPUT``. honcho
stops every process as soon as one exits and returns that one's exit code;
ingest exits (0) when every path is committed, so the run ends there.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def copy_into_fifo(fifo: Path) -> None:
    try:
        with open(fifo, "wb") as out:  # blocks until ingest opens the fifo for reading
            shutil.copyfileobj(sys.stdin.buffer, out, 1 << 16)
    except BrokenPipeError:
        pass  # ingest exited before reading everything; honcho reports why


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fpstream.run",
        description="Start broker, sink, N analyzers and ingest (the Procfile, under honcho), feed them the "
        "paths on stdin, and exit with ingest's status once every path is committed.",
        epilog="All FPSTREAM_* settings are passed through to the processes; see README.md.",
    )
    parser.add_argument(
        "--analyzers",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="analyzer processes (default: number of cores)",
    )
    parser.add_argument("-0", "--null", action="store_true", help="paths on stdin are NUL-separated")
    parser.add_argument("--procfile", type=Path, default=ROOT / "Procfile", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.analyzers < 1:
        parser.error("--analyzers must be at least 1")

    private = Path(tempfile.mkdtemp(prefix="fpstream-run-"))  # mode 0700
    fifo = private / "paths"
    os.mkfifo(fifo, 0o600)
    env = dict(os.environ)
    env["FPSTREAM_INPUT"] = str(fifo)
    if args.null:
        env["FPSTREAM_NUL"] = "1"
    env.setdefault("FPSTREAM_MAX_IN_FLIGHT", str(4 * args.analyzers))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # the Procfile's `python`
    env["PYTHONUNBUFFERED"] = "1"
    if sys.stdin.isatty():
        print("reading paths from the terminal, one per line; end with Ctrl-D", file=sys.stderr)

    honcho = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "honcho",
            "start",
            "-f",
            str(args.procfile),
            "-c",
            f"analyzer={args.analyzers}",
        ],
        env=env,
    )
    # Ctrl-C reaches honcho too (same process group): let honcho stop the stack and report.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda signum, _frame: honcho.send_signal(signum))
    threading.Thread(target=copy_into_fifo, args=(fifo,), daemon=True).start()
    try:
        return honcho.wait()
    finally:
        shutil.rmtree(private, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
