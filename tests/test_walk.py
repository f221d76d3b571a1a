"""Walking a folder (ingest/walk.py): stable order, links followed, loops and unreadable folders
reported and skipped; and ``PathReader`` walks a folder given on stdin or as an argument."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.paths import PathReader
from ingest.walk import Skipped, walk
from tests.cli_support import ROOT


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "Music"
    for rel in ("A/10 ten.flac", "A/2 two.flac", "A/B/x.ogg", "A/b/y.ogg", "C/z.mp3"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"")
    (root / "A" / "b" / "up").symlink_to(root)  # a loop: the walk's own ancestor
    (root / "C" / "link").symlink_to(root / "A" / "B")  # not a loop: a second way into A/B
    locked = root / "D locked"
    locked.mkdir()
    (locked / "hidden.flac").write_bytes(b"")
    locked.chmod(0)
    try:
        yield root
    finally:
        locked.chmod(0o755)


# root reads a folder of mode 000 anyway: without the capabilities that let it (util-linux setpriv)
AS_USER = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search"]


def walk_as_user(root: Path) -> list:
    """``walk(root)`` in a process that file permissions apply to."""
    code = (
        "import json, sys; from ingest.walk import walk; "
        "print(json.dumps([x if isinstance(x, str) else ['skipped', x.path, x.why] "
        "for x in walk(sys.argv[1])]))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    prefix = AS_USER if os.geteuid() == 0 else []
    done = subprocess.run(
        [*prefix, sys.executable, "-c", code, str(root)], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_walk_is_sorted_follows_links_and_reports_loops_and_unreadable_folders(tree: Path) -> None:
    got = walk_as_user(tree)
    files = [x for x in got if isinstance(x, str)]
    skipped = [x for x in got if not isinstance(x, str)]
    r = str(tree)
    assert files == [
        f"{r}/A/10 ten.flac",  # sorted by name, byte order: "1" < "2" < "B" < "b"
        f"{r}/A/2 two.flac",
        f"{r}/A/B/x.ogg",
        f"{r}/A/b/y.ogg",
        f"{r}/C/link/x.ogg",  # a link to a folder elsewhere is walked
        f"{r}/C/z.mp3",
    ]
    assert skipped == [
        ["skipped", f"{r}/A/b/up", f"symbolic link loop (it is {r}, already walked)"],
        ["skipped", f"{r}/D locked", "cannot read it: Permission denied"],
    ]
    assert str(Skipped(f"{r}/D locked", "cannot read it: Permission denied")) == (
        f"skipped folder {r}/D locked: cannot read it: Permission denied"
    )


def test_the_reader_walks_folders_from_arguments_and_stdin_alike(tree: Path, tmp_path: Path) -> None:
    def read(reader: PathReader) -> list[str]:
        reader.start()
        out: list[str] = []
        while not reader.eof:
            out += reader.take(100)
        return out

    listing = tmp_path / "paths.txt"
    listing.write_text(f"{tree / 'C'}\n{tree / 'A' / '2 two.flac'}\n")
    from_file = read(PathReader(str(listing), nul=False))
    from_args = read(PathReader(None, nul=False, arguments=[str(tree / "C"), str(tree / "A" / "2 two.flac")]))
    assert from_file == from_args == [f"{tree}/C/link/x.ogg", f"{tree}/C/z.mp3", f"{tree}/A/2 two.flac"]
    whole = PathReader(None, nul=False, arguments=[str(tree)])
    assert len(read(whole)) == len([x for x in walk(str(tree)) if isinstance(x, str)])
    assert [s.path for s in whole.skipped][0] == f"{tree}/A/b/up"
