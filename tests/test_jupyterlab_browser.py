"""A lesson in a real JupyterLab, driven by Playwright with Debian's chromium: open it, Run All Cells, wait
for an ipywidget and a plotly plot to render, save screenshots to ``test-artifacts/``.

Skipped where /usr/bin/chromium (or the playwright package) is absent; ``scripts/setup.sh`` installs chromium
with apt when run as root (that is how CI gets it). Everything is local: the server listens on 127.0.0.1 with
a random token, the notebook runs in FAST mode, and the server (with its kernel) is stopped by its own PID.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from browser import artifact_path, free_port, launch_browser, requires_chromium, wait_for_http

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
LESSON = "03_albert.ipynb"  # a widget panel, static plots and a live training plot, quick in FAST mode
RUN_TIMEOUT_MS = int(os.environ.get("BERTLAB_BROWSER_TIMEOUT_MS", 420_000))


@pytest.fixture
def jupyterlab(tmp_path):
    """``jupyter lab`` on a free port of 127.0.0.1, root = a temp folder holding a copy of the lesson."""
    root = tmp_path / "lab"
    root.mkdir()
    shutil.copy(NOTEBOOKS / LESSON, root / LESSON)
    # no "Would you like to get notified about official Jupyter news?" toast over the screenshots
    news = tmp_path / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text('{"fetchNews": "false", "checkForUpdates": false}')
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ, BERTLAB_FAST="1", BERTLAB_RUNS=str(tmp_path / "runs"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"))
    log = open(tmp_path / "jupyterlab.log", "w")
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--ServerApp.port_retries=0",
               f"--LabApp.user_settings_dir={tmp_path / 'settings'}", f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
               "--LabServerApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # CI containers run as root; the server still listens on 127.0.0.1 only
    process = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=90, process=process)
        yield f"http://127.0.0.1:{port}", token
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # the server and the kernels it started, nothing else
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()
        shutil.copy(tmp_path / "jupyterlab.log", artifact_path("jupyterlab_server.log"))


@pytest.mark.browser
@requires_chromium
def test_lesson_runs_all_cells_in_jupyterlab(jupyterlab):
    from playwright.sync_api import sync_playwright

    url, token = jupyterlab
    with sync_playwright() as p:
        browser = launch_browser(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{url}/lab/tree/{LESSON}?token={token}")
            page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=120_000)
            # the kernel named in the notebook's metadata starts by itself (no kernel-selection dialog); Run All
            # before it is connected would do nothing, so wait until the status bar says it is idle
            page.wait_for_function("() => document.body.innerText.includes('Python 3 (ipykernel) | Idle')",
                                   timeout=180_000)
            assert page.locator(".jp-Dialog").count() == 0, "JupyterLab asked something (kernel selection?)"

            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()

            # "attached", not "visible": JupyterLab scrolls along while running, and cells out of view are not
            # painted (content-visibility), so an early output would never count as visible again
            page.wait_for_selector(".jp-OutputArea-output .widget-slider", state="attached", timeout=RUN_TIMEOUT_MS)
            page.wait_for_selector(".jp-RenderedPlotly.js-plotly-plot", state="attached", timeout=RUN_TIMEOUT_MS)
            # the last cell is a graded check: its feedback appearing means every cell has run
            page.wait_for_selector(".jp-OutputArea-output:has-text('encoder_macs')", state="attached",
                                   timeout=RUN_TIMEOUT_MS)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", state="attached",
                                   timeout=60_000)

            errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                                  has_text="Traceback")
            assert errors.count() == 0, errors.first.inner_text()[:2000]
            assert page.locator(".jp-OutputArea-output:has-text('Well done!')").count() >= 3

            # scroll to the panel: its sliders render, and the parameter chart below it draws (plotly draws a
            # figure when it comes into view)
            widget = page.locator(".jp-OutputArea-output .widget-slider").first
            widget.scroll_into_view_if_needed()
            widget.wait_for(state="visible", timeout=30_000)
            panel = page.locator(".jp-OutputArea-output:has(.widget-slider)").first
            panel.screenshot(path=str(artifact_path("jupyterlab_lesson3_widget.png")))
            plot = page.locator(".jp-RenderedPlotly.js-plotly-plot").first
            plot.scroll_into_view_if_needed()
            plot.locator(".main-svg").first.wait_for(state="visible", timeout=60_000)
            assert plot.locator(".bars .point, .scatterlayer .trace").count() > 0, "the plot has no data drawn"
            plot.screenshot(path=str(artifact_path("jupyterlab_lesson3_plot.png")))
            # the widget is live: choosing E = 768 redraws the chart below it (a display-id update)
            page.locator(".jp-OutputArea-output .widget-dropdown:has-text('E (embedding size)') select").first \
                .select_option("768")
            page.wait_for_selector(".jp-RenderedPlotly.js-plotly-plot:has-text('this model (E=768, all)')",
                                   state="attached", timeout=60_000)
            page.screenshot(path=str(artifact_path("jupyterlab_lesson3_window.png")))
            assert page.locator(".jp-RenderedPlotly.js-plotly-plot").count() >= 2
        except Exception:
            page.screenshot(path=str(artifact_path("jupyterlab_lesson3_failure.png")))  # what the page showed
            raise
        finally:
            browser.close()
