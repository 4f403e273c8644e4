"""How ``bertlab reproduce`` spends its time budget: one shared model shape for claims 1–4, a share of the
minutes per claim, and step counts derived from a throughput measured on this machine, now.

Claims 1–4 share their runs: the *reference* run (BERT shape, E = H, no sharing, dynamic masking, MLM + NSP)
at every seed is claim 1's evidence and the baseline of claims 2, 3 and 4, so the plan counts it once.
Step counts are fixed before training (not timed), so a busy machine makes the run slower, not different.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace

from bertlab.config import IGNORE_INDEX, get_preset
from bertlab.experiments import distill_vs_scratch as dvs
from bertlab.model import BertForPreTraining
from bertlab.train.device import pick_device

CLAIMS = (1, 2, 3, 4, 5, 6)
# the variants of the reference run that each of claims 1-4 adds (claim 1 needs only the reference)
VARIANTS = {1: (), 2: ("factorized",), 3: ("shared",), 4: ("static", "no-nsp")}
# share of the budget per claim; claims 1-4 are pooled (their runs are counted per variant)
SHARES = {"pretraining": 0.50, 5: 0.25, 6: 0.25}
OVERHEAD = 1.25  # probe step time -> wall time per step (data, logging, evaluation): 1.06 at the default scale


@dataclass
class Scale:
    """The shape and data every pre-training run of claims 1-4 shares."""

    preset: str = "tiny"
    overrides: dict = field(default_factory=dict)  # the tiny preset as is: L=2, H=128 (so sharing saves 2×)
    factorized_embedding: int = 32  # E of claim 2 (H / 4)
    corpus: str = "wiki-en"
    vocab_size: int = 8192
    max_seq_length: int = 64
    batch_size: int = 32
    eval_examples: int = 512
    learning_rate: float = 1e-3
    precision: str = "auto"
    device: str = "auto"
    steps: int = 600  # per pre-training run; set by ``plan``
    eval_points: int = 4  # held-out evaluations per run (the learning curves)

    def to_dict(self) -> dict:
        return asdict(self)


QUICK_SCALE = Scale(overrides={"hidden_size": 64, "num_attention_heads": 2, "intermediate_size": 256},
                    factorized_embedding=16, corpus="news-en", vocab_size=1024, max_seq_length=32, batch_size=16,
                    eval_examples=128, learning_rate=2e-3, precision="fp32", steps=100, eval_points=2)
# on a GPU the same command trains a wider, deeper model on longer sequences
GPU_SCALE = Scale(preset="mini", overrides={}, factorized_embedding=128, max_seq_length=128, batch_size=64,
                  eval_examples=1024, steps=3000)


@dataclass
class Plan:
    minutes: float
    quick: bool
    claims: tuple
    seeds: tuple
    scale: Scale
    device: str  # "cpu" | "cuda" | ...
    seconds_per_step: float = 0.0  # measured on the reference shape
    runs: list = field(default_factory=list)  # (variant, seed) pre-training runs of claims 1-4
    claim_minutes: dict = field(default_factory=dict)  # planned minutes per part
    distill_factor: float = 1.0  # multiplies distill-vs-scratch's step counts (claim 5)
    application: dict = field(default_factory=dict)  # application-modes budget (claim 6)
    estimated_minutes: dict = field(default_factory=dict)  # per part, from the measured step times

    @property
    def estimate(self) -> float:
        """Estimated minutes of the whole run (parts not estimated, e.g. --quick's distillation, count as 0)."""
        return sum(v for v in self.estimated_minutes.values() if v is not None)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["runs"] = [list(r) for r in self.runs]
        return d


def choose_threads(requested: int | None = None) -> int:
    """Torch CPU threads: ``requested``, else 1 when the machine is busier than its cores (several threads
    spinning against other processes were ~9× slower than one on the shared 2-core machine), else torch's."""
    import os

    import torch

    if requested:
        torch.set_num_threads(requested)
    else:
        try:
            busy = os.getloadavg()[0] >= (os.cpu_count() or 1)
        except OSError:
            busy = False
        if busy:
            torch.set_num_threads(1)
    return torch.get_num_threads()


def pretraining_runs(claims, seeds) -> list[tuple[str, int]]:
    """The (variant, seed) runs claims 1-4 need, the shared reference counted once."""
    variants = [] if not any(c in VARIANTS for c in claims) else ["reference"]
    for c in sorted(claims):
        variants += [v for v in VARIANTS.get(c, ()) if v not in variants]
    return [(v, s) for v in variants for s in seeds]


def steps_for(seconds: float, runs: int, seconds_per_step: float, minimum: int, maximum: int) -> int:
    """Steps per run so that ``runs`` runs of that many steps take about ``seconds`` (clamped)."""
    if runs <= 0:
        return minimum
    steps = int(seconds / (runs * seconds_per_step * OVERHEAD))
    return max(minimum, min(maximum, steps))


def measure_seconds_per_step(scale: Scale, repeats: int = 3) -> float:
    """Median wall time of one training step (forward, backward, AdamW) of the reference model on a random
    batch of the planned shape; the first step (allocation, warm-up) is not counted."""
    import torch

    device = pick_device(scale.device)
    config = get_preset(scale.preset, **scale.overrides).replace(vocab_size=scale.vocab_size)
    model = BertForPreTraining(config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(0)
    B, T = scale.batch_size, scale.max_seq_length
    ids = torch.randint(5, scale.vocab_size, (B, T), generator=g)
    labels = torch.where(torch.rand(B, T, generator=g) < 0.15, ids, torch.full_like(ids, IGNORE_INDEX))
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids),
             "labels": labels, "next_sentence_label": torch.randint(0, 2, (B,), generator=g)}
    batch = {k: v.to(device) for k, v in batch.items()}
    times = []
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    times = sorted(times[1:])
    return times[len(times) // 2]


def plan(minutes: float = 60.0, quick: bool = False, claims=CLAIMS, seeds=(0, 1), device: str | None = None,
         seconds_per_step: float | None = None, steps: int | None = None) -> Plan:
    """Split ``minutes`` across the selected claims; derive step counts from step times measured now.
    ``seconds_per_step`` (tests) replaces every measurement; ``steps`` fixes the steps of claims 1-4's runs."""
    import torch

    if minutes <= 0:
        raise ValueError(f"--budget must be a positive number of minutes, got {minutes}")
    bad = sorted(set(claims) - set(CLAIMS))
    if bad:
        raise ValueError(f"unknown claim(s) {bad}; the claims are {', '.join(map(str, CLAIMS))}")
    if not seeds:
        raise ValueError("at least one seed is needed")
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    scale = replace(QUICK_SCALE) if quick else replace(GPU_SCALE if device == "cuda" else Scale())
    runs = pretraining_runs(claims, seeds)
    p = Plan(minutes=minutes, quick=quick, claims=tuple(sorted(claims)), seeds=tuple(seeds), scale=scale,
             device=device, runs=runs)
    probe = (lambda s: seconds_per_step) if seconds_per_step else measure_seconds_per_step
    p.seconds_per_step = probe(scale)
    # the parts that were asked for share the whole budget in proportion to their nominal shares
    parts = {k: v for k, v in SHARES.items() if (k == "pretraining" and runs) or k in claims}
    total = sum(parts.values()) or 1.0
    p.claim_minutes = {str(k): minutes * v / total for k, v in parts.items()}
    if runs and not quick:
        lo, hi = (200, 20000) if device == "cuda" else (50, 5000)
        scale.steps = steps_for(60 * p.claim_minutes["pretraining"], len(runs), p.seconds_per_step, lo, hi)
    if steps is not None:
        if steps <= 0:
            raise ValueError(f"--steps must be positive, got {steps}")
        scale.steps = steps
    scale.eval_points = max(1, min(scale.eval_points, scale.steps // 10 or 1))
    if runs:
        p.estimated_minutes["pretraining"] = len(runs) * scale.steps * p.seconds_per_step * OVERHEAD / 60
    if 5 in claims:
        p.distill_factor, p.estimated_minutes["5"] = distill_factor(p, probe)
    if 6 in claims:
        sps = p.seconds_per_step * 128 / scale.max_seq_length  # application-modes' 128-token sequences
        p.application = application_budget(p.claim_minutes["6"], quick, sps, len(seeds))
        a = p.application
        p.estimated_minutes["6"] = (a["pretrain_steps"] * sps * OVERHEAD
                                    + 12 * len(seeds) * (PER_CELL + a["steps"] * sps * OVERHEAD)) / 60
    return p


def distill_factor(p: Plan, probe) -> tuple[float, float]:
    """(factor on distill-vs-scratch's step counts, estimated minutes). Its recipe is timed from step times
    of its teacher and student shapes measured now: teacher steps, then per seed a distilled student (student
    step + a teacher forward ≈ 1/3 teacher step) and a scratch student, then fine-tuning every model and the
    random-weights references (teacher shape once, student shape per seed)."""
    if p.quick:
        return 1.0, None  # external.distill_plan uses its QUICK plan (halved); not estimated
    d = dvs.Plan()
    shape = dict(vocab_size=d.vocab_size, max_seq_length=d.max_seq_length, batch_size=d.batch_size,
                 device=p.scale.device)
    t = probe(Scale(preset=d.teacher_preset, overrides=dict(d.teacher_overrides), **shape))
    s = probe(Scale(preset=d.student_preset, overrides=dict(d.student_overrides), **shape))
    n = len(p.seeds)

    def seconds(f: float) -> float:
        teacher, student, tune = d.teacher_steps * f, d.student_steps * f, d.finetune_steps * f
        return OVERHEAD * (teacher * t + n * student * (2 * s + t / 3) + tune * (2 * t + 3 * n * s))

    factor = 60 * p.claim_minutes["5"] / seconds(1.0)
    factor = min(factor, 2.0 if p.device == "cuda" else 1.0)
    return factor, seconds(factor) / 60


PER_CELL = 10.0  # seconds an application-modes cell spends outside its steps (encoding, evaluation), on --quick


def application_budget(minutes: float, quick: bool, seconds_per_step: float | None, n_seeds: int) -> dict:
    """Arguments of ``bertlab experiment application-modes`` that fit ``minutes`` (12 cells per seed: 2 tasks
    × 2 modes × 3 poolings, pre-trained encoder only, plus one pre-training run shared by the seeds)."""
    if quick:
        return {"quick": True, "pretrain_steps": 40, "steps": 20, "max_train": 256, "max_eval": 200}
    sps = seconds_per_step or 0.8  # a 128-token step of the tiny preset
    pretrain = max(100, min(1500, int(0.35 * 60 * minutes / (sps * OVERHEAD))))
    cells = 12 * n_seeds
    steps = max(20, min(250, int((0.65 * 60 * minutes - cells * PER_CELL) / (cells * sps * OVERHEAD))))
    return {"quick": False, "pretrain_steps": pretrain, "steps": steps, "max_train": 4000, "max_eval": 500}


__all__ = ["CLAIMS", "choose_threads", "Plan", "Scale", "QUICK_SCALE", "GPU_SCALE", "plan", "pretraining_runs", "steps_for",
           "measure_seconds_per_step", "application_budget"]
