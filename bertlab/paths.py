"""Where bertlab keeps caches (trained tokenizers, JavaScript for offline bertviz) and runs."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def cache_dir() -> Path:
    """``$BERTLAB_CACHE``, else ``<checkout>/.cache`` for a source checkout, else ``~/.cache/bertlab``."""
    if os.environ.get("BERTLAB_CACHE"):
        path = Path(os.environ["BERTLAB_CACHE"])
    elif (REPO_ROOT / "pyproject.toml").exists():
        path = REPO_ROOT / ".cache"
    else:
        path = Path.home() / ".cache" / "bertlab"
    path.mkdir(parents=True, exist_ok=True)
    return path


def js_dir() -> Path:
    """Third-party JavaScript fetched at set-up time from the npm registry (never committed)."""
    return Path(os.environ["BERTLAB_JS_DIR"]) if os.environ.get("BERTLAB_JS_DIR") else cache_dir() / "js"
