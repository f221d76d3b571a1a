"""Lossy copies of an evaluation file, as a user's library holds them: MP3 192k (LAME),
AAC 256k (FFmpeg's encoder, .m4a), Opus 160k (libopus, 48 kHz), Vorbis q6 (libvorbis via
libsndfile: FFmpeg's own Vorbis encoder has no quality scale worth the name) and WMA 192k
(wmav2, .wma), all from the decoded original (the FLAC of a ripped CD would be decoded the
same way)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

CODECS = {  # name: (suffix, PyAV codec, container format, bit rate); None = libsndfile's Vorbis
    "MP3 192k": (".mp3", "libmp3lame", "mp3", 192_000),
    "AAC 256k": (".m4a", "aac", "ipod", 256_000),
    "Opus 160k": (".opus", "libopus", "ogg", 160_000),
    "Vorbis q6": (".ogg", None, None, 0),
    "WMA 192k": (".wma", "wmav2", "asf", 192_000),
}


def _decode(src: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    pcm, sr = sf.read(str(src), dtype="float32", always_2d=True)
    return pcm[:, :2], sr


def encode(src: Path, codec: str, dst: Path) -> Path:
    """Write ``src`` re-encoded with ``codec`` (a key of :data:`CODECS`) to ``dst``."""
    import av
    import soundfile as sf

    suffix, name, fmt, rate = CODECS[codec]
    pcm, sr = _decode(src)
    tmp = dst.with_name(dst.stem + ".part" + suffix)
    if name is None:
        # libsndfile's Vorbis quality is 1 - compression_level: q6 (0.6) is level 0.4
        with sf.SoundFile(
            str(tmp), "w", sr, pcm.shape[1], "VORBIS", format="OGG", compression_level=0.4
        ) as f:
            for i in range(0, len(pcm), 16_384):  # libsndfile's Vorbis writer crashes on long blocks
                f.write(pcm[i : i + 16_384])
        tmp.replace(dst)
        return dst
    out_sr = 48_000 if name == "libopus" else sr
    layout = "stereo" if pcm.shape[1] == 2 else "mono"
    with av.open(str(tmp), "w", format=fmt) as container:
        stream = container.add_stream(name, rate=out_sr, layout=layout)
        stream.bit_rate = rate
        resampler = av.AudioResampler(format=stream.format.name, layout=layout, rate=out_sr)
        step = 65_536
        for i in range(0, len(pcm), step):
            block = np.ascontiguousarray(pcm[i : i + step].T)  # planar float
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=layout)
            frame.sample_rate = sr
            for f in resampler.resample(frame):
                container.mux(stream.encode(f))
        for f in resampler.resample(None):
            container.mux(stream.encode(f))
        container.mux(stream.encode(None))
    tmp.replace(dst)
    return dst


def copy_of(src: Path, key: str, codec: str, cache: Path) -> Path:
    """The ``codec`` copy of ``src`` (content ``key``), made once into ``cache/codecs``."""
    dst = cache / "codecs" / f"{key}-{CODECS[codec][0].lstrip('.')}{CODECS[codec][0]}"
    if not dst.exists():
        dst.parent.mkdir(parents=True, exist_ok=True)
        encode(src, codec, dst)
    return dst
