"""The reference part of docs/cli.md: every command's ``--help``, as the command prints it.

``python -m tests.cli_reference`` rewrites that part; ``tests/test_docs_cli.py`` fails when it is
out of date. The help is made in a fixed environment (home folder, terminal width), so the text
does not depend on who runs it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "cli.md"
BEGIN = "<!-- reference: made by `python -m tests.cli_reference`; do not edit by hand -->"
END = "<!-- end of reference -->"
ENV_KEEP = ("PATH", "PYTHONPATH", "LANG", "VIRTUAL_ENV")


def help_text(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k in ENV_KEEP}
    env.update({"HOME": "/home/you", "COLUMNS": "100", "PYTHONDONTWRITEBYTECODE": "1"})
    out = subprocess.run(
        [sys.executable, "-m", "fpstream.cli", *args, "--help"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    return out.stdout.rstrip() + "\n"


def commands() -> list[str]:
    from fpstream.cli import build_parser

    parser = build_parser()
    return list(parser._subparsers._group_actions[0].choices)  # type: ignore[union-attr]


def reference() -> str:
    parts = [BEGIN, "", "## Reference: every command's `--help`", ""]
    parts += ["### fpstream", "", "```text", help_text().rstrip(), "```", ""]
    for name in commands():
        parts += [f"### fpstream {name}", "", "```text", help_text(name).rstrip(), "```", ""]
    parts.append(END)
    return "\n".join(parts) + "\n"


def current(text: str) -> str | None:
    if BEGIN not in text or END not in text:
        return None
    return text[text.index(BEGIN) : text.index(END) + len(END)] + "\n"


def main() -> None:
    text = DOC.read_text(encoding="utf-8")
    now = current(text)
    new = reference()
    text = text.replace(now, new) if now is not None else text.rstrip() + "\n\n" + new
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote the reference of {len(commands())} commands into {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
