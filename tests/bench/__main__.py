"""Benchmark: speed and memory of fpstream against its floors, measured side by side.

    .venv/bin/python -m tests.bench [--tracks 16] [--minutes 3-6] [--dir DIR] [--skip-librosa]
    .venv/bin/python -m tests.bench --real DIR [--baseline OTHER_CHECKOUT]

Generates (or takes, with ``--dir``) 44.1 kHz stereo FLAC files, or uses the
real music in ``--real DIR`` (every 44.1 kHz stereo FLAC of 3-6 minutes there;
for example freely licensed game soundtracks from Debian, ``apt-get download
singularity-music``, converted with ``ffmpeg -i x.ogg -ar 44100 -ac 2
-sample_fmt s16 x.flac``). With ``--baseline`` (another checkout of the
project, e.g. ``git worktree add /tmp/base main``) the stack, ``analyze`` and
start-up are measured for both trees, interleaved in the same run, so their
ratio is not at the mercy of the machine's load. Then prints:

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
6. similarity search time on 100 000 rows, and ``duplicates`` (Chromaprint, index and
   bit error rates) on 100 000 rows with planted copies (``tests/bench/duplicates.py``);
7. the performance targets, each with its figure and whether it is met.

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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]
TICKS = os.sysconf("SC_CLK_TCK")
PROCESS_RE = re.compile(r"-m (broker|analyzer|ingest\.run|ingest|sink)\b")
ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
# the analyzer's line in the stack's log once its kernels are warm ("ready: kernels warm in ...")
READY_RE = re.compile(r"\banalyzer\[\d+\] INFO ready\b")
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

    Only descendants of ``root`` (the runner, which also runs ingest in-process) are
    counted, so another stack running on the machine is not. The CPU seconds are each
    process's last sample: whatever it spends in its final < 0.1 s (shutdown) is lost.
    ``StackRun.total_cpu`` has the total at exit, shutdown included."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.peaks: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.stop = threading.Event()

    def mark(self) -> None:
        """The paths are being fed (start-up is over); a subclass may take a snapshot here."""

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
                name = "ingest" if m.group(1) == "ingest.run" else m.group(1)  # ingest runs in the runner
                key = f"{name}[{pid}]"
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
    """CPU seconds of the runner and everything it waited for (the stack), at exit."""


def tree_env(root: Path) -> dict[str, str]:
    """The environment that makes ``python -m ...`` import the project from ``root``."""
    return {**os.environ, "PYTHONPATH": str(root)}


def run_stack(
    paths: list[Path],
    analyzers: int,
    db: Path,
    root: Path = ROOT,
    monitor_type: Callable[[int], StackMonitor] = StackMonitor,
    extra_env: dict[str, str] | None = None,
) -> StackRun:
    """``make run``'s runner over ``paths``: its wall time, the time once it was ready, and peak RSS (MB)
    and CPU seconds per process. ``monitor_type`` may record more (``mark()`` is called when the
    paths are fed)."""
    env = {
        **tree_env(root),
        "FPSTREAM_DB": str(db),
        "FPSTREAM_BROKER": f"ipc://{tempfile.mkdtemp()}/rt",
        "FPSTREAM_LOG_LEVEL": "INFO",  # the analyzers' "ready" lines
        "XDG_STATE_HOME": tempfile.mkdtemp(),  # the stack's log: fpstream/stack.log in there
        **(extra_env or {}),
    }
    stack_log = Path(env["XDG_STATE_HOME"]) / "fpstream" / "stack.log"
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingest.run", "--analyzers", str(analyzers)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",  # ingest's progress lines say "× real time"
        errors="replace",
        env=env,
        cwd=root,
    )
    assert proc.stdin is not None and proc.stdout is not None
    monitor = monitor_type(proc.pid)
    monitor.start()
    ready = threading.Event()
    fed_at: list[float] = []

    def feed() -> None:
        # Paths go in once every analyzer has warmed its kernels, so ``fed`` leaves start-up out.
        if ready.wait(READY_TIMEOUT_S):
            fed_at.append(time.perf_counter())
            monitor.mark()
        try:
            proc.stdin.write("\n".join(map(str, paths)) + "\n")
            proc.stdin.close()
        except BrokenPipeError:
            pass  # the stack ended early; its exit status says why

    ready_seen = 0

    def watch_log() -> None:
        nonlocal ready_seen
        while proc.poll() is None and ready_seen < analyzers:
            text = stack_log.read_text(errors="replace") if stack_log.exists() else ""
            ready_seen = len(READY_RE.findall(text))
            if ready_seen >= analyzers:
                ready.set()
            time.sleep(0.05)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    threading.Thread(target=watch_log, daemon=True).start()
    lines = []
    for line in proc.stdout:  # the runner's output: progress lines and the summary
        lines.append(ANSI_RE.sub("", line))
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
        raise RuntimeError(f"ingest.run exited with {proc.returncode}:\n" + "".join(lines[-30:]))
    return StackRun(
        wall=end - t0,
        fed=end - fed_at[0] if fed_at and ready_seen >= analyzers else None,
        peaks=monitor.peaks,
        cpu=monitor.cpu,
        total_cpu=usage.ru_utime + usage.ru_stime,
    )


ANALYZE_CODE = """
import json, sys, time
from dsp import stages
from dsp.chunk import warm_up
from fpstream.analyze_file import analyze_file
warm_up()
stages.clear()
t0 = time.perf_counter()
for p in sys.argv[2:]:
    row = analyze_file(p, threads=int(sys.argv[1]))
    if row["status"] != "done":
        raise SystemExit(p + ": " + str(row["error"]))
print(json.dumps([time.perf_counter() - t0, dict(stages.CPU_SECONDS)]))
"""


def analyze_in_process(paths: list[Path], threads: int, root: Path = ROOT) -> tuple[float, dict[str, float]]:
    """Wall time of ``fpstream analyze --threads N``'s work over ``paths`` (one fresh process of the
    tree at ``root``, kernels warmed untimed first), and the CPU seconds of each stage (summed over
    threads; wall time per stage would count decoding and analysis twice where they overlap, and
    GIL waits)."""
    import json

    out = subprocess.run(
        [sys.executable, "-c", ANALYZE_CODE, str(threads), *map(str, paths)],
        env=tree_env(root),
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    wall, stage_cpu = json.loads(out.stdout.strip().splitlines()[-1])
    return wall, stage_cpu


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


def startup_seconds(cold: bool, root: Path = ROOT) -> float:
    env = tree_env(root)
    if cold:
        env["NUMBA_CACHE_DIR"] = tempfile.mkdtemp()
    code = (
        "import time; t=time.perf_counter(); from dsp.chunk import warm_up; warm_up();"
        "print(time.perf_counter()-t)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True, check=True
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


def duplicates_figure() -> tuple[str, float | None]:
    """``tests.bench.duplicates`` on 100 000 rows: its line, and its wall time in seconds."""
    out = subprocess.run(
        [sys.executable, "-m", "tests.bench.duplicates"], cwd=ROOT, capture_output=True, text=True
    )
    line = (out.stdout.strip().splitlines() or [out.stderr.strip()[-200:]])[-1]
    found = re.search(r": ([0-9.]+) s \(", line)
    return line, float(found.group(1)) if found and out.returncode == 0 else None


def row(*cells: object) -> None:
    print("| " + " | ".join(str(c) for c in cells) + " |")


def real_library(folder: Path, min_minutes: float, max_minutes: float) -> list[Path]:
    """The 44.1 kHz stereo FLAC files of ``min_minutes``-``max_minutes`` in ``folder``."""
    found = []
    for p in sorted(folder.glob("*.flac")):
        info = sf.info(str(p))
        if (
            info.samplerate == 44_100
            and info.channels == 2
            and min_minutes * 60 <= info.duration <= max_minutes * 60
        ):
            found.append(p)
    if not found:
        raise SystemExit(f"no 44.1 kHz stereo FLAC of {min_minutes:g}-{max_minutes:g} minutes in {folder}")
    return found


def stack_rows(label: str, run: StackRun, floor: float, n_paths: int, total_audio: float) -> None:
    row(
        f"{label}, wall incl. start-up",
        f"{run.wall:.2f}",
        f"{run.wall / floor:.2f}x decode floor, {n_paths / run.wall:.2f} tracks/s, "
        f"{total_audio / run.wall:.0f}x real time",
    )
    if run.fed is None:
        row(f"{label}, from ready", "?", "the analyzers' ready lines were not seen")
    else:
        row(
            f"{label}, from ready",
            f"{run.fed:.2f}",
            f"{run.fed / floor:.2f}x decode floor, {n_paths / run.fed:.2f} tracks/s, "
            f"{total_audio / run.fed:.0f}x real time",
        )
    for name, mb in sorted(run.peaks.items()):
        cpu = run.cpu.get(name, 0.0)
        row(f"  {name}", f"{cpu:.2f} CPU", f"peak RSS {mb:.0f} MB, {100 * cpu / run.wall:.0f}% of a core")
    row(
        "  all processes incl. the runner (at exit)",
        f"{run.total_cpu:.2f} CPU",
        f"{run.total_cpu / run.wall:.2f} cores on average over the wall time",
    )


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m tests.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--tracks", type=int, default=16, help="number of generated files (default 16)")
    ap.add_argument("--minutes", default="3-6", help="length range of the files, minutes (default 3-6)")
    ap.add_argument("--dir", type=Path, help="folder of files to use/generate (default: a cache under /tmp)")
    ap.add_argument("--real", type=Path, help="use the 44.1 kHz stereo FLAC files in this folder instead")
    ap.add_argument("--baseline", type=Path, help="another checkout to measure side by side (interleaved)")
    ap.add_argument(
        "--stack-analyzers", default="1,2", help="analyzer counts of the make run measurements (default 1,2)"
    )
    ap.add_argument("--skip-librosa", action="store_true", help="skip the librosa comparison")
    ap.add_argument("--skip-stack", action="store_true", help="skip the make run measurements")
    ap.add_argument("--skip-long", action="store_true", help="skip the 60-minute memory measurement")
    args = ap.parse_args(argv)
    lo, hi = (float(x) for x in args.minutes.split("-"))
    folder = args.dir or Path(tempfile.gettempdir()) / f"fpstream-bench-{args.tracks}-{args.minutes}"
    if args.real:
        paths = real_library(args.real, lo, hi)
        kind = f"real music from {args.real}"
    else:
        paths = make_library(folder, args.tracks, lo, hi)
        kind = f"generated, in {folder}"
    total_audio = audio_seconds(paths)
    print(f"{len(paths)} files, {total_audio / 60:.1f} min of 44.1 kHz stereo FLAC ({kind})\n")
    trees = [("this tree", ROOT)]
    if args.baseline:
        trees.insert(0, ("baseline", args.baseline.resolve()))
        print(f"baseline: {trees[0][1]}; this tree: {ROOT}\n")

    def tag(name: str) -> str:
        return "" if len(trees) == 1 else f" [{name}]"

    floor = decode_floor(paths)
    print("| measurement | seconds | ratio / figure |\n|---|---|---|")
    row("decode floor (1 process, soundfile)", f"{floor:.2f}", f"{total_audio / floor:.0f}x real time")
    runs: dict[tuple[str, int], StackRun] = {}
    floors: dict[tuple[str, int], float] = {}
    if not args.skip_stack:
        for _, root in trees:
            # Untimed: compiles the kernels into the numba cache if a DSP edit made it stale, so
            # that compile lands in neither stack run (it would otherwise inflate only the first).
            startup_seconds(cold=False, root=root)
        counts = [int(n) for n in args.stack_analyzers.split(",")]
        with tempfile.TemporaryDirectory() as tmp:
            for n in counts:
                for name, root in trees:  # interleaved: both trees see the same load
                    # the floor again right before each run: on a shared machine the load moves
                    floors[name, n] = decode_floor(paths)
                    row(
                        f"decode floor, measured right before the next run{tag(name)}",
                        f"{floors[name, n]:.2f}",
                        f"{total_audio / floors[name, n]:.0f}x real time",
                    )
                    run = runs[name, n] = run_stack(paths, n, Path(tmp) / f"db{n}{len(runs)}.db", root)
                    stack_rows(
                        f"make run, {n} analyzer(s){tag(name)}", run, floors[name, n], len(paths), total_audio
                    )
            for name, _ in trees:
                if (name, 1) not in runs or (name, 2) not in runs:
                    continue
                r1, r2 = runs[name, 1], runs[name, 2]
                row(
                    f"scaling 2 vs 1 analyzers, wall incl. start-up{tag(name)}",
                    "",
                    f"{r1.wall / r2.wall:.2f}x",
                )
                if r1.fed is not None and r2.fed is not None:
                    row(f"scaling 2 vs 1 analyzers, from ready{tag(name)}", "", f"{r1.fed / r2.fed:.2f}x")
    few = paths[:2]
    few_audio = audio_seconds(few)
    cores = len(os.sched_getaffinity(0))
    one, multi, stage_cpu = {}, {}, {}
    for name, root in trees:
        one[name], stage_cpu[name] = analyze_in_process(few, 1, root)
        multi[name], _ = analyze_in_process(few, cores, root)
    for name, _ in trees:
        row(
            f"fpstream analyze --threads 1 ({len(few)} files){tag(name)}",
            f"{one[name]:.2f}",
            f"{1000 * one[name] / few_audio:.2f} ms/audio s, {few_audio / one[name]:.0f}x real time",
        )
        row(
            f"fpstream analyze --threads {cores} (default){tag(name)}",
            f"{multi[name]:.2f}",
            f"{1000 * multi[name] / few_audio:.2f} ms/audio s, {few_audio / multi[name]:.0f}x real time",
        )
    for name, _ in trees:
        all_stages = sum(stage_cpu[name].values())
        for stage_name, cpu in sorted(stage_cpu[name].items(), key=lambda kv: -kv[1]):
            row(
                f"  stage{tag(name)}: {stage_name}",
                f"{cpu:.2f} CPU s",
                f"{100 * cpu / all_stages:.0f}% of stage CPU, {1000 * cpu / few_audio:.2f} ms/audio s",
            )
        row(
            f"  all stages{tag(name)}",
            f"{all_stages:.2f} CPU s",
            f"{100 * all_stages / one[name]:.0f}% of analyze --threads 1 wall (decoding has its own thread)",
        )
    slow = None
    if not args.skip_librosa:
        warm_librosa(few[0])
        slow = sum(librosa_way(p) for p in few)
        for name, _ in trees:
            row(
                f"librosa way, 1 process (same {len(few)} files) vs analyze{tag(name)}",
                f"{slow:.2f}",
                f"fpstream is {slow / multi[name]:.1f}x faster ({slow / one[name]:.1f}x on one thread)",
            )
    cold, warm = {}, {}
    for name, root in trees:
        cold[name] = startup_seconds(cold=True, root=root)
        warm[name] = startup_seconds(cold=False, root=root)
        row(f"analyzer start-up, cold compile{tag(name)}", f"{cold[name]:.2f}", "")
        row(f"analyzer start-up, warm cache{tag(name)}", f"{warm[name]:.2f}", "")
    lengths = None
    if not args.skip_long:
        short = make_library(folder / "len4", 1, 4, 4)[0]
        long = make_library(folder / "len60", 1, 60, 60)[0]
        lengths = peak_rss_of_analyze(short), peak_rss_of_analyze(long)
        row(
            "peak RSS analyze 4-min vs 60-min file",
            "",
            "{:.0f} MB vs {:.0f} MB ({:.2f}x)".format(*lengths, lengths[1] / lengths[0]),
        )
    row("similar: one query over 100 000 rows", "", similarity_ms())
    dup_line, dup_s = duplicates_figure()
    row("duplicates over 100 000 rows (planted copies)", "", dup_line)

    print("\nTargets, this tree:\n\n| target | figure | |\n|---|---|---|")
    me = trees[-1][0]
    if (me, 2) in runs and runs[me, 2].fed is not None:
        ratio = runs[me, 2].fed / floors[me, 2]
        row(
            "make run ANALYZERS=2, from ready, <= 2.5x the decode floor",
            f"{ratio:.2f}x",
            verdict(ratio <= 2.5),
        )
    if (me, 2) in runs:
        worst = max(mb for key, mb in runs[me, 2].peaks.items() if key.startswith("analyzer"))
        row("every analyzer <= 200 MB peak RSS", f"{worst:.0f} MB", verdict(worst <= 200))
    if slow is not None:
        row(
            "fpstream analyze >= 25x faster than the librosa way",
            f"{slow / multi[me]:.1f}x",
            verdict(slow / multi[me] >= 25),
        )
    if lengths is not None:
        row(
            "memory flat in track length (60 vs 4 min)",
            f"{lengths[1] / lengths[0]:.2f}x",
            verdict(lengths[1] / lengths[0] <= 1.1),
        )
    row(
        "analyzer ready within 2 s on a warm cache (make setup compiles)",
        f"{warm[me]:.2f} s",
        verdict(warm[me] <= 2.0),
    )
    row("analyzer start-up on a cold cache (reported)", f"{cold[me]:.2f} s", "")
    row(
        "duplicates on 100 000 tracks < 10 s, exactly the planted groups",
        "failed" if dup_s is None else f"{dup_s:.2f} s",
        verdict(dup_s is not None and dup_s < 10.0),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
