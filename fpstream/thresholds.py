"""Distances with a meaning, in a module of their own so that building the command line
imports no numpy."""

from __future__ import annotations

#: The playlists' and the mixer's "a copy already listed" (the 25-number distance):
#: how it was chosen is in the docstring of ``fpstream.duplicates``.
DEFAULT_MAX_DISTANCE = 0.12

#: Default ``--max-ber`` of ``duplicates``: the largest bit error rate between the aligned Chromaprints
#: of two copies of one recording (why 0.15: the docstring of ``fpstream.recordings``).
MAX_BER = 0.15
