"""Benchmark of ``fpstream master``: speed on one core against its floors, memory against length.

    .venv/bin/python -m tests.bench.master [--file TRACK] [--minutes 3] [--long-minutes 60] [--dir DIR]

1. Makes (or takes, with ``--file``) a 44.1 kHz stereo track of ``--minutes`` and a
   ``--long-minutes`` one (music-like: drums, chords, noise, level changes), as FLAC.
2. Stores their fingerprints in a scratch library first (untimed): the chain is timed as
   users meet it from the second run on, with the fingerprint current in the library.
3. Times, each in a fresh process pinned to one core (``sched_setaffinity``), CPU seconds:
   the decode floor (soundfile reading the file), ``master_file`` (measure pass, renders,
   24-bit WAV written), and FFmpeg's ``loudnorm`` filter (its dynamic one-pass mode, to a
   null output) as the reference tool of the same class. Ratios are what to read; absolute
   times move with the machine's load.
4. Peak RSS (VmHWM) of mastering the short and the long file, each in a fresh process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]
SR = 44_100
LOOP_S = 30.0

_CHILD = r"""
import json, os, re, resource, sys, time
from pathlib import Path
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
from threadpoolctl import threadpool_limits
threadpool_limits(1)
mode, path, out, db = sys.argv[1:5]
from fpstream.master.plan import Request, master_file
import soundfile as sf
if mode == "warm":  # numba caches loaded, nothing timed
    sys.exit(0)
t0, c0 = time.perf_counter(), time.process_time()
if mode == "decode":
    with sf.SoundFile(path) as f:
        while len(f.read(65536, dtype="float64")):
            pass
    result = {}
else:
    o = master_file(path, Path(out), Path(db), Request(lufs=-14.0, ceiling_dbtp=-1.0, force=True))
    assert o.status in ("mastered", "capped"), o
    result = {"status": o.status, "renders": o.renders, "output_lufs": o.output_lufs}
result.update(wall_s=time.perf_counter() - t0, cpu_s=time.process_time() - c0,
              rss_mb=int(re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text()).group(1)) / 1024)
print(json.dumps(result))
"""


def music_loop(seed: int = 11) -> np.ndarray:
    """30 s of music-like stereo: a drum beat, a chord progression, some noise."""
    from tests.synth import drums, sine

    rng = np.random.default_rng(seed)
    beat = drums(124.0, LOOP_S, SR, seed=seed)
    chords = np.zeros(int(LOOP_S * SR))
    bar = int(4 * 60 / 124 * SR)
    for i, root in enumerate((220.0, 174.6, 261.6, 196.0) * 8):
        seg = slice(i * bar, min((i + 1) * bar, len(chords)))
        n = seg.stop - seg.start
        if n <= 0:
            break
        for ratio in (1.0, 1.25, 1.5):
            chords[seg] += sine(root * ratio, n / SR, SR, dbfs=-20.0)[:n]
    left = 0.5 * beat + chords + 0.01 * rng.standard_normal(len(chords))
    right = 0.5 * beat + 0.9 * chords + 0.01 * rng.standard_normal(len(chords))
    return np.stack([left, right], axis=1) * 0.5


def make_track(path: Path, minutes: float) -> Path:
    """Write ``minutes`` of the loop, each repeat at its own level (so the chain has work to do),
    block by block: the generator's memory does not grow with the length either."""
    loop = music_loop()
    n = int(minutes * 60 * SR)
    with sf.SoundFile(str(path), "w", SR, 2, format="FLAC", subtype="PCM_16") as f:
        done, k = 0, 0
        while done < n:
            part = loop[: n - done] * 10 ** (((k * 7) % 9 - 4) / 20.0)
            f.write(np.clip(part, -1.0, 1.0))
            done, k = done + len(part), k + 1
    return path


def child(mode: str, path: Path, out: Path, db: Path) -> dict:
    run = subprocess.run(
        [sys.executable, "-c", _CHILD, mode, str(path), str(out), str(db)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(run.stdout.strip().splitlines()[-1]) if mode != "warm" else {}


def ffmpeg_loudnorm(path: Path) -> tuple[float, float]:
    """(wall s, CPU s) of FFmpeg's one-pass dynamic loudnorm to a null output, on one core."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(
        [
            "taskset",
            "-c",
            str(min(os.sched_getaffinity(0))),
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-threads",
            "1",
            "-i",
            str(path),
            "-af",
            "loudnorm=I=-14:TP=-1:LRA=11",
            "-f",
            "null",
            "-",
        ],
        check=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter() - t0, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def store_fingerprint(path: Path, db: Path) -> None:
    code = "import sys; from pathlib import Path; from fpstream.master.fingerprint import fingerprint_of; "
    code += "fingerprint_of(sys.argv[1], Path(sys.argv[2]))"
    subprocess.run([sys.executable, "-c", code, str(path), str(db)], cwd=ROOT, check=True)


def row(*cells: object) -> None:
    print("| " + " | ".join(str(c) for c in cells) + " |", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.master", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--file", type=Path, default=None, help="a real track for the short run")
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--long-minutes", type=float, default=60.0)
    parser.add_argument("--dir", type=Path, default=None, help="scratch folder (default: a temporary one)")
    args = parser.parse_args(argv)
    scratch = args.dir or Path(tempfile.mkdtemp(prefix="fpstream-bench-master-"))
    scratch.mkdir(parents=True, exist_ok=True)
    db = scratch / "bench.db"
    try:
        short = args.file or make_track(scratch / f"track_{args.minutes:g}min.flac", args.minutes)
        long = make_track(scratch / f"track_{args.long_minutes:g}min.flac", args.long_minutes)
        for path in (short, long):
            store_fingerprint(path, db)
        child("warm", short, scratch / "x.wav", db)
        seconds = sf.info(str(short)).duration
        print(f"\nshort track: {short.name}, {seconds:.0f} s; long: {long.name}, {args.long_minutes:g} min\n")
        row("one core, short track", "wall s", "CPU s", "x real time (CPU)", "notes")
        row("---", "---", "---", "---", "---")
        floor = child("decode", short, scratch / "x.wav", db)
        row(
            "decode floor (soundfile)",
            f"{floor['wall_s']:.2f}",
            f"{floor['cpu_s']:.2f}",
            f"{seconds / floor['cpu_s']:.0f}x",
            "",
        )
        m = child("master", short, scratch / "short.mastered.wav", db)
        row(
            "fpstream master (fingerprint in library)",
            f"{m['wall_s']:.2f}",
            f"{m['cpu_s']:.2f}",
            f"{seconds / m['cpu_s']:.1f}x",
            f"{m['status']}, {m['renders']} render(s), {m['cpu_s'] / floor['cpu_s']:.1f}x decode floor",
        )
        if shutil.which("ffmpeg") and shutil.which("taskset"):
            wall, cpu = ffmpeg_loudnorm(short)
            row(
                "ffmpeg loudnorm (dynamic, null output)",
                f"{wall:.2f}",
                f"{cpu:.2f}",
                f"{seconds / cpu:.1f}x",
                f"fpstream master / loudnorm CPU: {m['cpu_s'] / cpu:.2f}",
            )
        print()
        long_run = child("master", long, scratch / "long.mastered.wav", db)
        row("peak RSS, fresh process", "MB", "CPU s", "x real time (CPU)", "")
        row("---", "---", "---", "---", "---")
        row(
            f"master {seconds / 60:.0f}-minute track",
            f"{m['rss_mb']:.0f}",
            f"{m['cpu_s']:.1f}",
            f"{seconds / m['cpu_s']:.1f}x",
            "",
        )
        row(
            f"master {args.long_minutes:g}-minute track",
            f"{long_run['rss_mb']:.0f}",
            f"{long_run['cpu_s']:.1f}",
            f"{args.long_minutes * 60 / long_run['cpu_s']:.1f}x",
            f"RSS ratio long/short {long_run['rss_mb'] / m['rss_mb']:.2f}",
        )
    finally:
        if args.dir is None:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
