"""How ``bertlab reproduce`` spends its time budget: one shared model shape and recipe for claims 1–4, a share
of the minutes per part, and step counts derived from step times measured on this machine, now.

Claims 1–4 pre-train with the ``fast-cpu`` recipe (``bertlab/recipes.py``, docs/recipe.md: pre-LN, bf16,
lr 2e-3, 8192 pieces, the first 30 % of the steps on 16-token MLM-only inputs with 40 % masked, then 128-token pairs
with 30 % masked). None of
the four claims is about BERT's own training settings, and with them the tiny model never leaves the unigram
plateau in a CPU hour (the report before this recipe, lr 1e-3 on 64 tokens: [MASK] accuracy 9 %, NSP at chance).

Claims 2–4 share their runs: the *reference* run (BERT shape, E = H, no sharing, dynamic masking, MLM + NSP)
at every seed is the baseline of each, so the plan counts it once. Claim 1 is also about NSP, which this recipe
learns only after MLM (~70 % at 2,048 steps, 8 M tokens: docs/recipe.md), while claims 2–4 compare
masked-LM numbers, which leave the plateau ~250 steps after the switch to 128 tokens; so claim 1 gets its own
*long* reference runs and claims 2–4 shorter ones (docs/reproduce.md gives the evidence). A run of the recipe
has two phases of different speed (16-token steps with a 256 batch, then 128-token steps with a 32 batch);
both are timed, and ``bertlab.pretrain.steps_for_seconds`` turns seconds into steps.
Step counts are fixed before training (not timed), so a busy machine makes the run slower, not different.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace

from bertlab.config import IGNORE_INDEX, get_preset
from bertlab.course import course_model, resolve
from bertlab.experiments import distill_vs_scratch as dvs
from bertlab.experiments import transfer
from bertlab.model import BertForPreTraining
from bertlab.pretrain import PretrainOptions, model_config, seconds_for_steps, steps_for_seconds
from bertlab.recipes import recipe_options
from bertlab.train.device import autocast, pick_device, resolve_precision

CLAIMS = (1, 2, 3, 4, 5, 6)
# the variants of the reference run that each of claims 2-4 adds; claim 1 reads "long" (the reference shape
# trained claim1_steps) or, when that is no longer than the others, "reference" itself
VARIANTS = {1: (), 2: ("factorized",), 3: ("shared",), 4: ("static", "no-nsp")}
VARIANT_LABELS = {"reference": "BERT (E = H, not shared, dynamic, MLM + NSP)", "factorized": "factorized E < H",
                  "shared": "all layers shared", "static": "static masking", "no-nsp": "MLM only (no NSP)",
                  "long": "BERT shape, trained longer for claim 1 (NSP)"}
# share of the budget per part ("1": claim 1's long runs, "pretraining": the runs of claims 2-4); the parts that
# were asked for share the whole budget in proportion
SHARES = {"1": 0.30, "pretraining": 0.45, "5": 0.17, "6": 0.08}
# claim 1's long runs need no more than this: the recipe's steps in 8 M training tokens, where held-out NSP reaches
# ~70 % (docs/recipe.md, "Masking more"); time left over goes to claims 2-4
LONG_MAX = 2048
OVERHEAD = 1.25  # probe step time -> wall time per step (data, logging, evaluation); see docs/reproduce.md
PER_CELL = 8.0  # seconds a transfer cell spends outside its steps (encoding, dev and test evaluation)


@dataclass
class Scale:
    """The shape, recipe and data every pre-training run of claims 1-4 shares."""

    preset: str = "tiny"
    overrides: dict = field(default_factory=dict)  # shape fields on top of the preset (tiny as is: L=2, H=128)
    recipe: str = "fast-cpu"
    recipe_changes: dict = field(default_factory=dict)  # PretrainOptions values replacing the recipe's (--quick)
    factorized_embedding: int = 32  # E of claim 2 (H / 4)
    corpus: str = "wiki-en"
    max_seq_length: int = 128
    batch_size: int = 32
    eval_examples: int = 512
    device: str = "auto"
    steps: int = 1200  # per pre-training run of claims 2-4; set by ``plan``
    long_steps: int = 0  # claim 1's runs ("long"); 0 or <= steps: claim 1 reads the reference runs
    eval_points: int = 4  # held-out evaluations per run (the learning curves)

    def recipe_values(self) -> dict:
        """The recipe's PretrainOptions values with ``recipe_changes`` applied (model overrides merged)."""
        values = recipe_options(self.recipe)
        changes = dict(self.recipe_changes)
        overrides = {**values.pop("model_overrides", {}), **changes.pop("model_overrides", {}), **self.overrides}
        return {**values, **changes, "model_overrides": overrides}

    @property
    def separate_long(self) -> bool:
        return self.long_steps > self.steps

    def steps_of(self, variant: str) -> int:
        return self.long_steps if variant == "long" and self.long_steps else self.steps

    def options(self, variant: str, seed: int, out=None, progress: bool = False) -> PretrainOptions:
        """The ``PretrainOptions`` of ``variant`` at ``seed`` (every run: split_seed 0, the same held-out data)."""
        if variant not in VARIANT_LABELS:
            raise ValueError(f"unknown variant {variant!r}; variants: {', '.join(VARIANT_LABELS)}")
        steps = self.steps_of(variant)
        return PretrainOptions(
            **self.recipe_values(), preset=self.preset,
            embedding_size=self.factorized_embedding if variant == "factorized" else None,
            share_layers="all" if variant == "shared" else None, corpus=self.corpus,
            objective="mlm" if variant == "no-nsp" else "mlm+nsp", masking="static" if variant == "static" else "dynamic",
            max_seq_length=self.max_seq_length, eval_examples=self.eval_examples, steps=steps,
            batch_size=self.batch_size, device=self.device, eval_every=max(1, steps // self.eval_points),
            checkpoint_every=0, log_every=max(1, min(10, steps // 20)), seed=seed, split_seed=0,
            out=str(out) if out else None, progress=progress)

    def to_dict(self) -> dict:
        return {**asdict(self), "short_share": self.recipe_values().get("warmup_seq_steps", 0.0)}


QUICK_SCALE = Scale(overrides={"hidden_size": 64, "num_attention_heads": 2, "intermediate_size": 256},
                    recipe_changes={"precision": "fp32", "vocab_size": 1024, "warmup_seq_length": 8},
                    factorized_embedding=16, corpus="news-en", max_seq_length=32, batch_size=16,
                    eval_examples=128, steps=100, eval_points=2)
# on a GPU the same command trains a wider, deeper model; its runs are long enough for NSP as they are
GPU_SCALE = Scale(preset="mini", overrides={}, factorized_embedding=128, batch_size=64, eval_examples=1024,
                  steps=3000)


@dataclass
class Plan:
    minutes: float
    quick: bool
    claims: tuple
    seeds: tuple
    scale: Scale
    device: str  # "cpu" | "cuda" | ...
    step_seconds: dict = field(default_factory=dict)  # measured: {"short": s, "long": s} of the reference shape
    runs: list = field(default_factory=list)  # (variant, seed) pre-training runs of claims 1-4
    claim_minutes: dict = field(default_factory=dict)  # planned minutes per part
    distill: dict = field(default_factory=dict)  # claim 5: distill-vs-scratch's step counts with the course teacher
    transfer: dict = field(default_factory=dict)  # claim 6: the transfer experiment's cells
    estimated_minutes: dict = field(default_factory=dict)  # per part, from the measured step times

    @property
    def estimate(self) -> float:
        """Estimated minutes of the whole run (parts not estimated count as 0)."""
        return sum(v for v in self.estimated_minutes.values() if v is not None)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["runs"] = [list(r) for r in self.runs]
        d["scale"] = self.scale.to_dict()
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


def pretraining_runs(claims, seeds, separate_long: bool = False) -> list[tuple[str, int]]:
    """The (variant, seed) runs claims 1-4 need: claim 1's "long" runs (or the reference, when they are not
    separate), then the reference of claims 2-4, counted once, and their variants."""
    variants = []
    if 1 in claims:
        variants.append("long" if separate_long else "reference")
    if any(c in (2, 3, 4) for c in claims):
        variants += [v for v in ("reference",) if v not in variants]
        for c in sorted(claims):
            variants += [v for v in VARIANTS.get(c, ()) if v not in variants]
    return [(v, s) for v in variants for s in seeds]


def clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def measure_step_seconds(config, batch_size: int, seq_length: int, nsp: bool = True, precision: str = "fp32",
                         device: str = "auto", repeats: int = 3, mlm_probability: float = 0.15) -> float:
    """Median wall time of one training step (forward, backward, AdamW; bf16 autocast if ``precision`` says so)
    of ``config`` on a random batch of (batch_size, seq_length) with ``mlm_probability`` of its tokens labelled;
    the first step (allocation, warm-up) is not counted. The rate matters: the MLM head scores every labelled
    token against the whole vocabulary (at 8192 pieces, on a 2-core Xeon, the fast-cpu 128-token step took
    77 / 97 / 112 ms with 15 / 30 / 40 % labelled)."""
    import torch

    dev = pick_device(device)
    precision = resolve_precision(precision, dev)
    model = BertForPreTraining(config).to(dev)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(0)
    B, T = batch_size, seq_length
    ids = torch.randint(5, config.vocab_size, (B, T), generator=g)  # (B, T)
    labels = torch.where(torch.rand(B, T, generator=g) < mlm_probability, ids, torch.full_like(ids, IGNORE_INDEX))
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids),
             "labels": labels}
    if nsp:
        batch["next_sentence_label"] = torch.randint(0, 2, (B,), generator=g)  # (B,)
    batch = {k: v.to(dev) for k, v in batch.items()}
    times = []
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        with autocast(dev, precision):
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    times = sorted(times[1:])
    return times[len(times) // 2]


def measure_phases(scale: Scale) -> dict[str, float]:
    """Seconds per step of the reference run's two phases: "short" (the warm-up's short inputs, MLM only if the
    recipe says so, with their bigger batch and masking rate) and "long" (full-length sentence pairs)."""
    options = scale.options("reference", 0)
    config = model_config(options, options.vocab_size)
    measured = {"long": measure_step_seconds(config, options.batch_size, options.max_seq_length, True,
                                             options.precision, scale.device,
                                             mlm_probability=options.mlm_probability)}
    if options.warmup_seq_length and options.warmup_seq_step_count:
        measured["short"] = measure_step_seconds(config, options.warmup_batch_size, options.warmup_seq_length,
                                                 (options.warmup_seq_objective or options.objective) != "mlm",
                                                 options.precision, scale.device,
                                                 mlm_probability=options.warmup_mlm_probability)
    return measured


def run_minutes(scale: Scale, variant: str, step_seconds: dict) -> float:
    """Estimated minutes of one run of ``variant``."""
    return seconds_for_steps(scale.options(variant, 0), step_seconds) * OVERHEAD / 60


def plan(minutes: float = 60.0, quick: bool = False, claims=CLAIMS, seeds=(0, 1), device: str | None = None,
         step_seconds: dict | None = None, steps: int | None = None, long_steps: int | None = None,
         probe=None, transfer_out: str = "runs/transfer") -> Plan:
    """Split ``minutes`` across the selected claims; derive step counts from step times measured now.
    ``step_seconds`` ({"short": s, "long": s}; tests) replaces the measurement of the reference shape, ``probe``
    (config, batch, length, nsp, precision) -> seconds that of claim 5's shapes; ``steps`` fixes the steps of
    claims 2-4's runs, ``long_steps`` those of claim 1's (0: claim 1 reads the reference runs); ``transfer_out``
    is the transfer experiment's folder whose cells claim 6 reads (and adds to)."""
    import torch

    if minutes <= 0:
        raise ValueError(f"--budget must be a positive number of minutes, got {minutes}")
    bad = sorted(set(claims) - set(CLAIMS))
    if bad:
        raise ValueError(f"unknown claim(s) {bad}; the claims are {', '.join(map(str, CLAIMS))}")
    if not seeds:
        raise ValueError("at least one seed is needed")
    for flag, value, lowest, words in (("--steps", steps, 1, "positive"),
                                       ("--claim1-steps", long_steps, 0, "0 or more")):
        if value is not None and value < lowest:
            raise ValueError(f"{flag} must be {words}, got {value}")
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    scale = replace(QUICK_SCALE) if quick else replace(GPU_SCALE if device == "cuda" else Scale())
    p = Plan(minutes=minutes, quick=quick, claims=tuple(sorted(claims)), seeds=tuple(seeds), scale=scale,
             device=device)
    p.step_seconds = dict(step_seconds) if step_seconds else measure_phases(scale)
    probe = probe or (lambda config, B, T, nsp, precision: measure_step_seconds(config, B, T, nsp, precision,
                                                                                scale.device))
    n = len(seeds)
    wants_long = 1 in claims and not quick and device != "cuda"  # a GPU's runs are long enough as they are
    wants_short = any(c in (2, 3, 4) for c in claims)
    wanted = {"1": wants_long, "pretraining": wants_short or (1 in claims and not wants_long), "5": 5 in claims,
              "6": 6 in claims}
    parts = {k: v for k, v in SHARES.items() if wanted[k]}
    total = sum(parts.values()) or 1.0
    p.claim_minutes = {k: minutes * v / total for k, v in parts.items()}
    if not quick:
        lo, hi = (200, 20000) if device == "cuda" else (300, 6000)
        if wants_long:  # claim 1's runs first: no more than LONG_MAX steps; what they leave goes to claims 2-4
            seconds = 60 * p.claim_minutes["1"] / (n * OVERHEAD)
            scale.long_steps = clamp(steps_for_seconds(scale.options("long", 0), seconds, p.step_seconds), lo,
                                     LONG_MAX)
        if wanted["pretraining"]:  # the runs of claims 2-4 (or claim 1's, when it reads the reference)
            spare = max(0.0, p.claim_minutes.get("1", 0.0) - n * run_minutes(scale, "long", p.step_seconds)) \
                if wants_long else 0.0
            runs = len(pretraining_runs([c for c in claims if c != 1] if wants_long else claims, seeds))

            def reference_steps(minutes: float) -> int:  # steps of each of ``runs`` runs sharing ``minutes``
                seconds = 60 * minutes / (runs * OVERHEAD)
                return clamp(steps_for_seconds(scale.options("reference", 0), seconds, p.step_seconds), lo, hi)

            scale.steps = reference_steps(p.claim_minutes["pretraining"] + spare)
            if wants_long and not scale.separate_long:  # too small a budget for longer runs: claim 1 reads these
                scale.steps = reference_steps(p.claim_minutes["pretraining"] + p.claim_minutes["1"])
                scale.long_steps = 0
        elif wants_long:
            scale.steps = scale.long_steps  # claim 1 alone: its runs are the reference
    if steps is not None:
        scale.steps = steps
    if long_steps is not None:
        scale.long_steps = long_steps
    if not wants_long and long_steps is None:
        scale.long_steps = 0
    scale.eval_points = max(1, min(scale.eval_points, scale.steps // 10 or 1))
    p.runs = pretraining_runs(claims, seeds, scale.separate_long)
    if p.runs:
        p.estimated_minutes["pretraining"] = sum(run_minutes(scale, v, p.step_seconds) for v, _ in p.runs)
    if 5 in claims:
        p.distill, p.estimated_minutes["5"] = distill_budget(p, probe)
    if 6 in claims:
        p.transfer, p.estimated_minutes["6"] = transfer_budget(p)
        p.transfer["out"] = str(transfer_out)
    return p


def distill_plan(p: Plan, teacher: str | None = None) -> dvs.Plan:
    """distill-vs-scratch's plan with the course teacher (``teacher``: its run folder): its corpus and
    vocabulary, students and fine-tuning scaled by ``p.distill["factor"]``; --quick: a few steps, and the NSP
    head as the downstream measure (no fine-tuning)."""
    base = dvs.Plan(teacher_run=str(teacher or course_model("teacher") or ""), vocab_size=8192, corpus="wiki-en",
                    seeds=tuple(p.seeds))
    if p.quick:
        return replace(base, student_steps=10, batch_size=8, eval_examples=64, finetune_steps=5, downstream="nsp")
    factor = p.distill.get("factor", 1.0)
    return replace(base, student_steps=max(5, round(base.student_steps * factor)),
                   finetune_steps=max(5, round(base.finetune_steps * factor)))


def distill_budget(p: Plan, probe) -> tuple[dict, float | None]:
    """({"factor": f}, estimated minutes) of claim 5: distill-vs-scratch with the course teacher (not trained
    here), timed from step times of its teacher and student shapes measured now: per seed a distilled student
    (student step + a teacher forward ≈ 1/3 teacher step) and a scratch student, then fine-tuning every model
    and the random-weights references (teacher shape once, student shape per seed). The factor on the students'
    and fine-tuning steps fits the claim's minutes, at most 1 on a CPU (the experiment's own recipe)."""
    if p.quick:
        return {"factor": 1.0}, None  # a few steps; not estimated
    d = dvs.Plan()
    teacher_options = resolve(["teacher"])[0].options()
    teacher = model_config(teacher_options, teacher_options.vocab_size)
    student = get_preset(d.student_preset, **d.student_overrides).replace(vocab_size=teacher_options.vocab_size)
    t = probe(teacher, d.batch_size, d.max_seq_length, True, d.precision)
    s = probe(student, d.batch_size, d.max_seq_length, True, d.precision)
    n = len(p.seeds)

    def seconds(f: float) -> float:
        students, tune = d.student_steps * f, d.finetune_steps * f
        return OVERHEAD * (n * students * (2 * s + t / 3) + tune * (2 * t + 3 * n * s))

    factor = min(60 * p.claim_minutes["5"] / seconds(1.0), 2.0 if p.device == "cuda" else 1.0)
    return {"factor": factor, "teacher_step_s": t, "student_step_s": s}, seconds(factor) / 60


TRANSFER_TASKS = {"single": "reviews-zh", "pair": "next-sentence:peoples-daily-zh"}
TRANSFER_EXAMPLES = 1000  # labelled examples per cell: the largest size of the committed curves (docs/transfer.md)


def transfer_budget(p: Plan) -> tuple[dict, float | None]:
    """(the transfer cells of claim 6, estimated minutes): both tasks, fine-tuning and frozen features, the
    pre-trained course model, ``TRANSFER_EXAMPLES`` labels, the plan's seeds; --quick: the experiment's QUICK
    plan. A fine-tuning step (batch 16) is taken as half a 128-token pre-training step (batch 32); cells the
    experiment has already run are reused, so the estimate is an upper bound."""
    base = transfer.QUICK if p.quick else transfer.DEFAULT
    examples = base.sizes[0] if p.quick else TRANSFER_EXAMPLES
    cells = {"tasks": dict(TRANSFER_TASKS), "sizes": [examples], "seeds": list(p.seeds), "quick": p.quick,
             "steps": transfer.steps_for(replace(base, sizes=(examples,)), examples)}
    if p.quick:
        return cells, None
    count = len(TRANSFER_TASKS) * 2 * len(p.seeds)
    return cells, count * (cells["steps"] * p.step_seconds["long"] / 2 * OVERHEAD + PER_CELL) / 60


__all__ = ["CLAIMS", "VARIANTS", "VARIANT_LABELS", "choose_threads", "Plan", "Scale", "QUICK_SCALE", "GPU_SCALE",
           "plan", "pretraining_runs", "measure_step_seconds", "measure_phases", "run_minutes", "distill_plan",
           "distill_budget", "transfer_budget", "TRANSFER_TASKS", "TRANSFER_EXAMPLES"]
