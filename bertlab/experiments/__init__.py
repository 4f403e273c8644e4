"""Experiments: each reproduces a claim of the source articles at CPU scale (``bertlab experiment NAME``).

To add one, write a module here with a docstring (its first line is the help text), ``add_arguments(parser)``
and ``run(args) -> int``, and list it in ``EXPERIMENTS``; ``bertlab experiment`` picks it up.
"""

from __future__ import annotations

import importlib

# name -> module; the module exposes add_arguments(parser) and run(args)
EXPERIMENTS: dict[str, str] = {
    "application-modes": "bertlab.experiments.application_modes",
    "distill-vs-scratch": "bertlab.experiments.distill_vs_scratch",
    "unilm-masks": "bertlab.experiments.unilm_masks",
    "knowledge-masking": "bertlab.experiments.knowledge_masking",
    "compression": "bertlab.experiments.compression",
    "mass-spans": "bertlab.experiments.mass_spans",
    "cross-lingual": "bertlab.experiments.cross_lingual",
}


def load_experiment(name: str):
    """The module of experiment ``name``."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; known: {', '.join(EXPERIMENTS)}")
    return importlib.import_module(EXPERIMENTS[name])


__all__ = ["EXPERIMENTS", "load_experiment"]
