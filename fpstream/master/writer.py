"""The output file: integer PCM (24-bit, or 16-bit with TPDF dither), written atomically.

Samples go to a hidden temporary file in the output directory; only
:meth:`AtomicPcmWriter.commit` renames it to the final name (``os.replace``, atomic
on one file system), so a failed or interrupted run leaves no partial output and
never a half-written file under the final name. Dither is triangular (TPDF, two
uniform variables of ±½ LSB: Lipshitz, Wannamaker & Vanderkooy, "Quantization and
dither: a theoretical survey", JAES 40(5), 1992) from a fixed seed, so the same
input gives the same bytes on every run.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

FORMATS = {"wav": "WAV", "flac": "FLAC"}
SUBTYPES = {24: "PCM_24", 16: "PCM_16"}
DITHER_SEED = 0x5EED


class AtomicPcmWriter:
    """Write ``(n, ch)`` float blocks in [-1, 1) to ``final`` as integer PCM, atomically."""

    def __init__(
        self,
        final: Path,
        sample_rate: int,
        channels: int,
        fmt: str = "wav",
        bits: int = 24,
        marks: tuple[str, str] | None = None,
    ) -> None:
        """``marks``: the ``software`` and ``comment`` strings (``audio.derived``), written before
        the first sample so that they sit at the start of the file."""
        self.final = final
        self.marks = marks
        self.bits = bits
        self.scale = float(2 ** (bits - 1))
        self.spec = {
            "samplerate": sample_rate,
            "channels": channels,
            "format": FORMATS[fmt],
            "subtype": SUBTYPES[bits],
        }
        fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".part")
        os.close(fd)
        self.tmp = Path(tmp)
        self.restart()

    def restart(self) -> None:
        """Start the temporary file (and the dither sequence) again from the beginning."""
        if getattr(self, "file", None) is not None and not self.file.closed:
            self.file.close()
        self.rng = np.random.default_rng(DITHER_SEED)
        try:
            self.file = sf.SoundFile(str(self.tmp), "w", **self.spec)
            if self.marks is not None:
                self.file.software, self.file.comment = self.marks
        except BaseException:
            self.tmp.unlink(missing_ok=True)
            raise

    def quantize(self, block: np.ndarray) -> np.ndarray:
        """Integer sample values (at ``bits``) of a float block, dithered at 16 bits."""
        scaled = block * self.scale
        if self.bits == 16:
            scaled = scaled + (self.rng.random(block.shape) - self.rng.random(block.shape))
        return np.clip(np.round(scaled), -self.scale, self.scale - 1.0)

    def write(self, block: np.ndarray) -> np.ndarray:
        """Write a block; returns the float values actually stored (for the output meter)."""
        q = self.quantize(block)
        if self.bits == 16:
            self.file.write(q.astype(np.int16))
        else:
            self.file.write(q.astype(np.int32) << 8)  # libsndfile keeps the top 24 bits of int32
        return q / self.scale

    def commit(self) -> Path:
        self.file.close()
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.tmp, 0o666 & ~umask)  # mkstemp's 0600 would make the output private
        os.replace(self.tmp, self.final)
        return self.final

    def discard(self) -> None:
        """Remove the temporary file (nothing to do after :meth:`commit`)."""
        if not self.file.closed:
            self.file.close()
        self.tmp.unlink(missing_ok=True)
