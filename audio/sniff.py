"""What a file holds, from its first and last bytes: which reader opens it, and whether it ends.

The reader is chosen from the file's signature, never its name: a ``.mp3`` that
is really FLAC is read as FLAC, and bytes no reader recognises fail with "not
an audio file" before any decoder sees them (libmpg123 and FFmpeg both print
to stderr when handed junk). Signatures: RIFF/WAVE and RF64 (EBU Tech 3306),
FORM/AIFF(-C) (Apple AIFF 1.3), ``fLaC`` (RFC 9639 §8), ``OggS`` (RFC 3533)
with the codec's identification packet (Vorbis I §4.2.2, RFC 7845 §5.1), ISO
BMFF ``ftyp`` (ISO/IEC 14496-12 §4.3), ASF's header GUID (WMA), ``wvpk``
(WavPack), ``MAC `` (Monkey's Audio), MPEG audio frame sync (ISO/IEC 11172-3
§2.4.2.3) after an optional ID3v2 tag, ADTS (ISO/IEC 13818-7), ``caff``,
``.snd``, Matroska/WebM's EBML magic, and the others in ``_MAGIC`` (W64, TTA,
DSD, Musepack, TAK, Shorten, OptimFROG, AMR, AC-3, DTS, VOC).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

HEAD_BYTES = 4096  # enough for an Ogg first page or an ID3v2 tag header plus the frame after it
OGG_TAIL_BYTES = 65_307  # an Ogg page is at most 27 + 255 + 255 * 255 bytes (RFC 3533 §6)

ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")


@dataclass(frozen=True)
class Kind:
    """A recognised file: ``format`` names it in messages; ``codec`` is known for Ogg."""

    format: str
    codec: str = ""


def sniff(path: str) -> Kind | None:
    """The file's format from its first bytes, or ``None`` if it is no audio format we know."""
    with open(os.fsencode(path), "rb") as f:
        head = f.read(HEAD_BYTES)
        if head.startswith(b"ID3") and len(head) >= 10:
            # ID3v2 (id3.org v2.4 §3.1): a syncsafe size, then whatever follows (MP3, sometimes FLAC/AAC)
            size = (head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7 | head[9] & 0x7F
            f.seek(10 + size + (10 if head[5] & 0x10 else 0))
            after = f.read(HEAD_BYTES)
            # MP3 taggers may pad between the tag and the first frame: ID3 alone still says "audio"
            return _signature(after) or Kind("id3")
    return _signature(head)


def _signature(head: bytes) -> Kind | None:
    if len(head) >= 12 and head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return Kind("wav")
    if len(head) >= 12 and head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return Kind("aiff")
    if head.startswith(b"fLaC"):
        return Kind("flac")
    if head.startswith(b"OggS"):
        return Kind("ogg", _ogg_codec(head))
    if len(head) >= 8 and head[4:8] == b"ftyp":
        return Kind("mp4")
    if head.startswith(ASF_GUID):
        return Kind("asf")
    if head.startswith(b"wvpk"):
        return Kind("wavpack")
    if head.startswith(b"MAC "):
        return Kind("ape")
    if head.startswith(b"caff"):
        return Kind("caf")
    if head.startswith(b".snd"):
        return Kind("au")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return Kind("matroska")
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return Kind(name)
    if len(head) >= 4 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return Kind("adts")  # 12-bit sync, layer 00: AAC in ADTS
    if _mpeg_audio_frame(head):
        return Kind("mp3")
    return None


# Further formats FFmpeg reads, by their opening bytes (each format's own specification).
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"riff\x2e\x91\xcf\x11", "w64"),  # Sony Wave64
    (b"TTA1", "tta"),  # True Audio
    (b"DSD ", "dsf"),  # Sony DSD stream file
    (b"FRM8", "dff"),  # Philips DSDIFF
    (b"MPCK", "musepack"),  # Musepack SV8
    (b"MP+", "musepack"),  # Musepack SV7
    (b"tBaK", "tak"),  # Tom's lossless Audio Kompressor
    (b"ajkg", "shorten"),
    (b"OFR ", "optimfrog"),
    (b"#!AMR", "amr"),
    (b"\x0b\x77", "ac3"),  # AC-3 / E-AC-3 sync word (ATSC A/52 §5.4.1)
    (b"\x7f\xfe\x80\x01", "dts"),  # DTS core sync word
    (b"Creative Voice File", "voc"),
)


def _mpeg_audio_frame(head: bytes) -> bool:
    """Two consecutive valid MPEG-1/2/2.5 layer I–III frame headers at offset 0.

    One 11-bit sync alone matches 1 in 2048 random byte pairs; requiring the
    next header where the first one's length says it is makes a false match
    from random bytes very unlikely.
    """
    first = _frame_length(head, 0)
    return first > 0 and _frame_length(head, first) > 0 if first < len(head) - 4 else first > 0


_BITRATES_KBPS = {  # (version is MPEG-1, layer) -> table, ISO/IEC 11172-3 §2.4.2.3 and 13818-3
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_RATES_HZ = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _frame_length(buf: bytes, at: int) -> int:
    """Length in bytes of the MPEG audio frame whose header is at ``at``, or 0 if none is there."""
    if at + 4 > len(buf):
        return 0
    (word,) = struct.unpack_from(">I", buf, at)
    if word >> 21 != 0x7FF:
        return 0
    version, layer_bits = (word >> 19) & 3, (word >> 17) & 3
    bitrate_i, rate_i, padding = (word >> 12) & 15, (word >> 10) & 3, (word >> 9) & 1
    if version == 1 or layer_bits == 0 or bitrate_i in (0, 15) or rate_i == 3:
        return 0
    layer = 4 - layer_bits
    mpeg1 = version == 3
    bitrate = _BITRATES_KBPS[(mpeg1, layer)][bitrate_i] * 1000
    rate = _RATES_HZ[version][rate_i]
    if layer == 1:
        return (12 * bitrate // rate + padding) * 4
    per_frame = 144 if mpeg1 or layer == 2 else 72
    return per_frame * bitrate // rate + padding


def _ogg_codec(head: bytes) -> str:
    """The codec of an Ogg file's first logical stream, from its first packet (RFC 3533 §6)."""
    if len(head) < 27:
        return ""
    segments = head[26]
    body = head[27 + segments : 27 + segments + 16]
    if body.startswith(b"\x01vorbis"):
        return "vorbis"
    if body.startswith(b"OpusHead"):
        return "opus"
    if body.startswith(b"\x7fFLAC"):
        return "flac"
    if body.startswith(b"Speex   "):
        return "speex"
    return ""


def ogg_ends(path: str) -> bool:
    """True if the file's last Ogg page carries the end-of-stream flag (RFC 3533 §6, header_type 0x04).

    An Ogg file cut short (an interrupted copy or download) ends on an ordinary
    page: its decoder stops cleanly, and the length it reports is the length of
    what is left, so this flag is the only sign that the track is incomplete.
    """
    with open(os.fsencode(path), "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - OGG_TAIL_BYTES))
        tail = f.read()
    at = tail.rfind(b"OggS")
    while at >= 0:
        if at + 27 <= len(tail) and tail[at + 4] == 0:  # stream structure version 0: a real page header
            segments = tail[at + 26]
            length = 27 + segments + sum(tail[at + 27 : at + 27 + segments])
            whole = at + 27 + segments <= len(tail) and at + length == len(tail)
            return whole and bool(tail[at + 5] & 0x04)
        at = tail.rfind(b"OggS", 0, at)
    return False


def wav_declared_frames(path: str) -> int | None:
    """Frames a RIFF/WAVE header declares (``data`` chunk size / block align), if it says.

    libsndfile reads a WAV cut short without complaint and reports the frames
    that are present; the header's ``data`` size is what the file should hold.
    RF64 and streamed WAVs (size 0 or 0xFFFFFFFF) declare nothing usable.
    """
    with open(os.fsencode(path), "rb") as f:
        riff = f.read(12)
        if len(riff) < 12 or riff[:4] != b"RIFF" or riff[8:12] != b"WAVE":
            return None
        block_align = 0
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"fmt ":
                fmt = f.read(size + (size & 1))
                if len(fmt) < 14:
                    return None
                block_align = struct.unpack_from("<H", fmt, 12)[0]
                continue
            if cid == b"data":
                if block_align <= 0 or size in (0, 0xFFFFFFFF):
                    return None
                return size // block_align
            f.seek(size + (size & 1), os.SEEK_CUR)


def mp4_sample_entry(path: str) -> str | None:
    """The four-character sample entry of the first track of an ISO BMFF file (``mp4a``, ``alac``, ...).

    FFmpeg does not name a codec it has no decoder for; the sample entry in
    ``moov/trak/mdia/minf/stbl/stsd`` (ISO/IEC 14496-12 §8.5.2) does. Read only
    to word that error: top-level boxes are skipped by their sizes up to ``moov``.
    """
    with open(os.fsencode(path), "rb") as f:
        while True:
            head = f.read(8)
            if len(head) < 8:
                return None
            size, box = struct.unpack(">I4s", head)
            if size == 1:
                size = struct.unpack(">Q", f.read(8))[0] - 8
            if box == b"moov":
                moov = f.read(max(0, size - 8))
                at = moov.find(b"stsd")
                if at < 0 or at + 20 > len(moov):
                    return None
                entry = moov[at + 16 : at + 20]  # after version/flags and entry_count: size, then type
                return entry.decode("latin-1").strip() or None
            if size < 8:
                return None
            f.seek(size - 8, os.SEEK_CUR)
