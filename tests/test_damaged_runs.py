"""Damaged run folders: resume falls back past a damaged newest checkpoint (saying which and why); a truncated
final model.safetensors or tokenizer.json, or a config.json without "model", is a one-line error that names the
file in load_run, `finetune --from` and `distill --teacher`."""

import json
import shutil

import pytest

from bertlab.cli import main
from bertlab.train.run import load_run

SMALL = ["--preset", "tiny", "--corpus", "news-en", "--batch-size", "8", "--max-seq-length", "32",
         "--vocab-size", "1000", "--log-every", "2", "--quiet"]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A finished 6-step run with checkpoints step-000004 and step-000006."""
    out = tmp_path_factory.mktemp("made") / "run"
    assert main(["pretrain", *SMALL, "--steps", "6", "--checkpoint-every", "2", "--out", str(out)]) == 0
    return out


@pytest.fixture
def copy(made, tmp_path):
    target = tmp_path / "run"
    shutil.copytree(made, target)
    return target


def truncate(path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


@pytest.mark.parametrize("damage,why", [
    (lambda step: truncate(step / "model.safetensors"), "model.safetensors is damaged or truncated"),
    (lambda step: (step / "trainer_state.json").write_text("garbage"), "trainer_state.json is not valid JSON"),
    (lambda step: truncate(step / "optimizer.safetensors", 0.9), "optimizer.safetensors is damaged or truncated"),
    (lambda step: (step / "trainer_state.json").unlink(), "trainer_state.json is missing"),
])
def test_resume_skips_a_damaged_newest_checkpoint_and_says_why(copy, capsys, damage, why):
    damage(copy / "checkpoints" / "step-000006")
    assert main(["pretrain", "--out", str(copy), "--resume", "--steps", "8", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert f"resume: skipping {copy}/checkpoints/step-000006: {why}" in err, err
    assert f"resume: from {copy}/checkpoints/step-000004" in err
    assert json.loads((copy / "status.json").read_text())["status"] == "finished"


def test_resume_with_every_checkpoint_damaged_is_one_clear_line(copy, capsys):
    for step in ("step-000004", "step-000006"):
        truncate(copy / "checkpoints" / step / "model.safetensors")
    assert main(["pretrain", "--out", str(copy), "--resume", "--steps", "8", "--quiet"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("bertlab pretrain: error: --resume: no checkpoint in") and "all damaged" in last


DAMAGES = {
    "model.safetensors": (lambda run: truncate(run / "model.safetensors"), "model.safetensors is damaged or truncated"),
    "tokenizer.json": (lambda run: truncate(run / "tokenizer.json"), "tokenizer.json is not a readable tokenizer"),
    "config.json": (lambda run: (run / "config.json").write_text(json.dumps(
        {k: v for k, v in json.loads((run / "config.json").read_text()).items() if k != "model"})),
        'config.json has no "model" section'),
}


@pytest.mark.parametrize("name", list(DAMAGES))
def test_a_damaged_final_file_is_named_by_load_run_finetune_and_distill(copy, tmp_path, capsys, name):
    damage, message = DAMAGES[name]
    damage(copy)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")) as caught:
        load_run(copy)
    assert str(copy / name) in str(caught.value) and "\n" not in str(caught.value)
    for command in (["finetune", "--from", str(copy), "--task", "reviews-zh", "--steps", "2"],
                    ["distill", "--teacher", str(copy), "--steps", "2"]):
        assert main([*command, "--out", str(tmp_path / command[0])]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and str(copy / name) in err and message in err, err
        assert not (tmp_path / command[0]).exists()  # the failed start left nothing behind
