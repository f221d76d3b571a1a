"""Time this process spent in each DSP stage, for the benchmark's per-stage table.

Two counters per stage, summed over every thread that ran it:

- ``SECONDS``: wall time (``perf_counter``). Stages on different threads overlap
  (``fpstream analyze`` decodes on one thread while others analyse), and a
  stage's wall time includes waiting for the GIL, so these do not add up to
  the run's wall time.
- ``CPU_SECONDS``: CPU time of the calling thread (``thread_time``), which
  counts only the work the stage itself did. Their shares are what to compare.

A handful of clock reads per chunk: negligible next to the stages.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from threading import Lock
from time import perf_counter, thread_time

SECONDS: Counter[str] = Counter()
CPU_SECONDS: Counter[str] = Counter()
_LOCK = Lock()  # `+=` on a Counter is read-then-write: threads would lose updates


def clear() -> None:
    """Reset both counters."""
    with _LOCK:
        SECONDS.clear()
        CPU_SECONDS.clear()


@contextmanager
def stage(name: str) -> Iterator[None]:
    t0, c0 = perf_counter(), thread_time()
    try:
        yield
    finally:
        wall, cpu = perf_counter() - t0, thread_time() - c0
        with _LOCK:
            SECONDS[name] += wall
            CPU_SECONDS[name] += cpu
