"""Lesson 7's comparisons (UNILM masks, knowledge masking, MASS spans) train with the fast-cpu recipe
(bertlab/recipes.py), long enough to leave the unigram plateau; FAST-mode sizes stay a smoke test."""

from dataclasses import replace

import pytest

from bertlab.experiments import knowledge_masking, mass_spans, unilm_masks
from bertlab.recipes import recipe_options
from bertlab.train.metrics import read_metrics

RECIPE = recipe_options("fast-cpu")


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def assert_fast_cpu(options):
    """The recipe's model and schedule; its sequence-length warm-up: half of the steps on 16 tokens, then 128."""
    assert options.model_overrides == RECIPE["model_overrides"]  # pre-LN, no dropout
    assert (options.learning_rate, options.warmup, options.lr_decay, options.precision) == \
        (RECIPE["learning_rate"], RECIPE["warmup"], RECIPE["lr_decay"], RECIPE["precision"])
    assert (options.max_seq_length, options.warmup_seq_length, options.batch_size) == (128, 16, 32)
    assert options.warmup_seq_step_count == options.steps // 2
    assert options.steps >= 1500  # MLM leaves the plateau a few hundred steps after the switch to 128 tokens
    assert options.eval_every and options.steps % options.eval_every == 0  # curves, and the last step evaluated


@pytest.mark.parametrize("kind", unilm_masks.MASK_KINDS)
def test_unilm_runs_use_the_fast_cpu_recipe_with_pairs_under_their_own_mask(kind):
    options = unilm_masks.options_for(unilm_masks.Plan(), kind, None)
    assert_fast_cpu(options)
    assert options.vocab_size == RECIPE["vocab_size"] and options.attention_mask_kind == kind
    # the recipe's warm-up would be MLM on single segments, which a seq2seq mask cannot read as source + target
    assert options.warmup_seq_objective is None and options.objective == "mlm+nsp" and options.nsp_weight == 0.0


@pytest.mark.parametrize("unit", knowledge_masking.UNITS)
def test_knowledge_masking_runs_use_the_fast_cpu_recipe(unit):
    options = knowledge_masking.PretrainOptions(**knowledge_masking.options_for(knowledge_masking.Plan(), unit, None))
    assert_fast_cpu(options)
    assert options.vocab_size == RECIPE["vocab_size"]
    assert (options.objective, options.masking_unit, options.corpus) == ("mlm", unit, "peoples-daily-zh")
    changed = replace(knowledge_masking.Plan(), model_overrides={"num_hidden_layers": 1})
    merged = knowledge_masking.options_for(changed, unit, None)["model_overrides"]
    assert merged == {**RECIPE["model_overrides"], "num_hidden_layers": 1}  # the plan's changes on top


def test_mass_trains_with_the_fast_cpu_model_and_schedule():
    plan = mass_spans.Plan()
    assert plan.model_overrides == RECIPE["model_overrides"] and plan.precision == RECIPE["precision"]
    assert (plan.learning_rate, plan.warmup, plan.lr_decay) == \
        (RECIPE["learning_rate"], RECIPE["warmup"], RECIPE["lr_decay"])
    assert {"warmup", "lr_decay"} <= set(mass_spans.TRAINING_FIELDS)  # a changed schedule is a new run


def test_mass_runs_hold_the_peak_learning_rate_until_the_decay(tmp_path):
    """lr_decay reaches the loop: 20 steps with a 1-step warm-up and decay over the last 30 % hold the peak at
    step 10, where BERT's linear decay (lr_decay=1) would already be halfway down."""
    lrs = {}
    for decay in (0.3, 1.0):
        plan = replace(mass_spans.QUICK, steps=20, warmup=1, lr_decay=decay, train_spans=("50%",),
                       probe_spans=("50%",), eval_examples=16, greedy_examples=8, examples_to_show=1)
        mass_spans.run_plan(plan, tmp_path / f"decay{decay}", progress=False)
        records = read_metrics(tmp_path / f"decay{decay}" / "k50pct" / "metrics.jsonl").split("train")
        lrs[decay] = {r["step"]: r["lr"] for r in records}
    peak = mass_spans.QUICK.learning_rate
    assert lrs[0.3][10] == pytest.approx(peak)
    assert lrs[1.0][10] < 0.7 * peak
    assert lrs[0.3][20] < 0.2 * peak
