"""Wall time this process spent in each DSP stage, for the benchmark's per-stage table.

A handful of ``perf_counter`` calls per chunk: negligible next to the stages.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from time import perf_counter

SECONDS: Counter[str] = Counter()


@contextmanager
def stage(name: str) -> Iterator[None]:
    t0 = perf_counter()
    try:
        yield
    finally:
        SECONDS[name] += perf_counter() - t0
