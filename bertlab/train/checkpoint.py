"""Checkpoints: safetensors for tensors, JSON for everything else, written atomically. No pickle.

Layout: ``checkpoints/step-000500/{model.safetensors, optimizer.safetensors, trainer_state.json}``,
and ``checkpoints/latest.json`` naming the newest complete one. A checkpoint folder is written under a
temporary name and renamed when complete, and ``latest.json`` is replaced last, so a crash (or SIGKILL)
at any moment leaves the previous checkpoint loadable. A checkpoint damaged afterwards (a disk that filled up,
a half-copied folder) is found by ``verify_checkpoint``; ``resumable_checkpoint`` then falls back to an older one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from bertlab.io import atomic_path, atomic_write_json


def save_weights(model: torch.nn.Module, path: str | Path) -> None:
    """``model.state_dict()`` as safetensors, atomically."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp))


def safetensors_problem(path: str | Path) -> str | None:
    """Why ``path`` is not a complete safetensors file (missing, truncated, not safetensors), or None.
    Reads only the header, which records every tensor's byte range: a truncated file does not cover them."""
    path = Path(path)
    if not path.is_file():
        return f"{path.name} is missing"
    try:
        with safe_open(str(path), framework="pt") as handle:
            handle.keys()
    except (SafetensorError, OSError) as err:
        return f"{path.name} is damaged or truncated ({err})"
    return None


def load_weights(model: torch.nn.Module, path: str | Path, strict: bool = True) -> None:
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"{path}: bertlab loads weights only from .safetensors files (never pickle)")
    if not path.exists():
        raise FileNotFoundError(f"{path}: no weights file here")
    problem = safetensors_problem(path)
    if problem is not None:
        raise ValueError(f"{path.parent / problem}; a half-written copy or a full disk leaves such a file: copy "
                         f"it again, or load one of the run's checkpoints (load_run(run, checkpoint='latest'))")
    state = load_file(str(path))
    model_keys = set(model.state_dict())
    if strict and set(state) != model_keys:
        missing, extra = sorted(model_keys - set(state)), sorted(set(state) - model_keys)
        raise ValueError(f"{path} does not fit this model: missing {missing[:4]}, unexpected {extra[:4]}; "
                         f"was it saved from a model with a different config?")
    try:
        model.load_state_dict(state, strict=strict)
    except RuntimeError as err:
        first = str(err).splitlines()[1:2]
        raise ValueError(f"{path} does not fit this model's shapes: {' '.join(first).strip()}") from None


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer's state into tensors (for safetensors) and JSON (hyper-parameters)."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, entry in state["state"].items():
        for name, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"{index}.{name}"] = value.detach().contiguous().cpu()
            else:
                scalars[f"{index}.{name}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    for key, value in meta["scalars"].items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_checkpoint(run_dir: str | Path, step: int, model: torch.nn.Module,
                    optimizer: torch.optim.Optimizer | None, trainer_state: dict, keep: int = 2) -> Path:
    """Write checkpoint ``step`` and point ``latest.json`` at it; keep the newest ``keep`` checkpoints."""
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    name = f"step-{step:06d}"
    final = root / name
    tmp = root / f".{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_weights(model, tmp / "model.safetensors")
    extra = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        extra["rng.cuda"] = torch.cuda.get_rng_state()
    meta = {}
    if optimizer is not None:
        tensors, meta = optimizer_tensors(optimizer)
        extra.update({f"optimizer.{k}": v for k, v in tensors.items()})
    save_file(extra, str(tmp / "optimizer.safetensors"))
    (tmp / "trainer_state.json").write_text(json.dumps({"step": step, "optimizer": meta, **trainer_state}, indent=2))
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)  # the checkpoint appears complete or not at all
    atomic_write_json(root / "latest.json", {"step": step, "path": name})
    for old in sorted(p for p in root.glob("step-*") if p.is_dir())[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def verify_checkpoint(path: str | Path) -> str | None:
    """Why checkpoint folder ``path`` cannot be resumed from (a file missing, truncated or unreadable), or None."""
    path = Path(path)
    try:
        state = json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "trainer_state.json is missing"
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        return f"trainer_state.json is not valid JSON ({err})"
    if not isinstance(state, dict) or not isinstance(state.get("step"), int):
        return "trainer_state.json has no step number"
    for name in ("model.safetensors", "optimizer.safetensors"):
        problem = safetensors_problem(path / name)
        if problem is not None:
            return problem
    with safe_open(str(path / "optimizer.safetensors"), framework="pt") as handle:
        if "rng.torch" not in handle.keys():
            return "optimizer.safetensors holds no random-number-generator state"
    return None


def resumable_checkpoint(run_dir: str | Path) -> tuple[Path | None, list[tuple[str, str]]]:
    """The newest checkpoint folder that verifies (or None), and the newer ones skipped: [(name, why)]."""
    root = Path(run_dir) / "checkpoints"
    skipped = []
    for candidate in sorted((p for p in root.glob("step-*") if p.is_dir()), reverse=True):
        problem = verify_checkpoint(candidate)
        if problem is None:
            return candidate, skipped
        skipped.append((candidate.name, problem))
    return None, skipped


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint folder, or None."""
    root = Path(run_dir) / "checkpoints"
    pointer = root / "latest.json"
    if pointer.exists():
        try:
            candidate = root / json.loads(pointer.read_text())["path"]
            if (candidate / "trainer_state.json").exists():
                return candidate
        except (json.JSONDecodeError, KeyError):
            pass
    complete = sorted(p for p in root.glob("step-*") if (p / "trainer_state.json").exists())
    return complete[-1] if complete else None


def load_checkpoint(path: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    restore_rng: bool = True) -> dict:
    """Load weights (and optimizer state and RNG) from a checkpoint folder; returns its trainer state."""
    path = Path(path)
    load_weights(model, path / "model.safetensors")
    trainer_state = json.loads((path / "trainer_state.json").read_text())
    extra = load_file(str(path / "optimizer.safetensors"))
    if optimizer is not None and trainer_state.get("optimizer"):
        tensors = {k[len("optimizer."):]: v for k, v in extra.items() if k.startswith("optimizer.")}
        restore_optimizer(optimizer, tensors, trainer_state["optimizer"])
    if restore_rng:
        torch.set_rng_state(extra["rng.torch"])
        if "rng.cuda" in extra and torch.cuda.is_available():
            torch.cuda.set_rng_state(extra["rng.cuda"])
    return trainer_state
