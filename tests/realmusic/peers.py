"""librosa's and Essentia's tempo of each evaluation file, cached in ``peers.json`` (in the
repository, keyed by the file's sha256), so a re-run of the evaluation costs only fpstream.

Both peers see the whole track: librosa ``beat.beat_track`` on ``librosa.load`` (22 050 Hz,
mono, soxr_hq), Essentia ``RhythmExtractor2013(method="multifeature")`` on the 44.1 kHz mono
mix (see :mod:`tests.oracles`).
"""

from __future__ import annotations

import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

PEERS = Path(__file__).with_name("peers.json")
PEER_VERSION = 1  # bump when a peer computation changes: cached figures are then recomputed


def load() -> dict[str, dict[str, float]]:
    if not PEERS.exists():
        return {}
    data = json.loads(PEERS.read_text())
    return {k: v for k, v in data.items() if v.get("version") == PEER_VERSION}


def save(data: dict[str, dict[str, float]]) -> None:
    tmp = PEERS.with_suffix(".part")
    tmp.write_text(json.dumps(dict(sorted(data.items())), indent=0) + "\n")
    tmp.replace(PEERS)


def peer_tempi(path: str) -> dict[str, float]:
    """Both peers' tempo (BPM) of the file at ``path``, one thread each."""
    import librosa
    import numpy as np
    import soundfile as sf
    from threadpoolctl import threadpool_limits

    from tests.oracles import SR, essentia_tempo, librosa_tempo

    with threadpool_limits(1):
        pcm, sr = sf.read(path, dtype="float32", always_2d=True)  # one decode for both peers
        # what librosa.load(sr=22050, mono=True) does: the channels' mean, then soxr_hq
        y = (
            librosa.resample(pcm.mean(axis=1), orig_sr=sr, target_sr=SR, res_type="soxr_hq")
            if sr != SR
            else pcm.mean(axis=1)
        )
        lib = librosa_tempo(y)
        ess = essentia_tempo(pcm[:, :2].astype(np.float64).mean(axis=1), sr)
    return {"librosa": float(lib), "essentia": float(ess), "version": PEER_VERSION}


def ensure(files: dict[str, Path], jobs: int) -> dict[str, dict[str, float]]:
    """Peers' figures for every ``sha256 -> path`` in ``files``, computing (and saving after
    each file) those not yet cached."""
    data = load()
    todo = {k: p for k, p in files.items() if k not in data}
    if todo:
        print(f"peers: {len(todo)} files to compute (librosa + Essentia, whole tracks)", file=sys.stderr)
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(peer_tempi, str(p)): k for k, p in todo.items()}  # in the caller's order
            for i, fut in enumerate(as_completed(futures), 1):
                data[futures[fut]] = fut.result()
                save(data)
                print(f"  peers {i}/{len(todo)}", file=sys.stderr)
    return {k: data[k] for k in files}


if __name__ == "__main__":
    from tests.realmusic.corpus import read_manifest, sha256_of
    from tests.realmusic.midi import midi_set

    cache = Path(sys.argv[1])
    files = {sha256_of(p): p for p, _, _ in midi_set(cache)}
    tracks = read_manifest()
    held = [t for t in tracks if t.split == "heldout"]
    tune = [t for t in tracks if t.split == "tuning"]
    for i in range(max(len(held), len(tune))):  # both sets grow alike if the run is cut short
        for t in held[i : i + 1] + tune[i : i + 1]:
            files[t.sha256] = t.local(cache)
    ensure(files, int(os.environ.get("JOBS", "2")))
