"""Real `python -m bertlab ...` processes for the tests of signals, locks and resumption: one CPU thread each."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
# a tiny model on short inputs: ~20-50 ms a step on one thread, so a run lasts seconds
TINY = ["--preset", "tiny", "--corpus", "news-en", "--batch-size", "8", "--max-seq-length", "32",
        "--vocab-size", "1000", "--log-every", "10", "--quiet"]


def start(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bertlab", *args], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=kw.pop("cwd", ROOT), **kw)


def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bertlab", *args], env=ENV, capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout)


def wait_for(condition, timeout: float = 120, what: str = "the condition") -> None:
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def status(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "status.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
