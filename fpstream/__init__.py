"""fpstream: whole-track acoustic fingerprints for music libraries, streamed."""

__version__ = "0.1.0"
