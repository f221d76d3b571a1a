"""Analyzer: turns chunks of PCM into mergeable partials (numba DSP)."""
