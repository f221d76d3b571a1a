"""Distances with a meaning, in a module of their own so that building the command line
imports no numpy."""

from __future__ import annotations

#: Default ``--max-distance`` of ``duplicates`` (and the playlists' "a copy already listed"):
#: how it was chosen is in the docstring of ``fpstream.duplicates``.
DEFAULT_MAX_DISTANCE = 0.12
