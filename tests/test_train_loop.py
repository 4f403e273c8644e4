"""The training loop: learning, metrics, exact resume, crash safety, gradient accumulation, DDP."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from bertlab.train.checkpoint import latest_checkpoint, load_checkpoint
from bertlab.train.loop import TrainSettings, learning_rate_at, train
from bertlab.train.metrics import read_metrics
from bertlab.data import MASK_ID
from bertlab.train.pretraining import PretrainingTask, unigram_accuracy

from train_helpers import assert_ddp_matches, synthetic_batch, tiny_model

FAST = dict(progress=False, device="cpu", precision="fp32", log_every=2, learning_rate=3e-3, warmup=2)


def test_loss_falls_on_a_fixed_batch(tmp_path):
    model = tiny_model()
    result = train(model, PretrainingTask([synthetic_batch(0, fixed=True)]),
                   lambda step: synthetic_batch(step, fixed=True), TrainSettings(steps=60, **FAST), tmp_path / "run")
    records = read_metrics(tmp_path / "run" / "metrics.jsonl").split("train")
    assert records[-1]["loss"] < 0.5 * records[0]["loss"]
    assert result.status == "finished" and result.step == 60


def test_metrics_file_has_the_documented_fields(tmp_path):
    train(tiny_model(), PretrainingTask([synthetic_batch(99)]), synthetic_batch,
          TrainSettings(steps=6, eval_every=3, **FAST), tmp_path / "run")
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    train_records = [r for r in records if r["split"] == "train"]
    eval_records = [r for r in records if r["split"] == "eval"]
    assert [r["step"] for r in train_records] == [2, 4, 6] and [r["step"] for r in eval_records] == [3, 6]
    for field in ("step", "elapsed", "lr", "loss", "mlm_loss", "nsp_loss", "mlm_acc", "nsp_acc", "tokens_per_s"):
        assert field in train_records[0], field
    assert {"mlm_acc", "mlm_acc_mask", "nsp_acc", "loss"} <= set(eval_records[0])
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status == {**status, "status": "finished", "step": 6, "total_steps": 6}
    assert (tmp_path / "run" / "model.safetensors").exists()


def test_mlm_accuracy_split_by_what_the_model_saw():
    """A hand-made batch: 10 chosen positions, 5 [MASK] / 2 random / 3 unchanged, predictions set by the logits."""
    from types import SimpleNamespace

    V = 50
    inputs = torch.tensor([[2, MASK_ID, MASK_ID, 21, 22, 23, 3, 0],
                           [2, MASK_ID, MASK_ID, MASK_ID, 44, 31, 32, 3]])
    labels = torch.tensor([[-100, 10, 11, 20, 22, 23, -100, -100],  # [MASK] [MASK] random unchanged unchanged
                           [-100, 10, 12, 13, 30, 31, -100, -100]])  # [MASK] [MASK] [MASK] random unchanged
    right = [True, False, False, True, True,  # the model: 1/2 [MASK], 0 random, 2/2 unchanged ...
             True, True, False, True, False]  # ... 2/3 [MASK], 1 random, 0/1 unchanged
    targets = labels[labels != -100]
    predicted = torch.where(torch.tensor(right), targets, torch.full_like(targets, 10 + 30))
    logits = torch.nn.functional.one_hot(predicted, V).float()  # (N, V): argmax is `predicted`
    out = SimpleNamespace(masked_lm_logits=logits, masked_lm_labels=targets, mlm_loss=torch.tensor(1.0),
                          nsp_loss=None)
    batch = {"input_ids": inputs, "labels": labels, "attention_mask": (inputs != 0).long()}
    metrics = PretrainingTask().summarize(PretrainingTask().batch_stats(out, batch))
    assert metrics["mlm_acc"] == pytest.approx(6 / 10)
    assert metrics["mlm_acc_mask"] == pytest.approx(3 / 5)
    assert metrics["mlm_acc_random"] == pytest.approx(1 / 2)
    assert metrics["mlm_acc_unchanged"] == pytest.approx(2 / 3)
    # always predicting token 10: right at 2 of the 5 [MASK] positions, at none of the others
    assert unigram_accuracy([batch], token_id=10) == pytest.approx({"unigram_acc": 2 / 10, "unigram_acc_mask": 2 / 5})


def test_warmup_then_linear_decay():
    settings = TrainSettings(steps=10, learning_rate=1.0, warmup=2)
    assert [round(learning_rate_at(s, settings), 3) for s in range(10)] == \
        [0.5, 1.0, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125]


def test_warmup_stable_decay():
    """lr_decay=0.4: the peak holds until the last 4 of 10 steps, which decay linearly to zero."""
    settings = TrainSettings(steps=10, learning_rate=1.0, warmup=2, lr_decay=0.4)
    assert [round(learning_rate_at(s, settings), 3) for s in range(10)] == \
        [0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.75, 0.5, 0.25]
    # a decay longer than what follows the warm-up is BERT's schedule
    assert [learning_rate_at(s, TrainSettings(steps=10, learning_rate=1.0, warmup=2, lr_decay=0.95))
            for s in range(10)] == [learning_rate_at(s, TrainSettings(steps=10, learning_rate=1.0, warmup=2))
                                   for s in range(10)]
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="lr_decay is the fraction"):
            TrainSettings(lr_decay=bad)


def test_resume_ends_where_an_uninterrupted_run_ends(tmp_path):
    settings = TrainSettings(steps=8, checkpoint_every=100, **FAST)
    whole = tiny_model()
    train(whole, PretrainingTask(), synthetic_batch, settings, tmp_path / "whole")

    def stop_at_4(record):
        if record["step"] == 4:
            raise KeyboardInterrupt  # what Ctrl-C does mid-run

    first = train(tiny_model(), PretrainingTask(), synthetic_batch, settings, tmp_path / "cut", callbacks=(stop_at_4,))
    assert first.status == "interrupted" and first.step == 4
    assert json.loads((tmp_path / "cut" / "status.json").read_text())["status"] == "interrupted"
    resumed = tiny_model(seed=123)  # different init: everything must come from the checkpoint
    second = train(resumed, PretrainingTask(), synthetic_batch, settings, tmp_path / "cut", resume=True)
    assert second.step == 8
    for key, value in whole.state_dict().items():
        assert torch.allclose(value, resumed.state_dict()[key], atol=1e-6), key
    steps = [r["step"] for r in read_metrics(tmp_path / "cut" / "metrics.jsonl").split("train")]
    assert steps == [2, 4, 6, 8]  # no duplicated lines after the resume


def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train(tiny_model(), PretrainingTask(), synthetic_batch, TrainSettings(steps=2, **FAST), tmp_path, resume=True)


def test_gradient_accumulation_equals_one_big_batch(tmp_path):
    big, accumulated = tiny_model(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0), \
        tiny_model(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    train(big, PretrainingTask(), synthetic_batch, TrainSettings(steps=3, **FAST))
    train(accumulated, PretrainingTask(), synthetic_batch, TrainSettings(steps=3, grad_accumulation=4, **FAST))
    for key, value in big.state_dict().items():
        assert torch.allclose(value, accumulated.state_dict()[key], atol=1e-5), key


def test_a_crash_while_writing_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    from bertlab.train import checkpoint as ckpt

    run = tmp_path / "run"
    train(tiny_model(), PretrainingTask(), synthetic_batch, TrainSettings(steps=4, checkpoint_every=2, **FAST), run)
    real_save = ckpt.save_file

    def crash(*args, **kwargs):
        real_save(*args, **kwargs)
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(ckpt, "save_file", crash)
    with pytest.raises(OSError):
        ckpt.save_checkpoint(run, 99, tiny_model(), None, {})
    latest = latest_checkpoint(run)
    assert latest.name == "step-000004"
    assert load_checkpoint(latest, tiny_model())["step"] == 4


SCRIPT = """
import sys; sys.path.insert(0, {tests!r})
from bertlab.train.loop import TrainSettings, train
from bertlab.data import MASK_ID
from bertlab.train.pretraining import PretrainingTask, unigram_accuracy
from train_helpers import synthetic_batch, tiny_model
train(tiny_model(), PretrainingTask(), synthetic_batch,
      TrainSettings(steps=100000, checkpoint_every=1, keep_checkpoints=2, progress=False, device="cpu",
                    precision="fp32", log_every=1), {run!r})
"""


def test_sigkill_mid_run_leaves_a_loadable_checkpoint(tmp_path):
    run = tmp_path / "run"
    code = SCRIPT.format(tests=str(Path(__file__).parent), run=str(run))
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.time() + 60
    while time.time() < deadline and not (run / "checkpoints" / "latest.json").exists():
        time.sleep(0.1)
    time.sleep(1.5)  # now it is writing checkpoints continuously
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    latest = latest_checkpoint(run)
    assert latest is not None
    state = load_checkpoint(latest, tiny_model())
    assert state["step"] >= 1
    resumed = train(tiny_model(), PretrainingTask(), synthetic_batch,
                    TrainSettings(steps=state["step"] + 2, **FAST), run, resume=True)
    assert resumed.step == state["step"] + 2


DDP_SCRIPT = """
import sys; sys.path.insert(0, {tests!r})
import torch
from safetensors.torch import save_file
from bertlab.train.loop import TrainSettings, train
from bertlab.data import MASK_ID
from bertlab.train.pretraining import PretrainingTask, unigram_accuracy
from train_helpers import synthetic_batch, tiny_model
model = tiny_model(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
result = train(model, PretrainingTask(), synthetic_batch,
               TrainSettings(steps=4, progress=False, device="cpu", precision="fp32", log_every=2,
                             learning_rate=3e-3, warmup=2))
import torch.distributed as dist
if dist.get_rank() == 0:
    save_file({{k: v.contiguous() for k, v in model.state_dict().items()}}, {out!r})
    print("LOSS", result.last_train["loss"])
from bertlab.train.distributed import cleanup
cleanup()
"""


def test_ddp_with_two_gloo_processes_matches_one_process(tmp_path):
    single = tiny_model(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    one = train(single, PretrainingTask(), synthetic_batch, TrainSettings(steps=4, **FAST))
    proc = assert_ddp_matches(single, DDP_SCRIPT, tmp_path)
    ddp_loss = float(proc.stdout.split("LOSS")[1].split()[0])
    assert abs(ddp_loss - one.last_train["loss"]) < 1e-4
