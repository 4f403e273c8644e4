"""The training set-ups the lessons share, so that lesson 4 can rebuild lesson 1's teacher exactly.

Sizes come from ``pick(normal, fast)``: normal runs train for real in a few minutes on a 2-core CPU,
``BERTLAB_FAST=1`` shrinks them to a handful of steps.
"""

from __future__ import annotations

from dataclasses import replace

from bertlab.lessons.settings import lesson_precision, pick, run_name, runs_dir

TEACHER_RUN = "lesson1-teacher"  # lesson 1 trains it, lesson 4 distils it


def lesson1_options(**changes):
    """Lesson 1's model: 4 layers × H 128 × 4 heads on wiki-en, MLM + NSP, dynamic masking, seq 64, batch 64."""
    from bertlab.pretrain import PretrainOptions

    options = PretrainOptions(
        preset="tiny", model_overrides=dict(num_hidden_layers=4, num_attention_heads=4),
        corpus="wiki-en", objective="mlm+nsp", masking="dynamic", max_seq_length=64,
        batch_size=pick(64, 8), learning_rate=2e-3, warmup=0.06, precision=lesson_precision(),
        steps=pick(700, 12), eval_every=pick(100, 6), log_every=pick(10, 3), eval_examples=pick(1024, 64),
        checkpoint_every=0, progress=False, out=str(runs_dir() / run_name(TEACHER_RUN)))
    return replace(options, **changes)


def teacher_path():
    """Where lesson 1's model is (it may not exist yet)."""
    return runs_dir() / run_name(TEACHER_RUN)


def teacher_ready() -> bool:
    """True when lesson 1's run finished and left its final weights."""
    from bertlab.train.run import read_status

    path = teacher_path()
    return (path / "model.safetensors").exists() and read_status(path).get("status") == "finished"
