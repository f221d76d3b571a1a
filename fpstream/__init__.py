"""fpstream: whole-track acoustic fingerprints for music libraries, streamed.

``from fpstream import Library`` is the Python API (``fpstream.api``).
"""

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Lazy, so that `fpstream feed` and the processes do not load numpy just to start.
    if name == "Library":
        from fpstream.api import Library

        return Library
    raise AttributeError(f"module 'fpstream' has no attribute {name!r}")
