"""The command line answers at once: building the parser imports no DSP, numpy, scipy or numba,
and no asyncio (each command imports its heavy parts when it runs)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("numpy", "scipy", "numba", "aiosqlite", "asyncio", "dsp", "zmq")


def test_building_the_parser_imports_nothing_heavy() -> None:
    code = (
        "import json, sys\n"
        "from fpstream.cli import build_parser\n"
        "build_parser().format_help()\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert json.loads(out.stdout) == []


def test_every_subcommand_help_builds_without_heavy_imports() -> None:
    code = (
        "import contextlib, io, json, sys\n"
        "from fpstream.cli import build_parser\n"
        "parser = build_parser()\n"
        "names = list(parser._subparsers._group_actions[0].choices)\n"
        "for name in names:\n"
        "    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "        parser.parse_args([name, '--help'])\n"
        f"print(json.dumps([names, [m for m in {HEAVY!r} if m in sys.modules]]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    names, heavy = json.loads(out.stdout)
    assert len(names) >= 11 and heavy == []
