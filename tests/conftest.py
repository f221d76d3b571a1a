"""Fixtures shared by the stack tests (the harness itself is tests/stack_harness.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stack_harness import Stack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """A not-yet-started stack with a private ipc dir and database in ``tmp_path``."""
    with Stack(tmp_path) as s:
        yield s
