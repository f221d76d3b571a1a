"""``fpstream report`` opened in a real headless Chromium (Debian's ``chromium``): the page's
scripts run, and the DOM they leave is checked."""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest

from base.fields import FAMILIES, FEATURES, FIELD
from fpstream.api import Library
from tests.cli_support import create_db, done_row, failed_row, random_library, run_cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def dump_dom(url: str) -> tuple[str, list[str]]:
    """The DOM after the page's scripts ran, and every console message Chromium logged."""
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: apt-get install chromium (.ci/run installs it)")
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=10000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, [line for line in done.stderr.splitlines() if ":CONSOLE" in line]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("report")
    rows = random_library(300)
    rows += [
        failed_row("/music/broken.flac"),
        failed_row("/music/empty.wav", error="empty file (0 bytes)"),
        dict(rows[5], path="/music/copy of track0005.ogg"),
    ]
    db = create_db(folder / "lib.db", rows)
    page = folder / "library.html"
    done = run_cli("report", "--db", str(db), "--output", str(page), "--track", "/music/track0005.flac")
    assert done.returncode == 0, done.stderr
    return db, page


def test_the_page_is_self_contained(report) -> None:
    _, page = report
    text = page.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "<link" not in text and "import(" not in text and "fetch(" not in text


def test_report_renders_summary_distributions_map_and_track_panel(report) -> None:
    db, page = report
    dom, console = dump_dom(page.as_uri())
    assert console == []
    assert 'data-ready="1"' in dom and "data-errors" not in dom
    # At a glance: counts and the failures with their errors.
    assert "301" in dom and "tracks analysed" in dom and "empty file (0 bytes)" in dom
    # 25 distributions in 7 families, each with 40 bars and its median marked.
    figures = re.findall(r'<figure class="dist" data-name="([a-z_]+)">(.*?)</figure>', dom, re.S)
    assert [name for name, _ in figures] == list(FEATURES)
    for _, body in figures:
        assert body.count('class="bar"') == 40 and body.count('class="median"') == 1
    assert re.findall(r'<div class="dists" data-family="([^"]+)"', dom) == [html.escape(f) for f in FAMILIES]
    # The map was drawn with every analysed track.
    assert re.search(r'<canvas id="map"[^>]*data-points="301"', dom)
    # --track opened that track's panel: percentiles and the same neighbours as `fpstream similar`.
    assert 'data-track="/music/track0005.flac"' in dom
    assert len(re.findall(r'<tr data-name="', dom)) == 25
    shown = re.findall(r'<li class="neighbour"><span class="d">([0-9.]+)</span>([^<]+)</li>', dom)
    expected = Library(db).similar("/music/track0005.flac", 10)
    assert [p for _, p in shown] == [t.path for t, _ in expected]
    assert [float(d) for d, _ in shown] == pytest.approx([d for _, d in expected], abs=6e-4)
    assert shown[0][1] == "/music/copy of track0005.ogg" and float(shown[0][0]) == 0.0


def test_a_track_named_in_the_address_opens_its_panel(report) -> None:
    db, page = report
    dom, console = dump_dom(page.as_uri() + "#track=" + quote("/music/track0042.flac"))
    assert console == []
    assert 'data-track="/music/track0042.flac"' in dom
    percentiles = dict(re.findall(r'<tr data-name="([a-z_]+)">.*?<td class="num">p(\d+)</td></tr>', dom))
    exact = Library(db).percentiles("/music/track0042.flac")
    assert {k: int(v) for k, v in percentiles.items()} == pytest.approx(
        {k: round(v) for k, v in exact.items()}, abs=1
    )


def test_report_of_an_empty_library_and_bad_arguments(tmp_path) -> None:
    db = create_db(tmp_path / "empty.db", [failed_row("/music/broken.flac")])
    page = tmp_path / "r.html"
    assert run_cli("report", "--db", str(db), "-o", str(page)).returncode == 0
    dom, console = dump_dom(page.as_uri())
    assert console == [] and 'data-ready="1"' in dom and "No analysed tracks yet" in dom
    bad = run_cli("report", "--db", str(db), "--track", "/music/nope.flac", "-o", str(page))
    assert bad.returncode == 1 and "is not in the library" in bad.stderr
    assert json.loads(json.dumps(Library(db).tracks()[0].to_dict()))["status"] == "failed"


def middle_share(mass: list[int], share: float = 0.90) -> float:
    """The fraction of the canvas (0-1) that holds the middle ``share`` of the drawn point pixels."""
    cumulative = np.cumsum(mass) / np.sum(mass)
    lo = int(np.searchsorted(cumulative, (1 - share) / 2))
    hi = int(np.searchsorted(cumulative, 1 - (1 - share) / 2))
    return (hi - lo + 1) / len(mass)


def test_the_map_survives_a_silent_track(tmp_path) -> None:
    """One silent track (-70 LUFS, silence everywhere) used to take a whole principal component and
    squash the other 300 into one vertical line; now it is an outlier at the edge, listed."""
    rows = random_library(300)
    rows.append(done_row("/music/silent.wav", [FIELD[name].silence for name in FEATURES], duration_s=10.0))
    db = create_db(tmp_path / "lib.db", rows)
    page = tmp_path / "library.html"
    done = run_cli("report", "--db", str(db), "--output", str(page))
    assert done.returncode == 0, done.stderr
    dom, console = dump_dom(page.as_uri() + "?probe=1")
    assert console == [] and 'data-ready="1"' in dom
    canvas = re.search(r'<canvas id="map"[^>]*>', dom).group(0)
    cols = [int(v) for v in re.search(r'data-colmass="([0-9,]+)"', canvas).group(1).split(",")]
    rows_mass = [int(v) for v in re.search(r'data-rowmass="([0-9,]+)"', canvas).group(1).split(",")]
    assert sum(cols) > 300 * 4  # the 300 ordinary tracks were drawn (at least 2x2 px each)
    wide, tall = middle_share(cols), middle_share(rows_mass)
    assert wide >= 0.5 and tall >= 0.5, (wide, tall)
    # The silent track is listed as an outlier, with the value that put it there.
    listed = re.findall(r'<li class="outlier" data-path="([^"]+)">(.*?)</li>', dom, re.S)
    # first: the farthest; a few tracks of the synthetic library's long tails (gamma, beta) qualify too
    assert listed[0][0] == "/music/silent.wav" and len(listed) <= 6, listed
    assert "lufs -70.00 LUFS (library p5–p95: " in html.unescape(listed[0][1]), listed[0][1]
    # Its position is on the edge of the map (clamped), the others inside.
    from fpstream.report import report_data

    data = report_data(Library(db))
    xy = np.frombuffer(base64.b64decode(data["xy"]), dtype="<u2").reshape(-1, 2)
    silent = Library(db).features.index_of("/music/silent.wav")
    assert {0, 65535} & set(xy[silent].tolist())
    assert data["outlier_count"] == len(listed) and data["outliers"][0]["row"] == silent
