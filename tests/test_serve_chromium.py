"""The web app of ``fpstream serve`` in headless Chromium (Selenium + Debian's chromium-driver):
search, open a track, play it, build an A→B playlist, download its M3U, no console errors."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from fpstream.similarity import synthetic_library
from tests.cli_support import done_row
from tests.serve_support import real_library, set_tags, start_service

webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium (the test extra)")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMEDRIVER = shutil.which("chromedriver")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def browser(downloads: Path):
    if CHROMEDRIVER is None or CHROMIUM is None:
        pytest.fail("chromium and chromium-driver are needed: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--autoplay-policy=no-user-gesture-required",
        "--window-size=1400,900",
        "--mute-audio",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    return webdriver.Chrome(options=options, service=service)


def test_web_app(tmp_path: Path) -> None:
    n_files = 12
    values = synthetic_library(n_files + 400, seed=5)
    synth = [done_row(f"/music/synth/track{i:04d}.flac", values[n_files + i]) for i in range(400)]
    db, files = real_library(tmp_path, n_files, values, synth)
    for i, p in enumerate(files):
        set_tags(db, p, artist=f"Band {i % 3}", title=f"Song {i}", album=f"Record {i % 2}", genre="Jazz")
    shots = tmp_path / "screenshots"
    shots.mkdir()
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    service = start_service(db, tmp_path, "--music-dir", str(tmp_path / "music"))
    driver = browser(downloads)
    try:
        wait = WebDriverWait(driver, 20)
        driver.get(f"http://127.0.0.1:{service.port}/")
        wait.until(lambda d: "analysed" in d.find_element(By.ID, "health").text)
        assert "412 analysed" in driver.find_element(By.ID, "health").text
        # search by tag
        driver.find_element(By.ID, "q").send_keys("\"band 1\"")
        wait.until(lambda d: d.find_element(By.ID, "count").text == "4 tracks")
        driver.save_screenshot(str(shots / "1-search.png"))
        results = driver.find_elements(By.CSS_SELECTOR, "#results li")
        assert sorted(r.text for r in results) == sorted(f"Band 1 - Song {i}" for i in (1, 4, 7, 10))
        # open a track: its values, percentiles, neighbours; play it
        next(r for r in results if r.text == "Band 1 - Song 1").click()
        wait.until(lambda d: d.find_element(By.ID, "track-title").text == "Band 1 - Song 1")
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#neighbours li")) == 10)
        rows = driver.find_elements(By.CSS_SELECTOR, "#values tbody tr")
        assert len(rows) == 25 and all(
            r.find_elements(By.TAG_NAME, "td")[3].text.startswith("p") for r in rows
        )
        driver.execute_script("document.getElementById('player').play()")
        wait.until(lambda d: d.execute_script("return document.getElementById('player').readyState") >= 2)
        assert driver.execute_script("return document.getElementById('player').error") is None
        driver.find_element(By.ID, "set-a").click()
        driver.save_screenshot(str(shots / "2-track.png"))
        # B: another track, found by path
        q = driver.find_element(By.ID, "q")
        q.clear()
        q.send_keys("\"song 8\"")
        wait.until(lambda d: d.find_element(By.ID, "count").text == "1 track")
        driver.find_element(By.CSS_SELECTOR, "#results li").click()
        wait.until(lambda d: d.find_element(By.ID, "track-title").text == "Band 2 - Song 8")
        driver.find_element(By.ID, "set-b").click()
        n = driver.find_element(By.ID, "pl-n")
        n.clear()
        n.send_keys("6")
        driver.find_element(By.ID, "build").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#playlist li")) >= 2)
        listed = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#playlist li")]
        assert len(listed) <= 6 and "01 track01.wav" in listed[0] and "08 track08.wav" in listed[-1]
        driver.save_screenshot(str(shots / "3-playlist.png"))
        driver.find_element(By.ID, "m3u").click()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not list(downloads.glob("*.m3u")):
            time.sleep(0.2)
        (m3u,) = downloads.glob("*.m3u")
        lines = m3u.read_text(encoding="utf-8").splitlines()
        assert lines[0] == "#EXTM3U" and lines[2] == files[1] and lines[-1] == files[8]
        assert len(lines) == 1 + 2 * len(listed)
        errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        assert errors == [], errors
        assert all(
            (shots / f).stat().st_size > 10_000 for f in ("1-search.png", "2-track.png", "3-playlist.png")
        )
    finally:
        driver.quit()
        log = service.stop()
    assert "Traceback" not in log, log
