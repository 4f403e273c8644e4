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
    # What got --preset tiny furthest in a few CPU minutes (docs/recipe.md): the same L2/H128 shape with
    # pre-LN (tolerates a higher learning rate), no dropout (a few minutes cannot overfit 470k words),
    # bf16 autocast, BERT's 8192-piece vocabulary (whole topic words: what held-out NSP needs), and a
    # sequence-length warm-up: 30 % of the steps on 16-token inputs (batch 256, the same tokens per step)
    # trained as MLM only with 40 % of their tokens masked, the rest on 128-token sentence pairs with 30 % masked
    # (more predictions per token: Wettig et al. 2023); the peak learning rate holds until the last 30 % of the
    # steps, which decay it to zero. Held-out evaluation masks BERT's 15 % whatever a run trains with.
    "fast-cpu": {"precision": "bf16", "learning_rate": 2e-3, "warmup": 0.05, "lr_decay": 0.3, "vocab_size": 8192,
                 "warmup_seq_length": 16, "warmup_seq_steps": 0.3, "warmup_seq_objective": "mlm",
                 "mlm_probability": 0.3, "warmup_mlm_probability": 0.4,
                 "model_overrides": {"norm_placement": "pre", "hidden_dropout_prob": 0.0,
                                     "attention_probs_dropout_prob": 0.0}},
}

# What turns today's fast-cpu back into the one the course models and the executed lessons were trained with:
# BERT's 15 % masking in both phases and half of the steps on the short inputs (docs/recipe.md, "Masking more").
# bertlab.course and the lessons' set-ups apply it, so their numbers stay reproducible until they are retrained.
FAST_CPU_AS_MEASURED_IN_LESSONS: dict = {"mlm_probability": 0.15, "warmup_mlm_probability": 0.15,
                                         "warmup_seq_steps": 0.5}

RECIPE_DESCRIPTIONS: dict[str, str] = {
    "bert": "BERT's settings (post-LN, dropout 0.1, fp32, lr 1e-3): bertlab pretrain's defaults",
    "fast-cpu": "tiny in CPU minutes: pre-LN, no dropout, bf16, lr 2e-3 decayed over the last 30 % of the steps, "
                "vocab 8192, 30 % of the steps on 16-token inputs as MLM only with 40 % masked, then 30 % masked",
}


def recipe_options(name: str) -> dict:
    """The PretrainOptions values of recipe ``name`` (a copy: change it freely)."""
    try:
        return copy.deepcopy(RECIPES[name])
    except KeyError:
        raise ValueError(f"unknown recipe {name!r}; choose one of: {', '.join(RECIPES)}") from None


__all__ = ["RECIPES", "RECIPE_DESCRIPTIONS", "FAST_CPU_AS_MEASURED_IN_LESSONS", "recipe_options"]
