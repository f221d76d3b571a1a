"""Walking a folder given as a path: every file below it, in a stable order, as found.

Entries are sorted by name (bytes, as the file system stores them) in each
folder, files and folders together, so two runs over the same tree see the
same order and a folder's tracks come in their file-name order (``01 ...``,
``02 ...``). The walk is lazy: the first file is handed over before the rest
of the tree is read, so progress starts at once on a large library.

Symbolic links are followed (a library may be assembled from links), so a link
to a folder above it would loop: a folder that is one of its own ancestors
(same device and inode) is skipped and reported. A folder that cannot be read is
reported and skipped. Neither stops the walk: each is one :class:`Skipped` item
among the paths, for the caller to print.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Skipped:
    """A folder the walk did not enter, and why (one line for the user)."""

    path: str
    why: str

    def __str__(self) -> str:
        return f"skipped folder {self.path}: {self.why}"


def walk(root: str) -> Iterator[str | Skipped]:
    """Every file below the folder ``root`` (paths joined onto ``root`` as given), depth first,
    sorted per folder; a :class:`Skipped` for each folder left out."""
    try:
        st = os.stat(root)
    except OSError as exc:
        yield Skipped(root, f"cannot read it: {exc.strerror}")
        return
    yield from _walk(os.fsencode(root), {(st.st_dev, st.st_ino): root})


def _walk(folder: bytes, entered: dict[tuple[int, int], str]) -> Iterator[str | Skipped]:
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        yield Skipped(os.fsdecode(folder), f"cannot read it: {exc.strerror}")
        return
    for entry in entries:
        try:
            is_dir = entry.is_dir()  # follows symbolic links
        except OSError:
            is_dir = False
        if not is_dir:
            yield os.fsdecode(entry.path)
            continue
        try:
            st = entry.stat()
        except OSError as exc:
            yield Skipped(os.fsdecode(entry.path), f"cannot read it: {exc.strerror}")
            continue
        key = (st.st_dev, st.st_ino)
        if key in entered:
            yield Skipped(
                os.fsdecode(entry.path), f"symbolic link loop (it is {entered[key]}, already walked)"
            )
            continue
        entered[key] = os.fsdecode(entry.path)
        yield from _walk(entry.path, entered)
        del entered[key]  # only the folders above this one make a loop; a second link elsewhere is fine
