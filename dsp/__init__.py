"""The DSP library: every analysis kernel, one module per family, and the merge
of per-chunk partials into the 25 values (docs/fingerprint.md).

Used by the analyzer process (one partial per chunk), the sink (the merge), and
the user layer (``fpstream analyze``, ``fpstream master``). It imports only
``base``. Kernels are numba functions with ``cache=True``; :func:`dsp.chunk.warm_up`
compiles them all."""
