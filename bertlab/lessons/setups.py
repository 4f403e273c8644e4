"""The training set-ups the lessons share, so that lesson 4 can rebuild lesson 1's teacher exactly.

Sizes come from ``pick(normal, fast)``: normal runs train for real in a few minutes on a 2-core CPU,
``BERTLAB_FAST=1`` shrinks them to a handful of steps.
"""

from __future__ import annotations

from dataclasses import replace

from bertlab.lessons.settings import lesson_precision, pick, run_name, runs_dir
from bertlab.pretrain import PretrainOptions
from bertlab.train.run import read_status

TEACHER_RUN = "lesson1-teacher"  # lesson 1 trains it, lesson 4 distils it


def lesson1_options(**changes):
    """Lesson 1's model: the ``tiny`` preset (BERT, 2 layers × H 128 × 2 heads) on wiki-en, MLM + NSP, dynamic
    masking, sequences of 64 tokens, batches of 64, peak learning rate 2e-3.

    Why 2 layers: on this data a 4-layer post-LN BERT at this learning rate stays at the unigram stage
    (always guessing "the", held-out MLM accuracy 4.1 %) for all of 700 steps, while the 2-layer one leaves
    it within ~200 steps (9.9 % at step 400). Lesson 3 uses 4 pre-LN layers for the same reason.
    """
    options = PretrainOptions(
        preset="tiny", corpus="wiki-en", objective="mlm+nsp", masking="dynamic", max_seq_length=64,
        batch_size=pick(64, 8), learning_rate=2e-3, warmup=0.06, precision=lesson_precision(),
        steps=pick(1000, 12), eval_every=pick(125, 6), log_every=pick(10, 3), eval_examples=pick(1024, 64),
        checkpoint_every=0, progress=False, out=str(runs_dir() / run_name(TEACHER_RUN)))
    return replace(options, **changes)


def teacher_path():
    """Where lesson 1's model is (it may not exist yet)."""
    return runs_dir() / run_name(TEACHER_RUN)


def teacher_ready() -> bool:
    """True when lesson 1's run finished and left its final weights."""
    path = teacher_path()
    return (path / "model.safetensors").exists() and read_status(path).get("status") == "finished"
