"""The FAST switch, the lesson runs folder, and notebook set-up.

``BERTLAB_FAST=1`` shrinks every training of every lesson (tens of steps instead of hundreds) so that the
whole set executes in tests in about a minute per lesson; results are then meaningless, only the code
path is exercised. Lessons choose their sizes with ``pick(normal, fast)``.
"""

from __future__ import annotations

import os
from pathlib import Path

from bertlab.paths import REPO_ROOT

TRUE = ("1", "true", "yes", "on")


def fast_mode() -> bool:
    """True when ``BERTLAB_FAST`` is set to 1 / true / yes / on."""
    return os.environ.get("BERTLAB_FAST", "").strip().lower() in TRUE


FAST = fast_mode()  # read once, when a notebook's kernel imports bertlab.lessons


def pick(normal, fast):
    """``fast`` in FAST mode, ``normal`` otherwise: ``steps = pick(600, 20)``."""
    return fast if fast_mode() else normal


def runs_dir() -> Path:
    """Where lessons write run folders: ``$BERTLAB_RUNS``, else ``<checkout>/runs``, else ``./runs``.

    Without a prepared course model, lessons look here for the live stand-in an earlier lesson trained
    (``runs_dir() / "lesson1-en"``, ``bertlab.lessons.setups.ensure_model``).
    """
    if os.environ.get("BERTLAB_RUNS"):
        path = Path(os.environ["BERTLAB_RUNS"])
    elif (REPO_ROOT / "pyproject.toml").exists():
        path = REPO_ROOT / "runs"
    else:
        path = Path("runs")
    path.mkdir(parents=True, exist_ok=True)
    return path


def choose_threads() -> tuple[int, str]:
    """How many CPU threads torch should use in a lesson, and why.

    ``BERTLAB_THREADS`` wins. Otherwise one thread in FAST mode, and otherwise the cores that are free when the
    lesson starts (cores minus the load average, rounded; at least one): with more runnable threads than
    cores, torch's worker threads spin-wait for each other and a 2-thread step can be ten times slower than a
    1-thread one (measured on a shared 2-core machine). An idle machine keeps torch's default.
    """
    import torch

    if os.environ.get("BERTLAB_THREADS"):
        return int(os.environ["BERTLAB_THREADS"]), "BERTLAB_THREADS"
    if fast_mode():
        return 1, "FAST mode"
    default = torch.get_num_threads()
    cores = os.cpu_count() or 1
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    free = max(1, min(default, round(cores - load)))
    if free < default:
        return free, f"{cores} cores, load {load:.1f}: only the free cores; set BERTLAB_THREADS to override"
    return default, "torch's default"


def lesson_precision() -> str:
    """bf16 autocast where the CPU computes it natively (AVX-512: ~1.8× faster here) or on a GPU, else fp32."""
    import torch

    if torch.cuda.is_available():
        return "auto"  # bf16 on GPUs that support it
    capability = getattr(torch.backends.cpu, "get_cpu_capability", lambda: "")()
    return "bf16" if capability.startswith("AVX512") else "fp32"


def setup_notebook(seed: int = 0) -> str:
    """Plotly output that survives headless execution and HTML export, threads, a seed; returns a banner.

    ``plotly_mimetype`` keeps the figure as JSON for JupyterLab's plotly renderer; ``notebook`` adds HTML
    with plotly.js inlined, so an exported notebook draws with no internet (the default renderer would
    fetch require.js from a CDN).
    """
    import plotly.io as pio
    import torch

    pio.renderers.default = "plotly_mimetype+notebook"
    torch.manual_seed(seed)
    threads, why = choose_threads()
    torch.set_num_threads(threads)
    mode = ("FAST mode (BERTLAB_FAST=1): every training is shrunk to a few steps; the numbers mean nothing"
            if fast_mode() else "normal mode: trainings are real (a few minutes per lesson on a 2-core CPU)")
    return (f"bertlab lessons: {mode}\nruns go to {runs_dir()}; torch uses {threads} thread(s) ({why}), "
            f"precision {lesson_precision()}")


def run_name(name: str) -> str:
    """A lesson's run folder name; FAST mode appends ``-fast`` so it never replaces a real run."""
    return f"{name}-fast" if fast_mode() else name


def fresh_run(name: str) -> str:
    """``runs_dir() / run_name(name)``, emptied if an earlier run of the lesson left it there.

    Only a bertlab run folder (it has a ``config.json``) or an empty folder is removed; anything else raises.
    """
    import shutil

    path = runs_dir() / run_name(name)
    if path.exists():
        if not (path / "config.json").exists() and any(path.iterdir()):
            raise FileExistsError(f"{path} exists and is not a bertlab run folder; move it away or set BERTLAB_RUNS")
        shutil.rmtree(path)
    return str(path)
