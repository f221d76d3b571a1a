"""Benchmark: the analysis's CPU per audio second in two source trees, alternated in one run.

    .venv/bin/python -m tests.bench.stages_ab BASELINE_TREE [--reps 2] [--tracks 2] [--minutes 3-4]

``BASELINE_TREE`` is another checkout of the project (e.g. ``git worktree add /tmp/base main``).
Each repetition runs ``tests.bench``'s single-threaded ``analyze`` over the same generated
files once in the baseline tree and once in this one, each in a fresh process, and reads the
CPU seconds of every stage (``dsp.stages``). Alternating the two keeps a busy machine's
load from favouring either; the ratios (this tree / baseline, best run of each) are what to read.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[2]

RUN = """
import json, sys
from pathlib import Path
from tests.bench.__main__ import analyze_in_process, audio_seconds, make_library
lo, hi = (float(x) for x in sys.argv[3].split("-"))
paths = make_library(Path(sys.argv[1]), int(sys.argv[2]), lo, hi)
wall, stages = analyze_in_process(paths, threads=1)
print(json.dumps({"audio": audio_seconds(paths), "stages": stages}))
"""


def run_in(tree: Path, folder: Path, tracks: int, minutes: str) -> dict:
    """One analyze run with ``tree``'s code (it comes first on ``sys.path``: ``python -c`` in it)."""
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(folder), str(tracks), minutes],
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.bench.stages_ab", description=__doc__.split("\n\n")[0])
    ap.add_argument("baseline", type=Path, help="the other source tree")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--tracks", type=int, default=2)
    ap.add_argument("--minutes", default="3-4")
    args = ap.parse_args(argv)
    folder = Path(tempfile.gettempdir()) / f"fpstream-bench-{args.tracks}-{args.minutes}"
    trees = {"baseline": args.baseline.resolve(), "this tree": HERE}
    runs: dict[str, list[dict]] = {name: [] for name in trees}
    for _ in range(args.reps):
        for name, tree in trees.items():
            runs[name].append(run_in(tree, folder, args.tracks, args.minutes))
    audio = runs["this tree"][0]["audio"]
    names = sorted({s for rs in runs.values() for r in rs for s in r["stages"]})
    best = {
        tree: {s: min(r["stages"].get(s, 0.0) for r in rs) for s in names} | {
            "all stages": min(sum(r["stages"].values()) for r in rs)
        }
        for tree, rs in runs.items()
    }
    print(f"{args.tracks} files, {audio / 60:.1f} min of audio; best of {args.reps} runs each")
    print("CPU ms per audio second\n")
    print("| stage | baseline | this tree | ratio |\n|---|---|---|---|")
    for s in [*names, "all stages"]:
        a, b = best["baseline"][s], best["this tree"][s]
        ratio = f"{b / a:.2f}x" if a > 0 else ""
        print(f"| {s} | {1000 * a / audio:.2f} | {1000 * b / audio:.2f} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
