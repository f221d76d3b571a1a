"""One small interface over the decoders: ``samplerate``, ``channels``, ``read(n)``, ``close``.

Two readers implement it, and :func:`open_reader` picks one per format from
the file's signature (:mod:`audio.sniff`), by measurement (docs/formats.md):

- :class:`SoundfileReader` (libsndfile): WAV, AIFF and Ogg Vorbis, exact and the cheapest.
- :class:`PyAVReader` (FFmpeg inside the ``av`` wheel): everything else — MP3,
  AAC and ALAC in ``.m4a``/``.mp4``, WMA, WavPack, APE, Opus, FLAC and
  whatever else FFmpeg reads. FFmpeg applies the encoder delay and padding
  that LAME's Info tag and MP4 edit lists declare (gapless), so a track's
  length and first sample match its source.

Both decode block-wise: ``read(n)`` holds at most ``n`` frames plus one
decoded packet, never the whole file. Every failure is a :class:`DecodeError`
whose message is the stored row's error, one of a fixed vocabulary: ``not an
audio file``, ``unsupported codec: NAME``, ``no audio stream``, ``DRM-protected``,
``truncated``, ``decode error at second N``, ``the stream changes format at
second N``. Neither library writes to stderr: FFmpeg's log is switched off
(PyAV's default, set again here), and libsndfile is only handed formats it
decodes itself (never MP3), so libmpg123, which prints, is never called.
"""

from __future__ import annotations

import os
from typing import Protocol

import av
import av.logging
import numpy as np
import soundfile as sf

from audio.sniff import Kind, mp4_sample_entry, ogg_ends, sniff, wav_declared_frames

av.logging.set_level(None)  # FFmpeg's log off: its messages would land on our stderr

#: A track whose decoded length falls short of what its container declares by more than
#: this share (and by more than SHORT_MIN_S) is stored with a ``truncated`` warning.
SHORT_SHARE = 0.05
SHORT_MIN_S = 1.0
#: Packets a decoder may reject (skipped, as players do) before the track fails.
MAX_BAD_PACKETS = 16
#: Where soundfile reads in sub-blocks, so a decode error is located to within this many seconds.
LOCATE_S = 1.0


class DecodeError(Exception):
    """A file that cannot be opened or decoded; the message is the row's error."""


class Reader(Protocol):
    """A decoder positioned at the start of a track; see the module docstring."""

    name: str  # which decoder: "soundfile" or "pyav"
    samplerate: int
    channels: int
    exact_seek: bool  # seek(frame) lands on that exact sample
    native_dtype: str  # "int16" or "int32" where the decoder's samples are integers, else "float32"

    def seek(self, frame: int) -> None:
        """Position at ``frame`` (only where ``exact_seek``)."""
        ...

    def read(self, n: int, dtype: str = "float32") -> np.ndarray:
        """Up to ``n`` next frames, ``(m, channels)``; ``m < n`` only at the end of the track.

        ``dtype`` is ``"float32"`` (full scale ±1), ``"int16"`` (the file's own
        samples where it holds 16-bit PCM, else rounded from the decoder's output), or
        ``native_dtype``: the decoder's own integer samples, which scaled by 2^-15 (int16)
        or 2^-31 (int32) give exactly the float32 that ``read(n)`` returns.
        """
        ...

    def warnings(self, decoded: int) -> list[str]:
        """What to tell about a track that decoded to ``decoded`` frames and ended cleanly."""
        ...

    def close(self) -> None: ...


def open_reader(path: str) -> Reader:
    """The reader for ``path``, chosen from its signature; DecodeError if no reader can open it."""
    try:
        kind = sniff(path)
    except OSError as exc:
        raise DecodeError(f"cannot open: {exc.strerror or exc}") from None
    if kind is None:
        raise DecodeError("not an audio file: no known audio or container format")
    if (kind.format, kind.codec) in SOUNDFILE_FORMATS:
        return SoundfileReader(path, kind)
    return PyAVReader(path, kind)


#: ``(format, codec)`` that libsndfile decodes exactly and more cheaply than FFmpeg (docs/formats.md).
#: Not MP3, though libsndfile reads it exactly and cheaper: its libmpg123 prints to stderr on damaged
#: data, and skips damage without telling. Not FLAC: libsndfile stops at the first damaged or missing
#: frame with "lost sync", so a truncated FLAC would lose its last good second and say "decode error".
SOUNDFILE_FORMATS = frozenset({("wav", ""), ("aiff", ""), ("ogg", "vorbis")})


def ogg_warning(kind: Kind, path: str, decoded: int, samplerate: int) -> str | None:
    """The ``truncated`` warning for an Ogg file that ends without its end-of-stream page."""
    if kind.format != "ogg" or ogg_ends(path):
        return None
    return f"truncated: the Ogg stream stops at {decoded / samplerate:.1f} s without its end-of-stream page"


def shortfall(decoded: int, declared: int | None, samplerate: int) -> str | None:
    """The ``truncated`` warning if ``decoded`` frames fall far short of ``declared``."""
    if not declared or declared <= 0:
        return None
    missing = declared - decoded
    if missing <= max(SHORT_SHARE * declared, SHORT_MIN_S * samplerate):
        return None
    return f"truncated: decoded {decoded / samplerate:.1f} s of the {declared / samplerate:.1f} s declared"


# ---------------------------------------------------------------------------- libsndfile


class SoundfileReader:
    name = "soundfile"

    def __init__(self, path: str, kind: Kind) -> None:
        try:
            self._f = sf.SoundFile(os.fsencode(path))  # bytes: names that are not UTF-8 open too
        except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
            raise DecodeError(f"not an audio file: {_sf_text(exc)}") from None
        except OSError as exc:
            raise DecodeError(f"cannot open: {exc.strerror or exc}") from None
        self.samplerate, self.channels = int(self._f.samplerate), int(self._f.channels)
        if self.samplerate <= 0 or self.channels <= 0:
            self._f.close()
            raise DecodeError(f"invalid format: {self.samplerate} Hz, {self.channels} channels")
        self._declared = wav_declared_frames(path) if kind.format == "wav" else None
        self._kind, self._path = kind, path
        # uncompressed PCM: a seek lands on the exact sample, so a re-sent chunk seeks there
        self.exact_seek = self._f.seekable() and kind.format in ("wav", "aiff")
        self._at = 0
        self._step = max(1, round(LOCATE_S * self.samplerate))
        self.native_dtype = _SF_NATIVE.get(self._f.subtype, "float32")

    def read(self, n: int, dtype: str = "float32") -> np.ndarray:
        out = np.empty((n, self.channels), dtype=dtype)
        filled = 0
        while filled < n:
            want = min(self._step, n - filled)
            try:
                got = len(self._f.read(want, dtype=dtype, always_2d=True, out=out[filled : filled + want]))
            except (sf.LibsndfileError, RuntimeError) as exc:
                raise DecodeError(f"decode error at second {self._at / self.samplerate:.1f}: "
                                  f"{_sf_text(exc)}") from None
            filled += got
            self._at += got
            if got < want:
                break
        return out[:filled]

    def seek(self, frame: int) -> None:
        try:
            self._f.seek(frame)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise DecodeError(f"cannot seek to frame {frame}: {_sf_text(exc)}") from None
        self._at = frame

    def warnings(self, decoded: int) -> list[str]:
        short = shortfall(decoded, self._declared, self.samplerate)
        short = short or ogg_warning(self._kind, self._path, decoded, self.samplerate)
        return [short] if short else []

    def close(self) -> None:
        self._f.close()


#: libsndfile subtypes whose float32 samples are exactly ``to_float32`` of these integers
#: (it scales a short by 2^-15 and an int, 24-bit samples in its top bytes, by 2^-31).
#: Not u-law/A-law/ADPCM, whose float tables are libsndfile's own.
_SF_NATIVE = {"PCM_S8": "int16", "PCM_U8": "int16", "PCM_16": "int16", "PCM_24": "int32", "PCM_32": "int32"}


def _sf_text(exc: BaseException) -> str:
    text = str(exc)
    # soundfile prefixes the path; the row already has it
    if ": " in text and text.startswith("Error opening"):
        text = text.split(": ", 1)[1]
    return text.strip() or type(exc).__name__


# ---------------------------------------------------------------------------- FFmpeg

# Sample entries of encrypted MP4 audio: iTunes FairPlay ('drms'), and ISO/IEC 23001-7 ('enca').
_DRM_TAGS = frozenset({"drms", "drmi", "enca"})
_INT_SCALE = {"s16": 1 / 32768, "s32": 1 / 2147483648, "u8": 1 / 128}


class PyAVReader:
    name = "pyav"
    exact_seek = False  # FFmpeg seeks to a packet, not a sample: a re-sent chunk decodes from the start

    def seek(self, frame: int) -> None:
        raise NotImplementedError("PyAVReader has no sample-exact seek")

    def __init__(self, path: str, kind: Kind) -> None:
        self._file = None
        try:
            target: object = path
            if _not_utf8(path):
                # FFmpeg takes UTF-8 names; hand it an open file for names that are not
                self._file = target = open(os.fsencode(path), "rb")  # noqa: SIM115 - closed in close()
            self._container = av.open(target, "r", metadata_errors="ignore")
        except av.error.InvalidDataError as exc:
            self._close_file()
            if kind.format == "id3":
                raise DecodeError("not an audio file: an ID3 tag, then nothing FFmpeg reads") from None
            raise DecodeError(f"damaged or truncated {kind.format} file: {_av_text(exc)}") from None
        except av.error.EOFError:
            self._close_file()
            raise DecodeError(f"truncated: the {kind.format} file ends inside its header") from None
        except av.error.FFmpegError as exc:
            self._close_file()
            raise DecodeError(f"cannot open: {_av_text(exc)}") from None
        except OSError as exc:
            self._close_file()
            raise DecodeError(f"cannot open: {exc.strerror or exc}") from None
        try:
            self._open_stream(path, kind)
        except BaseException:
            self.close()
            raise

    def _open_stream(self, path: str, kind: Kind) -> None:
        container = self._container
        audio = container.streams.audio
        if not audio:
            held = sorted({s.type for s in container.streams}) or ["nothing"]
            raise DecodeError(f"no audio stream in the container (it holds: {', '.join(held)})")
        stream = audio[0]
        tag = (stream.codec_context.codec_tag if stream.codec_context is not None else "") or ""
        if tag.strip("\0 ").lower() in _DRM_TAGS:  # the sample entry, not the name: .m4p is only a habit
            raise DecodeError("DRM-protected (encrypted iTunes/FairPlay audio): cannot be decoded")
        if stream.codec_context is None:
            entry = mp4_sample_entry(path) if kind.format == "mp4" else None
            raise DecodeError(f"unsupported codec: {entry or 'unknown'} (FFmpeg has no decoder for it)")
        self._stream = stream
        self._codec = stream.codec_context.name
        self._packets = container.demux(stream)
        self._bad = 0
        self._first_bad_s: float | None = None
        self._at = 0  # frames decoded so far
        self._frames: list[np.ndarray] = []  # decoded, not yet read (at most one packet's worth)
        self._done = False
        self.samplerate = self.channels = 0
        first = self._next_frame()
        if first is None:
            raise self._empty(kind)
        self.samplerate, self.channels = first.sample_rate, first.layout.nb_channels
        self._pending: tuple[av.AudioFrame, int] | None = (first, 0)
        self.native_dtype = _AV_NATIVE.get(first.format.name.rstrip("p"), "float32")
        self._kind = kind
        self._path = path
        self._declared = _declared_frames(container, stream, self.samplerate)
        self._out = 0  # frames handed out
        self._skip, self._limit = 0, None
        gapless = itunes_gapless({**container.metadata, **stream.metadata})
        if gapless is not None:
            priming, original = gapless
            self._limit = original
            # FFmpeg trims the priming itself when an edit list says so; else the stream is longer
            if self._declared is not None and self._declared >= priming + original:
                self._skip = priming
            self._declared = original

    def _empty(self, kind: Kind) -> DecodeError:
        if self._first_bad_s is not None:
            return DecodeError(f"decode error at second 0.0: no packet of the {self._codec} stream decodes")
        return DecodeError(f"truncated: the {kind.format} file holds no audio that decodes")

    def _next_frame(self) -> av.AudioFrame | None:
        """The next decoded frame of the stream, skipping (and counting) packets the decoder rejects."""
        while True:
            if self._frames:
                return self._frames.pop(0)
            if self._done:
                return None
            try:
                packet = next(self._packets)
            except StopIteration:
                self._done = True
                continue
            except av.error.FFmpegError as exc:
                # the demuxer could not read on (data cut off, or corrupt framing)
                self._done = True
                self._reject(exc)
                continue
            try:
                self._frames = list(packet.decode())
            except av.error.FFmpegError as exc:
                self._reject(exc)

    def _reject(self, exc: Exception) -> None:
        seconds = self._at / self.samplerate if self.samplerate else 0.0
        self._bad += 1
        if self._first_bad_s is None:
            self._first_bad_s = seconds
        if self._bad > MAX_BAD_PACKETS:
            raise DecodeError(
                f"decode error at second {self._first_bad_s:.1f}: {self._bad} packets of the "
                f"{self._codec} stream fail to decode ({_av_text(exc)})"
            )

    def read(self, n: int, dtype: str = "float32") -> np.ndarray:
        out = np.empty((n, self.channels), dtype=dtype)
        filled = 0
        while filled < n and self._pending is not None:
            frame, used = self._pending
            if used == 0:
                self._check_format(frame)
                self._pending = (frame, 0)
            samples = _samples(frame, self.channels, dtype)
            if self._skip:  # iTunes priming FFmpeg did not trim
                skipped = min(self._skip, len(samples) - used)
                self._skip -= skipped
                used += skipped
            take = min(n - filled, len(samples) - used)
            if self._limit is not None:
                take = min(take, self._limit - self._out)
            out[filled : filled + take] = samples[used : used + take]
            filled += take
            used += take
            self._out += take
            if self._limit is not None and self._out >= self._limit:
                self._pending = None  # the rest is the encoder's padding
            elif used < len(samples):
                self._pending = (frame, used)
            else:
                self._at += len(samples)
                nxt = self._next_frame()
                self._pending = None if nxt is None else (nxt, 0)
        return out[:filled]

    def _check_format(self, frame: av.AudioFrame) -> None:
        rate, channels = frame.sample_rate, frame.layout.nb_channels
        if (rate, channels) != (self.samplerate, self.channels):
            raise DecodeError(
                f"the stream changes format at second {self._at / self.samplerate:.1f}: "
                f"{self.samplerate} Hz {self.channels} ch -> {rate} Hz {channels} ch; "
                "a track must keep one rate and channel layout"
            )

    def warnings(self, decoded: int) -> list[str]:
        notes = []
        short = shortfall(decoded, self._declared, self.samplerate)
        short = short or ogg_warning(self._kind, self._path, decoded, self.samplerate)
        if short:
            notes.append(short)
        if self._bad:
            first = self._first_bad_s or 0.0
            notes.append(f"{self._bad} undecodable packets skipped, the first at second {first:.1f}")
        return notes

    def close(self) -> None:
        container = getattr(self, "_container", None)
        if container is not None:
            container.close()
        self._close_file()

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _not_utf8(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # surrogate escapes: bytes that are not UTF-8
        return True
    return False


def itunes_gapless(metadata: dict[str, str]) -> tuple[int, int] | None:
    """``(priming, original frames)`` from an iTunes ``iTunSMPB`` tag, if the file has a valid one.

    Apple's AAC encoder writes this freeform ``----:com.apple.iTunes:iTunSMPB``
    atom (FFmpeg exposes it as metadata): space-separated hex words, the 2nd the
    encoder delay (priming, usually 2112), the 3rd the end padding, the 4th the
    original length in samples (Apple, "iTunes Gapless Playback", TN2258 appendix).
    """
    raw = next((v for k, v in metadata.items() if k.lower() == "itunsmpb"), None)
    if not raw:
        return None
    try:
        words = [int(w, 16) for w in raw.split()]
    except ValueError:
        return None
    if len(words) < 4 or words[3] <= 0:
        return None
    return words[1], words[3]


def _declared_frames(container: av.container.InputContainer, stream: av.AudioStream, rate: int) -> int | None:
    """Frames the container declares for the stream (MP4 moov, FLAC STREAMINFO, Xing/Info, ASF header)."""
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        return round(float(stream.duration * stream.time_base) * rate)
    if container.duration is not None and container.duration > 0:
        return round(container.duration / av.time_base * rate)
    return None


#: FFmpeg sample formats sent as they are (s32: 24-bit codecs put their samples in the top bytes).
_AV_NATIVE = {"s16": "int16", "s32": "int32"}
_NUMPY = {"flt": np.float32, "dbl": np.float64, "s16": np.int16, "s32": np.int32, "u8": np.uint8}


def _samples(frame: av.AudioFrame, channels: int, dtype: str) -> np.ndarray:
    """``(samples, channels)`` of a decoded frame in ``dtype`` (float32 ±1 or int16).

    Reads the frame's planes in place (``np.frombuffer``) rather than through
    ``to_ndarray``, which costs as much CPU again as decoding an MP3 frame.
    """
    fmt, n = frame.format, frame.samples
    base = fmt.name.rstrip("p")
    kind = _NUMPY[base]
    if fmt.is_planar:
        a = np.empty((n, channels), dtype=kind)
        for c, plane in enumerate(frame.planes[:channels]):
            a[:, c] = np.frombuffer(plane, dtype=kind, count=n)  # planes may be padded past n
    else:
        a = np.frombuffer(frame.planes[0], dtype=kind, count=n * channels).reshape(n, channels)
    if (dtype, base) in (("int16", "s16"), ("int32", "s32")):
        return a  # the decoder's own samples
    if dtype == "int32" and base == "s16":
        return a.astype(np.int32) << 16  # exact: the same float32 once scaled by 2^-31
    if base in _INT_SCALE:
        x = (a.astype(np.float32) - (128 if base == "u8" else 0)) * np.float32(_INT_SCALE[base])
    else:
        x = a.astype(np.float32, copy=False)
    if dtype == "int16":
        return np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int16)
    if dtype == "int32":  # a stream that changed sample format: rounded, as int16 is
        return np.clip(np.round(x.astype(np.float64) * 2147483648.0), -(2**31), 2**31 - 1).astype(np.int32)
    return x


def _av_text(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).strip() or type(exc).__name__
