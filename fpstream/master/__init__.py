"""``fpstream master``: loudness and tonal mastering decided by the fingerprint.

Modules, in the order a file meets them: ``fingerprint`` (the 25 values from the
library or computed), ``rules`` (preset, intensity and EQ amounts from the 25
values, with reasons), ``eq``, ``compressor``, ``limiter`` (with ``truepeak``
detection), ``meter`` (loudness, true peak, loudness range of a stream),
``writer`` (quantise, dither, atomic file) and ``chain`` (the two-pass render),
and ``command`` (the CLI).
"""
