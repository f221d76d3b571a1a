"""Files that ``fpstream master`` wrote: recognised by the mark it leaves in their metadata.

The mark is libsndfile's ``software`` string (WAV ``LIST/INFO ISFT``, FLAC Vorbis
comment ``software``) and ``comment`` string (``ICMT`` / ``comment``), written
before the first sample, so both sit in the first few hundred bytes of the file:
``software = "fpstream master <version>"``, ``comment = "fpstream master <version>
from <source path>"``. Ingest checks for it with one 64 KiB read of WAV and FLAC
files only (the only formats ``master`` writes), so that a mastered copy is not
fed into the library beside its original unless asked (``--include-derived``).
"""

from __future__ import annotations

import os

import soundfile as sf

#: What every mark starts with (bytes as stored: UTF-8).
MARK = "fpstream master"
#: How far into the file the mark is looked for: libsndfile writes the strings before the audio.
HEAD_BYTES = 65_536
#: Signatures of the formats ``master`` writes: RIFF/RF64 WAVE, FLAC.
_MAGICS = (b"RIFF", b"RF64", b"fLaC")


def mark_text(version: str, source: str | None = None) -> str:
    """The mark for a file written by fpstream ``version`` (``from <source>`` when known)."""
    return f"{MARK} {version}" + ("" if source is None else f" from {source}")


def is_derived(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` carries the mark of ``fpstream master`` (False if unreadable: decoding says why)."""
    try:
        with open(path, "rb") as f:
            head = f.read(HEAD_BYTES)
    except OSError:
        return False
    return head[:4] in _MAGICS and MARK.encode() + b" " in head


def derived_source(path: str | os.PathLike[str]) -> str | None:
    """The source path named in ``path``'s mark, or None if it has no mark naming one."""
    if not is_derived(path):
        return None
    try:
        with sf.SoundFile(os.fsencode(path)) as f:
            strings = f.copy_metadata()
    except (sf.LibsndfileError, RuntimeError, OSError):
        return None
    for text in (strings.get("comment", ""), strings.get("software", "")):
        if text.startswith(MARK + " ") and " from " in text:
            return text.split(" from ", 1)[1].split(" (libsndfile-", 1)[0]
    return None
