"""Shared helpers for tests that drive Debian's chromium through Playwright (`@pytest.mark.browser`).

Playwright's own browser download never runs here (`playwright install` needs the internet); we point
it at `/usr/bin/chromium`, which `scripts/setup.sh` installs when run as root. Typical use:

    from playwright.sync_api import sync_playwright

    @pytest.mark.browser
    @requires_chromium
    def test_page_draws():
        with sync_playwright() as p:
            browser = launch_browser(p)
            page = browser.new_page()
            page.goto(url)
            page.wait_for_selector("svg line")
            page.screenshot(path=artifact_path("my_view.png"))
            browser.close()
"""

from __future__ import annotations

import importlib.util
import os
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags chromium floods the (absent) network with refused connections.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
REPO_ROOT = Path(__file__).resolve().parents[1]
ARTIFACT_DIR = REPO_ROOT / "test-artifacts"  # gitignored; screenshots for a person to look at

requires_chromium = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK) or importlib.util.find_spec("playwright") is None,
    reason=("Debian chromium not installed at /usr/bin/chromium; scripts/setup.sh installs it when run as root"
            if not os.access(CHROMIUM, os.X_OK) else
            "the playwright Python package is not installed; run scripts/setup.sh"),
)


def launch_browser(playwright, **kwargs):
    """A headless chromium Browser from ``/usr/bin/chromium``; extra kwargs go to ``chromium.launch``."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, **kwargs)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (bind to port 0 and let the kernel choose)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, timeout: float = 30.0, process=None) -> None:
    """Poll ``url`` until it answers 200 (e.g. Streamlit's ``/_stcore/health``); fail after ``timeout`` s.

    With ``process`` (a ``subprocess.Popen``), fail at once if it exits while we wait.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with status {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
            last_error = err
        time.sleep(0.25)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s (last error: {last_error})")


def artifact_dir() -> Path:
    """``<checkout>/test-artifacts/``, created on first use."""
    ARTIFACT_DIR.mkdir(parents=True, exist_ok=True)
    return ARTIFACT_DIR


def artifact_path(name: str) -> Path:
    """Where to save an artefact (screenshot, HTML) called ``name``: ``test-artifacts/<name>``."""
    return artifact_dir() / name
