"""Benchmark: speed and memory of fpstream against its floors, measured side by side.

    .venv/bin/python -m tests.bench [--tracks 16] [--minutes 3-6] [--dir DIR] [--skip-librosa]

Generates (or takes, with ``--dir``) 44.1 kHz stereo FLAC files, then prints:

1. the decode floor: one process decoding every file with soundfile;
2. the stack: ``make run``'s runner with 1 and 2 analyzers over the same files,
   timed twice: wall time including start-up (processes, warm kernels,
   shutdown), and "from ready": from feeding the paths, once every analyzer
   is ready, to the end (the work and shutdown); ratio to the decode floor, tracks/s,
   x real time, peak RSS and CPU of every process, scaling 2 vs 1 on both;
3. single-process ``analyze`` per audio second and its per-stage CPU table,
   against a librosa implementation of the same families on the same audio
   (both warmed up untimed first);
4. analyzer start-up: cold numba compile and warm cache load;
5. memory of one process analysing a 60-minute file vs a 4-minute one;
6. similarity search time on 100 000 rows.

Ratios are what to read: absolute times move with the machine's load.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]
TICKS = os.sysconf("SC_CLK_TCK")
PROCESS_RE = re.compile(r"-m (broker|analyzer|ingest|sink)\b")
ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
# honcho's prefix, then the analyzer's log line once its kernels are warm ("ready: kernels warm in ...")
READY_RE = re.compile(r"\banalyzer\.\d+\s+\|.*\bready\b")
READY_TIMEOUT_S = 300.0  # feed the paths anyway after this long (and report no "from ready" time)


def make_library(
    folder: Path, tracks: int, min_minutes: float, max_minutes: float, sr: int = 44_100
) -> list[Path]:
    """Music-like stereo FLAC files: chords, a drum beat and noise, changing level."""
    from tests.synth import drums, sine, stereo

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    paths = []
    for i in range(tracks):
        path = folder / f"track{i:03d}.flac"
        paths.append(path)
        if path.exists():
            continue
        total = int(rng.uniform(min_minutes, max_minutes) * 60 * sr)
        bar = drums(float(rng.uniform(80, 160)), 8.0, sr, seed=i)
        notes = [sine(f, 8.0, sr, -18) for f in rng.choice([196.0, 220.0, 261.6, 293.7, 329.6, 392.0], 3)]
        loop = bar + sum(notes)
        partial = path.with_suffix(".part")  # renamed when complete: no half-written file is reused
        with sf.SoundFile(str(partial), "w", sr, 2, subtype="PCM_16", format="FLAC") as f:
            done = 0
            while done < total:
                gain = 10 ** (rng.uniform(-8, 0) / 20)
                block = gain * loop + 0.003 * rng.standard_normal(len(loop))
                block = np.clip(block[: total - done], -1, 1)
                f.write(stereo(block, 0.9 * block + 0.002 * rng.standard_normal(len(block))))
                done += len(block)
        partial.rename(path)
    return paths


def audio_seconds(paths: list[Path]) -> float:
    return sum(sf.info(str(p)).duration for p in paths)


def decode_floor(paths: list[Path]) -> float:
    t0 = time.perf_counter()
    for p in paths:
        with sf.SoundFile(str(p)) as f:
            while len(f.read(441_000, dtype="float32")):
                pass
    return time.perf_counter() - t0


class StackMonitor(threading.Thread):
    """Polls /proc every 0.1 s for the stack's processes and keeps each one's VmHWM (peak RSS)
    and CPU seconds (user + system), which say where the cores went.

    Only descendants of ``root`` (the runner; its processes are children of honcho's) are
    counted, so another stack running on the machine is not. The CPU seconds are each
    process's last sample: whatever it spends in its final < 0.1 s (shutdown) is lost.
    ``StackRun.total_cpu`` has the total at exit, shutdown included."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.peaks: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.stop = threading.Event()

    def descendants(self) -> set[int]:
        children: defaultdict[int, list[int]] = defaultdict(list)
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            # fields after the ")" of the command name: state, then the parent's pid (field 4)
            children[int(stat.rsplit(")", 1)[1].split()[1])].append(int(pid))
        found: set[int] = set()
        todo = [self.root]
        while todo:
            for child in children.get(todo.pop(), ()):
                if child not in found:
                    found.add(child)
                    todo.append(child)
        return found

    def run(self) -> None:
        while not self.stop.is_set():
            for pid in self.descendants():
                try:
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                    m = PROCESS_RE.search(cmd)
                    if not m:
                        continue
                    status = Path(f"/proc/{pid}/status").read_text()
                    stat = Path(f"/proc/{pid}/stat").read_text()
                except OSError:
                    continue
                key = f"{m.group(1)}[{pid}]"
                hwm = re.search(r"VmHWM:\s+(\d+) kB", status)
                if hwm:
                    self.peaks[key] = max(self.peaks.get(key, 0.0), int(hwm.group(1)) / 1024)
                # fields after the ")" of the command name: utime and stime are the 12th and 13th
                ticks = stat.rsplit(")", 1)[1].split()
                self.cpu[key] = (int(ticks[11]) + int(ticks[12])) / TICKS
            time.sleep(0.1)


@dataclass
class StackRun:
    wall: float
    """Runner start to exit: process start, kernel warm-up, the work and shutdown."""
    fed: float | None
    """From feeding the paths, once every analyzer said it was ready, to the runner's exit:
    the work and shutdown. None if the analyzers' ready lines were never seen."""
    peaks: dict[str, float]
    cpu: dict[str, float]
    total_cpu: float
    """CPU seconds of the runner and everything it waited for (honcho and the stack), at exit."""


def run_stack(paths: list[Path], analyzers: int, db: Path) -> StackRun:
    """``make run``'s runner over ``paths``: its wall time, the time once it was ready, and peak RSS (MB)
    and CPU seconds per process."""
    env = {
        **os.environ,
        "FPSTREAM_DB": str(db),
        "FPSTREAM_BROKER": f"ipc://{tempfile.mkdtemp()}/rt",
        "FPSTREAM_LOG_LEVEL": "INFO",  # the analyzers' "ready" lines
    }
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "fpstream.run", "--analyzers", str(analyzers)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",  # ingest's progress lines say "× real time"
        errors="replace",
        env=env,
        cwd=ROOT,
    )
    assert proc.stdin is not None and proc.stdout is not None
    monitor = StackMonitor(proc.pid)
    monitor.start()
    ready = threading.Event()
    fed_at: list[float] = []

    def feed() -> None:
        # Paths go in once every analyzer has warmed its kernels, so ``fed`` leaves start-up out.
        if ready.wait(READY_TIMEOUT_S):
            fed_at.append(time.perf_counter())
        try:
            proc.stdin.write("\n".join(map(str, paths)) + "\n")
            proc.stdin.close()
        except BrokenPipeError:
            pass  # the stack ended early; its exit status says why

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    lines, ready_seen = [], 0
    for line in proc.stdout:  # honcho's output: every process's stdout and stderr, prefixed
        line = ANSI_RE.sub("", line)
        lines.append(line)
        if READY_RE.search(line):
            ready_seen += 1
            if ready_seen >= analyzers:
                ready.set()
    proc.stdout.close()
    # wait4, not wait: its rusage is the CPU of the runner and every process it (transitively) waited for
    _, status, usage = os.wait4(proc.pid, 0)
    end = time.perf_counter()
    proc.returncode = os.waitstatus_to_exitcode(status)
    ready.set()
    feeder.join()
    monitor.stop.set()
    monitor.join()
    if proc.returncode != 0:
        raise RuntimeError(f"fpstream.run exited with {proc.returncode}:\n" + "".join(lines[-30:]))
    return StackRun(
        wall=end - t0,
        fed=end - fed_at[0] if fed_at and ready_seen >= analyzers else None,
        peaks=monitor.peaks,
        cpu=monitor.cpu,
        total_cpu=usage.ru_utime + usage.ru_stime,
    )


def analyze_in_process(paths: list[Path], threads: int) -> tuple[float, dict[str, float]]:
    """Wall time of ``fpstream analyze --threads N``'s work over ``paths``, and the CPU
    seconds of each stage (summed over threads; wall time per stage would count decoding
    and analysis twice where they overlap, and GIL waits)."""
    from analyzer import stages
    from analyzer.chunk import warm_up
    from fpstream.analyze_file import analyze_file

    warm_up()
    stages.clear()
    t0 = time.perf_counter()
    for p in paths:
        row = analyze_file(str(p), threads=threads)
        if row["status"] != "done":
            raise RuntimeError(f"{p}: {row['error']}")
    return time.perf_counter() - t0, dict(stages.CPU_SECONDS)


def librosa_way(path: Path) -> float:
    """The slow way: librosa load + HPSS + YIN + CQT chroma + beat tracking + spectral shape."""
    import librosa

    t0 = time.perf_counter()
    y, sr = librosa.load(str(path), sr=22_050, mono=True)
    stft = np.abs(librosa.stft(y))
    librosa.decompose.hpss(stft)
    librosa.yin(y, fmin=65, fmax=2093, sr=sr)
    librosa.feature.chroma_cqt(y=y, sr=sr)
    librosa.beat.beat_track(y=y, sr=sr)
    librosa.feature.spectral_centroid(S=stft, sr=sr)
    librosa.feature.spectral_rolloff(S=stft, sr=sr)
    librosa.feature.spectral_flatness(S=stft)
    librosa.onset.onset_detect(y=y, sr=sr)
    return time.perf_counter() - t0


def warm_librosa(path: Path) -> None:
    """``librosa_way`` once, untimed, on the first 20 s of ``path``: librosa's lazy imports and
    numba compilation (or cache loading) land here, not in the timed runs, as fpstream's
    ``warm_up()`` is untimed too."""
    with sf.SoundFile(str(path)) as f:
        clip, sr = f.read(20 * f.samplerate, dtype="float32"), f.samplerate
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "clip.wav"
        sf.write(str(wav), clip, sr)
        librosa_way(wav)


def startup_seconds(cold: bool) -> float:
    env = dict(os.environ)
    if cold:
        env["NUMBA_CACHE_DIR"] = tempfile.mkdtemp()
    code = (
        "import time; t=time.perf_counter(); from analyzer.chunk import warm_up; warm_up();"
        "print(time.perf_counter()-t)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip())


def peak_rss_of_analyze(path: Path) -> float:
    """Peak RSS (MB) of a fresh process analysing ``path``. Read from VmHWM, not
    ``ru_maxrss``: Linux carries ``ru_maxrss`` across exec, so a child of this
    (large, librosa-loaded) process would report this process's size."""
    code = (
        "import re, sys; from pathlib import Path; from fpstream.analyze_file import analyze_file;"
        "assert analyze_file(sys.argv[1])['status'] == 'done';"
        "print(int(re.search(r'VmHWM:\\s+(\\d+)', Path('/proc/self/status').read_text()).group(1)) / 1024)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip())


def similarity_ms() -> str:
    out = subprocess.run(
        [sys.executable, "-m", "fpstream.similarity", "--bench"], cwd=ROOT, capture_output=True, text=True
    )
    return (out.stdout.strip().splitlines() or [out.stderr.strip()[-200:]])[-1]


def row(*cells: object) -> None:
    print("| " + " | ".join(str(c) for c in cells) + " |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m tests.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--tracks", type=int, default=16, help="number of generated files (default 16)")
    ap.add_argument("--minutes", default="3-6", help="length range of generated files, minutes (default 3-6)")
    ap.add_argument("--dir", type=Path, help="folder of files to use/generate (default: a cache under /tmp)")
    ap.add_argument("--skip-librosa", action="store_true", help="skip the librosa comparison")
    ap.add_argument("--skip-stack", action="store_true", help="skip the make run measurements")
    ap.add_argument("--skip-long", action="store_true", help="skip the 60-minute memory measurement")
    args = ap.parse_args(argv)
    lo, hi = (float(x) for x in args.minutes.split("-"))
    folder = args.dir or Path(tempfile.gettempdir()) / f"fpstream-bench-{args.tracks}-{args.minutes}"
    paths = make_library(folder, args.tracks, lo, hi)
    total_audio = audio_seconds(paths)
    print(f"{len(paths)} files, {total_audio / 60:.1f} min of 44.1 kHz stereo FLAC in {folder}\n")

    floor = decode_floor(paths)
    print("| measurement | seconds | ratio / figure |\n|---|---|---|")
    row("decode floor (1 process, soundfile)", f"{floor:.2f}", f"{total_audio / floor:.0f}x real time")
    if not args.skip_stack:
        # Untimed: compiles the kernels into the default numba cache if a DSP edit made it stale, so
        # that compile lands in neither stack run (it would otherwise inflate only the first).
        startup_seconds(cold=False)
        with tempfile.TemporaryDirectory() as tmp:
            runs = {}
            for n in (1, 2):
                run = runs[n] = run_stack(paths, n, Path(tmp) / f"db{n}.db")
                row(
                    f"make run, {n} analyzer(s), wall incl. start-up",
                    f"{run.wall:.2f}",
                    f"{run.wall / floor:.2f}x decode floor, {len(paths) / run.wall:.2f} tracks/s, "
                    f"{total_audio / run.wall:.0f}x real time",
                )
                if run.fed is None:
                    row(
                        f"make run, {n} analyzer(s), from ready",
                        "?",
                        "the analyzers' ready lines were not seen",
                    )
                else:
                    row(
                        f"make run, {n} analyzer(s), from ready",
                        f"{run.fed:.2f}",
                        f"{run.fed / floor:.2f}x decode floor, {len(paths) / run.fed:.2f} tracks/s, "
                        f"{total_audio / run.fed:.0f}x real time",
                    )
                for name, mb in sorted(run.peaks.items()):
                    cpu = run.cpu.get(name, 0.0)
                    share = 100 * cpu / run.wall
                    row(f"  {name}", f"{cpu:.2f} CPU", f"peak RSS {mb:.0f} MB, {share:.0f}% of a core")
                row(
                    "  all processes incl. runner and honcho (at exit)",
                    f"{run.total_cpu:.2f} CPU",
                    f"{run.total_cpu / run.wall:.2f} cores on average over the wall time",
                )
            row("scaling 2 vs 1 analyzers, wall incl. start-up", "", f"{runs[1].wall / runs[2].wall:.2f}x")
            if runs[1].fed is not None and runs[2].fed is not None:
                row("scaling 2 vs 1 analyzers, from ready", "", f"{runs[1].fed / runs[2].fed:.2f}x")
    few = paths[:2]
    few_audio = audio_seconds(few)
    ours, stage_cpu = analyze_in_process(few, threads=1)
    row(
        f"fpstream analyze --threads 1 ({len(few)} files)",
        f"{ours:.2f}",
        f"{few_audio / ours:.0f}x real time",
    )
    all_stages = sum(stage_cpu.values())
    for name, cpu in sorted(stage_cpu.items(), key=lambda kv: -kv[1]):
        row(f"  stage: {name}", f"{cpu:.2f} CPU s", f"{100 * cpu / all_stages:.0f}% of stage CPU")
    row(
        "  all stages",
        f"{all_stages:.2f} CPU s",
        f"{100 * all_stages / ours:.0f}% of analyze wall (decoding runs on its own thread)",
    )
    cores = len(os.sched_getaffinity(0))
    ours_mt, _ = analyze_in_process(few, threads=cores)
    row(
        f"fpstream analyze --threads {cores} (default)",
        f"{ours_mt:.2f}",
        f"{few_audio / ours_mt:.0f}x real time",
    )
    if not args.skip_librosa:
        warm_librosa(few[0])
        slow = sum(librosa_way(p) for p in few)
        row(
            f"librosa way, 1 process (same {len(few)} files)",
            f"{slow:.2f}",
            f"fpstream is {slow / ours_mt:.1f}x faster ({slow / ours:.1f}x on one thread)",
        )
    row("analyzer start-up, cold compile", f"{startup_seconds(cold=True):.2f}", "")
    row("analyzer start-up, warm cache", f"{startup_seconds(cold=False):.2f}", "")
    if not args.skip_long:
        short = make_library(folder / "len4", 1, 4, 4)[0]
        long = make_library(folder / "len60", 1, 60, 60)[0]
        a, b = peak_rss_of_analyze(short), peak_rss_of_analyze(long)
        row("peak RSS analyze 4-min vs 60-min file", "", f"{a:.0f} MB vs {b:.0f} MB ({b / a:.2f}x)")
    row("similar: one query over 100 000 rows", "", similarity_ms())
    return 0


if __name__ == "__main__":
    sys.exit(main())
