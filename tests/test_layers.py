"""Imports run one way: base <- libraries (audio, dsp, store) <- processes <- fpstream.

The rules are written down in docs/design.md, "Layers"."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = {"broker", "ingest", "analyzer", "sink"}
LIBRARIES = {"audio", "dsp", "store"}
# What each package may import from the project (besides itself). Each library stands alone on
# base; a process uses the libraries it needs; the user layer uses every library and no process.
ALLOWED: dict[str, set[str]] = {
    "base": set(),
    "audio": {"base"},
    "dsp": {"base"},
    "store": {"base"},
    "broker": {"base"},
    "ingest": {"base", "audio", "store"},
    "analyzer": {"base", "dsp"},
    "sink": {"base", "dsp", "store"},  # the sink merges partials (dsp) and writes rows (store)
    "fpstream": {"base", *LIBRARIES},
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


def test_only_store_speaks_sql() -> None:
    """Every query and write of the library goes through ``store/`` (DESIGN: one module speaks SQL)."""
    sql_calls = {"execute", "executemany", "executescript"}
    wrong = []
    for package in ALLOWED:
        if package == "store":
            continue
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in sql_calls
                ):
                    wrong.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not wrong, "SQL outside store/:\n" + "\n".join(wrong)
