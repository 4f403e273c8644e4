"""The pre-training runs of claims 1–4: one reference shape and its variants, on one document split.

Every run uses ``split_seed=0``: the same training / held-out documents, the same tokenizer and the same
masked held-out batches for every variant and seed, so differences come from the variant (and the seed).
A variant changes one thing of the reference (BERT shape, E = H, no sharing, dynamic masking, MLM + NSP):

- ``factorized``: E < H (ALBERT §3.1);   ``shared``: all layers shared (ALBERT §3.1);
- ``static``: masks fixed when the data is built (RoBERTa §4.1), in as many copies as make each mask be
  seen about 4 times — RoBERTa's static baseline (10 copies over 40 epochs);
- ``no-nsp``: MLM alone on full-sentence inputs (RoBERTa §4.2).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bertlab.analysis.params import count_parameters
from bertlab.config import IGNORE_INDEX
from bertlab.data import PretrainingDataset, save_tokenizer
from bertlab.model import BertForPreTraining
from bertlab.pretrain import PretrainOptions, build_data, model_config, task_and_baselines
from bertlab.reproduce.budget import Scale
from bertlab.train.device import pick_device
from bertlab.train.loop import train
from bertlab.train.pretraining import PretrainingTask
from bertlab.train.run import write_run_config
from bertlab.train.runlock import clear, run_lock

VARIANT_LABELS = {"reference": "BERT (E = H, not shared, dynamic, MLM + NSP)", "factorized": "factorized E < H",
                  "shared": "all layers shared", "static": "static masking", "no-nsp": "MLM only (no NSP)"}
MASK_REUSE = 4  # RoBERTa's static baseline: 10 masks over 40 epochs, each mask seen 4 times


@dataclass
class RunOutcome:
    variant: str
    seed: int
    run_dir: str
    last_eval: dict
    seconds: float
    steps: int
    parameters: dict  # count_parameters(...).to_dict()
    unigram_mlm_acc: float
    epochs: float  # passes over the training examples
    dupe_factor: int | None = None  # static masking: copies of the masks
    unigram_mlm_acc_mask: float | None = None  # the unigram baseline at [MASK] positions (None: an older outcome)
    cross_eval: dict = field(default_factory=dict)  # {"pairs": {...}, "full-sentence": {...}} held-out metrics
    model: object = None  # the trained model (kept in memory for cross-evaluation; not serialised)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("model")
        return d


def options_for(scale: Scale, variant: str, seed: int, out: Path | None, progress: bool = False):
    if variant not in VARIANT_LABELS:
        raise ValueError(f"unknown variant {variant!r}")
    return PretrainOptions(
        preset=scale.preset, model_overrides=dict(scale.overrides),
        embedding_size=scale.factorized_embedding if variant == "factorized" else None,
        share_layers="all" if variant == "shared" else None, corpus=scale.corpus,
        objective="mlm" if variant == "no-nsp" else "mlm+nsp", masking="static" if variant == "static" else "dynamic",
        vocab_size=scale.vocab_size, max_seq_length=scale.max_seq_length, eval_examples=scale.eval_examples,
        steps=scale.steps, batch_size=scale.batch_size, learning_rate=scale.learning_rate, precision=scale.precision,
        device=scale.device, eval_every=max(1, scale.steps // scale.eval_points), checkpoint_every=0,
        log_every=max(1, min(10, scale.steps // 20)), seed=seed, split_seed=0, out=str(out) if out else None,
        progress=progress)


def run_variant(scale: Scale, variant: str, seed: int, run_dir: Path, progress: bool = False) -> RunOutcome:
    """Train one variant at one seed into ``run_dir`` (replacing what was there); the same glue as
    ``bertlab.pretrain.pretrain``, plus the static-masking copy count, which ``PretrainOptions`` leaves fixed."""
    options = options_for(scale, variant, seed, run_dir, progress)
    with run_lock(run_dir):
        return _run_variant(scale, variant, seed, run_dir, options)


def _run_variant(scale: Scale, variant: str, seed: int, run_dir: Path, options) -> RunOutcome:
    import torch

    data = build_data(options)
    train_data, dupe_factor = data.train, None
    epochs = scale.steps * scale.batch_size / len(train_data)
    if variant == "static":
        dupe_factor = max(1, round(epochs / MASK_REUSE))
        train_data = PretrainingDataset(data.train.corpus, data.tokenizer, max_seq_length=options.max_seq_length,
                                        objective=options.objective, masking="static", whole_word=options.whole_word,
                                        seed=seed, dupe_factor=dupe_factor)
    config = model_config(options, data.tokenizer.get_vocab_size())
    torch.manual_seed(seed)
    model = BertForPreTraining(config)
    task, baselines = task_and_baselines(options, data)
    clear(run_dir)  # replace what was there
    save_tokenizer(data.tokenizer, run_dir / "tokenizer.json")
    write_run_config(run_dir, "pretrain", config, options=asdict(options),
                     data={"corpus": options.corpus, "train_examples": len(train_data), "static_dupe_factor": dupe_factor},
                     baselines=baselines)
    began = time.time()
    result = train(model, task, lambda step: train_data.batch(step, options.batch_size), options.train_settings(),
                   run_dir, callbacks=())
    if result.status != "finished":
        raise KeyboardInterrupt
    return RunOutcome(variant, seed, str(run_dir), dict(result.last_eval), time.time() - began, result.step,
                      count_parameters(model).to_dict(), float(baselines["unigram_mlm_acc"]), round(epochs, 2),
                      dupe_factor, unigram_mlm_acc_mask=baselines["unigram_mlm_acc_mask"], model=model)


def held_out_batches(scale: Scale, objective: str) -> list:
    """The held-out batches every run of ``objective`` is evaluated on (split_seed 0)."""
    options = options_for(scale, "no-nsp" if objective == "mlm" else "reference", 0, None)
    return build_data(options).eval_batches


def evaluate(model, batches: list) -> dict:
    """Held-out MLM (and NSP, where the batches have labels) metrics of ``model`` on ``batches``."""
    import torch

    was_training = model.training
    model.eval()
    with torch.no_grad():
        metrics = PretrainingTask(batches).evaluate(model)
    model.train(was_training)
    return metrics


def time_steps(configs: dict, scale: Scale, repeats: int = 5) -> dict:
    """Median seconds of a training step (forward + backward) and of a forward pass for each config, timed
    interleaved (A, B, A, B, ...) on the same random batch so that machine load hits them alike."""
    import torch

    device = pick_device(scale.device)
    g = torch.Generator().manual_seed(0)
    B, T = scale.batch_size, scale.max_seq_length
    models = {}
    for name, config in configs.items():
        torch.manual_seed(0)
        models[name] = BertForPreTraining(config).to(device)
    ids = torch.randint(5, min(c.vocab_size for c in configs.values()), (B, T), generator=g)
    labels = torch.where(torch.rand(B, T, generator=g) < 0.15, ids, torch.full_like(ids, IGNORE_INDEX))
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids),
             "labels": labels, "next_sentence_label": torch.randint(0, 2, (B,), generator=g)}
    batch = {k: v.to(device) for k, v in batch.items()}

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    train_times = {n: [] for n in models}
    infer_times = {n: [] for n in models}
    for r in range(repeats + 1):
        for name, model in models.items():
            t0 = time.perf_counter()
            model(**batch).loss.backward()
            sync()
            t1 = time.perf_counter()
            with torch.no_grad():
                model(**batch)
            sync()
            t2 = time.perf_counter()
            model.zero_grad(set_to_none=True)
            if r:  # the first round warms up
                train_times[name].append(t1 - t0)
                infer_times[name].append(t2 - t1)

    def median(v):
        v = sorted(v)
        return v[len(v) // 2]

    return {n: {"train_step_s": median(train_times[n]), "forward_s": median(infer_times[n]),
                "train_step_all_s": train_times[n], "forward_all_s": infer_times[n]} for n in models}


__all__ = ["RunOutcome", "VARIANT_LABELS", "options_for", "run_variant", "held_out_batches", "evaluate", "time_steps"]
