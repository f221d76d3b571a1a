"""The wire protocol: every message that crosses a ZeroMQ socket, in one place.

Every process imports this module instead of spelling message fields itself.

Messages are multipart. The first frame is always a msgpack map with at least
``v`` (protocol version) and ``kind``. PCM never travels inside msgpack: a
chunk is ``[header, pcm]`` where ``pcm`` is the raw little-endian interleaved
samples, sent and received without copies, in the header's ``dtype``: float32
(full scale ±1), or int16 / int32 where the decoder's samples are integers
(16-bit, and 24-bit in the top bytes of an int32: exact, and half or the same
bytes of float32); the analyzer scales them to float32 itself.

Flows (docs/design.md has the picture and the channels):

- ``chunk``   ingest -> broker -> analyzer: ``[header, pcm]``
- ``partial`` analyzer -> broker -> sink: ``[header]`` (header carries the partial)
- ``failed``  ingest or analyzer -> broker -> sink: ``[header]``
- ``ack``     sink -> broker -> ingest (PUB/SUB): ``[topic, header]``, where the
  topic is the ingest id so each ingest only hears about its own tracks.
- ``receipt`` sink -> broker -> ingest, on the same channel as acks: the ``seq``
  numbers of the chunks whose partial (or failure) the sink has received, and
  the sink's instance id (a restarted sink has lost what it held).

Version 2 added ``seq``: ingest numbers every chunk it sends (re-sends get a new
number), analyzers copy it into their partial or failure, and the sink returns
it in a receipt. A chunk is known lost when chunks sent after it have been
received and it has not (see ``ingest/tracker.py``).

Version 3 added (a process of version 2 and one of version 3 refuse each other's
messages by their ``v``, loudly, instead of half-understanding them):

- the integer PCM dtypes ``<i2`` and ``<i4`` beside float32's ``<f4``, named in
  the chunk header: integer sources travel exactly, as integers, and the
  analyzer converts them once;
- ``ref.meta``: what the sink stores with the row besides the fingerprint, one
  map of :data:`META_FIELDS` (the content identity, and for a track of a CUE
  sheet its span and text); it travels in every chunk, partial and failure.
  Optional: absent is empty.
- ``update`` ingest -> broker -> sink: ``[header]``: the row ``old_path`` now
  belongs to ``ref`` (a moved/renamed file, or the same path whose tags alone
  changed): the sink renames it and sets size, mtime and meta, and acks
  ``ref`` as done; no audio is sent (docs/cue-and-moves.md).
- ``sweep`` ingest -> broker -> sink: ``[header]``: rows whose file is gone
  (``missing``: set ``missing_since``) or back (``found``: clear it), acked
  like a track.

Version 4 added the track's tags (``audio/tags.py``; title, artist, album...): an optional
``tags`` map on the last chunk, which the analyzer copies into the last partial, and a new
kind, ``tags`` (ingest -> broker -> sink, ``[header]``): the tags of a file already
analysed and unchanged whose row has none yet (a row from before tags were read); the sink
writes them into the row, analyses nothing, and acknowledges it like a track.

Version 4 also added ``chromaprint`` to the last chunk of a track: the track's raw Chromaprint
(``audio/chromaprint.py``), computed by ingest from the contiguous decode. The analyzer copies
it into that chunk's partial body and the sink stores it with the row. Every other chunk carries
``b""``; a re-sent last chunk carries the same bytes again (ingest keeps them on its track
record).

A malformed message raises :class:`ProtocolError` with a specific reason; the
receiving process logs it and drops the message, it never crashes on it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import msgpack
import numpy as np

from base.fields import INTEGER_TAGS, TAG_COLUMNS

VERSION = 4

KIND_CHUNK = "chunk"
KIND_PARTIAL = "partial"
KIND_FAILED = "failed"
KIND_ACK = "ack"
KIND_RECEIPT = "receipt"
KIND_TAGS = "tags"
KIND_UPDATE = "update"
KIND_SWEEP = "sweep"
MAX_SWEEP_PATHS = 2_000  # paths per sweep message
KINDS = (KIND_CHUNK, KIND_PARTIAL, KIND_FAILED, KIND_ACK, KIND_RECEIPT, KIND_UPDATE, KIND_SWEEP, KIND_TAGS)
NO_SEQ = -1  # a failure that no chunk caused (ingest could not decode the file)
MAX_RECEIPT_SEQS = 10_000  # seq numbers per receipt message
MAX_TAG_CHARS = 4000  # characters of one tag value on the wire (audio/tags.py keeps 1000)

PCM_DTYPE = np.dtype("<f4")  # a decoder's float samples (lossy codecs), full scale ±1
#: Every dtype a chunk's PCM may have: float32, or a decoder's own integer samples (exact).
PCM_DTYPES = frozenset({"<f4", "<i2", "<i4"})
#: Full scale of the integer dtypes: sample x unit = float32 ±1 (as libsndfile and FFmpeg scale).
PCM_INT_UNIT = {"<i2": 2.0**-15, "<i4": 2.0**-31}

# How ingest cuts tracks. The pre-roll is the context an analyzer needs before a
# chunk: STFT window + HPSS median span + resampler taps (< 0.9 s) and K-weighting
# filter settling (< 0.05 s); dsp/grid.py plans within it.
DEFAULT_CHUNK_S = 10.0
PREROLL_S = 1.5

# Limits that keep a hostile or corrupt message from costing memory.
MAX_HEADER_BYTES = 64 * 1024 * 1024  # partials of a 10-minute chunk are ~1 MB; generous
MAX_CHANNELS = 64
MAX_SAMPLE_RATE = 768_000
MAX_CHUNK_FRAMES = 1 << 26  # 64 Mi frames: far beyond any sane chunk
MAX_CHROMAPRINT_BYTES = 64 * 1024  # a raw Chromaprint of 120 s is ~3.9 kB
# A ZeroMQ socket refuses any single message larger than this (ZMQ_MAXMSGSIZE).
MAX_MESSAGE_BYTES = MAX_CHUNK_FRAMES * 4 * 8

# (msgpack.unpackb takes no max_buffer_size: _unpack checks the header length itself)
_UNPACK_LIMITS = {
    "max_bin_len": MAX_HEADER_BYTES,
    "max_str_len": 1 << 20,
    "max_array_len": 1 << 20,
    "max_map_len": 1 << 16,
    "max_ext_len": 0,
}


class ProtocolError(ValueError):
    """A message that does not follow this protocol."""


@dataclass(frozen=True)
class TrackRef:
    """Identifies one attempt at one track, and the file it came from.

    ``ingest`` + ``track`` is unique per run; ``attempt`` counts re-sends, and
    the sink accepts chunk ``i`` from any attempt because chunking is
    deterministic (the same file cut the same way gives the same partials).
    """

    ingest: str
    track: int
    attempt: int
    path: str
    size: int
    mtime_ns: int
    meta: dict[str, Any] = field(default_factory=dict, compare=False)  # META_FIELDS, stored with the row


#: What ``TrackRef.meta`` may hold (the row's columns of the same names), and their types.
#: ``cue_*``: a track of a CUE sheet: its number, span ``[cue_start, cue_end)`` in frames of the
#: image (``cue_end`` None: to the end), text from the sheet, and the image (the file decoded).
META_FIELDS: dict[str, tuple[type, ...]] = {
    "content_id": (str,),
    "cue_track": (int,),
    "cue_start": (int,),
    "cue_end": (int, type(None)),
    "cue_title": (str, type(None)),
    "cue_performer": (str, type(None)),
}


@dataclass(frozen=True)
class Update:
    """The row stored under ``old_path`` is ``ref``'s now: same audio, new path or new tags."""

    ref: TrackRef
    old_path: str
    seq: int = NO_SEQ


@dataclass(frozen=True)
class Sweep:
    """Rows whose file is gone (``missing``, since ``since``) or there again (``found``)."""

    ref: TrackRef  # numbers the message like a track, so that it is acked and re-sent
    missing: list[str]
    found: list[str]
    since: str  # ISO 8601, UTC
    seq: int = NO_SEQ


@dataclass(frozen=True)
class ChunkHeader:
    """One chunk of a track's decoded PCM.

    ``start`` is the index (in frames at ``sample_rate``) of the first sample
    the chunk *owns*; the PCM frame holds ``preroll`` frames of context before
    it and ``frames`` owned frames, ``(preroll + frames) x channels`` float32.
    ``seq`` numbers this send of the chunk within its ingest (set when it is sent).
    """

    ref: TrackRef
    index: int
    last: bool
    sample_rate: int
    channels: int
    start: int
    frames: int
    preroll: int
    dtype: str = PCM_DTYPE.str
    seq: int = NO_SEQ
    # Last chunk only: what decoding noticed about the whole track (e.g. "truncated: ..."),
    # stored in the row's ``warning`` column; "" = nothing. Optional on the wire.
    warning: str = ""
    # Last chunk only (version 4): the track's raw Chromaprint, little-endian uint32
    # sub-fingerprints, stored in the row's ``chromaprint`` column; b"" on other chunks and for
    # a track too short to fingerprint. Optional on the wire.
    chromaprint: bytes = field(default=b"", repr=False)
    # Last chunk only: the source path in the mark of a file fpstream master wrote, when it is fed
    # on purpose (``--include-derived``), stored in ``derived_from``; "" = not derived. Optional.
    derived_from: str = ""
    # Last chunk only: the file's tags ({column: value}, base.fields.TAG_COLUMNS); optional on the wire.
    tags: dict[str, str | int] = field(default_factory=dict)

    @property
    def total_frames(self) -> int:
        return self.preroll + self.frames


@dataclass(frozen=True)
class Partial:
    """What an analyzer computed from one chunk (``body`` is analyzer-defined msgpack)."""

    ref: TrackRef
    index: int
    last: bool
    sample_rate: int
    channels: int
    body: dict[str, Any] = field(repr=False)
    seq: int = NO_SEQ  # the chunk's, copied by the analyzer
    tags: dict[str, str | int] = field(default_factory=dict)  # the last chunk's, copied by the analyzer


@dataclass(frozen=True)
class Failed:
    """A track that could not be analysed, and why (becomes a ``failed`` row)."""

    ref: TrackRef
    error: str
    seq: int = NO_SEQ  # the chunk that failed, if a chunk did


@dataclass(frozen=True)
class TagsUpdate:
    """The tags of a file whose row is done and current but has none yet: written, not analysed."""

    ref: TrackRef
    tags: dict[str, str | int]


@dataclass(frozen=True)
class Receipt:
    """The sink has received the results of these chunk sends (``seq`` numbers of ``ingest``)."""

    ingest: str
    sink: str  # the sink's instance id, new at every start
    seqs: list[int]


@dataclass(frozen=True)
class Ack:
    """The sink committed this track's row (``status`` is ``done`` or ``failed``)."""

    ingest: str
    track: int
    path: str
    status: str


# ---------------------------------------------------------------- encoding


def _pack(kind: str, payload: dict[str, Any]) -> bytes:
    return msgpack.packb({"v": VERSION, "kind": kind, **payload}, use_bin_type=True)


def encode_chunk(header: ChunkHeader, pcm: np.ndarray) -> list[Any]:
    """Frames for a chunk: the msgpack header and the PCM buffer itself (not copied)."""
    if pcm.dtype.str != header.dtype or header.dtype not in PCM_DTYPES or not pcm.flags.c_contiguous:
        raise ValueError(f"pcm must be C-contiguous {header.dtype} (one of {sorted(PCM_DTYPES)}), "
                         f"not {pcm.dtype.str}")
    if pcm.shape != (header.total_frames, header.channels):
        raise ValueError(f"pcm shape {pcm.shape} != ({header.total_frames}, {header.channels})")
    payload = asdict(header)
    return [_pack(KIND_CHUNK, payload), memoryview(pcm).cast("B")]


def encode_partial(partial: Partial) -> list[bytes]:
    return [_pack(KIND_PARTIAL, asdict(partial))]


def encode_failed(failed: Failed) -> list[bytes]:
    return [_pack(KIND_FAILED, asdict(failed))]


def encode_update(update: Update) -> list[bytes]:
    return [_pack(KIND_UPDATE, asdict(update))]


def encode_sweep(sweep: Sweep) -> list[bytes]:
    return [_pack(KIND_SWEEP, asdict(sweep))]


def encode_tags(update: TagsUpdate) -> list[bytes]:
    return [_pack(KIND_TAGS, asdict(update))]


def encode_ack(ack: Ack) -> list[bytes]:
    return [ack.ingest.encode(), _pack(KIND_ACK, asdict(ack))]


def encode_receipt(receipt: Receipt) -> list[bytes]:
    return [receipt.ingest.encode(), _pack(KIND_RECEIPT, asdict(receipt))]


def preroll_frames(sample_rate: int, preroll_s: float = PREROLL_S) -> int:
    """Samples of pre-roll ingest sends before each chunk (after the first)."""
    return max(0, round(preroll_s * sample_rate))


def encode_status(snapshot: dict[str, Any]) -> bytes:
    """The broker's answer on the status channel: its counters as one versioned map
    (the fields are documented in :mod:`base.status`)."""
    return msgpack.packb({"v": VERSION, **snapshot}, use_bin_type=True)


def pack_array(a: np.ndarray) -> dict[str, Any]:
    """A numpy array as msgpack-able ``{dtype, shape, data}`` (raw bytes, not a list)."""
    a = np.ascontiguousarray(a)
    return {"dtype": a.dtype.str, "shape": list(a.shape), "data": a.tobytes()}


def unpack_array(d: Any) -> np.ndarray:
    """Inverse of :func:`pack_array`; validates size against dtype and shape."""
    try:
        dtype = np.dtype(d["dtype"])
        shape = tuple(int(s) for s in d["shape"])
        data = d["data"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(f"bad packed array: {exc}") from None
    if dtype.kind not in "biuf" or any(s < 0 for s in shape):
        raise ProtocolError(f"bad packed array dtype/shape: {dtype}, {shape}")
    if not isinstance(data, bytes) or len(data) != int(np.prod(shape)) * dtype.itemsize:
        raise ProtocolError("packed array data length disagrees with its shape")
    return np.frombuffer(data, dtype=dtype).reshape(shape)


# ---------------------------------------------------------------- decoding


def _unpack(frame: Any) -> dict[str, Any]:
    raw = frame.bytes if hasattr(frame, "bytes") else bytes(frame)
    if len(raw) > MAX_HEADER_BYTES:
        raise ProtocolError(f"header of {len(raw)} bytes exceeds {MAX_HEADER_BYTES}")
    try:
        msg = msgpack.unpackb(raw, raw=False, strict_map_key=True, **_UNPACK_LIMITS)
    except Exception as exc:  # noqa: BLE001 - msgpack raises several unrelated types
        raise ProtocolError(f"header is not valid msgpack: {type(exc).__name__}: {exc}") from None
    if not isinstance(msg, dict):
        raise ProtocolError(f"header is a {type(msg).__name__}, not a map")
    if msg.get("v") != VERSION:
        raise ProtocolError(f"unsupported protocol version {msg.get('v')!r} (this is {VERSION})")
    return msg


def _get(msg: dict[str, Any], key: str, typ: type | tuple[type, ...]) -> Any:
    if key not in msg:
        raise ProtocolError(f"missing field {key!r}")
    value = msg[key]
    # bool is an int subclass: do not accept True where a count is expected
    if not isinstance(value, typ) or (isinstance(value, bool) and bool not in _as_tuple(typ)):
        raise ProtocolError(f"field {key!r} has type {type(value).__name__}")
    return value


def _as_tuple(typ: type | tuple[type, ...]) -> tuple[type, ...]:
    return typ if isinstance(typ, tuple) else (typ,)


def _track_ref(msg: dict[str, Any]) -> TrackRef:
    ref = _get(msg, "ref", dict)
    out = TrackRef(
        ingest=_get(ref, "ingest", str),
        track=_get(ref, "track", int),
        attempt=_get(ref, "attempt", int),
        path=_get(ref, "path", str),
        size=_get(ref, "size", int),
        mtime_ns=_get(ref, "mtime_ns", int),
    )
    if not out.ingest or len(out.ingest) > 256:
        raise ProtocolError("bad ingest id")
    if "meta" in ref:
        meta = _get(ref, "meta", dict)
        for key, value in meta.items():
            types = META_FIELDS.get(key)
            if types is None:
                raise ProtocolError(f"unknown meta field {key!r}")
            if not isinstance(value, types) or isinstance(value, bool):
                raise ProtocolError(f"meta field {key!r} has type {type(value).__name__}")
        out = TrackRef(out.ingest, out.track, out.attempt, out.path, out.size, out.mtime_ns, dict(meta))
    return out


def _audio_format(msg: dict[str, Any]) -> tuple[int, int]:
    sr = _get(msg, "sample_rate", int)
    ch = _get(msg, "channels", int)
    if not 1 <= sr <= MAX_SAMPLE_RATE:
        raise ProtocolError(f"sample_rate {sr} out of range")
    if not 1 <= ch <= MAX_CHANNELS:
        raise ProtocolError(f"channels {ch} out of range")
    return sr, ch


def message_kind(frames: list[Any]) -> tuple[str, dict[str, Any]]:
    """Parse the header frame of any message; returns ``(kind, header map)``."""
    if not frames:
        raise ProtocolError("empty message")
    msg = _unpack(frames[0])
    kind = msg.get("kind")
    if kind not in KINDS:
        raise ProtocolError(f"unknown message kind {kind!r}")
    return kind, msg


def decode_chunk(frames: list[Any]) -> tuple[ChunkHeader, np.ndarray]:
    """Header and a read-only ``(frames, channels)`` view of the PCM frame in ``header.dtype`` (no copy)."""
    kind, msg = message_kind(frames)
    if kind != KIND_CHUNK:
        raise ProtocolError(f"expected a chunk, got {kind!r}")
    if len(frames) != 2:
        raise ProtocolError(f"chunk has {len(frames)} frames, expected 2")
    sr, ch = _audio_format(msg)
    header = ChunkHeader(
        ref=_track_ref(msg),
        index=_get(msg, "index", int),
        last=_get(msg, "last", bool),
        sample_rate=sr,
        channels=ch,
        start=_get(msg, "start", int),
        frames=_get(msg, "frames", int),
        preroll=_get(msg, "preroll", int),
        dtype=_get(msg, "dtype", str),
        seq=_get(msg, "seq", int),
        warning=_get(msg, "warning", str) if "warning" in msg else "",
        chromaprint=_get(msg, "chromaprint", bytes) if "chromaprint" in msg else b"",
        derived_from=_get(msg, "derived_from", str) if "derived_from" in msg else "",
        tags=_tags(msg),
    )
    if header.dtype not in PCM_DTYPES:
        raise ProtocolError(f"unsupported dtype {header.dtype!r} (expected one of {sorted(PCM_DTYPES)})")
    if header.index < 0 or header.start < 0 or header.preroll < 0 or header.frames < 0:
        raise ProtocolError("negative index/start/preroll/frames")
    if header.preroll > header.start:
        raise ProtocolError("preroll reaches before the start of the track")
    if header.chromaprint and not header.last:
        raise ProtocolError("only a track's last chunk carries its chromaprint")
    if len(header.chromaprint) % 4 or len(header.chromaprint) > MAX_CHROMAPRINT_BYTES:
        raise ProtocolError(
            f"chromaprint of {len(header.chromaprint)} bytes: not whole uint32 items within "
            f"{MAX_CHROMAPRINT_BYTES}"
        )
    if header.total_frames > MAX_CHUNK_FRAMES:
        raise ProtocolError(f"chunk declares {header.total_frames} frames (limit {MAX_CHUNK_FRAMES})")
    buf = frames[1].buffer if hasattr(frames[1], "buffer") else memoryview(frames[1])
    dtype = np.dtype(header.dtype)
    expected = header.total_frames * header.channels * dtype.itemsize
    if buf.nbytes != expected:
        raise ProtocolError(f"PCM frame has {buf.nbytes} bytes, header implies {expected}")
    pcm = np.frombuffer(buf, dtype=dtype).reshape(header.total_frames, header.channels)
    return header, pcm


def decode_partial(msg: dict[str, Any]) -> Partial:
    sr, ch = _audio_format(msg)
    index = _get(msg, "index", int)
    if index < 0:
        raise ProtocolError("negative chunk index")
    return Partial(
        ref=_track_ref(msg),
        index=index,
        last=_get(msg, "last", bool),
        sample_rate=sr,
        channels=ch,
        body=_get(msg, "body", dict),
        seq=_get(msg, "seq", int),
        tags=_tags(msg),
    )


def decode_failed(msg: dict[str, Any]) -> Failed:
    return Failed(ref=_track_ref(msg), error=_get(msg, "error", str), seq=_get(msg, "seq", int))


def _tags(msg: dict[str, Any]) -> dict[str, str | int]:
    """The optional ``tags`` map: known columns only, text or positive integers as each column is."""
    if "tags" not in msg:
        return {}
    tags = _get(msg, "tags", dict)
    for key, value in tags.items():
        if key not in TAG_COLUMNS:
            raise ProtocolError(f"unknown tag {key!r}")
        if key in INTEGER_TAGS:
            if type(value) is not int or not 0 < value < 1 << 31:
                raise ProtocolError(f"tag {key!r} must be a positive integer")
        elif not isinstance(value, str) or len(value) > MAX_TAG_CHARS:
            raise ProtocolError(f"tag {key!r} must be text of at most {MAX_TAG_CHARS} characters")
    return tags


def decode_tags(msg: dict[str, Any]) -> TagsUpdate:
    return TagsUpdate(ref=_track_ref(msg), tags=_tags(msg))


def _path_list(msg: dict[str, Any], key: str) -> list[str]:
    paths = _get(msg, key, list)
    if len(paths) > MAX_SWEEP_PATHS or not all(isinstance(p, str) for p in paths):
        raise ProtocolError(f"{key} must be at most {MAX_SWEEP_PATHS} paths")
    return paths


def decode_result(frames: list[Any]) -> Partial | Failed | Update | Sweep | TagsUpdate:
    """What goes towards the sink: one frame, a partial or a failed track (analyzer or ingest),
    an update or sweep of stored rows, or a tags-only update (ingest)."""
    kind, msg = message_kind(frames)
    if len(frames) != 1:
        raise ProtocolError(f"{kind} message has {len(frames)} frames, expected 1")
    if kind == KIND_PARTIAL:
        return decode_partial(msg)
    if kind == KIND_FAILED:
        return decode_failed(msg)
    if kind == KIND_UPDATE:
        return Update(ref=_track_ref(msg), old_path=_get(msg, "old_path", str), seq=_get(msg, "seq", int))
    if kind == KIND_SWEEP:
        return Sweep(
            ref=_track_ref(msg),
            missing=_path_list(msg, "missing"),
            found=_path_list(msg, "found"),
            since=_get(msg, "since", str),
            seq=_get(msg, "seq", int),
        )
    if kind == KIND_TAGS:
        return decode_tags(msg)
    raise ProtocolError(f"expected a partial, failed, update, sweep or tags message, got {kind!r}")


def decode_status(frame: Any) -> dict[str, Any]:
    """The map :func:`encode_status` made, checked for size and version like every header."""
    return _unpack(frame)


def decode_ack(frames: list[Any]) -> Ack | Receipt:
    """A message of the acknowledgement channel: an ack (track committed) or a receipt."""
    if len(frames) != 2:
        raise ProtocolError(f"ack has {len(frames)} frames, expected 2")
    kind, msg = message_kind(frames[1:])
    if kind == KIND_RECEIPT:
        seqs = _get(msg, "seqs", list)
        if len(seqs) > MAX_RECEIPT_SEQS or not all(type(n) is int for n in seqs):
            raise ProtocolError("receipt seqs must be at most 10000 integers")
        return Receipt(ingest=_get(msg, "ingest", str), sink=_get(msg, "sink", str), seqs=seqs)
    if kind != KIND_ACK:
        raise ProtocolError(f"expected an ack or a receipt, got {kind!r}")
    return Ack(
        ingest=_get(msg, "ingest", str),
        track=_get(msg, "track", int),
        path=_get(msg, "path", str),
        status=_get(msg, "status", str),
    )
