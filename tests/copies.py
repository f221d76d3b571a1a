"""One recording in every format a library holds, for the duplicates tests and field checks.

:func:`write_copies` writes FLAC and WAV (libsndfile), MP3 192k, AAC 256k in
``.m4a``, Opus 96k and WMA (FFmpeg inside PyAV) and Vorbis q2 (libsndfile:
PyAV's wheel has no libvorbis), optionally with the first seconds cut off, as
a copy trimmed by hand or ripped with a different offset is.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import soundfile as sf

# name -> (suffix, PyAV codec or None for libsndfile, bit rate, container rate or None for the source's)
CODECS: dict[str, tuple[str, str | None, int | None, int | None]] = {
    "flac": ("flac", None, None, None),
    "wav": ("wav", None, None, None),
    "mp3": ("mp3", "libmp3lame", 192_000, None),
    "aac": ("m4a", "aac", 256_000, None),
    "opus": ("opus", "libopus", 96_000, 48_000),
    "vorbis": ("ogg", None, None, None),
    "wma": ("wma", "wmav2", 128_000, None),
}
#: libsndfile's Vorbis quality is ``1 - compression_level`` on 0..1 (q0..q10): q2.
VORBIS_Q2 = 0.8


def _encode(path: Path, pcm: np.ndarray, sr: int, codec: str, bit_rate: int, rate: int | None) -> None:
    """PyAV re-cuts the one frame to the encoder's frame size and resamples it to ``rate``."""
    layout = "stereo" if pcm.shape[1] == 2 else "mono"
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate or sr, layout=layout)
        stream.bit_rate = bit_rate
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(pcm.reshape(1, -1)), format="s16", layout=layout
        )
        frame.sample_rate, frame.pts, frame.time_base = sr, 0, Fraction(1, sr)
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)


def write_copies(
    pcm: np.ndarray,
    sr: int,
    folder: Path,
    stem: str,
    trim_s: float = 0.0,
    codecs: tuple[str, ...] = tuple(CODECS),
) -> dict[str, Path]:
    """``pcm`` (int16, ``(n, channels)``) as ``folder/<stem>.<codec>.<suffix>`` in each of ``codecs``,
    the first ``trim_s`` seconds cut off; returns ``{codec: path}``."""
    folder.mkdir(parents=True, exist_ok=True)
    cut = np.ascontiguousarray(pcm[round(trim_s * sr) :])
    made = {}
    for name in codecs:
        suffix, codec, bit_rate, rate = CODECS[name]
        path = folder / f"{stem}.{name}.{suffix}"
        if name == "flac":
            sf.write(str(path), cut, sr, format="FLAC", subtype="PCM_16")
        elif name == "wav":
            sf.write(str(path), cut, sr, format="WAV", subtype="PCM_16")
        elif name == "vorbis":
            # in blocks: libsndfile 1.2's Vorbis encoder crashes on one write of minutes of audio
            with sf.SoundFile(
                str(path), "w", sr, cut.shape[1], format="OGG", subtype="VORBIS", compression_level=VORBIS_Q2
            ) as f:
                for s in range(0, len(cut), 1 << 16):
                    f.write(cut[s : s + (1 << 16)])
        else:
            assert codec is not None and bit_rate is not None
            _encode(path, cut, sr, codec, bit_rate, rate)
        made[name] = path
    return made


# ---------------------------------------------------------------- a tune in two arrangements

#: A 16-bar tune: (MIDI note, beats) pairs, and a chord per bar (root notes).
TUNE: tuple[tuple[int, float], ...] = (
    (67, 1), (69, 1), (71, 2), (74, 1), (72, 1), (71, 1), (69, 1),
    (67, 1.5), (64, 0.5), (62, 2), (64, 1), (67, 1), (69, 2), (71, 1), (69, 1),
    (67, 2), (71, 1), (74, 1), (76, 2), (74, 1), (72, 1), (71, 1), (72, 1),
    (74, 3), (71, 1), (69, 1), (67, 1), (64, 1), (62, 1), (67, 4),
)  # fmt: skip
CHORDS: tuple[int, ...] = (55, 48, 50, 55, 52, 48, 50, 55)


def _hz(note: float) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)


def tune(arrangement: str, sr: int = 44_100, repeats: int = 1) -> np.ndarray:
    """The tune as int16 stereo ``(n, 2)``, about 25 s.

    ``"band"``: plucked lead with harmonics, bass and chords, drums, 112 BPM.
    ``"strings"``: the same melody bowed (slow attack, sawtooth), sustained
    chords an octave up, no drums, 96 BPM: the same song, another arrangement
    (another recording). ``"other"``: a different tune in the band's sound.
    """
    from tests.synth import drums

    rng = np.random.default_rng({"band": 1, "strings": 2, "other": 3}[arrangement])
    bpm = 96.0 if arrangement == "strings" else 112.0
    beat = 60.0 / bpm
    notes = list(TUNE) * repeats
    chords = list(CHORDS) * repeats
    if arrangement == "other":  # the same sound, another melody and harmony
        notes = [(n + int(rng.integers(-5, 6)), b) for n, b in notes[::-1]]
        chords = [c + 5 for c in chords[::-1]]
    length = sum(b for _, b in notes) * beat + 1.0
    n = round(length * sr)
    out = np.zeros(n)
    t_all = np.arange(n) / sr
    at = 0.0
    for note, beats in notes:
        dur = beats * beat
        i, m = round(at * sr), round(dur * sr)
        t = np.arange(m) / sr
        f = _hz(note)
        if arrangement == "strings":
            env = np.minimum(1.0, t / 0.25) * np.exp(-t / 4.0)
            wave = sum(
                np.sin(2 * np.pi * f * k * t * (1 + 0.002 * np.sin(2 * np.pi * 5 * t))) / k
                for k in range(1, 8)
            )
        else:
            env = np.exp(-t / 0.35)
            wave = sum(np.sin(2 * np.pi * f * k * t) * 0.6**k for k in range(1, 6))
        out[i : i + m] += 0.35 * env * wave[: len(out) - i]
        at += dur
    bar = 4 * beat
    for k, root in enumerate(chords):
        i, m = round(k * bar * sr), round(bar * sr)
        if i >= n:
            break
        t = np.arange(min(m, n - i)) / sr
        if arrangement == "strings":
            pad = sum(np.sin(2 * np.pi * _hz(root + 12 + d) * t) for d in (0, 4, 7)) * 0.08
        else:
            bass = np.sin(2 * np.pi * _hz(root - 12) * t) * 0.25 * np.exp(-(t % beat) / 0.3)
            pad = bass + sum(np.sin(2 * np.pi * _hz(root + d) * t) for d in (0, 4, 7)) * 0.05 * np.exp(
                -t / 1.5
            )
        out[i : i + len(t)] += pad
    if arrangement != "strings":
        out += 0.5 * drums(bpm, length, sr, seed=int(rng.integers(100)))
    out *= 0.5 / np.abs(out).max()
    right = np.roll(out, 17) * 0.9 + 0.1 * np.sin(2 * np.pi * 0.1 * t_all) * out
    return np.round(np.stack([out, right], axis=1) * 32767).astype(np.int16)
