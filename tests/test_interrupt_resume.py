"""Exact resumption after a real signal to a real process: Ctrl-C (SIGINT) and SIGTERM mid-step, with dropout
(the `bert` recipe) and without (`fast-cpu`), and a fault-injection run killed at random points many times."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bertlab.train.checkpoint import resumable_checkpoint
from bertlab.train.loop import TrainSettings, train
from bertlab.train.pretraining import PretrainingTask

from run_processes import ENV, TINY, run, start, status, wait_for
from train_helpers import synthetic_batch, tiny_model

STEPS = ["--steps", "120", "--checkpoint-every", "20"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """recipe -> the model.safetensors bytes of a run that was never stopped."""
    cache = {}

    def get(recipe: str) -> bytes:
        if recipe not in cache:
            out = tmp_path_factory.mktemp("whole") / recipe
            done = run("pretrain", *TINY, *STEPS, "--recipe", recipe, "--out", str(out))
            assert done.returncode == 0, done.stderr
            cache[recipe] = (out / "model.safetensors").read_bytes()
        return cache[recipe]

    return get


@pytest.mark.parametrize("recipe,sig", [("bert", signal.SIGINT), ("bert", signal.SIGTERM),
                                        ("fast-cpu", signal.SIGINT), ("fast-cpu", signal.SIGTERM)])
def test_a_signal_mid_step_then_resume_ends_bit_identical(tmp_path, uninterrupted, recipe, sig):
    out = tmp_path / "cut"
    proc = start("pretrain", *TINY, *STEPS, "--recipe", recipe, "--out", str(out))
    wait_for(lambda: (out / "checkpoints" / "latest.json").exists() or proc.poll() is not None,
             what="the first checkpoint")
    os.kill(proc.pid, sig)  # lands inside a step: the steps are nearly all of the run's time
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert f"{sig.name}: stopping after the step in progress" in err
    stopped = status(out)
    assert stopped["status"] == "interrupted" and 20 <= stopped["step"] < 120, stopped
    assert resumable_checkpoint(out)[0].name == f"step-{stopped['step']:06d}"  # saved at the step it stopped
    resumed = run("pretrain", "--out", str(out), "--resume", "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert (out / "model.safetensors").read_bytes() == uninterrupted(recipe)


FAULT_SCRIPT = """
import sys; sys.path.insert(0, {tests!r})
from bertlab.train.checkpoint import resumable_checkpoint
from bertlab.train.loop import TrainSettings, train
from bertlab.train.pretraining import PretrainingTask
from bertlab.train.loop import TrainSettings, train
from bertlab.train.pretraining import PretrainingTask
from train_helpers import synthetic_batch, tiny_model
run = {run!r}
train(tiny_model(), PretrainingTask(), synthetic_batch,  # tiny_model keeps dropout 0.1
      TrainSettings(steps={steps}, checkpoint_every=3, keep_checkpoints=2, progress=False, device="cpu",
                    precision="fp32", log_every=1, learning_rate=3e-3, warmup=2),
      run, resume=resumable_checkpoint(run)[0] is not None)
"""


def test_killed_at_random_points_many_times_resume_ends_bit_identical(tmp_path):
    """SIGKILL (no chance to save), SIGINT (stop after the step) and a double SIGINT (abort without saving), at
    seeded random moments, six times in one run; each restart resumes from what is on disk. Long enough (300 steps)
    that six interruptions, each within 0.4 s of a step, cannot finish it on a fast machine."""
    steps = 300
    tests = str(Path(__file__).parent)

    def launch(run_dir: Path) -> subprocess.Popen:
        code = FAULT_SCRIPT.format(tests=tests, run=str(run_dir), steps=steps)
        return subprocess.Popen([sys.executable, "-c", code], env=ENV, stderr=subprocess.PIPE, text=True)

    whole = launch(tmp_path / "whole")
    assert whole.wait(timeout=300) == 0, whole.stderr.read()
    rng = random.Random(18)
    cut = tmp_path / "cut"
    kills = 0
    for _ in range(6):
        before = status(cut).get("step", -1)
        proc = launch(cut)
        wait_for(lambda: status(cut).get("step", -1) > before or proc.poll() is not None, what="a step")
        # the loop logs every step, so status.json's step moves on each one; die a random moment later
        try:
            proc.wait(timeout=rng.uniform(0.0, 0.4))
        except subprocess.TimeoutExpired:
            kind = rng.choice(["SIGKILL", "SIGINT", "SIGINT twice"])
            os.kill(proc.pid, signal.SIGKILL if kind == "SIGKILL" else signal.SIGINT)
            if kind == "SIGINT twice":
                time.sleep(0.05)
                os.kill(proc.pid, signal.SIGINT)
            kills += 1
        proc.communicate(timeout=120)
    assert kills >= 4, "the run finished before it could be interrupted: make it longer"
    if status(cut).get("status") != "finished":  # a launch whose random moment came after the last step ended it
        final = launch(cut)
        assert final.wait(timeout=300) == 0, final.stderr.read()
    assert (cut / "model.safetensors").read_bytes() == (tmp_path / "whole" / "model.safetensors").read_bytes()


class SignalsMidStep(PretrainingTask):
    """Sends itself ``count`` SIGINTs from inside the forward pass of step ``at`` (after its dropout draws)."""

    def __init__(self, at: int, count: int):
        super().__init__()
        self.at, self.count, self.calls = at, count, 0

    def step(self, model, batch, totals):
        out = super().step(model, batch, totals)
        if self.calls == self.at:
            for _ in range(self.count):
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.01)  # let the handler run before the next one
        self.calls += 1
        return out


@pytest.mark.parametrize("count", [1, 2])
def test_one_sigint_finishes_the_step_and_a_second_aborts_without_saving(tmp_path, count):
    """In-process and deterministic: the signals land inside step 6 of 10 (dropout on, checkpoints every 4)."""
    settings = TrainSettings(steps=10, checkpoint_every=4, progress=False, device="cpu", precision="fp32",
                             log_every=1, learning_rate=3e-3, warmup=2)
    whole = tiny_model()
    train(whole, PretrainingTask(), synthetic_batch, settings, tmp_path / "whole")
    cut = tmp_path / "cut"
    first = train(tiny_model(), SignalsMidStep(at=5, count=count), synthetic_batch, settings, cut)
    assert first.status == "interrupted"
    saved = int(resumable_checkpoint(cut)[0].name.split("-")[1])
    if count == 1:  # the step in progress finished and was saved, with the weights
        assert saved == 6 and status(cut)["step"] == 6 and (cut / "model.safetensors").exists()
    else:  # aborted inside step 6: nothing written; the checkpoint of step 4 stays
        assert saved == 4 and status(cut)["step"] == 4 and not (cut / "model.safetensors").exists()
    resumed = tiny_model(seed=1)
    train(resumed, PretrainingTask(), synthetic_batch, settings, cut, resume=True)
    assert (cut / "model.safetensors").read_bytes() == (tmp_path / "whole" / "model.safetensors").read_bytes()
