"""What every experiment command shares: its threads, its output folder, its progress lines, its last words."""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Iterable

from bertlab.finetune.loop import finetune
from bertlab.train.metrics import read_metrics
from bertlab.train.run import read_status
from bertlab.train.runlock import refuse_if_locked


def set_threads(threads: int | None) -> None:
    """``--threads``: torch's CPU threads (1 is often fastest on a busy shared machine)."""
    if threads is None:
        return
    if threads < 1:
        raise ValueError(f"--threads must be at least 1, got {threads}")
    import torch

    torch.set_num_threads(threads)


def prepare_out(out: Path, run_names: Iterable[str] = (), fresh: bool = False) -> Path:
    """Create ``out``; with ``fresh`` first delete the named run folders in it (``--fresh``)."""
    if fresh:
        for name in run_names:
            refuse_if_locked(out / name)
            shutil.rmtree(out / name, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    return out


def add_out_and_quick(parser, name: str, holds: str, quick_help: str) -> None:
    """``--out`` (see ``out_folder``) and ``--quick``, the first options of every experiment."""
    parser.add_argument("--out", help=f"folder for {holds} (default runs/{name}, or runs/{name}-quick with --quick)")
    parser.add_argument("--quick", action="store_true", help=quick_help)


def out_folder(args, name: str) -> Path:
    """``--out``, else ``runs/NAME`` — or ``runs/NAME-quick`` for ``--quick``, so a smoke test never lands in
    (and is never refused by) the folder of a full run."""
    return Path(args.out or (f"runs/{name}-quick" if args.quick else f"runs/{name}"))


THREADS_HELP = "torch CPU threads (1 is fastest on a busy shared machine)"


def add_run_control(parser, threads_help: str | None = THREADS_HELP, threads_default: int | None = None,
                    fresh: bool = True) -> None:
    """The options experiments share after their own: ``--threads`` (unless ``threads_help`` is None),
    ``--fresh`` (unless ``fresh`` is False) and ``--quiet``."""
    if threads_help is not None:
        parser.add_argument("--threads", type=int, default=threads_default, help=threads_help)
    if fresh:
        parser.add_argument("--fresh", action="store_true", help="delete earlier runs in --out first")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def stage_logger(name: str) -> Callable[[str], None]:
    """``say(text)``: one progress line on stderr, stamped with the seconds since this call."""
    began = time.time()

    def say(text: str) -> None:
        print(f"[{name} {time.time() - began:6.0f} s] {text}", file=sys.stderr, flush=True)

    return say


def print_results(results: dict, out: Path) -> int:
    """Print the experiment's markdown table and where its files are; the command's exit status."""
    print(results["markdown"])
    print(f"results: {out / 'results.md'} and results.json")
    return 0


# --- cached runs: a second call of an experiment reuses (or resumes) the runs it already made -------------------

def _matches(saved: dict, wanted: dict) -> bool:
    """Saved options agree with every wanted one (None = "the default", which a run may have resolved)."""
    return all(json.loads(json.dumps(saved.get(k))) == json.loads(json.dumps(v))
               for k, v in wanted.items() if v is not None)


def run_state(run_dir: Path, wanted: dict) -> str:
    """"reuse" a finished run made with these options, "resume" an interrupted one, or "new"."""
    refuse_if_locked(run_dir)  # another process is writing it: neither delete nor reuse it
    if not (run_dir / "config.json").exists():
        if run_dir.exists():
            shutil.rmtree(run_dir)  # a folder left before its config was written holds nothing to keep
        return "new"
    saved = json.loads((run_dir / "config.json").read_text()).get("options", {})
    if not _matches(saved, wanted):
        raise ValueError(f"{run_dir} holds a run with other settings; use --fresh or another --out")
    status = read_status(run_dir).get("status")
    if status == "finished" and (run_dir / "model.safetensors").exists():
        return "reuse"
    return "resume" if (run_dir / "checkpoints" / "latest.json").exists() else "new"


def run_seconds(run_dir: Path) -> float:
    """Training time of a run folder (the loop's last ``elapsed``; after a resume, the resumed part only)."""
    records = read_metrics(run_dir / "metrics.jsonl").records
    return max((float(r.get("elapsed", 0.0)) for r in records), default=0.0)


def cached_run(options, train: Callable) -> str:
    """Train ``options`` (PretrainOptions or DistillOptions, ``options.out`` the run folder) with ``train`` unless
    a finished run with the same options is there; resume an interrupted one. Returns "reuse", "resume" or "new".
    A run stopped by a signal (Ctrl-C, SIGTERM: it checkpointed) raises KeyboardInterrupt, so that an experiment
    stops there instead of going on to its next run; the next call resumes it."""
    wanted = {k: v for k, v in asdict(options).items() if k not in ("out", "resume", "progress", "device")}
    state = run_state(Path(options.out), wanted)
    if state != "reuse":
        options.resume = state == "resume"
        result = train(options)  # TrainResult
        if result.status != "finished":
            raise KeyboardInterrupt(f"{options.out} stopped at step {result.step} ({result.status})")
    return state


def cached_finetune(options, task, source, encoded, train: bool = True) -> tuple[dict | None, bool]:
    """Fine-tune one cell (``FinetuneOptions`` with ``out`` its run folder) unless a finished run with the same
    options is there. Returns (its results.json, reused?); with ``train=False`` a missing cell is (None, False).
    Ctrl-C stops the experiment (KeyboardInterrupt); the next call redoes that cell."""
    folder = Path(options.out)
    refuse_if_locked(folder)  # another process is writing it: neither delete nor reuse it
    results, config = folder / "results.json", folder / "config.json"
    if results.exists() and config.exists():
        data = json.loads(results.read_text())
        if json.loads(config.read_text()).get("options") == asdict(options) and data["train"]["status"] == "finished":
            return data, True
    if not train:
        return None, False
    if folder.exists():
        shutil.rmtree(folder)  # a cell of an earlier, different budget (or one cut short): run it again
    result = finetune(options, task=task, source=source, encoded=encoded)
    if result.train.status != "finished":
        raise KeyboardInterrupt
    return result.to_json(), False
