"""Imports run one way: base <- processes <- fpstream (README, "Layers")."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = {"broker", "ingest", "analyzer", "sink"}
# What each package may import from the project (besides itself).
ALLOWED: dict[str, set[str]] = {
    "base": set(),
    "broker": {"base"},
    "ingest": {"base"},
    "analyzer": {"base"},
    "sink": {"base", "analyzer"},  # the sink merges partials with the analyzer's DSP
    "fpstream": {"base", *PROCESSES},
}


def project_imports(path: Path) -> set[str]:
    """Top-level project packages imported anywhere in ``path`` (function-level imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found.update(name.split(".")[0] for name in names if name.split(".")[0] in ALLOWED)
    return found


def test_every_package_imports_only_the_layers_below_it() -> None:
    wrong = []
    for package, allowed in ALLOWED.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            for imported in project_imports(path) - allowed - {package}:
                wrong.append(f"{path.relative_to(ROOT)} imports {imported}")
    assert not wrong, "imports running up the layers:\n" + "\n".join(wrong)
