"""What the lesson notebooks share, so that they import it instead of defining code of their own.

    from bertlab.lessons import FAST, pick, runs_dir, fresh_run, setup_notebook, LiveCurves

- ``settings``: the ``BERTLAB_FAST=1`` switch (every training shrinks so the tests run each lesson in about
  a minute), where lesson runs go (``$BERTLAB_RUNS`` or ``<checkout>/runs``), plotly's offline renderer;
- ``live``: ``LiveCurves``, training curves that redraw while ``pretrain(..., callbacks=[...])`` runs;
- ``inspect``: the masking demo with an adjustable 80/10/10 split, pair tables, topic overlap,
  alternating speed measurements;
- ``widgets``: the ipywidgets panels of the lessons, and the figures they draw;
- ``setups``: the training set-ups lessons share (lesson 4 distils lesson 1's model).
"""

from bertlab.lessons.live import LiveCurves
from bertlab.lessons.settings import FAST, fast_mode, fresh_run, pick, run_name, runs_dir, setup_notebook

__all__ = ["FAST", "fast_mode", "pick", "runs_dir", "run_name", "fresh_run", "setup_notebook", "LiveCurves"]


def __getattr__(name):  # plotly and IPython load only when a notebook asks for them
    if name == "LiveCurves":
        return LiveCurves
    raise AttributeError(f"module 'bertlab.lessons' has no attribute {name!r}")
