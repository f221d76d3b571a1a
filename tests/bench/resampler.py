"""Benchmark: CPU per audio second of the resampler against soxr's HQ setting, in one run.

    .venv/bin/python -m tests.bench.resampler [--seconds 120] [--rates 44100 48000]

Rows: fpstream's resampler over a whole track (``dsp.resample``), soxr HQ one-shot
(``soxr.resample``, what librosa does), soxr HQ streamed in 10 s chunks
(``soxr.ResampleStream``: the stateful form a streaming analyzer would need), and
``scipy.signal.resample_poly``'s default filter (fingerprint version 1's output) for scale.
Best of five, process CPU time; read the ratios.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def cpu_ms_per_audio_s(fn, seconds: float, reps: int = 5) -> float:
    fn()
    best = float("inf")
    for _ in range(reps):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return 1000 * best / seconds


def row_for(sr: int, seconds: float) -> list[float]:
    """CPU ms per audio second of the four resamplers on ``seconds`` of noise at ``sr``."""
    import soxr
    from scipy.signal import resample_poly

    from dsp.grid import SR, resampler_for
    from dsp.resample import resample_range

    x = np.random.default_rng(0).standard_normal(int(seconds * sr))
    rs = resampler_for(sr)

    def ours() -> None:
        resample_range(rs, x, 0, 0, rs.n_out(len(x)), len(x))

    def streamed() -> None:
        stream = soxr.ResampleStream(sr, SR, 1, dtype="float64", quality="HQ")
        step = 10 * sr
        for i in range(0, len(x), step):
            stream.resample_chunk(x[i : i + step], last=i + step >= len(x))

    def one_shot() -> None:
        soxr.resample(x, sr, SR, quality="HQ")

    def poly() -> None:
        resample_poly(x, rs.up, rs.down)

    return [cpu_ms_per_audio_s(f, seconds) for f in (ours, one_shot, streamed, poly)]


def main(argv: list[str] | None = None) -> int:
    from threadpoolctl import threadpool_limits

    ap = argparse.ArgumentParser(prog="python -m tests.bench.resampler", description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--rates", type=int, nargs="+", default=[44_100, 48_000])
    args = ap.parse_args(argv)
    print(
        "| rate | fpstream (FFT blocks) | soxr HQ one-shot | soxr HQ streamed, 10 s chunks | "
        "resample_poly default (v1) |\n|---|---|---|---|---|"
    )
    with threadpool_limits(1):
        for sr in args.rates:
            cells = row_for(sr, args.seconds)
            print(f"| {sr} | " + " | ".join(f"{c:.2f} ms" for c in cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
