"""docs/cli.md is checked against the command itself: its reference part is every command's
``--help`` as printed now (``python -m tests.cli_reference`` remakes it), every command has a
section of prose, and the weights table is the feature table's."""

from __future__ import annotations

import re

from base.fields import weights_table
from tests.cli_reference import DOC, commands, current, reference

TEXT = DOC.read_text(encoding="utf-8")


def test_reference_is_the_help_of_every_command() -> None:
    assert current(TEXT) == reference(), "docs/cli.md is out of date: run python -m tests.cli_reference"


def test_every_command_has_a_section_of_prose() -> None:
    prose = TEXT[: TEXT.index("<!-- reference")]
    headed = {w for h in re.findall(r"^#{2,3} (.*)$", prose, flags=re.M) for w in re.findall(r"[a-z]+", h)}
    missing = sorted(set(commands()) - headed)
    assert not missing, f"docs/cli.md has no section for: {missing}"


def test_weights_table_is_the_feature_tables() -> None:
    assert weights_table() in TEXT
