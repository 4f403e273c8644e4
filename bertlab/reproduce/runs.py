"""The pre-training runs of claims 1–4: one reference shape and its variants, on one document split.

Every run uses ``split_seed=0``: the same training / held-out documents, the same tokenizer and the same
masked held-out batches for every variant and seed, so differences come from the variant (and the seed).
A variant changes one thing of the reference (BERT shape, E = H, no sharing, dynamic masking, MLM + NSP):

- ``factorized``: E < H (ALBERT §3.1);   ``shared``: all layers shared (ALBERT §3.1);
- ``static``: masks fixed when the data is built (RoBERTa §4.1), in as many copies as make each mask be
  seen about 4 times — RoBERTa's static baseline (10 copies over 40 epochs);
- ``no-nsp``: MLM alone on full-sentence inputs (RoBERTa §4.2);
- ``long``: the reference trained longer, for claim 1's NSP.

Every run trains with the ``fast-cpu`` recipe (``Scale.options``): the first 30 % of its steps on 16-token
MLM-only inputs with 40 % masked, then 128-token inputs with 30 % masked (pairs, or full sentences for ``no-nsp``); ``static`` fixes the masks of
both phases.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bertlab.analysis.params import count_parameters
from bertlab.config import IGNORE_INDEX
from bertlab.data import PretrainingDataset, save_tokenizer
from bertlab.model import BertForPreTraining
from bertlab.pretrain import batch_function, build_data, model_config, task_and_baselines
from bertlab.reproduce.budget import VARIANT_LABELS, Scale
from bertlab.train.device import pick_device
from bertlab.train.loop import train
from bertlab.train.pretraining import PretrainingTask
from bertlab.train.run import write_run_config
from bertlab.train.runlock import clear, run_lock

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
    epochs: float  # passes over the full-length training examples (the 16-token warm-up's are in short_epochs)
    dupe_factor: int | None = None  # static masking: copies of the masks (full-length inputs)
    unigram_mlm_acc_mask: float | None = None  # the unigram baseline at [MASK] positions (None: an older outcome)
    cross_eval: dict = field(default_factory=dict)  # {"pairs": {...}, "full-sentence": {...}} held-out metrics
    short_steps: int = 0  # steps of the sequence-length warm-up (short inputs)
    short_epochs: float = 0.0
    model: object = None  # the trained model (kept in memory for cross-evaluation; not serialised)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("model")
        return d


def options_for(scale: Scale, variant: str, seed: int, out: Path | None, progress: bool = False):
    """The run's ``PretrainOptions`` (``Scale.options``: the recipe, the shape, the variant's one change)."""
    return scale.options(variant, seed, out, progress)


def run_variant(scale: Scale, variant: str, seed: int, run_dir: Path, progress: bool = False) -> RunOutcome:
    """Train one variant at one seed into ``run_dir`` (replacing what was there); the same glue as
    ``bertlab.pretrain.pretrain`` (both phases of the recipe's sequence-length warm-up), plus the static-masking
    copy count, which ``PretrainOptions`` leaves fixed."""
    options = options_for(scale, variant, seed, run_dir, progress)
    with run_lock(run_dir):
        return _run_variant(scale, variant, seed, run_dir, options)


def static_copy(dataset, options, epochs: float, seed: int, max_seq_length: int, objective: str):
    """``dataset`` with static masks at its own masking rate, in as many copies as make each mask be seen about
    MASK_REUSE times over ``epochs`` passes. Returns (dataset, copies)."""
    copies = max(1, round(epochs / MASK_REUSE))
    return PretrainingDataset(dataset.corpus, dataset.tokenizer, max_seq_length=max_seq_length, objective=objective,
                              masking="static", masking_unit=options.masking_unit, seed=seed, dupe_factor=copies,
                              mlm_probability=dataset.collator.mlm_probability), copies


def _run_variant(scale: Scale, variant: str, seed: int, run_dir: Path, options) -> RunOutcome:
    import torch

    data = build_data(options)
    short = options.warmup_seq_step_count if data.warmup_train is not None else 0
    epochs = (options.steps - short) * options.batch_size / len(data.train)
    short_epochs = short * options.warmup_batch_size / len(data.warmup_train) if short else 0.0
    dupe_factor = short_copies = None
    if variant == "static":  # both phases: the short inputs' masks are fixed too
        data.train, dupe_factor = static_copy(data.train, options, epochs, seed, options.max_seq_length,
                                              options.objective)
        if short:
            data.warmup_train, short_copies = static_copy(
                data.warmup_train, options, short_epochs, seed, options.warmup_seq_length,
                options.warmup_seq_objective or options.objective)
    config = model_config(options, data.tokenizer.get_vocab_size())
    torch.manual_seed(seed)
    model = BertForPreTraining(config)
    task, baselines = task_and_baselines(options, data)
    clear(run_dir)  # replace what was there
    save_tokenizer(data.tokenizer, run_dir / "tokenizer.json")
    write_run_config(run_dir, "pretrain", config, options=asdict(options),
                     data={"corpus": options.corpus, "train_examples": len(data.train), "static_dupe_factor": dupe_factor,
                           "short_steps": short, "short_static_dupe_factor": short_copies},
                     baselines=baselines)
    began = time.time()
    result = train(model, task, batch_function(options, data), options.train_settings(), run_dir, callbacks=())
    if result.status != "finished":
        raise KeyboardInterrupt
    return RunOutcome(variant, seed, str(run_dir), dict(result.last_eval), time.time() - began, result.step,
                      count_parameters(model).to_dict(), float(baselines["unigram_mlm_acc"]), round(epochs, 2),
                      dupe_factor, unigram_mlm_acc_mask=baselines["unigram_mlm_acc_mask"], short_steps=short,
                      short_epochs=round(short_epochs, 2), model=model)


def held_out_batches(scale: Scale, objective: str) -> list:
    """The held-out batches every run of ``objective`` is evaluated on (split_seed 0)."""
    options = options_for(scale, "no-nsp" if objective == "mlm" else "reference", 0, None)
    options.warmup_seq_length = 0  # the held-out batches are full-length; no need to build the short inputs
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
