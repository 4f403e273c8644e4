"""experiments.common.cached_run: a run stopped by a signal stops the experiment (it used to go on to the next
run, and later found an unfinished one)."""

import pytest

from bertlab.experiments.common import cached_run
from bertlab.pretrain import PretrainOptions
from bertlab.train.loop import TrainResult


def fake_train(status: str, calls: list):
    """A trainer that ends with ``status`` after 3 steps, recording whether it was asked to resume."""
    def train(options):
        calls.append(options.resume)
        return TrainResult(step=3, status=status)
    return train


def test_a_finished_run_returns_its_state_and_an_interrupted_one_raises(tmp_path):
    calls = []
    assert cached_run(PretrainOptions(steps=5, out=str(tmp_path / "a"), progress=False),
                      fake_train("finished", calls)) == "new"
    with pytest.raises(KeyboardInterrupt, match="stopped at step 3"):
        cached_run(PretrainOptions(steps=5, out=str(tmp_path / "b"), progress=False), fake_train("interrupted", calls))
    assert calls == [False, False]
