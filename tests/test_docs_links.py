"""Every relative link and anchor in README.md and docs/*.md resolves inside the repository.

A clone must be complete: a link to a file outside the repository (a path that climbs out of the clone)
or to a section that was renamed is a dead end for a reader. Anchors follow
GitHub's rule for heading ids: lower case, punctuation removed, spaces become
hyphens, and a repeated heading gets ``-1``, ``-2``…
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

LINK = re.compile(r"(?<!\!)\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def slug(heading: str) -> str:
    """GitHub's id for a heading: markup dropped, lower case, only letters, digits, - and _ kept."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading: its text
    text = text.strip().lower()
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in ("L", "N"))
    return kept.replace(" ", "-")


def prose(path: Path) -> list[str]:
    """The lines outside fenced code blocks (links in code are examples, not links)."""
    lines, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
            continue
        lines.append("" if fenced else line)
    return lines


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in prose(path):
        m = HEADING.match(line)
        if not m:
            continue
        base = slug(m.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(path: Path) -> list[tuple[int, str]]:
    found = []
    for number, line in enumerate(prose(path), start=1):
        line = re.sub(r"`[^`]*`", "", line)  # inline code
        found += [(number, m.group(1)) for m in LINK.finditer(line)]
    return found


def test_slug_follows_github() -> None:
    assert slug("Frequency bands (1–7)") == "frequency-bands-17"
    assert slug("`fpstream feed` and `status`") == "fpstream-feed-and-status"
    assert slug("Keep a stack up") == "keep-a-stack-up"
    assert slug("Performance of the queries") == "performance-of-the-queries"


def test_the_link_checker_finds_a_dead_link(tmp_path: Path) -> None:
    doc = tmp_path / "a.md"
    doc.write_text("# Title\n\n[there](#title) [not there](#nope) [file](b.md) `[code](x.md)`\n")
    assert [t for _, t in links(doc)] == ["#title", "#nope", "b.md"]
    assert anchors(doc) == {"title"}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(doc: Path) -> None:
    broken = []
    for line, target in links(doc):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: …: not ours to check
            continue
        file_part, _, anchor = target.partition("#")
        dest = (doc.parent / file_part).resolve() if file_part else doc
        if not dest.is_relative_to(ROOT):
            broken.append(f"line {line}: {target} leaves the repository")
        elif not dest.exists():
            broken.append(f"line {line}: {target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"line {line}: {target}: no section #{anchor} in {dest.relative_to(ROOT)}")
    assert not broken, f"{doc.relative_to(ROOT)}:\n" + "\n".join(broken)


def test_the_docs_folder_defines_every_stored_value() -> None:
    from base.fields import FEATURES

    text = (ROOT / "docs" / "fingerprint.md").read_text(encoding="utf-8")
    assert [n for n in FEATURES if f"`{n}`" not in text] == []
