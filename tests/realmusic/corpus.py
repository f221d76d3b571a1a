"""The evaluation's corpus: Debian music packages, split by package into a tuning set and a
held-out set, fixed in ``manifest.tsv`` (package, version, path in the package, sha256,
seconds; no audio in the repository).

The split is by package, so by composer: the held-out set's composers were never heard while
the tempo rules were tuned. ``python -m tests.realmusic.corpus --build`` rewrites the manifest
from the unpacked packages (every audio file of 30 s to 6.5 min, duplicates by content once);
the evaluation only reads it, and refuses a file whose sha256 differs.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

MANIFEST = Path(__file__).with_name("manifest.tsv")
AUDIO_SUFFIXES = (".ogg", ".opus", ".flac", ".wav", ".oga")
# tuning: the packages the earlier rules were tuned on; held-out: composers never heard while tuning
SPLIT = {
    "tuning": ("warzone2100-music", "singularity-music", "hyperrogue-music", "drascula-music"),
    "heldout": ("colobot-common-sounds", "supertux-data", "extremetuxracer-data", "lincity-ng-data"),
}
MIN_S, MAX_S = 30.0, 390.0  # shorter files are sound effects; longer ones cost too much CPU


@dataclass(frozen=True)
class Track:
    split: str
    package: str
    version: str
    path: str  # inside the unpacked package
    sha256: str
    seconds: float

    def local(self, cache: Path) -> Path:
        return cache / "extract" / self.package / self.path


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_manifest(path: Path = MANIFEST) -> list[Track]:
    with path.open() as f:
        rows = list(csv.DictReader((line for line in f if not line.startswith("#")), delimiter="\t"))
    return [
        Track(r["split"], r["package"], r["version"], r["path"], r["sha256"], float(r["seconds"]))
        for r in rows
    ]


def fetch(cache: Path, packages: list[str]) -> dict[str, str]:
    """``apt-get download`` each package (unless its .deb is cached) and unpack it into
    ``cache/extract/PACKAGE``; returns each package's version (from the .deb's name)."""
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    versions = {}
    for pkg in packages:
        have = sorted(debs.glob(f"{pkg}_*.deb"))
        if not have:
            print(f"fetching {pkg} with apt-get download ...", file=sys.stderr)
            done = subprocess.run(["apt-get", "download", pkg], cwd=debs, capture_output=True, text=True)
            have = sorted(debs.glob(f"{pkg}_*.deb"))
            if done.returncode != 0 or not have:
                raise SystemExit(
                    f"apt-get download {pkg} failed (apt-get update first?):\n{done.stderr.strip()}"
                )
        folder = cache / "extract" / pkg
        stamp = folder / f".{have[-1].name}.unpacked"
        if not stamp.exists():
            folder.mkdir(parents=True, exist_ok=True)
            subprocess.run(["dpkg-deb", "-x", str(have[-1]), str(folder)], check=True)
            stamp.touch()
        versions[pkg] = have[-1].name.split("_")[1]
    return versions


def verify(tracks: list[Track], cache: Path) -> None:
    """Every manifest file present with its recorded sha256 (a changed package version
    would silently change the evaluation otherwise)."""
    bad = [t for t in tracks if not t.local(cache).is_file() or sha256_of(t.local(cache)) != t.sha256]
    if bad:
        raise SystemExit(
            f"{len(bad)} manifest files missing or changed, e.g. {bad[0].package}/{bad[0].path} "
            "(another package version? rebuild with --build and re-tune)"
        )


def build(cache: Path) -> list[Track]:
    import soundfile as sf

    versions = fetch(cache, [p for pkgs in SPLIT.values() for p in pkgs])
    tracks: list[Track] = []
    seen: set[str] = set()
    for split, pkgs in SPLIT.items():
        for pkg in pkgs:
            root = cache / "extract" / pkg
            for p in sorted(root.rglob("*")):
                if p.suffix.lower() not in AUDIO_SUFFIXES or p.is_symlink() or not p.is_file():
                    continue
                try:
                    seconds = sf.info(str(p)).duration
                except Exception:  # noqa: BLE001 - not audio libsndfile reads: not in the corpus
                    continue
                digest = sha256_of(p)
                if not MIN_S <= seconds <= MAX_S or digest in seen:
                    continue
                seen.add(digest)
                tracks.append(
                    Track(split, pkg, versions[pkg], str(p.relative_to(root)), digest, round(seconds, 2))
                )
    return tracks


def write_manifest(tracks: list[Track], path: Path = MANIFEST) -> None:
    with path.open("w") as f:
        f.write("# written by python -m tests.realmusic.corpus --build; see corpus.py\n")
        f.write("split\tpackage\tversion\tpath\tsha256\tseconds\n")
        for t in tracks:
            f.write(f"{t.split}\t{t.package}\t{t.version}\t{t.path}\t{t.sha256}\t{t.seconds}\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.realmusic.corpus")
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--build", action="store_true", help="rewrite manifest.tsv from the packages")
    args = ap.parse_args(argv)
    if args.build:
        tracks = build(args.cache)
        write_manifest(tracks)
    else:
        tracks = read_manifest()
        fetch(args.cache, sorted({t.package for t in tracks}))
        verify(tracks, args.cache)
    for split in SPLIT:
        sel = [t for t in tracks if t.split == split]
        print(
            f"{split}: {len(sel)} tracks, {len({t.package for t in sel})} packages, "
            f"{sum(t.seconds for t in sel) / 60:.0f} min"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())


def drum_set(cache: Path, n: int = 25) -> list[tuple[Path, float]]:
    """``n`` generated 40 s humanised rock-beat tracks at tempos spread over 62-190 BPM."""
    import numpy as np
    import soundfile as sf

    from tests.synth import drums

    folder = cache / "drums"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2006)
    out = []
    for i, bpm in enumerate(np.round(rng.uniform(62, 190, n), 1)):
        path = folder / f"drums{i:02d}-{bpm:.1f}.flac"
        if not path.exists():
            x = drums(float(bpm), 40.0, 44_100, seed=100 + i)
            sf.write(str(path), np.stack([x, x], axis=1), 44_100, subtype="PCM_16")
        out.append((path, float(bpm)))
    return out
