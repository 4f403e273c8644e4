"""Knowledge masking (ERNIE 1.0 §3.2) against token and whole-word masking, at equal steps.

Three runs of the same model (preset ``tiny``) on the same training documents, with the same seed, batch
order, tokenizer and number of steps, differ only in what one masking draw covers:

- ``token``: BERT's masking, any WordPiece / character on its own;
- ``word``: whole-word masking, all pieces of a word together;
- ``knowledge``: ERNIE's entity- and phrase-level masking, all words of an entity or phrase together
  (``bertlab.family.knowledge`` says where the spans come from).

Every run is then scored on the *same* held-out documents, two ways:

(a) ordinary held-out MLM accuracy with token masking (the same static masks for every run);
(b) entity cloze: each entity of a held-out sequence is chosen with probability 0.5 and *all* its tokens
    become [MASK]; we count the entity tokens predicted right and the entities recovered whole
    (every token right), also for multi-token entities alone (a one-token entity is masked the same way
    by all three methods).

ERNIE's claim is that (b) improves with knowledge masking: a model that trained on filling whole entities
from context should be better at it than one that could peek at the other half of a name.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from bertlab.config import IGNORE_INDEX
from bertlab.data import PretrainingDataset, load_corpus
from bertlab.experiments.common import (add_out_and_quick, add_run_control, cached_run, out_folder, prepare_out,
                                        print_results, run_seconds, set_threads, stage_logger)
from bertlab.family.knowledge import entity_cloze, lay_out, span_statistics, unit_starts
from bertlab.io import atomic_write_json, atomic_write_text
from bertlab.pretrain import PretrainOptions, pretrain
from bertlab.recipes import recipe_options
from bertlab.train.pretraining import accuracy_by_case, chosen_cases, correct_by_case
from bertlab.train.run import load_run

UNITS = ("token", "word", "knowledge")
HELD_OUT_FRACTION = 0.1  # PretrainOptions' default, which the runs use: the same documents are held out here


@dataclass
class Plan:
    corpus: str = "peoples-daily-zh"
    preset: str = "tiny"
    model_overrides: dict = field(default_factory=dict)  # on top of the fast-cpu recipe's (pre-LN, no dropout)
    vocab_size: int = 8192
    # the fast-cpu recipe (docs/recipe.md) at the course model's sizes: the first half of the steps on 16-token
    # inputs, then 128 tokens; masked LM leaves the unigram plateau a few hundred steps after the switch
    max_seq_length: int = 128
    batch_size: int = 32
    steps: int = 1500
    learning_rate: float = 2e-3
    precision: str = "bf16"
    warmup_seq_length: int = 16
    warmup_seq_steps: float = 0.5
    seed: int = 0
    eval_examples: int = 1024  # held-out sequences scored, for (a) and (b)
    cloze_probability: float = 0.5  # share of held-out entities masked in the cloze
    threads: int = 1


# --quick: the same pipeline with toy sizes on the small news corpus (a smoke test, ~1 minute)
QUICK = Plan(corpus="news-en", vocab_size=2048, max_seq_length=64, batch_size=16, steps=30, eval_examples=128,
             precision="fp32", warmup_seq_length=0, warmup_seq_steps=0.0)


def add_arguments(parser) -> None:
    d = Plan()
    add_out_and_quick(parser, "knowledge-masking", "the runs, results.json and results.md; finished runs in it "
                      "are reused", "toy sizes on news-en (a smoke test, ~1 min)")
    parser.add_argument("--corpus", help=f"peoples-daily-zh, wiki-en or news-en (default {d.corpus})")
    parser.add_argument("--steps", type=int, help=f"optimizer steps of every run (default {d.steps})")
    parser.add_argument("--batch-size", type=int, help=f"default {d.batch_size}")
    parser.add_argument("--seed", type=int, help=f"default {d.seed}")
    add_run_control(parser, threads_help=f"torch CPU threads (default {d.threads})")


def plan_from_args(args) -> Plan:
    plan = replace(QUICK) if args.quick else Plan()
    changes = {k: getattr(args, k) for k in ("corpus", "steps", "batch_size", "seed", "threads")
               if getattr(args, k, None) is not None}
    for name in ("steps", "batch_size", "threads"):
        if changes.get(name, 1) <= 0:
            raise ValueError(f"--{name.replace('_', '-')} must be positive, got {changes[name]}")
    return replace(plan, **changes)


# --- training -----------------------------------------------------------------------------------------------

def options_for(plan: Plan, unit: str, run_dir: Path | None, progress: bool = False) -> dict:
    """The PretrainOptions values of the run of masking ``unit``: the fast-cpu recipe (its warm-up, learning-rate
    schedule, pre-LN without dropout), changed only where the plan says; MLM only."""
    values = recipe_options("fast-cpu")
    values["model_overrides"] = {**values["model_overrides"], **plan.model_overrides}
    values.update(preset=plan.preset, corpus=plan.corpus, objective="mlm", masking_unit=unit,
                  warmup_seq_length=plan.warmup_seq_length, warmup_seq_steps=plan.warmup_seq_steps,
                  vocab_size=plan.vocab_size, max_seq_length=plan.max_seq_length, batch_size=plan.batch_size,
                  steps=plan.steps, learning_rate=plan.learning_rate, eval_examples=plan.eval_examples,
                  held_out_fraction=HELD_OUT_FRACTION, precision=plan.precision, device="cpu", seed=plan.seed,
                  split_seed=0, checkpoint_every=max(100, plan.steps // 2), eval_every=max(1, plan.steps // 6),
                  log_every=10, out=None if run_dir is None else str(run_dir), progress=progress)
    return values


def pretrain_run(plan: Plan, unit: str, run_dir: Path, progress: bool) -> float:
    """Train (or reuse) the run of one masking unit; returns its training seconds."""
    options = PretrainOptions(**options_for(plan, unit, run_dir, progress))
    cached_run(options, pretrain)
    return run_seconds(run_dir)


# --- evaluation ---------------------------------------------------------------------------------------------

@dataclass
class HeldOut:
    """The held-out batches every run is scored on."""

    mlm_batches: list  # token-masked, static: (a)
    cloze_batches: list  # entity cloze: (b), each with "unit_ids" (B, T) besides the model inputs
    description: str


def held_out_data(plan: Plan, tokenizer) -> HeldOut:
    """The held-out documents of the runs' split (split_seed 0), masked once with fixed seeds."""
    import numpy as np
    import torch

    _, held_out = load_corpus(plan.corpus).split(HELD_OUT_FRACTION, seed=0)
    common = dict(max_seq_length=plan.max_seq_length, objective="mlm", seed=1)
    token_data = PretrainingDataset(held_out, tokenizer, masking="static", dupe_factor=1, **common)
    size = min(64, len(token_data))
    n_batches = max(1, min(plan.eval_examples, len(token_data)) // size)
    mlm_batches = [token_data.batch(i, size) for i in range(n_batches)]

    units = PretrainingDataset(held_out, tokenizer, masking="dynamic", masking_unit="knowledge", **common)
    examples = units.examples(0)  # unmasked; word_ids hold the knowledge units
    kinds = lay_out(examples.instances, units.units.kind, plan.max_seq_length)  # (N, L)
    generator = torch.Generator().manual_seed(2)
    cloze_batches = []
    for start in range(0, min(plan.eval_examples, len(examples)), 64):
        index = np.arange(start, min(start + 64, plan.eval_examples, len(examples)))
        rows = examples.rows(index)
        T = rows["input_ids"].shape[1]
        ids = torch.from_numpy(rows["input_ids"].astype(np.int64))
        special = torch.from_numpy(rows["special_tokens_mask"])
        unit_ids = torch.from_numpy(rows["word_ids"].astype(np.int64))
        masked, labels = entity_cloze(ids, special, unit_ids, torch.from_numpy(kinds[index, :T]),
                                      plan.cloze_probability, generator=generator)
        lengths = torch.from_numpy(rows["lengths"])
        cloze_batches.append({"input_ids": masked, "labels": labels, "unit_ids": unit_ids,
                              "token_type_ids": torch.from_numpy(rows["token_type_ids"].astype(np.int64)),
                              "attention_mask": (torch.arange(T)[None] < lengths[:, None]).long()})
    n_mlm = sum(len(b["input_ids"]) for b in mlm_batches)
    n_cloze = sum(len(b["input_ids"]) for b in cloze_batches)
    return HeldOut(mlm_batches, cloze_batches,
                   f"{held_out.num_documents} held-out documents of {plan.corpus}; (a) {n_mlm} sequences, "
                   f"token-masked at 15 %; (b) {n_cloze} sequences, each entity masked whole with probability "
                   f"{plan.cloze_probability:g}")


def score(model, held_out: HeldOut) -> dict:
    """(a) held-out token-masked MLM accuracy, overall and at [MASK] positions; (b) entity-cloze token and
    whole-entity accuracy."""
    import torch

    inputs = ("input_ids", "attention_mask", "token_type_ids", "labels")
    correct = total = 0
    by_case: dict[str, float] = {}
    counts = dict(tokens=0, tokens_right=0, entities=0, entities_right=0, multi=0, multi_right=0)
    with torch.no_grad():
        for batch in held_out.mlm_batches:
            out = model(**{k: batch[k] for k in inputs})
            predicted = out.masked_lm_logits.argmax(-1)  # (N,)
            correct += int((predicted == out.masked_lm_labels).sum())
            total += out.masked_lm_labels.numel()
            for k, v in correct_by_case(predicted, out.masked_lm_labels, chosen_cases(batch)[1]).items():
                by_case[k] = by_case.get(k, 0.0) + v
        for batch in held_out.cloze_batches:
            labels = batch["labels"]
            out = model(**{k: batch[k] for k in inputs})
            chosen = labels != IGNORE_INDEX  # (B, T)
            right = torch.zeros_like(chosen)
            right[chosen] = out.masked_lm_logits.argmax(-1) == out.masked_lm_labels
            # an entity is recovered when all its tokens are right: count wrong tokens per masked entity
            start = unit_starts(batch["unit_ids"], ~chosen)  # (B, T) first token of each masked entity
            entity = torch.cumsum(start.flatten().long(), 0).view_as(start) - 1  # (B, T) entity number
            n = int(start.sum())
            wrong = torch.zeros(n, dtype=torch.long).index_add_(0, entity[chosen], (~right[chosen]).long())
            size = torch.zeros(n, dtype=torch.long).index_add_(0, entity[chosen], torch.ones_like(entity[chosen]))
            counts["tokens"] += int(chosen.sum())
            counts["tokens_right"] += int(right.sum())
            counts["entities"] += n
            counts["entities_right"] += int((wrong == 0).sum())
            counts["multi"] += int((size > 1).sum())
            counts["multi_right"] += int(((wrong == 0) & (size > 1)).sum())
    return {"mlm_acc": correct / max(1, total), "mlm_tokens": total, **accuracy_by_case(by_case),
            "cloze_token_acc": counts["tokens_right"] / max(1, counts["tokens"]),
            "cloze_entity_acc": counts["entities_right"] / max(1, counts["entities"]),
            "cloze_multi_entity_acc": counts["multi_right"] / max(1, counts["multi"]), **counts}


def training_mask_statistics(plan: Plan, tokenizer, batches: int = 8) -> dict:
    """What knowledge masking's training masks covered (first ``batches`` full-length batches of the knowledge
    run, masked at the run's rate)."""
    import torch

    train, _ = load_corpus(plan.corpus).split(HELD_OUT_FRACTION, seed=0)
    rate = options_for(plan, "knowledge", None)["mlm_probability"]
    data = PretrainingDataset(train, tokenizer, max_seq_length=plan.max_seq_length, objective="mlm",
                              masking_unit="knowledge", seed=plan.seed, mlm_probability=rate)
    chosen, units, kind, special = [], [], [], []
    for step in range(batches):
        epoch, index = data.batch_indices(step, plan.batch_size)
        examples = data.examples(epoch)
        kinds = lay_out(examples.instances, data.units.kind, plan.max_seq_length)
        rows = examples.rows(index)
        T = rows["input_ids"].shape[1]
        pad = plan.max_seq_length - T  # rows of different batches have different T: pad to L
        chosen.append(torch.nn.functional.pad(data.batch(step, plan.batch_size)["labels"] != IGNORE_INDEX, (0, pad)))
        units.append(torch.nn.functional.pad(torch.from_numpy(rows["word_ids"]).long(), (0, pad), value=-1))
        kind.append(torch.nn.functional.pad(torch.from_numpy(kinds[index, :T]).long(), (0, pad), value=-1))
        special.append(torch.nn.functional.pad(torch.from_numpy(rows["special_tokens_mask"]), (0, pad), value=True))
    return span_statistics(torch.cat(chosen), torch.cat(units), torch.cat(kind), torch.cat(special))


# --- the table ----------------------------------------------------------------------------------------------

def markdown(results: dict) -> str:
    plan, rows = results["plan"], results["runs"]
    lines = ["| masking unit | held-out MLM acc at [MASK] (overall), token-masked | entity cloze: tokens right "
             "| entities recovered | multi-token entities recovered | train time |", "|---|---|---|---|---|---|"]
    for unit in UNITS:
        r = rows[unit]
        mlm = f"{100 * r['mlm_acc']:.1f} %" if r.get("mlm_acc_mask") is None else \
            f"{100 * r['mlm_acc_mask']:.1f} % ({100 * r['mlm_acc']:.1f} %)"  # results from before the split: overall
        lines.append(f"| {unit} | {mlm} | {100 * r['cloze_token_acc']:.1f} % "
                     f"| {100 * r['cloze_entity_acc']:.1f} % | {100 * r['cloze_multi_entity_acc']:.1f} % "
                     f"| {r['seconds']:.0f} s |")
    s = results["knowledge_mask_statistics"]
    c = rows["token"]
    model = "".join(f", {k}={v}" for k, v in plan["model_overrides"].items())
    lines += ["", f"Preset {plan['preset']} (fast-cpu recipe: pre-LN, no dropout{model}), {plan['steps']} steps × batch {plan['batch_size']} × "
                  f"{plan['max_seq_length']} tokens (the first {plan['warmup_seq_steps']:.0%} of steps on "
                  f"{plan['warmup_seq_length']}-token inputs), lr {plan['learning_rate']:g} decayed over the last 30 % of the steps, {plan['precision']}, MLM only, "
                  f"vocabulary {plan['vocab_size']}, seed {plan['seed']}, corpus {plan['corpus']}. "
                  f"Held-out: {results['held_out']}. Cloze: {c['entities']} entities "
                  f"({c['multi']} of several tokens), {c['tokens']} tokens.",
              f"Knowledge masking's training masks: {100 * s['token_rate']:.1f} % of tokens; of the masked units "
              f"{100 * s['entity_share']:.1f} % entities (mean {s['entity_mean_tokens']:.2f} tokens), "
              f"{100 * s['phrase_share']:.1f} % phrases (mean {s['phrase_mean_tokens']:.2f} tokens), "
              f"{100 * s['word_share']:.1f} % words (mean {s['word_mean_tokens']:.2f} tokens).",
              f"Time: {sum(r['seconds'] for r in rows.values()) / 60:.1f} min of training (the runs' own times); "
              f"{results['seconds'] / 60:.1f} min for this call, which reuses finished runs."]
    return "\n".join(lines) + "\n"


# --- the command --------------------------------------------------------------------------------------------

def run(args) -> int:
    plan = plan_from_args(args)
    out = out_folder(args, "knowledge-masking")
    return print_results(run_plan(plan, out, fresh=args.fresh, progress=not args.quiet), out)


def run_plan(plan: Plan, out: Path, fresh: bool = False, progress: bool = True) -> dict:
    set_threads(plan.threads)
    prepare_out(out, UNITS, fresh)
    began = time.time()
    say = stage_logger("knowledge-masking")

    seconds = {}
    for unit in UNITS:
        say(f"{unit} masking: {plan.steps} steps on {plan.corpus}")
        seconds[unit] = pretrain_run(plan, unit, out / unit, progress)
    runs = {unit: load_run(out / unit) for unit in UNITS}
    vocab = runs["token"].tokenizer.to_str()
    if any(r.tokenizer.to_str() != vocab for r in runs.values()):
        raise RuntimeError("the runs have different tokenizers; the comparison would be unfair (is this a bug?)")
    say("scoring every run on the same held-out documents")
    held_out = held_out_data(plan, runs["token"].tokenizer)
    rows = {unit: {**score(runs[unit].model, held_out), "seconds": seconds[unit], "run": str(out / unit)}
            for unit in UNITS}
    results = {"plan": asdict(plan), "held_out": held_out.description, "runs": rows,
               "knowledge_mask_statistics": training_mask_statistics(plan, runs["token"].tokenizer)}
    results["seconds"] = time.time() - began  # this call (finished runs in --out are reused, not retrained)
    results["markdown"] = markdown(results)
    atomic_write_json(out / "results.json", results)
    atomic_write_text(out / "results.md", results["markdown"])
    return results
