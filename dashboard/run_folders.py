"""The runs folder as the dashboard sees it: discovery, path safety, status, checkpoints, teachers, metrics.

No Streamlit here (the pages cache these functions). Every path the dashboard opens is built from the
runs root given on the command line and names found by listing it, then resolved and checked to lie
inside the root (``Path.resolve().is_relative_to(root)``): a symlink or a ``"teacher": "../../etc"`` in
a config file cannot make it read elsewhere, and nothing typed in the browser is ever used as a path.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from bertlab.config import BertConfig
from bertlab.course import course_dir
from bertlab.data import BUILTIN_CORPORA
from bertlab.train.metrics import read_metrics

# runs of models that are not a BERT encoder: listed with their curves; the model pages cannot load them
CURVES_ONLY_KINDS = {"mass": "a MASS encoder-decoder run (bertlab.family.mass): curves only; the attention, "
                             "parameters and fill-mask pages read BERT encoders"}
STALE_AFTER_S = 600  # a "running" run whose status.json has not changed for 10 minutes is probably dead
CHECKPOINT_NAME = re.compile(r"^step-\d+$")
FINAL = "final"  # the run's model.safetensors
SKIP_FIELDS = {"split", "step", "time", "elapsed", "epoch"}  # not curves of their own
PRETRAIN_COMMAND = "bertlab pretrain --preset tiny --corpus wiki-en --steps 2000 --out {root}/tiny"


class UnsafePath(ValueError):
    """A path that would lead outside the runs folder."""


def make_one_command(root: Path | str) -> str:
    """The exact command that creates a first run in ``root``."""
    return PRETRAIN_COMMAND.format(root=_display(Path(root)))


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def inside(root: Path, path: Path) -> Path:
    """``path`` resolved (symlinks followed), or UnsafePath if that is not inside ``root``."""
    root = root.resolve()
    resolved = path.resolve()
    if not resolved.is_relative_to(root):
        raise UnsafePath(f"{path} is outside the runs folder {root}")
    return resolved


@dataclass
class RunInfo:
    """What the dashboard knows about one run folder without loading its model."""

    name: str  # path relative to the runs root, e.g. "tiny" or "experiment/teacher"
    path: Path  # resolved, inside the root
    config: dict | None = None
    errors: list[str] = field(default_factory=list)  # problems that make the run unusable for a model
    status: dict = field(default_factory=dict)
    checkpoints: list[str] = field(default_factory=list)  # loadable weights: "final", then newest step first
    root: Path | None = None  # the folder it was found in when that is not the runs folder (a course model)

    @property
    def kind(self) -> str:
        return (self.config or {}).get("kind", "?")

    @property
    def model_config(self) -> BertConfig | None:
        try:
            return BertConfig.from_dict((self.config or {})["model"])
        except (KeyError, TypeError, ValueError):
            return None

    @property
    def state(self) -> str:
        """running | finished | interrupted | diverged (the loss became NaN: status.json says why) | stale | unknown."""
        status = self.status.get("status", "unknown")
        updated = self.status.get("updated")
        if status == "running" and isinstance(updated, (int, float)) and time.time() - updated > STALE_AFTER_S:
            return "stale"
        return status

    @property
    def usable(self) -> bool:
        """Has a valid config and weights: the attention and fill-mask pages can load it."""
        return not self.errors and bool(self.checkpoints)

    def shape(self) -> str:
        c = self.model_config
        if c is None:
            return "?"
        share = f" share={c.share_layers}" if c.share_layers != "none" else ""
        emb = f" E{c.E}" if c.is_factorized else ""
        return f"L{c.num_hidden_layers} H{c.hidden_size} A{c.num_attention_heads} V{c.vocab_size}{emb}{share}"


def run_language(run: RunInfo) -> str | None:
    """"en" or "zh" for a run trained on a built-in corpus (from its options), else None (a file: unknown)."""
    corpus = ((run.config or {}).get("options") or {}).get("corpus")
    spec = BUILTIN_CORPORA.get(corpus) if isinstance(corpus, str) else None
    return spec.language if spec else None


def _is_run(folder: Path) -> bool:
    return (folder / "config.json").is_file()


def discover_runs(root: Path | str) -> list[RunInfo]:
    """Every run folder directly under ``root`` or one level deeper (``runs/experiment/teacher``), sorted by
    name. A folder counts as a run when it holds ``config.json``; folders that resolve outside the root
    (symlinks) are skipped."""
    root = Path(root).resolve()
    if not root.is_dir():
        return []
    found = []
    for child in sorted(root.iterdir()):
        if child.name.startswith(".") or not child.is_dir():
            continue
        try:
            inside(root, child)
        except UnsafePath:
            continue
        if _is_run(child):
            found.append(child)
            continue
        for grandchild in sorted(child.iterdir()):
            if grandchild.is_dir() and not grandchild.name.startswith(".") and _is_run(grandchild):
                try:
                    inside(root, grandchild)
                except UnsafePath:
                    continue
                found.append(grandchild)
    return [describe_run(root, folder.relative_to(root).as_posix()) for folder in found]


def resolve_run(root: Path | str, name: str) -> Path:
    """The folder of run ``name`` (as listed by ``discover_runs``), checked to be a run inside ``root``."""
    root = Path(root).resolve()
    parts = Path(name).parts
    if not name or Path(name).is_absolute() or ".." in parts or len(parts) > 2:
        raise UnsafePath(f"{name!r} is not the name of a run in {root}")
    path = inside(root, root / name)
    if not _is_run(path):
        raise FileNotFoundError(f"{name}: no config.json in {path}")
    return path


def describe_run(root: Path | str, name: str) -> RunInfo:
    """Read a run's config, status and checkpoint list; problems go to ``errors`` instead of raising."""
    root = Path(root).resolve()
    path = resolve_run(root, name)
    info = RunInfo(name, path)
    try:
        info.config = json.loads(inside(root, path / "config.json").read_text(encoding="utf-8"))
        if not isinstance(info.config, dict):
            raise ValueError("config.json must hold a JSON object")
    except UnsafePath as err:
        info.config = None
        info.errors.append(f"config.json is a link out of the runs folder ({err})")
    except (json.JSONDecodeError, ValueError, UnicodeDecodeError) as err:
        info.config = None
        info.errors.append(f"config.json is not valid JSON ({err})")
    curves_only = CURVES_ONLY_KINDS.get((info.config or {}).get("kind"))
    if curves_only:
        info.errors.append(curves_only)
    elif info.config is not None:
        try:
            BertConfig.from_dict(info.config["model"])
        except (KeyError, TypeError, ValueError) as err:
            info.errors.append(f"config.json has no valid \"model\" section ({err})")
    try:
        info.status = json.loads(inside(root, path / "status.json").read_text(encoding="utf-8"))
        if not isinstance(info.status, dict):
            info.status = {}
    except (OSError, UnsafePath, json.JSONDecodeError, UnicodeDecodeError):
        info.status = {}
    info.checkpoints = list_checkpoints(root, path)
    if not info.checkpoints:
        info.errors.append("no weights yet: neither model.safetensors nor a checkpoint with model.safetensors")
    if not curves_only and not _safe_file(root, path / "tokenizer.json"):
        info.errors.append("tokenizer.json is missing (or links out of the runs folder)")
    return info


def list_checkpoints(root: Path, path: Path) -> list[str]:
    """``"final"`` if ``model.safetensors`` exists, then ``step-…`` checkpoint folders, newest first."""
    names = []
    if _safe_file(root, path / "model.safetensors"):
        names.append(FINAL)
    folder = path / "checkpoints"
    if folder.is_dir():
        steps = [p.name for p in folder.iterdir() if CHECKPOINT_NAME.match(p.name)
                 and _safe_file(root, p / "model.safetensors")]
        names += sorted(steps, key=lambda n: int(n.split("-")[1]), reverse=True)
    return names


def _safe_file(root: Path, path: Path) -> bool:
    try:
        return inside(root, path).is_file()
    except UnsafePath:
        return False


def weights_path(root: Path | str, name: str, checkpoint: str) -> Path:
    """The safetensors file of a listed checkpoint, checked to be inside the root."""
    root = Path(root).resolve()
    path = resolve_run(root, name)
    if checkpoint == FINAL:
        weights = path / "model.safetensors"
    elif CHECKPOINT_NAME.match(checkpoint):
        weights = path / "checkpoints" / checkpoint / "model.safetensors"
    else:
        raise UnsafePath(f"{checkpoint!r} is not a checkpoint name")
    weights = inside(root, weights)
    if not weights.is_file():
        raise FileNotFoundError(f"{name}: {checkpoint} has no model.safetensors")
    inside(root, path / "tokenizer.json")
    return weights


def load_run_safely(root: Path | str, name: str, checkpoint: str):
    """``bertlab.load_run`` for a listed run and checkpoint (safetensors and JSON only), after the checks."""
    from bertlab.train.run import load_run

    root = Path(root).resolve()
    weights_path(root, name, checkpoint)
    return load_run(resolve_run(root, name), None if checkpoint == FINAL else checkpoint)


def teacher_roots() -> list[Path]:
    """Folders besides the runs folder where a distilled run's teacher may live: the course models
    (``bertlab course prepare``; lesson 4 distils from them). Only a run folder inside one of them is read."""
    return [course_dir()]


def teacher_of(root: Path | str, run: RunInfo, runs: list[RunInfo],
               also: list[Path] | None = None) -> tuple[RunInfo | None, str]:
    """The teacher run named by a distilled run's ``config["teacher"]``: a listed run inside the runs folder,
    or a run folder inside one of ``also`` (default ``teacher_roots()``: the course models), returned with its
    ``root`` set so that it is loaded from there.

    The path was written relative to wherever training ran (usually the checkout: ``runs/teacher``), so we
    try it against the current folder, the root, the root's parent and the student's own folder, and keep
    the first candidate that is a listed run. Returns (run or None, a sentence explaining)."""
    root = Path(root).resolve()
    written = (run.config or {}).get("teacher")
    if not written or not isinstance(written, str):
        return None, "this run's config names no teacher"
    given = Path(written)
    candidates = [given] if given.is_absolute() else [
        Path.cwd() / given, root / given, root.parent / given, run.path.parent / given, root / given.name]
    by_path = {r.path: r for r in runs}
    for candidate in candidates:
        try:
            resolved = inside(root, candidate)
        except (UnsafePath, OSError):
            continue
        if resolved in by_path:
            return by_path[resolved], f"teacher run {by_path[resolved].name}"
    for other in (teacher_roots() if also is None else also):
        other = Path(other).resolve()
        for candidate in candidates:
            try:
                resolved = inside(other, candidate)
                found = describe_run(other, resolved.relative_to(other).as_posix())
            except (UnsafePath, OSError, ValueError):
                continue
            found.root = other
            return found, f"teacher {found.name} from {other}"
    return None, f"teacher {written!r} is not a run inside the runs folder {root} or the course models"


# --- metrics ----------------------------------------------------------------------------------------------

def load_metrics(path: Path) -> tuple[list[dict], list[str]]:
    """All valid records of a run's ``metrics.jsonl`` and one message per bad line (never raises); a file
    that links out of the run folder is not read."""
    try:
        inside(path, path / "metrics.jsonl")
    except UnsafePath:
        return [], [f"{path.name}/metrics.jsonl links outside its run folder; it is not read"]
    metrics = read_metrics(path / "metrics.jsonl")
    return metrics.records, metrics.errors


def split_records(records: list[dict], split: str) -> list[dict]:
    return [r for r in records if r.get("split", "train") == split and isinstance(r.get("step"), (int, float))]


def numeric_fields(records: list[dict], split: str) -> list[str]:
    """Fields with a number in at least one record of ``split``, losses first, then accuracies, the rest."""
    fields = set()
    for r in split_records(records, split):
        for k, v in r.items():
            if k not in SKIP_FIELDS and isinstance(v, (int, float)) and not isinstance(v, bool):
                fields.add(k)
    return sorted(fields, key=lambda f: (0 if "loss" in f else 1 if "acc" in f or "f1" in f else 2, f))


def default_metrics(fields: list[str], split: str) -> list[str]:
    """The curves shown first: losses of training; held-out accuracy at [MASK] (what the model predicts from
    context; overall ``mlm_acc`` only for runs logged before the split), NSP, a fine-tuned task's accuracy,
    translation ranking's."""
    masked = "mlm_acc_mask" if "mlm_acc_mask" in fields else "mlm_acc"
    wanted = ("loss", "mlm_loss") if split == "train" else (masked, "nsp_acc", "accuracy", "rank_acc")
    chosen = [f for f in wanted if f in fields]
    return chosen or fields[:1]


def final_eval(records: list[dict]) -> dict[str, float]:
    """The last eval line's numbers (a teacher's final held-out metrics)."""
    evals = split_records(records, "eval")
    if not evals:
        return {}
    return {k: v for k, v in evals[-1].items() if k not in SKIP_FIELDS and isinstance(v, (int, float))}
