"""Benchmark: the whole stack against bliss-rs on both cores, per role and per thread, in one run.

    .venv/bin/python -m tests.bench.peers --real DIR [--rounds 1] [--analyzers 2] [--stage-tracks 3]

Over the same real tracks (every 44.1 kHz stereo FLAC of 3-6 minutes in ``DIR``), alternated
``--rounds`` times so both see the same load:

- ``make run ANALYZERS=2``'s runner (``ingest.run``): wall time, CPU of every process (``wait4``
  at exit, start-up included), and from /proc every 0.1 s the CPU of each process and of each of
  its threads (``/proc/PID/task/TID/stat``), also snapshotted when the paths are fed (once every
  analyzer is warm), so start-up can be told from the work;
- two bliss-rs processes (``bliss_audio.Song(path)``), half the files each (balanced by length),
  from ``bliss_audio`` 0.1.11 in a virtualenv of its own that this benchmark makes (a benchmark-only
  dependency, never the product's or the tests': 0.2.0's wheel dies with "Illegal instruction" on
  CPUs without AVX-512).

Then prints the stack vs bliss-rs (wall and CPU, the ratio), CPU per audio second of each role,
each role's busiest thread per audio second, "analyzers fed" (analyzer CPU over the busiest
thread of ingest, broker and sink: how many analyzer cores one of each could keep busy), bytes per
audio second on the wire (float32 before, the source's integers now), and the DSP stages' CPU per
audio second from one ``fpstream analyze --threads 1`` process. CPU seconds and their ratios are
what to read: wall time moves with the machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import soundfile as sf

from tests.bench.__main__ import (
    PROCESS_RE,
    ROOT,
    TICKS,
    StackMonitor,
    analyze_in_process,
    real_library,
    row,
    run_stack,
)

BLISS_VERSION = "0.1.11"
BLISS_VENV = Path(tempfile.gettempdir()) / f"fpstream-bench-bliss-{BLISS_VERSION}"
BLISS_CODE = """
import sys
from bliss_audio import Song
for p in sys.argv[1:]:
    Song(p).analysis
"""
ROLES = ("ingest", "broker", "analyzer", "sink")


def bliss_python() -> Path:
    """The bliss venv's python, made (``python -m venv`` + pip from the registry) on first use."""
    python = BLISS_VENV / "bin" / "python"
    probe = [str(python), "-c", "import bliss_audio"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--clear", str(BLISS_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", f"bliss_audio=={BLISS_VERSION}"], check=True)
    return python


def halves(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """Two lists of about equal audio length (longest first, each to the shorter list)."""
    out: tuple[list[Path], list[Path]] = ([], [])
    sums = [0.0, 0.0]
    for p in sorted(paths, key=lambda p: -sf.info(str(p)).duration):
        i = 0 if sums[0] <= sums[1] else 1
        out[i].append(p)
        sums[i] += sf.info(str(p)).duration
    return out


def run_bliss(paths: list[Path]) -> tuple[float, float]:
    """Two bliss-rs processes, half the files each, at once: (wall s, CPU s of both)."""
    python = bliss_python()
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen([str(python), "-c", BLISS_CODE, *map(str, half)], env={"PATH": os.environ["PATH"]})
        for half in halves(paths)
    ]
    cpu = 0.0
    for proc in procs:
        _, status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"bliss-rs exited with {os.waitstatus_to_exitcode(status)}")
        cpu += usage.ru_utime + usage.ru_stime
    return time.perf_counter() - t0, cpu


class ThreadMonitor(StackMonitor):
    """StackMonitor plus every thread's CPU seconds (last sample) and a snapshot at ``mark()``."""

    def __init__(self, root: int) -> None:
        super().__init__(root)
        self.threads: dict[tuple[str, str], float] = {}  # (process key, "tid comm") -> CPU s
        self.at_mark: dict[str, float] = {}
        self.threads_at_mark: dict[tuple[str, str], float] = {}

    def descendants(self) -> set[int]:
        return super().descendants() | {self.root}  # the runner itself is ingest

    def mark(self) -> None:
        self.at_mark = dict(self.cpu)
        self.threads_at_mark = dict(self.threads)

    def run(self) -> None:
        while not self.stop.is_set():
            for pid in self.descendants():
                try:
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                except OSError:
                    continue
                m = PROCESS_RE.search(cmd)
                if not m:
                    continue
                name = "ingest" if m.group(1) == "ingest.run" else m.group(1)
                key = f"{name}[{pid}]"
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                    self.cpu[key] = _cpu(Path(f"/proc/{pid}/stat").read_text())
                    hwm = re.search(r"VmHWM:\s+(\d+) kB", status)
                    if hwm:
                        self.peaks[key] = max(self.peaks.get(key, 0.0), int(hwm.group(1)) / 1024)
                    for task in Path(f"/proc/{pid}/task").iterdir():
                        stat = (task / "stat").read_text()
                        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
                        label = "main" if task.name == str(pid) else comm
                        self.threads[key, f"{task.name} {label}"] = _cpu(stat)
                except OSError:
                    continue  # the process or thread ended between the listing and the read
            time.sleep(0.1)


def _cpu(stat: str) -> float:
    """utime + stime of a /proc stat line, in seconds (fields 14 and 15, after the comm's ")")."""
    ticks = stat.rsplit(")", 1)[1].split()
    return (int(ticks[11]) + int(ticks[12])) / TICKS


def wire_bytes(paths: list[Path]) -> tuple[float, float]:
    """Bytes per audio second of chunk messages (header + PCM) as float32 and as sent now (native)."""
    from audio.decode import iter_chunks
    from base import protocol
    from base.protocol import TrackRef

    totals = {"float32": 0, "native": 0}
    seconds = 0.0
    for p in paths:
        ref = TrackRef("0123456789abcdef", 1, 0, str(p), p.stat().st_size, p.stat().st_mtime_ns)
        for dtype in totals:
            for header, pcm in iter_chunks(str(p), ref, dtype=dtype):
                header_frame, _ = protocol.encode_chunk(header, pcm)
                totals[dtype] += len(header_frame) + pcm.nbytes
        seconds += sf.info(str(p)).duration
    return totals["float32"] / seconds, totals["native"] / seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m tests.bench.peers",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--real", type=Path, required=True, help="folder of 44.1 kHz stereo FLAC files")
    ap.add_argument("--minutes", default="3-6", help="length range of the files used (default 3-6)")
    ap.add_argument("--rounds", type=int, default=1, help="alternations of stack and bliss-rs (default 1)")
    ap.add_argument("--analyzers", type=int, default=2, help="the stack's analyzers (default 2)")
    ap.add_argument("--stage-tracks", type=int, default=3, help="tracks of the per-stage run (default 3)")
    args = ap.parse_args(argv)
    lo, hi = (float(x) for x in args.minutes.split("-"))
    paths = real_library(args.real, lo, hi)
    audio = sum(sf.info(str(p)).duration for p in paths)
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    print(
        f"{len(paths)} files, {audio / 60:.1f} min of 44.1 kHz stereo FLAC from {args.real}; "
        f"tree {ROOT} at {commit}; {os.cpu_count()} cores; load {os.getloadavg()[0]:.1f}\n"
    )
    bliss_python()  # made before the clock starts
    stacks, blisses = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            blisses.append(run_bliss(paths))
            monitor: list[ThreadMonitor] = []

            def keep(root: int, _m: list[ThreadMonitor] = monitor) -> ThreadMonitor:
                _m.append(ThreadMonitor(root))
                return _m[-1]

            run = run_stack(paths, args.analyzers, Path(tmp) / f"db{r}.db", monitor_type=keep)
            stacks.append((run, monitor[0]))
    ms = 1000 / audio
    print(
        "| the whole job, both cores | wall s | CPU s | CPU ms / audio s | x real time |\n"
        "|---|---|---|---|---|"
    )
    for (run, _), (bw, bc) in zip(stacks, blisses, strict=True):
        row(
            f"make run ANALYZERS={args.analyzers}",
            f"{run.wall:.1f}",
            f"{run.total_cpu:.1f}",
            f"{run.total_cpu * ms:.2f}",
            f"{audio / run.wall:.0f}",
        )
        row(
            "2 x bliss-rs (half the files each)",
            f"{bw:.1f}",
            f"{bc:.1f}",
            f"{bc * ms:.2f}",
            f"{audio / bw:.0f}",
        )
        row("stack / bliss-rs", f"{run.wall / bw:.2f}x", f"{run.total_cpu / bc:.2f}x", "", "")
    run, mon = min(stacks, key=lambda s: s[0].total_cpu)
    print("\nPer role, the stack's least-CPU run; work = from feeding the paths (analyzers warm) to exit\n")
    print(
        "| role | CPU ms / audio s, all | work only | busiest thread, ms / audio s (work only) | "
        "peak RSS MB |\n|---|---|---|---|---|"
    )
    role_work: dict[str, float] = defaultdict(float)
    busiest: dict[str, tuple[float, str]] = {}
    decode: list[float] = []
    for key, cpu in sorted(mon.cpu.items()):
        role = key.split("[")[0]
        role_work[role] += cpu - mon.at_mark.get(key, 0.0)
    for (key, thread), cpu in mon.threads.items():
        role = key.split("[")[0]
        work = cpu - mon.threads_at_mark.get((key, thread), 0.0)
        if thread.endswith("fps-decode"):
            decode.append(work)
        if role not in busiest or work > busiest[role][0]:
            busiest[role] = (work, thread)
    for role in ROLES:
        keys = [k for k in mon.cpu if k.startswith(role + "[")]
        total = sum(mon.cpu[k] for k in keys)
        peak = max((mon.peaks.get(k, 0.0) for k in keys), default=0.0)
        top, name = busiest.get(role, (0.0, "- ?"))
        row(
            f"{role} x{len(keys)}",
            f"{total * ms:.3f}",
            f"{role_work[role] * ms:.3f}",
            f"{top * ms:.3f} ({name.split(' ', 1)[1]})",
            f"{peak:.0f}",
        )
    if decode:
        row(
            f"ingest's {len(decode)} decoding threads (fps-decode)",
            "",
            f"{sum(decode) * ms:.3f}",
            f"{max(decode) * ms:.3f} each at most",
            "",
        )
    serial = max(busiest.get(r, (0.0, ""))[0] for r in ("ingest", "broker", "sink"))
    not_decode = max(
        (w - mon.threads_at_mark.get((k, t), 0.0))
        for (k, t), w in mon.threads.items()
        if not k.startswith("analyzer") and not t.endswith("fps-decode")
    )
    fed = role_work["analyzer"] / serial if serial else float("inf")
    print(
        f"\nanalyzers fed = analyzer CPU / busiest thread of ingest, broker, sink = "
        f"{role_work['analyzer'] * ms:.3f} / {serial * ms:.3f} = {fed:.1f} (target >= 32)"
    )
    if decode:
        print(
            f"  the same without the decoding threads (they scale with FPSTREAM_DECODE_THREADS): "
            f"{role_work['analyzer'] * ms:.3f} / {not_decode * ms:.3f} = "
            f"{role_work['analyzer'] / not_decode:.1f}"
        )
    before, after = wire_bytes(paths[:2])
    print(
        f"\nwire: {before / 1000:.1f} kB per audio s as float32, {after / 1000:.1f} kB now "
        f"({after / before:.2f}x; pre-roll and headers included)"
    )
    wall, stages = analyze_in_process(paths[: args.stage_tracks], 1)
    stage_audio = sum(sf.info(str(p)).duration for p in paths[: args.stage_tracks])
    total = sum(stages.values())
    print(
        f"\nDSP stages, one `fpstream analyze --threads 1` over {args.stage_tracks} files "
        f"({stage_audio / 60:.1f} min): CPU ms per audio s\n\n| stage | ms / audio s | share |\n|---|---|---|"
    )
    for name, cpu in sorted(stages.items(), key=lambda kv: -kv[1]):
        row(name, f"{1000 * cpu / stage_audio:.3f}", f"{100 * cpu / total:.0f}%")
    row("all stages", f"{1000 * total / stage_audio:.3f}", "100%")
    print(json.dumps({"stack_cpu": run.total_cpu, "bliss_cpu": blisses[0][1], "audio_s": audio}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
