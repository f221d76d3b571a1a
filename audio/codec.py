"""What a file's audio stream is made of, from its headers: codec, lossless or not, bit rate, and
whether fpstream wrote it. ``fpstream duplicates`` reads this for the members of each group (a
few files), never for the whole library.

FFmpeg (PyAV) opens the container and reads its headers and tags, no audio is
decoded; a file FFmpeg refuses that libsndfile reads (some Ogg Vorbis files:
ingest reads Vorbis with libsndfile too) is described by libsndfile. A file
is *derived* (fpstream wrote it from another file) when it carries the mark
``fpstream master`` leaves (``audio.derived``: libsndfile's ``software``
string, which FFmpeg shows as ``ENCODER``), when a tag says so: ``ENCODER``
starting with ``fpstream``, or a ``DERIVED_FROM`` tag naming its source.
Tag names are compared case-insensitively, in the container's and the audio
stream's tags alike (Vorbis comments sit on the stream, ID3 and MP4 tags on the
container).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import av
import soundfile as sf

from audio.derived import is_derived
from audio.readers import DecodeError

DERIVED_ENCODER_PREFIX = "fpstream"


@dataclass(frozen=True)
class StreamFacts:
    """One file's audio stream.

    ``bit_rate``: bits per second. For a lossy codec the file's average (FFmpeg's
    size / duration estimate, as players show it); for a lossless one the PCM it
    holds (rate × channels × bits per sample), so that a WAV and a FLAC of the same
    audio tie. ``derived_from``: the ``DERIVED_FROM`` tag, "" when absent.
    """

    codec: str  # FFmpeg's decoder name: flac, pcm_s16le, alac, mp3float, aac, opus, vorbis, wmav2...
    lossless: bool
    bit_rate: int | None
    encoder: str  # the ENCODER tag, "" when absent
    derived_from: str
    marked: bool = False  # carries fpstream master's mark (audio.derived)

    @property
    def derived(self) -> bool:
        """fpstream wrote this file from another one (``fpstream master``)."""
        by_tag = self.encoder.lower().startswith(DERIVED_ENCODER_PREFIX) or bool(self.derived_from)
        return self.marked or by_tag


def _tag(tags: dict[str, str], name: str) -> str:
    for key, value in tags.items():
        if key.lower() == name:
            return str(value)
    return ""


def stream_facts(path: str) -> StreamFacts:
    """:class:`StreamFacts` of ``path``'s first audio stream; DecodeError if FFmpeg cannot open it."""
    try:
        with av.open(path, metadata_errors="replace") as container:
            if not container.streams.audio:
                raise DecodeError("no audio stream")
            stream = container.streams.audio[0]
            ctx = stream.codec_context
            lossless = bool(ctx.codec.lossless) and not ctx.codec.lossy
            if lossless:
                bits = ctx.format.bits if ctx.format is not None else 0
                bit_rate = ctx.sample_rate * ctx.channels * bits or None
            else:
                bit_rate = container.bit_rate or stream.bit_rate or None
            tags = {**dict(container.metadata), **dict(stream.metadata)}
            return StreamFacts(
                codec=ctx.name,
                lossless=lossless,
                bit_rate=bit_rate,
                encoder=_tag(tags, "encoder"),
                derived_from=_tag(tags, "derived_from"),
                marked=is_derived(path),
            )
    except DecodeError:
        raise
    except (av.FFmpegError, OSError, ValueError) as exc:
        try:
            return _libsndfile_facts(path)
        except (sf.LibsndfileError, OSError, RuntimeError, ValueError):
            raise DecodeError(f"cannot read the stream's headers: {exc}") from None


#: libsndfile subtypes that hold the audio exactly.
_LOSSLESS_SUBTYPES = ("PCM_", "FLOAT", "DOUBLE", "ALAC_", "DWVW_")


def _libsndfile_facts(path: str) -> StreamFacts:
    with sf.SoundFile(path) as f:
        lossless = f.format == "FLAC" or f.subtype.startswith(_LOSSLESS_SUBTYPES)
        seconds = f.frames / f.samplerate if f.samplerate else 0.0
        if lossless:
            bits = {"PCM_S8": 8, "PCM_U8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32, "FLOAT": 32}
            bit_rate = f.samplerate * f.channels * bits.get(f.subtype, 64 if f.subtype == "DOUBLE" else 16)
        else:
            bit_rate = round(os.path.getsize(path) * 8 / seconds) if seconds else None
        return StreamFacts(
            codec=f.subtype.lower(),
            lossless=lossless,
            bit_rate=bit_rate,
            encoder=f.software or "",
            derived_from="",
            marked=is_derived(path),
        )
