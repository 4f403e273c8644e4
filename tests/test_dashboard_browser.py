"""End to end: the dashboard served by `streamlit run` on a free port, every page opened in Debian's chromium.

Each page must *draw*: plotly's SVG lines / bars / heatmap images, and inside both bertviz iframes the SVG
lines and token labels (offline: d3 and jQuery inlined). Screenshots go to test-artifacts/dashboard-*.png.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bertlab.analysis.bertviz_offline import js_available  # noqa: E402
from tests.browser import artifact_path, launch_browser, requires_chromium  # noqa: E402
from tests.dashboard_browser import PAGES, open_page, serve_dashboard  # noqa: E402
from tests.dashboard_fixtures import shared_runs  # noqa: E402


@pytest.fixture(scope="module")
def dashboard_url():
    with serve_dashboard(shared_runs(), log=artifact_path("dashboard-streamlit.log")) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = launch_browser(p)
        yield chromium
        chromium.close()


@pytest.mark.browser
@requires_chromium
@pytest.mark.parametrize("check", PAGES, ids=[c.name for c in PAGES])
def test_page_draws_in_chromium(dashboard_url, browser, check):
    if check.frames and not js_available():
        pytest.skip("d3/jQuery not in bertlab.paths.js_dir(); run scripts/setup.sh so bertviz can draw offline")
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    try:
        counts = open_page(page, dashboard_url, check, artifact_path(f"{check.name}.png"))
    finally:
        page.close()
    expected = counts.pop("expected")
    if check.prepare:
        assert expected != check.drawn, "a page's preparation (a student picked, a box ticked) must show"
    for selector, least in expected.items():
        assert counts[selector] >= least, (selector, counts)
    if check.frames:
        frames = [k for k in counts if k.startswith("iframe ")]
        assert len(frames) == 2 * len(check.frames), counts  # head view and model view both drew
    assert artifact_path(f"{check.name}.png").stat().st_size > 20_000
    assert not errors, errors
