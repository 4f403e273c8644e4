"""Named pre-training recipes: how a model is trained, on top of what it is (the preset).

A recipe is a set of ``PretrainOptions`` values (``model_overrides`` may change BertConfig fields that are
not the shape: normalisation placement, dropout). ``bertlab pretrain --recipe fast-cpu`` starts from it;
flags given on the command line still win. ``docs/recipe.md`` tells how each setting was found and what
it bought; ``benchmarks/bench_time_to_quality.py`` measures them.
"""

from __future__ import annotations

import copy

RECIPES: dict[str, dict] = {
    # BERT's own choices (Devlin et al. 2019, §A.2) at the tiny preset: post-LN, dropout 0.1, fp32,
    # linear warm-up then decay, WordPiece 8192, 128-token pairs, batch 32, lr 1e-3.
    "bert": {},
    "fast-cpu": {},  # filled in below
}

RECIPE_DESCRIPTIONS: dict[str, str] = {
    "bert": "BERT's settings (post-LN, dropout 0.1, fp32, lr 1e-3): bertlab pretrain's defaults",
    "fast-cpu": "",
}


def recipe_options(name: str) -> dict:
    """The PretrainOptions values of recipe ``name`` (a copy: change it freely)."""
    try:
        return copy.deepcopy(RECIPES[name])
    except KeyError:
        raise ValueError(f"unknown recipe {name!r}; choose one of: {', '.join(RECIPES)}") from None


__all__ = ["RECIPES", "RECIPE_DESCRIPTIONS", "recipe_options"]
