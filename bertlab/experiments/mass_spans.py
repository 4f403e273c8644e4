"""MASS span length: train with k = 1 (BERT-like), k = 50 % (MASS) and k = 100 % (LM-like), score on every span.

MASS (Song et al. 2019, §2.3) masks one contiguous span of k of a sentence's m tokens and has a decoder
rebuild it. k = 1 is BERT's masked LM (the decoder has no left context, the encoder sees everything else);
k = m is a language model (the encoder sees only [MASK]s); MASS chose k ≈ m / 2, which makes the encoder
understand the unmasked half and the decoder lean on it. This experiment trains one small encoder–decoder
(``bertlab.family.mass``) per span rule on the same sentences, steps, batch size and learning rate, then
scores every model on held-out sentences with every span rule (the same sentences and spans for all): the
teacher-forced token accuracy of the span, plus greedy (free-running) reconstruction of the 50 % spans and a
few reconstructed sentences. Runs are folders of the generic training loop (metrics.jsonl, checkpoints):
a second call reuses finished runs and continues interrupted ones.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from bertlab.config import IGNORE_INDEX, get_preset
from bertlab.data import get_tokenizer, load_corpus
from bertlab.data.tokenizer import NUM_SPECIAL_TOKENS, save_tokenizer
from bertlab.experiments.common import (add_out_and_quick, add_run_control, out_folder, prepare_out, print_results,
                                        set_threads, stage_logger)
from bertlab.family.mass import MassConfig, MassData, MassModel, MassTask, greedy_fill, parse_span, show_reconstruction
from bertlab.io import atomic_write_json, atomic_write_text
from bertlab.recipes import recipe_options
from bertlab.train.checkpoint import latest_checkpoint, load_weights
from bertlab.train.loop import TrainSettings, train
from bertlab.train.metrics import read_metrics
from bertlab.train.run import read_status
from bertlab.train.runlock import clear, run_lock


@dataclass
class Plan:
    corpus: str = "wiki-en"
    vocab_size: int = 4096
    max_seq_length: int = 48  # [CLS] sentence [SEP]; longer sentences are cut (5 % of wiki-en at 48)
    batch_size: int = 32
    # the fast-cpu recipe's schedule and model (docs/recipe.md): pre-LN without dropout, bf16, lr 2e-3 held after
    # a 5 % warm-up and decayed to 0 over the last 30 % of the steps. (No sequence-length warm-up: a sentence is
    # at most 48 tokens.) 1,000 steps: the span rules that predict many tokens per sentence leave the
    # most-frequent-token baseline within a few hundred.
    steps: int = 1000
    learning_rate: float = 2e-3
    warmup: float = 0.05
    lr_decay: float = 0.3
    preset: str = "tiny"  # the encoder (L2 H128 A2); the decoder copies its width, norm placement and dropout
    model_overrides: dict = field(default_factory=lambda: recipe_options("fast-cpu")["model_overrides"])
    decoder_layers: int = 1
    train_spans: tuple = ("1", "50%", "100%")
    probe_spans: tuple = ("1", "50%", "100%")
    greedy_span: str = "50%"
    held_out_fraction: float = 0.1
    eval_examples: int = 1024  # held-out sentences per probe (teacher-forced: one forward pass per batch)
    greedy_examples: int = 128  # held-out sentences decoded greedily (one decoder pass per span token)
    examples_to_show: int = 3
    precision: str = "bf16"
    device: str = "auto"
    seed: int = 0


# what a trained model depends on (the rest only changes how it is scored, so finished runs are reused)
TRAINING_FIELDS = ("corpus", "vocab_size", "max_seq_length", "batch_size", "steps", "learning_rate", "warmup",
                   "lr_decay", "preset", "model_overrides", "decoder_layers", "held_out_fraction", "precision", "seed")

QUICK = Plan(corpus="news-en", vocab_size=1024, max_seq_length=32, batch_size=16, steps=30, precision="fp32",
             model_overrides=dict(hidden_size=64, num_attention_heads=2, intermediate_size=128),
             eval_examples=64, greedy_examples=32, examples_to_show=2)


def add_arguments(parser) -> None:
    d = Plan()
    add_out_and_quick(parser, "mass-spans", "the runs, results.json and results.md",
                      "toy sizes on news-en (a smoke test, ~20 s)")
    parser.add_argument("--steps", type=int, help=f"optimizer steps per model (default {d.steps}, "
                                                  f"{QUICK.steps} with --quick)")
    parser.add_argument("--corpus", help=f"corpus of sentences (default {d.corpus})")
    parser.add_argument("--spans", help="span rules to train with, comma-separated: token counts or percentages "
                                        "of the sentence (default 1,50%%,100%%)")
    parser.add_argument("--decoder-layers", type=int, help=f"default {d.decoder_layers}")
    parser.add_argument("--lr", type=float, help=f"peak learning rate (default {d.learning_rate:g})")
    parser.add_argument("--device", help="auto | cpu | cuda | mps")
    parser.add_argument("--seed", type=int, help="model and data seed (default 0)")
    add_run_control(parser)


def plan_from_args(args) -> Plan:
    plan = replace(QUICK) if args.quick else Plan()
    given = {"steps": args.steps, "corpus": args.corpus, "decoder_layers": args.decoder_layers,
             "learning_rate": args.lr, "device": args.device, "seed": args.seed}
    plan = replace(plan, **{k: v for k, v in given.items() if v is not None})
    if args.spans:
        plan = replace(plan, train_spans=tuple(s.strip() for s in args.spans.split(",") if s.strip()))

    for rule in (*plan.train_spans, *plan.probe_spans, plan.greedy_span):
        parse_span(rule)  # a clear error now rather than after the first model has trained
    return plan


def run_name(rule: str) -> str:
    """A folder name for a span rule: "1" -> "k1", "50%" -> "k50pct"."""
    return "k" + str(rule).replace("%", "pct").replace(".", "_")


# --- one model -----------------------------------------------------------------------------------------------

def train_one(plan: Plan, rule: str, run_dir: Path, tokenizer, train_data, eval_batches, progress: bool):
    """Train (or reuse, or resume) the model of one span rule; returns (model, training seconds, reused).
    The run folder is locked meanwhile (one writer per run: ``bertlab.train.runlock``)."""
    with run_lock(run_dir):
        return _train_one(plan, rule, run_dir, tokenizer, train_data, eval_batches, progress)


def _train_one(plan: Plan, rule: str, run_dir: Path, tokenizer, train_data, eval_batches, progress: bool):
    import torch

    encoder = get_preset(plan.preset, **plan.model_overrides)
    encoder = encoder.replace(vocab_size=tokenizer.get_vocab_size(),
                              max_position_embeddings=max(plan.max_seq_length, 8))
    config = MassConfig(encoder, plan.decoder_layers)
    wanted = json.loads(json.dumps({"kind": "mass",  # the dashboard lists it with curves only
                                    "plan": {k: v for k, v in asdict(plan).items() if k in TRAINING_FIELDS},
                                    "span": rule, "model": config.to_dict()}))
    saved = json.loads((run_dir / "config.json").read_text()) if (run_dir / "config.json").exists() else None
    if saved is not None and saved != wanted:
        print(f"{run_dir} was trained with other settings: training it again", file=sys.stderr)
        clear(run_dir)
        saved = None
    torch.manual_seed(plan.seed)
    model = MassModel(config)
    if saved is not None and read_status(run_dir).get("status") == "finished" \
            and (run_dir / "model.safetensors").exists():
        load_weights(model, run_dir / "model.safetensors")
        return model, _train_seconds(run_dir), True
    resume = saved is not None and latest_checkpoint(run_dir) is not None
    if not resume:
        clear(run_dir)
        atomic_write_json(run_dir / "config.json", wanted)
    settings = TrainSettings(steps=plan.steps, batch_size=plan.batch_size, learning_rate=plan.learning_rate,
                             warmup=plan.warmup, lr_decay=plan.lr_decay, precision=plan.precision, device=plan.device,
                             log_every=10, checkpoint_every=max(50, plan.steps // 4), seed=plan.seed, progress=progress)
    result = train(model, MassTask({"own": eval_batches}), lambda step: train_data.batch(step, plan.batch_size, rule),
                   settings, run_dir, resume=resume)
    if result.status != "finished":
        raise KeyboardInterrupt  # Ctrl-C: the run checkpointed; the next call resumes it
    return model, _train_seconds(run_dir), False


def _train_seconds(run_dir: Path) -> float:
    return max((float(r.get("elapsed", 0.0)) for r in read_metrics(run_dir / "metrics.jsonl").records), default=0.0)


def trained_span_tokens(run_dir: Path) -> int:
    """How many span tokens a run was trained to predict (the sum of its logged windows)."""
    return int(sum(r.get("span_tokens", 0) for r in read_metrics(run_dir / "metrics.jsonl").split("train")))


def most_frequent_token_accuracy(token_ids, batches) -> float:
    """Span accuracy of always answering the training data's most frequent token: the score to beat."""
    import numpy as np
    import torch

    counts = np.bincount(token_ids)
    counts[:NUM_SPECIAL_TOKENS] = 0
    labels = torch.cat([b["labels"][b["labels"] != IGNORE_INDEX] for b in batches])
    return float((labels == int(counts.argmax())).float().mean())


def greedy_scores(model, batches) -> tuple[dict, list]:
    """Token accuracy and whole-span exact match of greedy reconstruction; the predictions of each batch."""
    correct = tokens = exact = spans = 0
    predictions = []
    for batch in batches:
        predicted = greedy_fill(model, batch)
        predictions.append(predicted)
        valid = batch["labels"] != IGNORE_INDEX
        hit = (predicted == batch["labels"]) & valid
        correct += int(hit.sum())
        tokens += int(valid.sum())
        exact += int((hit.sum(1) == valid.sum(1)).sum())
        spans += len(predicted)
    return {"token_acc": correct / max(tokens, 1), "exact_spans": exact / max(spans, 1)}, predictions


# --- the command -------------------------------------------------------------------------------------------------

def run(args) -> int:
    set_threads(args.threads)
    plan = plan_from_args(args)
    out = out_folder(args, "mass-spans")
    return print_results(run_plan(plan, out, fresh=args.fresh, progress=not args.quiet), out)


def run_plan(plan: Plan, out: Path, fresh: bool = False, progress: bool = True) -> dict:
    began = time.time()
    prepare_out(out, [run_name(rule) for rule in plan.train_spans], fresh)
    say = stage_logger("mass-spans")

    train_corpus, held_out_corpus = load_corpus(plan.corpus).split(plan.held_out_fraction, seed=plan.seed)
    tokenizer = get_tokenizer(train_corpus, vocab_size=plan.vocab_size)
    save_tokenizer(tokenizer, out / "tokenizer.json")
    train_data = MassData(train_corpus, tokenizer, plan.max_seq_length, seed=plan.seed)
    held_out = MassData(held_out_corpus, tokenizer, plan.max_seq_length, seed=plan.seed + 1)
    probes = {rule: held_out.fixed_batches(rule, plan.eval_examples) for rule in plan.probe_spans}
    greedy_batches = held_out.fixed_batches(plan.greedy_span, plan.greedy_examples)
    say(f"{len(train_data)} training and {len(held_out)} held-out sentences of {plan.corpus}; "
        f"{plan.eval_examples} held-out sentences per probe, {plan.greedy_examples} decoded greedily")
    task = MassTask()
    runs, shown = {}, [{"original": show_reconstruction(tokenizer, greedy_batches[0], i)}
                       for i in range(min(plan.examples_to_show, len(greedy_batches[0]["labels"])))]
    for rule in plan.train_spans:
        say(f"training with span {rule}: {plan.steps} steps of {plan.batch_size} sentences")
        own = held_out.fixed_batches(rule, 64)  # logged by the loop at the end of training
        model, seconds, reused = train_one(plan, rule, out / run_name(rule), tokenizer, train_data, own, progress)
        scored = {probe: task.score(model, batches) for probe, batches in probes.items()}
        greedy, predictions = greedy_scores(model, greedy_batches)
        for i, example in enumerate(shown):
            example[rule] = show_reconstruction(tokenizer, greedy_batches[0], i, predictions[0])
        runs[rule] = {"run": str(out / run_name(rule)), "seconds": seconds, "reused": reused,
                      "span_tokens_trained": trained_span_tokens(out / run_name(rule)),
                      "parameters": model.num_parameters(),
                      "probes": {p: {"accuracy": s["accuracy"], "loss": s["loss"]} for p, s in scored.items()},
                      "greedy": greedy}
    results = {"plan": asdict(plan), "sentences": {"train": len(train_data), "held_out": len(held_out)},
               "probe_span_tokens": {p: int(sum((b["labels"] != IGNORE_INDEX).sum() for b in batches))
                                     for p, batches in probes.items()},
               "baseline": {p: most_frequent_token_accuracy(train_data.tokens.ids, batches)
                            for p, batches in probes.items()},
               "runs": runs, "examples": shown, "seconds": time.time() - began}
    results["markdown"] = markdown(results)
    atomic_write_json(out / "results.json", results)
    atomic_write_text(out / "results.md", results["markdown"])
    return results


def _overrides(overrides: dict) -> str:
    return f"({', '.join(f'{k}={v}' for k, v in overrides.items())}) " if overrides else ""


def markdown(results: dict) -> str:
    plan, runs = results["plan"], results["runs"]
    probes = list(plan["probe_spans"])
    lines = ["## MASS span length (Song et al. 2019 §2.3): held-out span accuracy, teacher-forced",
             "",
             f"{plan['corpus']}, {results['sentences']['train']} training sentences, {plan['steps']} steps × "
             f"{plan['batch_size']} sentences per model, lr {plan['learning_rate']:g} (warm-up {plan.get('warmup', 0.06):g}, "
             f"decay over the last {plan.get('lr_decay', 1.0):.0%} of the steps), {plan.get('precision', 'fp32')}; "
             f"encoder {plan['preset']} "
             f"{_overrides(plan['model_overrides'])}+ {plan['decoder_layers']}-layer decoder. Columns: the span rule "
             f"of the held-out probe ({plan['eval_examples']} held-out sentences, the same spans for every model); "
             f"**bold** = the rule a model was trained with. Greedy: {plan['greedy_examples']} of those sentences "
             "decoded token by token from the model's own predictions (no teacher forcing).",
             "",
             "| trained with k = | " + " | ".join(f"probe k = {p}" for p in probes)
             + f" | greedy k = {plan['greedy_span']}: tokens / whole spans | span tokens trained on | train time |",
             "|---|" + "---|" * len(probes) + "---|---|---|"]
    for rule, r in runs.items():
        cells = [f"**{r['probes'][p]['accuracy']:.1%}**" if p == rule else f"{r['probes'][p]['accuracy']:.1%}"
                 for p in probes]
        g = r["greedy"]
        lines.append(f"| {rule} | " + " | ".join(cells) + f" | {g['token_acc']:.1%} / {g['exact_spans']:.1%} | "
                     f"{r['span_tokens_trained']:,} | {r['seconds']:.0f} s{' (reused)' if r['reused'] else ''} |")
    lines.append("| most frequent token | " + " | ".join(f"{results['baseline'][p]:.1%}" for p in probes)
                 + " | | | |")
    lines.append("")
    lines.append("Span tokens scored per probe: " + ", ".join(f"k = {p}: {n}" for p, n in
                                                               results["probe_span_tokens"].items()) + ".")
    lines += ["", f"Greedy reconstructions of held-out k = {plan['greedy_span']} spans (⟦…⟧):", ""]
    for example in results["examples"]:
        lines.append(f"- original: {example['original']}")
        for rule in runs:
            lines.append(f"  - k = {rule}: {example[rule]}")
    lines += ["", f"Wall time {results['seconds'] / 60:.1f} min."]
    return "\n".join(lines) + "\n"
