"""What a path becomes in the stack: one unit, or one per track of its CUE sheet, and for each
whether it needs analysing, can keep a stored fingerprint, or is skipped.

A *unit* is what ingest sends and the sink stores as one row: a file, or a
track of a CUE sheet (key ``<image>#<NN>``, a span of the image's frames). For
each unit that a re-run would not skip by size and mtime, the content identity
(``audio/identity.py``) is looked up: a ``done`` row with the same identity
whose file is gone (moved, renamed), or the same path whose tags alone changed,
is *kept*: the sink gives that row to the unit (``protocol.Update``) and nothing
is decoded. See docs/cue-and-moves.md.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from audio.cue import CueError, CueSheet, parse_cue, read_cue, sheet_beside, spans
from audio.identity import content_id
from audio.paths import row_file_exists
from audio.readers import DecodeError, open_reader
from store.db import cue_key
from store.readonly import current_rows_with_content, stored_meta

log = logging.getLogger("ingest")

ANALYSE, KEEP = "analyse", "keep"


@dataclass
class Unit:
    key: str  # the row's path
    span: tuple[int, int | None] | None = None  # frames of the image, for a cue track
    meta: dict[str, Any] = field(default_factory=dict)  # protocol.META_FIELDS
    keep_from: str | None = None  # KEEP: the stored row this unit takes over


def embedded_sheet(path: str) -> CueSheet | None:
    """The CUESHEET tag of a FLAC file (Vorbis comment), parsed; None if it has none.

    Read with mutagen, only for FLAC (the container that carries it in practice).
    CueError if the tag is there but cannot be used."""
    with open(os.fsencode(path), "rb") as f:
        if f.read(4) != b"fLaC":
            return None
    from mutagen.flac import FLAC  # imported once a FLAC is met
    from mutagen.flac import error as FlacError

    try:
        tags = FLAC(path).tags
    except (FlacError, OSError, ValueError) as exc:
        raise CueError(f"cannot read the tags: {exc}") from None
    values = tags.get("CUESHEET") if tags is not None else None
    if not values:
        return None
    return parse_cue(values[0])


class Expander:
    """Turns a path into its units, caching what a folder of many files needs once (its sheets)."""

    def __init__(self) -> None:
        self.taken: set[str] = set()  # stored rows given to a unit in this run (never twice)
        self._sheets: OrderedDict[str, bool] = OrderedDict()  # folder -> has a .cue (bounded)

    def folder_has_cue(self, folder: str) -> bool:
        """Whether ``folder`` holds a ``.cue`` file (listed once per folder, for the last 256)."""
        if folder not in self._sheets:
            try:
                self._sheets[folder] = any(n.lower().endswith(".cue") for n in os.listdir(folder))
            except OSError:
                self._sheets[folder] = False
            while len(self._sheets) > 256:
                self._sheets.popitem(last=False)
        return self._sheets[folder]

    def sheet(self, path: str) -> CueSheet | None:
        """The cue sheet of ``path``: a ``.cue`` beside it naming it, else an embedded one.

        A sheet that is there but unusable is logged as a warning and the file is one unit."""
        try:
            beside = sheet_beside(path) if self.folder_has_cue(os.path.dirname(path)) else None
            if beside is not None:
                return read_cue(beside)
            return embedded_sheet(path)
        except CueError as exc:
            log.warning("%s: its cue sheet is not used, the file is analysed as one track: %s", path, exc)
        except OSError:
            pass  # the file is unreadable: decoding says so, as for any file
        return None

    def units(self, path: str, stored: str) -> list[Unit]:
        """The units of ``path`` (stored as ``stored``), without their skip decision."""
        sheet = self.sheet(path)
        if sheet is None:
            return [Unit(stored)]
        try:
            reader = open_reader(path)
            rate = reader.samplerate
            reader.close()
        except DecodeError:
            return [Unit(stored)]  # the image does not decode: one failed row says why
        out = []
        for s in spans(sheet, rate):
            meta = {
                "cue_track": s.number,
                "cue_start": s.start,
                "cue_end": s.end,
                "cue_title": s.title,
                "cue_performer": s.performer,
            }
            out.append(Unit(cue_key(stored, s.number), (s.start, s.end), meta))
        return out


def identify(unit: Unit, path: str, conn: Any, expander: Expander, image_id: dict[str, str]) -> str:
    """Set the unit's content identity; KEEP (with ``keep_from``) when a stored fingerprint
    of the same audio can be kept, else ANALYSE.

    ``image_id`` caches the identity of ``path`` across the units of one image.
    Kept: the same key whose file changed only outside its audio (tags), or a
    key whose file is gone (moved or renamed)."""
    if path not in image_id:
        try:
            image_id[path] = content_id(path)
        except OSError:
            return ANALYSE  # unreadable: decoding reports it
    cid = image_id[path]
    if unit.span is not None:
        end = "" if unit.span[1] is None else str(unit.span[1])
        cid = f"{cid}@{unit.span[0]}-{end}"  # a track of the image: its span is part of it
    unit.meta["content_id"] = cid
    if conn is None:
        return ANALYSE
    try:
        candidates = current_rows_with_content(conn, cid)
    except sqlite3.Error:  # a database the sink has not migrated yet (no content_id column)
        return ANALYSE
    for candidate in candidates:
        if candidate in expander.taken:
            continue
        if candidate == unit.key or not row_file_exists(candidate):
            expander.taken.add(candidate)
            unit.keep_from = candidate
            return KEEP
    return ANALYSE


def meta_changed(unit: Unit, conn: Any) -> bool:
    """Whether a cue track skipped by size and mtime differs from its row in span or text
    (the sheet was edited, the image was not)."""
    if unit.span is None or conn is None:
        return False
    try:
        stored = stored_meta(conn, unit.key) or {}
    except sqlite3.Error:
        return True  # cannot tell: analyse

    return any(stored.get(k) != v for k, v in unit.meta.items() if k != "content_id")


def describe(unit: Unit) -> str:
    """A unit for the log: its key, and for a cue track its title."""
    title = unit.meta.get("cue_title")
    return f"{unit.key} ({title})" if title else unit.key


__all__ = ["ANALYSE", "KEEP", "Expander", "Unit", "describe", "embedded_sheet", "identify", "meta_changed"]
