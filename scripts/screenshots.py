"""Screenshots of every dashboard page for the README: ``docs/images/dashboard-*.png``.

    .venv/bin/python scripts/screenshots.py                 # runs/ if it has runs, else small demo runs
    .venv/bin/python scripts/screenshots.py --runs my-runs  # any runs folder
    .venv/bin/python scripts/screenshots.py --demo          # always the demo runs (tests/dashboard_fixtures.py)

Starts the dashboard on a free port on 127.0.0.1, drives Debian's chromium with Playwright (never
`playwright install`), waits until each page's charts and bertviz views are drawn, and stops the server.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.browser import CHROMIUM, launch_browser  # noqa: E402
from tests.dashboard_browser import PAGES, open_page, serve_dashboard  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, help="runs folder (default: runs/ when it holds runs, else demo runs)")
    parser.add_argument("--demo", action="store_true", help="build small demo runs in a temporary folder")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images", help="where the PNGs go")
    args = parser.parse_args(argv)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("screenshots: the playwright Python package is missing; run scripts/setup.sh", file=sys.stderr)
        return 2
    if not Path(CHROMIUM).exists():
        print(f"screenshots: Debian chromium is not at {CHROMIUM}; `apt-get install chromium` (as root)",
              file=sys.stderr)
        return 2
    from dashboard.run_folders import discover_runs

    with tempfile.TemporaryDirectory(prefix="bertlab-demo-runs-") as tmp:
        runs = args.runs
        if runs is None and not args.demo and discover_runs(REPO / "runs"):
            runs = REPO / "runs"
        if runs is None:
            from tests.dashboard_fixtures import build_runs

            print("screenshots: building demo runs (tests/dashboard_fixtures.py) …", flush=True)
            runs = build_runs(Path(tmp) / "runs", steps=40)
        print(f"screenshots: dashboard over {runs}", flush=True)
        with serve_dashboard(runs, log=Path(tmp) / "streamlit.log") as url, sync_playwright() as p:
            browser = launch_browser(p)
            page = browser.new_page()
            for check in PAGES:
                path = args.out / f"{check.name}.png"
                counts = open_page(page, url, check, path)
                counts.pop("expected")
                print(f"  {path.relative_to(REPO) if path.is_relative_to(REPO) else path}: "
                      + ", ".join(f"{k} ×{v}" for k, v in counts.items()), flush=True)
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
