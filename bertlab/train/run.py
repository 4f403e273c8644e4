"""Run folders: writing their config and reading a finished (or running) run back.

``load_run`` is what notebooks and the dashboard use: it returns the model, its tokenizer and the run's
settings. It loads only safetensors and JSON, and only classes from a fixed list.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from bertlab.config import BertConfig
from bertlab.data.tokenizer import read_tokenizer_file
from bertlab.io import atomic_write_json
from bertlab.train.checkpoint import load_weights, resumable_checkpoint
from bertlab.train.metrics import Metrics, read_metrics


def model_classes() -> dict[str, type[nn.Module]]:
    """The model classes a run folder may name (a fixed list: nothing is imported by name from disk)."""
    from bertlab import model as m

    classes = {cls.__name__: cls for cls in (m.BertForPreTraining, m.BertForSequenceClassification,
                                             m.BertForTokenClassification, m.BertModel)}
    for module, name in (("bertlab.finetune.models", "FINETUNE_MODEL_CLASSES"),
                         ("bertlab.distill.trainer", "DISTILL_MODEL_CLASSES")):
        try:
            classes.update(getattr(importlib.import_module(module), name))
        except ImportError:
            pass  # that part of bertlab is not installed / built yet
    return classes


def write_run_config(run_dir: str | Path, kind: str, model_config: BertConfig, model_class: str = "BertForPreTraining",
                     model_kwargs: dict | None = None, **sections) -> dict:
    """Write ``config.json``: what a reader needs to rebuild the model, plus the run's settings."""
    data = {"kind": kind, "model_class": model_class, "model_kwargs": model_kwargs or {},
            "model": model_config.to_dict(), **sections}
    atomic_write_json(Path(run_dir) / "config.json", data)
    return data


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
