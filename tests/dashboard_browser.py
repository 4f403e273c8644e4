"""Drive the real dashboard in Debian's chromium: start ``streamlit run`` on a free port, open each page, wait
until its plotly charts and bertviz views are *drawn* (SVG paths, heatmap images, lines inside the bertviz
iframes), count them, and take a screenshot. Used by ``tests/test_dashboard_browser.py`` and
``scripts/screenshots.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.browser import free_port, wait_for_http  # noqa: E402

APP = REPO / "dashboard" / "app.py"
WIDTH = 1600  # the wide layout then fits bertviz's 970-px model view beside the sidebar


@contextmanager
def serve_dashboard(runs: str | Path, port: int | None = None, log: Path | None = None) -> Iterator[str]:
    """``streamlit run dashboard/app.py`` on 127.0.0.1 (a free port unless given); yields the base URL and
    stops the server it started (by its PID) on exit."""
    port = port or free_port()
    env = dict(os.environ, BERTLAB_RUNS=str(Path(runs).resolve()))
    out = open(log, "w") if log else subprocess.DEVNULL
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true", "--server.address",
         "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/_stcore/health", timeout=60, process=process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if log:
            out.close()


@dataclass
class PageCheck:
    """One page: where it is, what to do there, and what must be drawn before the screenshot."""

    name: str  # screenshot file stem, e.g. "dashboard-attention"
    path: str  # URL path after the base ("" is the default page)
    drawn: dict[str, int]  # CSS selector in the page -> the least number of matches that counts as drawn
    frames: dict[str, int] = field(default_factory=dict)  # selector inside *each* bertviz iframe -> least count
    prepare: Callable | None = None  # e.g. pick a distilled student; returns more {selector: least count}


def choose_option(page, label: str, option: str) -> None:
    """Pick ``option`` in the Streamlit selectbox labelled ``label``."""
    box = page.get_by_test_id("stSelectbox").filter(has=page.get_by_text(label, exact=True)).first
    box.click()
    page.get_by_role("option").filter(has_text=option).first.click()


def pick_student(page) -> dict[str, int]:
    """On the attention page, choose the first distilled run (listed as "name  (distill, …)") if there is one,
    so that the teacher-vs-student maps are drawn too: 3 more heatmaps."""
    box = page.get_by_test_id("stSelectbox").filter(has=page.get_by_text("run", exact=True)).first
    box.wait_for()
    box.click()
    students = page.get_by_role("option").filter(has_text="(distill,")
    if students.count() == 0:
        page.keyboard.press("Escape")
        return {}
    students.first.click()
    page.get_by_text("Teacher vs student", exact=True).wait_for(timeout=60_000)  # the student's page is up
    return {HEATMAPS: 4}


PLOT_LINES = '[data-testid="stPlotlyChart"] .scatterlayer path.js-line'
HEATMAPS = '[data-testid="stPlotlyChart"] .heatmaplayer image'
BARS = '[data-testid="stPlotlyChart"] .barlayer .point path'

def log_scale_train(page) -> dict[str, int]:
    """Tick the train chart's "log scale": a distilled student's total loss starts ~100x above MLM losses."""
    page.get_by_text("log scale").first.click()
    return {'[data-testid="stCheckbox"] input:checked': 1}  # then the charts must still draw (open_page waits)


PAGES = [
    PageCheck("dashboard-runs", "", {PLOT_LINES: 4, '[data-testid="stDataFrame"]': 1}, prepare=log_scale_train),
    PageCheck("dashboard-attention", "attention", {HEATMAPS: 1, '[data-testid="stIFrame"]': 2},
              frames={"svg line": 10, "svg text": 4}, prepare=pick_student),
    PageCheck("dashboard-parameters", "parameters", {BARS: 10, '[data-testid="stDataFrame"]': 1}),
    PageCheck("dashboard-fill-mask", "fill_mask", {BARS: 5, '[data-testid="stDataFrame"]': 1}),
]


def _at_least(page, selector: str, n: int, timeout_ms: int) -> int:
    page.wait_for_function("([s, n]) => document.querySelectorAll(s).length >= n", arg=[selector, n],
                           timeout=timeout_ms)
    return page.locator(selector).count()


def open_page(page, base_url: str, check: PageCheck, screenshot: Path | None = None,
              timeout_ms: int = 60_000) -> dict[str, int]:
    """Open one page, wait for what must be drawn, screenshot the whole page; returns the counts found."""
    page.set_viewport_size({"width": WIDTH, "height": 1000})
    page.goto(f"{base_url}/{check.path}")
    page.get_by_test_id("stMainBlockContainer").wait_for(timeout=timeout_ms)
    drawn = dict(check.drawn)
    if check.prepare:
        drawn.update(check.prepare(page) or {})
    counts = {selector: _at_least(page, selector, n, timeout_ms) for selector, n in drawn.items()}
    for i in range(page.locator('[data-testid="stIFrame"]').count()):
        frame = page.frame_locator('[data-testid="stIFrame"]').nth(i)
        for selector, n in check.frames.items():
            frame.locator(selector).nth(n - 1).wait_for(state="attached", timeout=timeout_ms)
            counts[f"iframe {i}: {selector}"] = frame.locator(selector).count()
    _wait_until_idle(page, timeout_ms)
    if screenshot is not None:
        height = page.evaluate(CONTENT_BOTTOM)
        page.set_viewport_size({"width": WIDTH, "height": min(8000, max(1000, int(height) + 120))})
        page.wait_for_timeout(1500)  # plotly re-lays out to the new size
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot))
    counts["expected"] = drawn
    return counts


# the bottom of the last element on the page (the main container scrolls, so the document is one screen tall)
CONTENT_BOTTOM = """() => {
  const box = document.querySelector('[data-testid="stMainBlockContainer"]');
  const main = document.querySelector('[data-testid="stMain"]') || document.scrollingElement;
  let bottom = 0;
  for (const el of box.querySelectorAll('[data-testid="stElementContainer"]')) {
    const r = el.getBoundingClientRect();
    if (r.height > 0) bottom = Math.max(bottom, r.bottom + (main.scrollTop || 0));
  }
  return bottom || box.scrollHeight;
}"""


def _wait_until_idle(page, timeout_ms: int) -> None:
    """Until Streamlit's "running" indicator has been gone for a moment."""
    deadline = time.monotonic() + timeout_ms / 1000
    quiet = 0
    while time.monotonic() < deadline and quiet < 3:
        running = page.locator('[data-testid="stStatusWidget"]').count()
        quiet = 0 if running else quiet + 1
        page.wait_for_timeout(250)
