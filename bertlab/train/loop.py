"""One training loop for pre-training, distillation and fine-tuning.

What differs between them lives in a *task* object (see ``Task``); the loop owns what they share:
device and precision, AdamW with warm-up and linear decay (BERT §A.2), gradient clipping and
accumulation, DistributedDataParallel, logging to ``metrics.jsonl``, evaluation, atomic checkpoints,
Ctrl-C and SIGTERM (the step in progress ends first: ``signals.py``), exact resumption (the batch of step k is a
pure function of k, and the RNG after step k is checkpointed), and a stop when the loss stops being finite.
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable, Protocol, Sequence

import torch
from torch import nn

from bertlab.io import atomic_write_json
from bertlab.train import distributed
from bertlab.train.checkpoint import latest_checkpoint, load_checkpoint, resumable_checkpoint, save_checkpoint, \
    save_weights
from bertlab.train.device import autocast, check_device, describe, pick_device, resolve_precision
from bertlab.train.metrics import MetricsLogger
from bertlab.train.signals import StopRequests

Batch = dict[str, torch.Tensor]


class Task(Protocol):
    """What a kind of training computes. Statistics are *sums* so they add over micro-batches and ranks."""

    def counts(self, batch: Batch) -> dict[str, float]:
        """Denominators of this batch's losses (e.g. masked tokens, examples); summed over the step."""

    def step(self, model: nn.Module, batch: Batch, totals: dict[str, float]) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss normalised by the step's global ``totals`` (so summing over micro-batches and ranks gives
        the mean), and additive statistics for logging (must include "tokens")."""

    def summarize(self, sums: dict[str, float]) -> dict[str, float]:
        """Turn summed statistics into logged metrics (losses, accuracies)."""

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Held-out metrics (may be empty)."""


@dataclass
class TrainSettings:
    """How a run trains: the schedule, the optimizer, precision and bookkeeping. Declared once, here: the options
    of pre-training, distillation and fine-tuning extend this class, so every trainer accepts every field (and
    every ``bertlab`` training command its flag, generated from these fields; each comment is the flag's help).
    A method may leave a field None ("decided by the pipeline", e.g. the teacher's batch size); the loop itself
    gets a complete ``train_settings()``."""

    steps: int = 1000  # optimizer steps
    batch_size: int = 32  # global batch (all processes, all accumulation micro-batches)
    learning_rate: float = 1e-3  # peak learning rate
    warmup: float = 0.06  # warm-up: a fraction of the steps (< 1) or a number of steps (>= 1)
    # decay the learning rate linearly to 0 over this last fraction of the steps, holding the peak before: 1 = BERT's
    # decay from the end of warm-up; e.g. 0.3 = warm-up, stable, decay ("WSD", Hu et al. 2024, MiniCPM §4.1)
    lr_decay: float = 1.0
    weight_decay: float = 0.01  # AdamW weight decay (not on biases and LayerNorm weights)
    max_grad_norm: float = 1.0  # clip the global gradient norm to this (0 = no clipping)
    grad_accumulation: int = 1  # micro-batches per optimizer step
    precision: str = "auto"  # auto (bf16 autocast on CUDA, fp32 elsewhere) | fp32 | bf16
    device: str = "auto"  # auto (cuda > mps > cpu) | cpu | cuda | mps
    compile: bool = False  # torch.compile the model (helps on GPUs; no gain on CPU)
    log_every: int = 10  # metrics.jsonl line interval (steps)
    eval_every: int = 0  # held-out evaluation interval (0 = only at the end)
    checkpoint_every: int = 200  # checkpoint interval (0 = only at the end)
    keep_checkpoints: int = 2  # newest checkpoints kept (0 = keep one while training, delete it when finished)
    seed: int = 0  # seed of the initial weights, the batch order and the masks
    progress: bool = True  # a progress bar on stderr

    def __post_init__(self) -> None:
        if isinstance(self.keep_checkpoints, bool):  # fine-tuning runs before 0.1 stored it as true / false
            self.keep_checkpoints = int(self.keep_checkpoints)
        self.check_schedule()

    def check_schedule(self) -> None:
        """Clear errors for impossible values, naming the field and its flag (a None is left for the pipeline to
        fill in: ``train_settings()`` checks again once it is)."""
        def given(name):
            return getattr(self, name) is not None

        for name, flag in (("learning_rate", "--lr"), ("warmup", "--warmup"), ("lr_decay", "--lr-decay"),
                           ("weight_decay", "--weight-decay"), ("max_grad_norm", "--max-grad-norm")):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{name} ({flag}) must be a finite number, got {value!r}")
        if given("steps") and self.steps <= 0:
            raise ValueError(f"steps must be a positive number, got {self.steps}")
        for name, flag in (("checkpoint_every", "--checkpoint-every"), ("eval_every", "--eval-every")):
            if given(name) and getattr(self, name) < 0:
                raise ValueError(f"{name} ({flag}) must be 0 (only at the end) or a positive number of steps, "
                                 f"got {getattr(self, name)}")
        if self.log_every < 1:
            raise ValueError(f"log_every (--log-every) must be at least 1, got {self.log_every}")
        if self.keep_checkpoints < 0:
            raise ValueError(f"keep_checkpoints (--keep-checkpoints) is a number of checkpoints (0 = delete them "
                             f"when the run finishes), got {self.keep_checkpoints!r}")
        if given("batch_size") and (self.batch_size <= 0 or self.grad_accumulation <= 0):
            raise ValueError(f"batch_size ({self.batch_size}) and grad_accumulation ({self.grad_accumulation}) "
                             f"must be positive")
        if given("batch_size") and self.batch_size % self.grad_accumulation:
            raise ValueError(f"batch_size {self.batch_size} is not divisible by grad_accumulation "
                             f"{self.grad_accumulation}")
        if given("learning_rate") and self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        if given("warmup") and self.warmup < 0:
            raise ValueError(f"warmup must be >= 0, got {self.warmup}")
        if not 0 < self.lr_decay <= 1:
            raise ValueError(f"lr_decay is the fraction of the steps over which the learning rate decays: "
                             f"between 0 (exclusive) and 1, got {self.lr_decay}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.max_grad_norm < 0:
            raise ValueError(f"max_grad_norm must be >= 0 (0 = no clipping), got {self.max_grad_norm}")
        check_device(self.device)

    def train_settings(self, **resolved) -> "TrainSettings":
        """The plain ``TrainSettings`` of these options (``resolved`` fills in what a method left None)."""
        values = {f.name: getattr(self, f.name) for f in fields(TrainSettings)}
        return TrainSettings(**{**values, **resolved})

    @property
    def warmup_steps(self) -> int:
        return int(self.warmup * self.steps) if self.warmup < 1 else int(self.warmup)


def learning_rate_at(step: int, settings: TrainSettings) -> float:
    """Linear warm-up to the peak, then linear decay to zero (BERT §A.2); with ``lr_decay`` < 1 the peak holds
    until the last ``lr_decay`` of the steps, which decay."""
    warmup = settings.warmup_steps
    if step < warmup:
        return settings.learning_rate * (step + 1) / warmup
    decay_steps = max(1, min(int(settings.lr_decay * settings.steps), settings.steps - warmup))
    if step < settings.steps - decay_steps:
        return settings.learning_rate  # the stable phase
    return settings.learning_rate * max(0.0, (settings.steps - step) / decay_steps)


def make_optimizer(model: nn.Module, settings: TrainSettings) -> torch.optim.AdamW:
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (decay if param.dim() >= 2 else no_decay).append(param)  # biases and LayerNorm: no decay
    groups = [{"params": decay, "weight_decay": settings.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # The fused kernel updates all parameters in one pass: a tiny model's AdamW step on a CPU takes 0.7 ms
    # instead of 2.6 (benchmarks/bench_kernels.py, benchmarks/README.md). Same update rule, same state dict.
    fused = all(p.device.type in ("cpu", "cuda") for p in decay + no_decay) or None
    return torch.optim.AdamW(groups, lr=settings.learning_rate, betas=(0.9, 0.999), eps=1e-6, fused=fused)


class TrainingDiverged(RuntimeError):
    """The loss or the gradient norm became NaN or infinite: the loop stopped without saving those weights."""


def summed_stats(batches: Sequence[Batch], model: nn.Module, stats_of: Callable[[Batch], dict[str, float]]
                 ) -> dict[str, float]:
    """The additive statistics ``stats_of(batch)`` summed over ``batches`` (each moved to ``model``'s device): what
    a task's ``evaluate`` turns into held-out metrics with its ``summarize``."""
    device = next(model.parameters()).device
    sums: dict[str, float] = {}
    for batch in batches:
        for k, v in stats_of({k: v.to(device) for k, v in batch.items()}).items():
            sums[k] = sums.get(k, 0.0) + v
    return sums


@dataclass
class TrainResult:
    step: int
    status: str  # finished | interrupted
    last_train: dict = field(default_factory=dict)
    last_eval: dict = field(default_factory=dict)
    seconds: float = 0.0


def _split(batch: Batch, parts: int) -> list[Batch]:
    if parts == 1:
        return [batch]
    size = next(iter(batch.values())).shape[0]
    bounds = [round(i * size / parts) for i in range(parts + 1)]
    return [{k: v[a:b] for k, v in batch.items()} for a, b in zip(bounds, bounds[1:]) if b > a]


def train(model: nn.Module, task: Task, batch_fn: Callable[[int], Batch], settings: TrainSettings,
          run_dir: str | Path | None = None, resume: bool = False,
          callbacks: tuple[Callable[[dict], None], ...] = ()) -> TrainResult:
    """Train ``model`` for ``settings.steps`` optimizer steps on ``batch_fn(step)`` (the global batch).

    With ``run_dir`` the loop writes ``metrics.jsonl``, ``status.json``, checkpoints and the final
    ``model.safetensors`` there; ``resume=True`` continues from its latest checkpoint. ``callbacks``
    receive every logged record (notebooks draw live curves with them).
    """
    device = pick_device(settings.device)
    precision = resolve_precision(settings.precision, device)
    info = distributed.init_distributed(device)
    run_dir = Path(run_dir) if run_dir is not None else None
    model.to(device)
    optimizer = make_optimizer(model, settings)
    start = 0
    if resume:
        checkpoint_dir = _resume_from(run_dir, info.is_main and settings.progress)
        start = load_checkpoint(checkpoint_dir, model, optimizer)["step"]
        if start >= settings.steps:
            raise ValueError(f"{run_dir} already reached step {start} of {settings.steps}; raise --steps to go on")
    else:
        torch.manual_seed(settings.seed)
    logger = MetricsLogger(run_dir / "metrics.jsonl", resume_step=start if resume else None) \
        if run_dir is not None and info.is_main else None
    trained = nn.parallel.DistributedDataParallel(model) if info.enabled else model
    if settings.compile:
        trained = torch.compile(trained)
    if info.is_main and settings.progress:
        print(describe(device, precision) + (f", {info.world_size} processes" if info.enabled else ""),
              file=sys.stderr)

    def write_status(status: str, step: int, **extra) -> None:
        if run_dir is not None and info.is_main:
            atomic_write_json(run_dir / "status.json", {"status": status, "step": step, "total_steps": settings.steps,
                                                        "updated": round(time.time(), 3), **extra})

    saved = start if resume else -1  # the step of the newest checkpoint on disk

    def checkpoint(step: int) -> None:
        nonlocal saved
        if run_dir is not None and info.is_main and saved != step:
            save_checkpoint(run_dir, step, model, optimizer, {"settings": asdict(settings)},
                            keep=max(1, settings.keep_checkpoints))
            saved = step

    bar = None
    if info.is_main and settings.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=settings.steps, initial=start, desc="train", unit="step", dynamic_ncols=True)
    result = TrainResult(step=start, status="running")
    sums: dict[str, float] = {}
    began = time.time()
    window_start = time.time()
    step = start
    in_step = False  # True from a step's first batch until its update is done and counted
    diverged = None  # (what, value, lr) when the loss or the gradient norm stopped being finite
    write_status("running", step)
    model.train()
    try:
        with StopRequests() as stop:
            while step < settings.steps:
                in_step = True
                lr = learning_rate_at(step, settings)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                local = distributed.shard(batch_fn(step), info)
                micro_batches = _split(local, settings.grad_accumulation)
                totals = distributed.all_reduce_sum(task.counts(local), info, device)
                step_loss = torch.zeros((), device=device)
                for i, micro in enumerate(micro_batches):
                    micro = {k: v.to(device, non_blocking=True) for k, v in micro.items()}
                    sync = nullcontext() if (not info.enabled or i == len(micro_batches) - 1) else trained.no_sync()
                    with sync:
                        with autocast(device, precision):
                            loss, stats = task.step(trained, micro, totals)
                        (loss * info.world_size).backward()  # DDP averages gradients over ranks
                    step_loss += loss.detach().float()
                    for k, v in stats.items():
                        sums[k] = sums.get(k, 0.0) + float(v)
                grad_norm = 0.0
                if settings.max_grad_norm > 0:
                    grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), settings.max_grad_norm))
                    sums["grad_norm"] = sums.get("grad_norm", 0.0) + grad_norm
                loss_value = float(step_loss)
                bad = [(what, value) for what, value in (("loss", loss_value), ("gradient norm", grad_norm))
                       if not math.isfinite(value)]
                # one all-reduce per step (only under DDP) so every rank stops at the same step
                flags = distributed.all_reduce_sum({"stop": float(stop.requested is not None), "bad": float(bool(bad))},
                                                   info, device)
                if flags["bad"]:
                    diverged = (*(bad[0] if bad else ("loss on another process", math.nan)), lr)
                    break  # before the update: the weights in memory are still those of the last step
                sums["steps"] = sums.get("steps", 0.0) + 1
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                in_step = False
                result.step = step
                if step % settings.log_every == 0 or step == settings.steps:
                    total = distributed.all_reduce_sum(sums, info, device)
                    seconds = time.time() - window_start
                    record = {"split": "train", "step": step, "elapsed": round(time.time() - began, 3), "lr": lr,
                              **task.summarize(total),
                              "grad_norm": total.get("grad_norm", 0.0) / max(1.0, total["steps"] / info.world_size),
                              "tokens_per_s": total.get("tokens", 0.0) / max(seconds, 1e-9)}
                    result.last_train = record
                    sums, window_start = {}, time.time()
                    if logger:
                        logger.log(record)
                        write_status("running", step)
                    for callback in callbacks:
                        callback(record)
                    if bar is not None:
                        bar.set_postfix({k: f"{record[k]:.3g}" for k in ("loss", "mlm_acc_mask", "nsp_acc", "accuracy",
                                                                        "tokens_per_s") if record.get(k) is not None})
                if bar is not None:
                    bar.update(1)
                if info.is_main and ((settings.eval_every and step % settings.eval_every == 0) or step == settings.steps):
                    with autocast(device, precision):
                        result.last_eval = _evaluate(task, model, step, began, logger, callbacks)
                if settings.checkpoint_every and step % settings.checkpoint_every == 0 and step < settings.steps:
                    checkpoint(step)
                if (flags["stop"] if info.enabled else stop.requested) and step < settings.steps:
                    break  # a signal came: this step is done, so the checkpoint below resumes exactly
        result.status = "finished" if step >= settings.steps else "interrupted"
    except KeyboardInterrupt:  # a second Ctrl-C, or one where no signal handler could be set
        result.status = "interrupted"
    finally:
        if bar is not None:
            bar.close()
    if diverged is not None:
        _stop_diverged(diverged, step, run_dir, write_status, logger)
    if result.status == "interrupted" and in_step:
        # aborted inside a step: the RNG (and maybe the weights) are part-way through it, so nothing is saved
        write_status("interrupted", saved if saved >= 0 else 0)
        if logger:
            logger.close()
        where = f"the last checkpoint is step {saved}" if saved >= 0 else "no checkpoint was saved"
        print(f"aborted inside step {step + 1}: nothing saved; {where}", file=sys.stderr)
        result.seconds = time.time() - began
        return result
    if result.status == "interrupted" and info.is_main and settings.progress:
        print(f"interrupted: saving a checkpoint at step {step}; continue with --resume", file=sys.stderr)
    checkpoint(step)
    if run_dir is not None and info.is_main:
        save_weights(model, run_dir / "model.safetensors")
        if settings.keep_checkpoints == 0 and result.status == "finished":
            shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)  # asked for: the weights are all it keeps
    write_status(result.status, step)
    if logger:
        logger.close()
    result.seconds = time.time() - began
    return result


def _resume_from(run_dir: Path | None, verbose: bool) -> Path:
    """The newest checkpoint that verifies; says which newer ones were skipped, and why."""
    if run_dir is None:
        raise FileNotFoundError("--resume needs a run folder")
    checkpoint_dir, skipped = resumable_checkpoint(run_dir)
    for name, why in skipped:
        print(f"resume: skipping {run_dir}/checkpoints/{name}: {why}", file=sys.stderr)
    if checkpoint_dir is None:
        why = f" (all damaged: {'; '.join(f'{n}: {w}' for n, w in skipped)})" if skipped else ""
        raise FileNotFoundError(f"--resume: no checkpoint in {run_dir}/checkpoints to resume from{why}")
    if skipped or verbose:
        print(f"resume: from {checkpoint_dir}", file=sys.stderr)
    return checkpoint_dir


def _stop_diverged(diverged: tuple, step: int, run_dir: Path | None, write_status, logger) -> None:
    """Record why the run stopped and raise ``TrainingDiverged``; the NaN weights are never written."""
    what, value, lr = diverged
    good = latest_checkpoint(run_dir) if run_dir is not None else None
    kept = f"the last good checkpoint, {good}, is kept" if good is not None else "no checkpoint was saved before"
    message = (f"the {what} became {value} at step {step + 1} (learning rate {lr:.3g}): training stopped and these "
               f"weights were not saved; {kept}. Start again with a lower --lr (e.g. a quarter of it)")
    write_status("diverged", step, message=message, good_checkpoint=good.name if good is not None else None)
    if logger:
        logger.close()
    raise TrainingDiverged(message)


def _evaluate(task: Task, model: nn.Module, step: int, began: float, logger, callbacks) -> dict:
    was_training = model.training
    model.eval()
    with torch.no_grad():
        metrics = task.evaluate(model)
    model.train(was_training)
    if not metrics:
        return {}
    record = {"split": "eval", "step": step, "elapsed": round(time.time() - began, 3), **metrics}
    if logger:
        logger.log(record)
    for callback in callbacks:
        callback(record)
    return record

