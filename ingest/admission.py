"""What a path becomes: skipped, its tags alone, its tracks (one per unit of a CUE sheet), an
update that keeps a moved file's row, or nothing at all (not audio, derived); and, once every
path is done, the sweep of the rows under the run's folder whose file is gone or back.

The database of the previous runs (``ingest.skip.PreviousRun``) decides by size and mtime;
``ingest.units`` splits a file into units and recognises audio already stored under another key.
"""

from __future__ import annotations

import logging
import os

from audio.decode import DecodeError, file_identity
from audio.derived import derived_source, is_derived
from audio.not_audio import not_audio_kind
from audio.paths import row_file_exists, row_path
from base import protocol
from ingest.progress import Progress
from ingest.settings import Settings
from ingest.skip import ANALYSE, SKIP_DONE, SKIP_FAILED, TAGS_ONLY, PreviousRun
from ingest.tracker import Track, Tracker
from ingest.units import KEEP, Expander, describe, identify, meta_changed
from store.db import now_utc
from store.readonly import rows_under

log = logging.getLogger("ingest")  # one logger for the process, whichever module speaks


class Admission:
    """Turns new paths into tracks of ``tracker``, counting what it skips in ``progress``."""

    def __init__(
        self, settings: Settings, previous: PreviousRun, tracker: Tracker, progress: Progress
    ) -> None:
        self.settings = settings
        self.previous = previous
        self.tracker = tracker
        self.progress = progress
        self.expander = Expander()

    def admit(self, path: str) -> list[Track]:
        """A new (absolute, distinct) path becomes its tracks (one, or one per track of its CUE
        sheet), less those the database says to skip; a unit whose audio is stored under
        another path (moved) or with other tags becomes an update that keeps that row."""
        stored = row_path(path)
        try:
            size, mtime_ns = file_identity(path)
        except DecodeError as exc:
            if self.decide(stored, None, None, str(exc)) == SKIP_FAILED:
                self.progress.skip(failed_before=True, path=stored, error=str(exc))
                return []
            return [self.tracker.new(path, stored, -1, -1, error=str(exc))]
        if not self.expander.folder_has_cue(os.path.dirname(path)):
            # the common case, decided without opening the file: an unchanged file (or cue image
            # whose sheet is embedded: changing it changes the file) is skipped by size and mtime
            decision = self.decide(stored, size, mtime_ns)
            if decision == TAGS_ONLY:  # a row from before tags: its tags alone are sent, no audio
                track = self.tracker.new(path, stored, size, mtime_ns)
                track.tags_only = True
                return [track]
            if decision != ANALYSE:
                self.progress.skip(failed_before=decision == SKIP_FAILED, path=stored)
                return []
            parts = [] if self.settings.force else self.previous.cue_rows(stored)
            if parts and all(self.decide(key, size, mtime_ns) == SKIP_DONE for key in parts):
                self.progress.total += len(parts) - 1
                for key in parts:
                    self.progress.skip(failed_before=False, path=key)
                return []
        kind = not_audio_kind(path)  # only for files to analyse: a re-run does not open skipped ones
        if kind is not None:
            self.progress.ignore(stored, kind, keep_path=self.settings.list_ignored)
            log.debug("%s: not audio (%s): ignored", stored, kind)
            return []
        derived = is_derived(path)  # one 64 KiB read of a WAV or FLAC file, nothing for the others
        if derived and not self.settings.include_derived:
            self.progress.skipped_derived += 1
            return []
        units = self.expander.units(path, stored)
        self.progress.total += len(units) - 1  # a cue sheet's tracks count one by one
        tracks, image_id = [], {}
        conn = None if self.settings.force else self.previous.conn
        for unit in units:
            decision = self.decide(unit.key, size, mtime_ns)
            if decision in (SKIP_DONE, TAGS_ONLY) and meta_changed(unit, conn):
                decision = ANALYSE
            if decision == TAGS_ONLY:  # a row from before tags: its tags alone are sent, no audio
                track = self.tracker.new(path, unit.key, size, mtime_ns, span=unit.span, meta=unit.meta)
                track.tags_only = True
                tracks.append(track)
                continue
            if decision != ANALYSE:
                self.progress.skip(failed_before=decision == SKIP_FAILED, path=unit.key)
                continue
            if identify(unit, path, conn, self.expander, image_id) == KEEP:
                log.debug("%s: same audio as %s, fingerprint kept", describe(unit), unit.keep_from)
            track = self.tracker.new(
                path, unit.key, size, mtime_ns, span=unit.span, meta=unit.meta, keep_from=unit.keep_from
            )
            if derived:
                track.derived_from = derived_source(path) or ""
            tracks.append(track)
        return tracks

    def sweep(self, root: str) -> list[Track]:
        """Once every path is done: the tracks (one per ``protocol.MAX_SWEEP_PATHS`` keys) that tell
        the sink which stored rows under ``root`` have lost their file (``missing_since``), or
        found it again; none if there is nothing to tell or the database cannot say."""
        assert self.previous.conn is not None
        try:
            rows = rows_under(self.previous.conn, root)
        except Exception as exc:  # a locked or damaged database: the sweep waits for the next run
            log.warning("cannot look for missing files in %s: %s", self.previous.db_path, exc)
            return []
        missing, found = [], []
        for key, since in rows:
            there = row_file_exists(key)
            if not there and since is None:
                missing.append(key)
            elif there and since is not None:
                found.append(key)
        if missing:
            log.info("%d stored tracks under %s have lost their file", len(missing), root)
        step = protocol.MAX_SWEEP_PATHS
        now, tracks = now_utc(), []
        for i in range(0, max(len(missing), len(found)), step):
            part = (missing[i : i + step], found[i : i + step], now)
            tracks.append(self.tracker.new("", f"sweep of {root}", -1, -1, sweep=part))
        return tracks

    def decide(self, stored: str, size: int | None, mtime_ns: int | None, error: str | None = None) -> str:
        if self.settings.force:
            return ANALYSE
        decision = self.previous.decide(stored, size, mtime_ns, error)
        assert decision in (ANALYSE, SKIP_DONE, SKIP_FAILED, TAGS_ONLY)
        return decision

