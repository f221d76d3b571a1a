"""One table of settings (base.config.SETTINGS): docs/settings.md and every process's --help agree with it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from base.config import SETTINGS, settings_table

ROOT = Path(__file__).resolve().parent.parent


def test_docs_settings_table_is_the_table_in_base_config() -> None:
    text = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    assert settings_table() in text, "docs/settings.md is out of date: make it from base.config.SETTINGS"
    documented = {line.split("`")[1] for line in text.splitlines() if line.startswith("| `")}
    assert documented == {s.name for s in SETTINGS}


@pytest.mark.parametrize(
    ("module", "role"),
    [
        ("broker", "broker"),
        ("sink", "sink"),
        ("analyzer", "analyzer"),
        ("ingest", "ingest"),
        ("ingest.run", "make run"),
    ],
)
def test_every_process_help_names_each_setting_it_reads(module: str, role: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    flat = " ".join(out.split())
    wanted = [s.name for s in SETTINGS if s.applies_to(role)]
    assert wanted and all(name in flat for name in wanted)
    assert "docs/settings.md" in flat


def test_every_setting_the_code_reads_is_in_the_table() -> None:
    """An FPSTREAM_* name in the code that the table does not list is a setting nobody can look up."""
    import re

    names = set()
    for package in ("base", "audio", "dsp", "store", "broker", "ingest", "analyzer", "sink", "fpstream"):
        for path in (ROOT / package).rglob("*.py"):
            names.update(re.findall(r"\"(FPSTREAM_[A-Z_]+)\"", path.read_text(encoding="utf-8")))
    missing = names - {s.name for s in SETTINGS}
    assert not missing, f"settings read by the code but not in base.config.SETTINGS: {sorted(missing)}"
