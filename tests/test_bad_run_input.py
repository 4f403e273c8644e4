"""Bad input to the commands that write runs: a one-line error naming the flag or file, before any data is built,
and nothing left behind that the dashboard would list; a run whose loss turns NaN stops and says so."""

import json
import math

import pytest
import torch

from bertlab.cli import main
from bertlab.train.loop import TrainingDiverged, TrainSettings, train
from bertlab.train.pretraining import PretrainingTask

from train_helpers import synthetic_batch, tiny_model

SMALL = ["--preset", "tiny", "--corpus", "news-en", "--batch-size", "8", "--max-seq-length", "32",
         "--vocab-size", "1000", "--quiet"]


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("flags,message", [
    (["--lr", "nan"], "--lr nan: must be a finite number"),
    (["--lr", "inf"], "--lr inf: must be a finite number"),
    (["--warmup=-inf"], "--warmup -inf: must be a finite number"),
    (["--device", "tpu"], "--device tpu: not a device bertlab can train on"),
    (["--checkpoint-every", "-1"], "checkpoint_every (--checkpoint-every) must be 0 (only at the end) or a positive"),
    (["--eval-every", "-1"], "eval_every (--eval-every) must be 0"),
])
def test_pretrain_refuses_bad_flags_before_anything_is_written(tmp_path, capsys, flags, message):
    out = tmp_path / "run"
    assert main(["pretrain", *SMALL, "--steps", "2", *flags, "--out", str(out)]) == 2
    assert message in error_line(capsys)
    assert not out.exists()  # no config.json + tokenizer.json for the dashboard to list as a run


@pytest.mark.parametrize("command", [["finetune", "--task", "reviews-zh"], ["distill", "--teacher", "runs/x"]])
@pytest.mark.parametrize("flags,message", [(["--lr", "nan"], "--lr nan: must be a finite number"),
                                           (["--device", "tpu"], "--device tpu: not a device")])
def test_finetune_and_distill_refuse_the_same_flags(tmp_path, capsys, command, flags, message):
    out = tmp_path / "run"
    assert main([*command, "--steps", "2", *flags, "--out", str(out)]) == 2
    assert message in error_line(capsys) and not out.exists()


@pytest.mark.parametrize("content,message", [
    ({"steps": "ten"}, "steps must be an integer, got 'ten'"),
    ({"seed": "x"}, "seed must be an integer, got 'x'"),
    ({"model_overrides": {"bogus": 1}}, "model_overrides: unknown BertConfig field(s) bogus"),
    ({"model": {"hidden_size": "wide"}}, "model: hidden_size must be an integer, got 'wide'"),
    ({"learning_rate": "fast"}, "learning_rate must be a number, got 'fast'"),
])
def test_a_config_file_with_wrong_values_names_the_file_and_field(tmp_path, capsys, content, message):
    config = tmp_path / "options.json"
    config.write_text(json.dumps(content))
    assert main(["pretrain", *SMALL, "--config", str(config), "--out", str(tmp_path / "run")]) == 2
    line = error_line(capsys)
    assert f"--config {config}" in line and message in line, line


def test_a_config_folder_and_an_out_file_are_refused(tmp_path, capsys):
    assert main(["pretrain", *SMALL, "--config", str(tmp_path), "--out", str(tmp_path / "run")]) == 2
    assert f"--config {tmp_path} is a folder" in error_line(capsys)
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    assert main(["pretrain", *SMALL, "--steps", "2", "--out", str(notes)]) == 2
    assert f"--out {notes} is a file, not a folder" in error_line(capsys)
    assert notes.read_text() == "mine"


def test_resume_refuses_a_flag_that_conflicts_with_the_saved_run(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["pretrain", *SMALL, "--steps", "2", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["pretrain", "--out", str(out), "--resume", "--steps", "4", "--preset", "small"]) == 2
    line = error_line(capsys)
    assert "--preset small conflicts with the run in" in line and "started with preset = 'tiny'" in line
    assert main(["pretrain", "--out", str(out), "--resume", "--steps", "4", "--lr", "0.5"]) == 2
    assert "started with learning_rate = 0.001" in error_line(capsys)
    # the saved value itself, and what a resumed run may change, are accepted
    assert main(["pretrain", "--out", str(out), "--resume", "--steps", "4", "--preset", "tiny", "--quiet",
                 "--checkpoint-every", "1"]) == 0
    assert json.loads((out / "status.json").read_text())["step"] == 4


def test_utf16_text_is_called_utf16_and_the_fix_is_given(tmp_path, capsys):
    text = "The first sentence is here. A second one follows.\n" * 50
    for name, data, kind in (("bom.txt", text.encode("utf-16"), "UTF-16 (little-endian)"),
                             ("le.txt", text.encode("utf-16-le"), "UTF-16LE (no byte-order mark)"),
                             ("be.txt", text.encode("utf-16-be"), "UTF-16BE (no byte-order mark)")):
        (tmp_path / name).write_bytes(data)
        assert main(["pretrain", *SMALL, "--corpus", str(tmp_path / name), "--out", str(tmp_path / "run")]) == 2
        line = error_line(capsys)
        assert f"the file is {kind} text, not UTF-8" in line and "iconv -f UTF-16" in line and "binary" not in line


def test_settings_refuse_non_finite_and_negative_values():
    for name in ("learning_rate", "warmup", "weight_decay", "max_grad_norm"):
        for bad in (math.nan, math.inf):
            with pytest.raises(ValueError, match=f"{name} .* must be a finite number"):
                TrainSettings(**{name: bad})
    with pytest.raises(ValueError, match="log_every"):
        TrainSettings(log_every=0)


def test_a_loss_that_turns_nan_stops_the_run_keeping_the_last_good_checkpoint(tmp_path):
    class Poisoned(PretrainingTask):
        def step(self, model, batch, totals):
            loss, stats = super().step(model, batch, totals)
            return (loss * math.nan if int(batch["input_ids"][0, 0]) == poison else loss), stats

    poison = int(synthetic_batch(5)["input_ids"][0, 0])
    run = tmp_path / "run"
    settings = TrainSettings(steps=10, checkpoint_every=2, progress=False, device="cpu", precision="fp32", log_every=1)
    model = tiny_model()
    with pytest.raises(TrainingDiverged, match=r"the loss became nan at step 6 .*checkpoints/step-000004, is kept.*"
                                               r"lower --lr"):
        train(model, Poisoned(), synthetic_batch, settings, run)
    assert all(torch.isfinite(p).all() for p in model.parameters())  # the NaN step never updated the weights
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "diverged" and status["good_checkpoint"] == "step-000004"
    assert not (run / "model.safetensors").exists()  # no NaN weights written as the run's result
    assert sorted(p.name for p in (run / "checkpoints").glob("step-*")) == ["step-000002", "step-000004"]


def test_an_exploding_learning_rate_exits_non_zero_naming_the_step(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["pretrain", *SMALL, "--steps", "30", "--lr", "1e30", "--warmup", "0", "--max-seq-length", "32",
                 "--checkpoint-every", "1", "--out", str(out)]) == 1
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("bertlab pretrain: stopped: the ") and "became" in line and "lower --lr" in line, line
    assert json.loads((out / "status.json").read_text())["status"] == "diverged"
