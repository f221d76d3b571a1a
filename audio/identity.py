"""A file's content identity: what stays the same when a file is moved, renamed or re-tagged.

``content_id(path)`` is ``"<container>:<payload bytes>:<SHA-256 of the payload, cut to 128 bits>"``
where the payload is the file's audio data with its tag blocks left out, so
editing a title (or adding cover art) does not change it, while any change
to the audio does:

========  ============================================================
FLAC      everything after the metadata blocks (``fLaC`` + blocks up to
          the one flagged last): the audio frames
MP3       the file without an ID3v2 tag at the start (and its footer),
          an ID3v1 ``TAG`` and an APEv2 tag at the end
MP4/M4A   the contents of the ``mdat`` boxes (tags live in ``moov/udta``)
Ogg       the packet data of the pages after the header packets (Vorbis 3,
          Opus 2, FLAC-in-Ogg: its count): a longer comment packet
          renumbers pages and changes their CRCs, not their audio packets
WAV/AIFF  the contents of the ``data``/``SSND`` chunk
others    the whole file (WMA, WavPack, APE...): a tag edit there is a
          change of content, and the file is analysed again
========  ============================================================

Cost: one sequential read of the file, mapped (SHA-256 runs at ~430 MB/s on
this machine even when loaded, with the CPU's SHA instructions; BLAKE2b at ~150):
measured in docs/cue-and-moves.md. Ingest computes it only for a path it
would otherwise analyse (new, or changed size/mtime), which it is about to
read anyway to decode it; an unchanged file is never hashed.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import struct
from collections.abc import Iterator

__all__ = ["content_id"]



def content_id(path: str) -> str:
    """The content identity of the file at ``path``; raises OSError if it cannot be read."""
    with open(os.fsencode(path), "rb") as f:
        head = f.read(64)
        size = os.fstat(f.fileno()).st_size
        kind, ranges = _payload(f, head, size)
        h = hashlib.sha256()
        total = 0
        if size:
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm, memoryview(mm) as view:
                for offset, length in ranges:
                    part = view[max(0, offset) : max(0, offset + length)]
                    h.update(part)
                    total += len(part)
                    part.release()
    return f"{kind}:{total}:{h.hexdigest()[:32]}"


Ranges = Iterator[tuple[int, int]]  # (offset, length) of payload bytes, in file order


def _payload(f, head: bytes, size: int) -> tuple[str, Ranges]:  # noqa: ANN001
    if head.startswith(b"fLaC"):
        return "flac", iter([(_flac_audio_offset(f), size)])
    if head.startswith(b"OggS"):
        return "ogg", _ogg_audio(f, size)
    if head[4:8] == b"ftyp":
        return "mp4", _mp4_mdat(f, size)
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav", _chunk_data(f, size, 12, b"data", "<I")
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff", _chunk_data(f, size, 12, b"SSND", ">I")
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3", iter([_mp3_span(f, head, size)])
    return "file", iter([(0, size)])


def _flac_audio_offset(f) -> int:  # noqa: ANN001
    pos = 4
    while True:
        f.seek(pos)
        block = f.read(4)
        if len(block) < 4:
            return pos
        length = int.from_bytes(block[1:4], "big")
        pos += 4 + length
        if block[0] & 0x80:  # the last metadata block
            return pos


def _mp3_span(f, head: bytes, size: int) -> tuple[int, int]:  # noqa: ANN001
    start = 0
    while True:  # one or more ID3v2 tags (some taggers stack them)
        f.seek(start)
        h = f.read(10)
        if len(h) < 10 or not h.startswith(b"ID3"):
            break
        syncsafe = (h[6] << 21) | (h[7] << 14) | (h[8] << 7) | h[9]
        start += 10 + syncsafe + (10 if h[5] & 0x10 else 0)  # a footer adds 10 bytes
    end = size
    if end - start >= 128:
        f.seek(end - 128)
        if f.read(3) == b"TAG":
            end -= 128
    if end - start >= 32:
        f.seek(end - 32)
        footer = f.read(32)
        if footer.startswith(b"APETAGEX"):
            tag_size = struct.unpack("<I", footer[12:16])[0]  # items + footer
            has_header = struct.unpack("<I", footer[20:24])[0] & 0x80000000
            end -= tag_size + (32 if has_header else 0)
    return start, max(0, end - start)


def _mp4_mdat(f, size: int) -> Ranges:  # noqa: ANN001
    pos = 0
    while pos + 8 <= size:
        f.seek(pos)
        box = f.read(16)
        length, name = struct.unpack(">I4s", box[:8])
        header = 8
        if length == 1:
            length, header = struct.unpack(">Q", box[8:16])[0], 16
        elif length == 0:
            length = size - pos
        if length < header:
            return  # damaged: what was hashed so far is the identity
        if name == b"mdat":
            yield pos + header, length - header
        pos += length


def _chunk_data(f, size: int, pos: int, wanted: bytes, fmt: str) -> Ranges:  # noqa: ANN001
    while pos + 8 <= size:
        f.seek(pos)
        h = f.read(8)
        length = struct.unpack(fmt, h[4:8])[0]
        if h[:4] == wanted:
            yield pos + 8, length
            return
        pos += 8 + length + (length & 1)  # chunks are padded to an even length


def _ogg_header_packets(first_packet: bytes) -> int:
    if first_packet.startswith(b"OpusHead"):
        return 2
    if first_packet.startswith(b"\x7fFLAC") and len(first_packet) >= 9:
        return 1 + int.from_bytes(first_packet[7:9], "big")  # the mapping header + its metadata packets
    return 3  # Vorbis (and Speex-like codecs: id, comment, setup)


def _ogg_audio(f, size: int) -> Ranges:  # noqa: ANN001
    """The byte ranges of the packets after the header packets, page by page (the file is
    mapped, not read page by page: a page is ~4 KiB, so a read per page would cost more than
    hashing)."""
    if size == 0:
        return
    with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        pos, packets_done, headers, first = 0, 0, None, b""
        while pos + 27 <= size:
            if mm[pos : pos + 4] != b"OggS":
                return
            n_segments = mm[pos + 26]
            lacing = mm[pos + 27 : pos + 27 + n_segments]
            offset = pos + 27 + n_segments
            if headers is not None and packets_done >= headers:
                # every packet of this page is audio: the page body is one range
                body = sum(lacing)
                yield offset, body
                packets_done += sum(1 for v in lacing if v < 255)
                pos = offset + body
                continue
            run_start, run = offset, 0
            for value in lacing:
                if headers is not None and packets_done >= headers:
                    if run == 0:
                        run_start = offset
                    run += value
                elif headers is None:
                    first += mm[offset : offset + value]
                offset += value
                if value < 255:  # a packet ends in this segment
                    packets_done += 1
                    if headers is None:
                        headers = _ogg_header_packets(first)
            if run:
                yield run_start, run
            pos = offset
