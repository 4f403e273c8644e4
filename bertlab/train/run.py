"""Run folders: writing their config and reading a finished (or running) run back.

``load_run`` is what notebooks and the dashboard use: it returns the model, its tokenizer and the run's
settings. It loads only safetensors and JSON, and only classes from a fixed list.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from bertlab.config import BertConfig
from bertlab.data.tokenizer import read_tokenizer_file, save_tokenizer
from bertlab.distill.models import DISTILL_MODEL_CLASSES
from bertlab.io import atomic_write_json
from bertlab.model import BertForPreTraining, BertForSequenceClassification, BertForTokenClassification, BertModel
from bertlab.model.classifier import FINETUNE_MODEL_CLASSES
from bertlab.train.checkpoint import load_weights, resumable_checkpoint
from bertlab.train.metrics import Metrics, read_metrics
from bertlab.train.runlock import run_lock


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


@contextmanager
def open_run(out: str | Path | None, resume: bool = False, holds_run_file: str = "checkpoints",
             hint: str = "continue it with --resume or choose another --out") -> Iterator[Path | None]:
    """Hold ``out``'s writer lock for the ``with`` block (``bertlab.train.runlock``: one writer per run folder;
    a failed start takes back what it wrote) and refuse a folder that already holds a run (``holds_run_file``
    exists in it) unless resuming. Every run kind opens its folder here, before any slow work."""
    with run_lock(out) as run_dir:
        if run_dir is not None and not resume and (run_dir / holds_run_file).exists():
            raise ValueError(f"{run_dir} already holds a run; {hint}")
        yield run_dir


def start_run(run_dir: Path | None, kind: str, model_config: BertConfig, tokenizer, resume: bool = False,
              summary: str | None = None, **config) -> None:
    """Start a run of ``kind`` in the folder ``open_run`` gave (None: a run that writes nothing): a new run
    writes ``tokenizer.json`` and ``config.json`` (``config``: ``model_class``, ``model_kwargs`` and the sections
    of ``write_run_config``); a resumed one keeps what is there. ``summary`` goes to stderr (the run's one-line
    description: data, model size, baselines)."""
    if run_dir is not None and not resume:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_tokenizer(tokenizer, run_dir / "tokenizer.json")
        write_run_config(run_dir, kind, model_config, **config)
    if summary:
        print(summary, file=sys.stderr)


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


# what a resumed run may change: how long it goes on, where and how it runs, how often it reports; everything
# else (shape, data, objective, learning rate, seed ...) must stay as saved, or the resumed run is another run
RESUME_ADJUSTABLE = ("steps", "device", "compile", "eval_every", "checkpoint_every", "log_every", "progress", "out",
                     "resume")
FLAG_NAMES = {"learning_rate": "--lr", "attention_mask_kind": "--attention-mask", "student_run": "--student"}


def resumed_options(cls, out: str | Path, kind: str, changes: dict):
    """``cls`` (PretrainOptions, DistillOptions) as run ``out`` was started (its config.json), with ``changes``
    (flags given with --resume): those in RESUME_ADJUSTABLE apply; any other must equal the saved value, else
    a ValueError names the flag and the saved value."""
    config = read_run_config(out)
    saved = config.get("options")
    if not isinstance(saved, dict) or config.get("kind", "pretrain") != kind:
        raise ValueError(f"{out}/config.json was not written by bertlab {kind}; nothing to resume")
    may_change = ", ".join("--" + k.replace("_", "-") for k in RESUME_ADJUSTABLE[:6])
    for name, value in changes.items():
        if name in RESUME_ADJUSTABLE:
            continue
        if name == "model_overrides":  # compare the fields given, not the whole dict
            pairs = [(f"model field {k}", k, v, (saved.get(name) or {}).get(k)) for k, v in value.items()]
        else:
            pairs = [(FLAG_NAMES.get(name, "--" + name.replace("_", "-")), name, value, saved.get(name))]
        for flag, field, wanted, was in pairs:
            if json.loads(json.dumps(wanted)) != json.loads(json.dumps(was)):
                raise ValueError(f"{flag} {wanted} conflicts with the run in {out}, which was started with {field} = "
                                 f"{was!r}; --resume keeps a run's saved settings (only {may_change} may change): "
                                 f"drop {flag}, or start a new run with another --out")
    adjusted = {k: v for k, v in changes.items() if k in RESUME_ADJUSTABLE}
    return cls(**{**saved, **adjusted, "resume": True, "out": str(out)})


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
        latest, skipped = resumable_checkpoint(path)
        if latest is None:
            damaged = f" (damaged: {'; '.join(f'{n}: {why}' for n, why in skipped)})" if skipped else ""
            raise FileNotFoundError(f"{path}: no model.safetensors and no usable checkpoint yet{damaged}")
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
    path = Path(path)
    config = read_run_config(path)
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
        raise ValueError(f"{path}/config.json has no \"model\" section (the model's shape); the file is damaged "
                         f"or was not written by bertlab: copy it again from the run that made it")
    try:
        model_config = BertConfig.from_dict(config["model"])
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path}/config.json: its \"model\" section is not a valid model ({err})") from None
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
    tokenizer = read_tokenizer_file(tokenizer_path)
    return Run(path, config, model_config, model.eval(), tokenizer, weights)
