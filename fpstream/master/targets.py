"""The names ``fpstream master`` offers, in a module of their own so that building the command
line imports none of the DSP (numpy, scipy) behind them."""

from __future__ import annotations

#: Delivery targets: integrated loudness (LUFS) and true-peak ceiling (dBTP).
TARGETS: dict[str, tuple[float, float]] = {
    "streaming": (-14.0, -1.0),
    "apple": (-16.0, -1.0),
    "broadcast": (-23.0, -1.0),  # EBU R128
}

#: The presets ``rules`` knows (``auto`` picks one from the fingerprint).
PRESETS = ("punchy", "warm", "gentle", "none")
