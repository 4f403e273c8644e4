"""Training: the loop, checkpoints, metrics and run folders."""

from bertlab.train.loop import TrainResult, TrainSettings, train
from bertlab.train.run import Run, load_run, write_run_config

__all__ = ["TrainSettings", "TrainResult", "train", "Run", "load_run", "write_run_config"]
