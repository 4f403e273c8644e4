"""Every trainer takes the same schedule flags (TrainSettings' fields, declared once), and they reach the loop.

The commands' pipelines are replaced by a function that records the options, so these tests check the path
flag → options → ``train_settings()`` → optimizer / learning-rate schedule without training anything.
"""

from __future__ import annotations

import dataclasses

import pytest
from torch import nn

from bertlab.cli import binder, build_parser, main
from bertlab.distill.options import DistillOptions
from bertlab.finetune.loop import FinetuneOptions
from bertlab.pretrain import PretrainOptions
from bertlab.train.loop import TrainSettings, learning_rate_at, make_optimizer


class Stop(Exception):
    pass


@pytest.fixture
def captured(monkeypatch):
    """Run ``bertlab <command> ...`` up to the pipeline call; return the options it was given."""
    seen = {}
    build_parser()  # imports every command's modules first, so none of them binds the stand-in below

    def record(options, *args, **kwargs):
        seen["options"] = options
        raise Stop

    monkeypatch.setattr("bertlab.pretrain.pretrain", record)
    monkeypatch.setattr("bertlab.distill.run.distill", record)
    monkeypatch.setattr("bertlab.finetune.loop.finetune", record)

    def run(*argv):
        with pytest.raises(Stop):
            main(list(argv))
        return seen["options"]
    return run


SCHEDULE_ARGS = ("--lr-decay", "0.3", "--weight-decay", "0.05", "--max-grad-norm", "0.5", "--warmup", "2",
                 "--keep-checkpoints", "3", "--grad-accumulation", "2", "--batch-size", "8")


@pytest.mark.parametrize("command", [
    ("pretrain", "--out", "unused"),
    ("distill", "--teacher", "runs/none", "--out", "unused"),
    ("finetune", "--out", "unused"),
])
def test_every_trainer_takes_the_schedule_flags(captured, command):
    options = captured(*command, "--steps", "20", *SCHEDULE_ARGS)
    settings = options.train_settings() if command[0] != "distill" else options.train_settings(learning_rate=1e-3)
    assert (settings.lr_decay, settings.weight_decay, settings.max_grad_norm, settings.warmup) == (0.3, 0.05, 0.5, 2)
    assert (settings.keep_checkpoints, settings.grad_accumulation, settings.batch_size, settings.steps) == (3, 2, 8, 20)


@pytest.mark.parametrize("command", [("distill", "--teacher", "runs/none"), ("finetune",)])
def test_lr_decay_shapes_the_schedule_of_distillation_and_fine_tuning(captured, command):
    options = captured(*command, "--out", "unused", "--steps", "100", "--warmup", "10", "--lr", "0.01",
                       "--lr-decay", "0.3")
    settings = options.train_settings()
    assert learning_rate_at(50, settings) == pytest.approx(0.01)  # the stable phase: BERT's decay would be lower
    assert learning_rate_at(85, settings) == pytest.approx(0.01 * 15 / 30)  # halfway down the last 30 steps
    default = captured(*command, "--out", "unused", "--steps", "100", "--warmup", "10", "--lr", "0.01")
    assert learning_rate_at(50, default.train_settings()) < 0.01  # without the flag: decay from step 10


def test_weight_decay_and_max_grad_norm_reach_pre_training(captured):
    options = captured("pretrain", "--out", "unused", "--weight-decay", "0.1", "--max-grad-norm", "0")
    settings = options.train_settings()
    assert (settings.weight_decay, settings.max_grad_norm) == (0.1, 0.0)
    optimizer = make_optimizer(nn.Linear(3, 3), settings)
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.1, 0.0]  # the bias never decays


def test_schedule_fields_are_declared_once():
    """The method options extend TrainSettings: no field of it is declared anew except to change a default."""
    names = {f.name for f in dataclasses.fields(TrainSettings)}
    for cls, redeclared in ((PretrainOptions, set()), (DistillOptions, {"batch_size", "learning_rate", "warmup"}),
                            (FinetuneOptions, {"steps", "learning_rate", "warmup", "eval_every", "checkpoint_every",
                                               "keep_checkpoints"})):
        assert issubclass(cls, TrainSettings)
        assert names & set(cls.__dict__.get("__annotations__", {})) == redeclared, cls.__name__
    assert set(binder.SCHEDULE) == names - {"progress"}


def test_precedence_is_recipe_then_config_file_then_flags():
    merged = binder.merge_settings({"learning_rate": 1, "warmup": 1, "model_overrides": {"a": 1, "b": 1}},
                                   {"learning_rate": 2, "model_overrides": {"b": 2}}, {"learning_rate": 3})
    assert merged == {"learning_rate": 3, "warmup": 1, "model_overrides": {"a": 1, "b": 2}}


def test_keep_checkpoints_is_a_number_everywhere():
    assert FinetuneOptions(keep_checkpoints=False).keep_checkpoints == 0  # what older fine-tuning runs saved
    with pytest.raises(ValueError, match="keep_checkpoints"):
        TrainSettings(keep_checkpoints=-1)
    for cls in (TrainSettings, PretrainOptions, DistillOptions, FinetuneOptions):
        assert isinstance(cls().keep_checkpoints, int)


def test_flag_help_comes_from_the_field_comment():
    helps = binder.field_help(FinetuneOptions)
    assert helps["weight_decay"].startswith("AdamW weight decay")  # TrainSettings' comment
    assert helps["steps"] == "optimizer steps"
    assert "best.safetensors" in helps["keep_checkpoints"]  # fine-tuning's own comment wins
