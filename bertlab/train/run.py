"""Run folders: writing their config and reading a finished (or running) run back.

``load_run`` is what notebooks and the dashboard use: it returns the model, its tokenizer and the run's
settings. It loads only safetensors and JSON, and only classes from a fixed list.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from bertlab.config import BertConfig
from bertlab.data.tokenizer import save_tokenizer
from bertlab.distill.models import DISTILL_MODEL_CLASSES
from bertlab.io import atomic_write_json
from bertlab.model import BertForPreTraining, BertForSequenceClassification, BertForTokenClassification, BertModel
from bertlab.model.classifier import FINETUNE_MODEL_CLASSES
from bertlab.train.checkpoint import latest_checkpoint, load_weights
from bertlab.train.metrics import Metrics, read_metrics


def model_classes() -> dict[str, type[nn.Module]]:
    """The model classes a run folder may name (a fixed list: nothing is imported by name from disk)."""
    classes = {cls.__name__: cls for cls in (BertForPreTraining, BertForSequenceClassification,
                                             BertForTokenClassification, BertModel)}
    return {**classes, **FINETUNE_MODEL_CLASSES, **DISTILL_MODEL_CLASSES}


def write_run_config(run_dir: str | Path, kind: str, model_config: BertConfig, model_class: str = "BertForPreTraining",
                     model_kwargs: dict | None = None, **sections) -> dict:
    """Write ``config.json``: what a reader needs to rebuild the model, plus the run's settings."""
    data = {"kind": kind, "model_class": model_class, "model_kwargs": model_kwargs or {},
            "model": model_config.to_dict(), **sections}
    atomic_write_json(Path(run_dir) / "config.json", data)
    return data


def start_run(out: str | Path | None, kind: str, model_config: BertConfig, tokenizer, resume: bool = False,
              summary: str | None = None, holds_run: str = "checkpoints", **config) -> Path | None:
    """Open the run folder ``out`` for a run of ``kind`` (None: a run that writes nothing).

    A new run refuses a folder that already holds one (``holds_run`` exists in it), creates the folder and writes
    ``tokenizer.json`` and ``config.json`` (``config``: ``model_class``, ``model_kwargs`` and the sections of
    ``write_run_config``); ``resume`` opens the folder as it is. ``summary`` goes to stderr (the run's one-line
    description: data, model size, baselines)."""
    run_dir = Path(out) if out else None
    if run_dir is not None and not resume:
        if (run_dir / holds_run).exists():
            hint = "continue it with --resume or choose another --out" if holds_run == "checkpoints" else \
                "choose another --out or delete it"
            raise ValueError(f"{run_dir} already holds a run; {hint}")
        run_dir.mkdir(parents=True, exist_ok=True)
        save_tokenizer(tokenizer, run_dir / "tokenizer.json")
        write_run_config(run_dir, kind, model_config, **config)
    if summary:
        print(summary, file=sys.stderr)
    return run_dir


def resumed_options(out: str | Path, options_class, steps: int | None, error: str, kind: str | None = None):
    """The options a run in ``out`` was started with (its config.json "options"), set to resume it there, with
    ``steps`` (when given) as the new total; ``error`` when the folder holds no such run (of ``kind``)."""
    config = read_run_config(out)
    saved = config.get("options")
    if not saved or (kind is not None and config.get("kind") != kind):
        raise ValueError(error)
    options = options_class(**saved)
    options.resume, options.out = True, str(out)
    if steps is not None:
        options.steps = steps
    return options


@dataclass
class Run:
    path: Path
    config: dict  # the whole config.json
    model_config: BertConfig
    model: nn.Module
    tokenizer: object  # tokenizers.Tokenizer
    weights: Path

    @property
    def kind(self) -> str:
        return self.config.get("kind", "pretrain")

    def metrics(self) -> Metrics:
        return read_metrics(self.path / "metrics.jsonl")

    def status(self) -> dict:
        return read_status(self.path)


def read_run_config(path: str | Path) -> dict:
    path = Path(path) / "config.json"
    if not path.exists():
        raise FileNotFoundError(f"{path.parent} is not a bertlab run folder (no config.json); "
                                f"make one with `bertlab pretrain --out {path.parent}`")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None


def read_status(path: str | Path) -> dict:
    """``status.json``; a run whose status says running but has not written for 10 minutes is "stale"."""
    try:
        return json.loads((Path(path) / "status.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {"status": "unknown"}


def resolve_weights(path: Path, checkpoint: str | int | None) -> Path:
    if checkpoint is None:
        if (path / "model.safetensors").exists():
            return path / "model.safetensors"
        checkpoint = "latest"
    if checkpoint == "latest":
        latest = latest_checkpoint(path)
        if latest is None:
            raise FileNotFoundError(f"{path}: no model.safetensors and no checkpoint yet")
        return latest / "model.safetensors"
    name = f"step-{int(checkpoint):06d}" if str(checkpoint).isdigit() else str(checkpoint)
    weights = path / "checkpoints" / name / "model.safetensors"
    if not weights.exists():
        available = sorted(p.name for p in (path / "checkpoints").glob("step-*"))
        raise FileNotFoundError(f"{path}: no checkpoint {name}; available: {', '.join(available) or 'none'}")
    return weights


def load_run(path: str | Path, checkpoint: str | int | None = None) -> Run:
    """Model (in eval mode), tokenizer and settings of a run folder.

    ``checkpoint``: None = the final ``model.safetensors`` (or the latest checkpoint of a running run),
    "latest", a step number, or a checkpoint folder name such as "step-000500".
    """
    from tokenizers import Tokenizer

    path = Path(path)
    config = read_run_config(path)
    model_config = BertConfig.from_dict(config["model"])
    classes = model_classes()
    class_name = config.get("model_class", "BertForPreTraining")
    if class_name not in classes:
        raise ValueError(f"{path}/config.json names model_class {class_name!r}; known: {', '.join(classes)}")
    model = classes[class_name](model_config, **config.get("model_kwargs", {}))
    weights = resolve_weights(path, checkpoint)
    load_weights(model, weights)
    tokenizer_path = path / "tokenizer.json"
    if not tokenizer_path.exists():
        raise FileNotFoundError(f"{path}: tokenizer.json is missing; the run folder is incomplete")
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    return Run(path, config, model_config, model.eval(), tokenizer, weights)
