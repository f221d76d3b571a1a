"""Fixtures shared by the stack tests (the harness itself is tests/stack_harness.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.stack_harness import Stack


@pytest.fixture(autouse=True, scope="session")
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The query commands cache the library's vectors in $XDG_CACHE_HOME (store.cache): tests keep
    theirs in a folder of the run, never the user's."""
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
    yield
    mp.undo()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A running stack (broker, sink, two analyzers) shared by one module's tests.

    Starting analyzers costs seconds, so the module's tests share it; each uses its own files.
    """
    with Stack(tmp_path_factory.mktemp("stack")) as s:
        yield s.start(analyzers=2)
