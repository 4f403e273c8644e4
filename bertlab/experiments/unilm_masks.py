"""UNILM's three masks: the same tiny model trained under each self-attention mask, read three ways.

UNILM (Dong et al. 2019, §2.2–2.3) trains one Transformer with one cloze objective under three masks
(bidirectional, left-to-right, sequence-to-sequence). This experiment trains ``--preset tiny`` once per mask
on the same data, steps, learning rate and seed (the fast-cpu recipe, ``bertlab/recipes.py``; sentence pairs
``mlm+nsp`` for all three, because seq2seq needs a source and a target, with the NSP loss weighted 0 so the
three runs differ only by the mask), then reads every run on the same held-out documents:

- MLM accuracy under the bidirectional mask (BERT's cloze: what bidirectional pre-training is for);
- next-token accuracy under the left-to-right mask: [MASK] at position i, tokens < i visible (GPT's task);
- seq2seq next-token accuracy: the target B's next token given the whole source A and B's left context, on
  pairs where B continues A;

and prints a few greedy continuations decoded as UNILM decodes (append [MASK], predict, repeat). Expect each
run to be best at the reading that matches its own mask.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from bertlab.experiments.common import (add_out_and_quick, add_run_control, cached_run, out_folder, prepare_out,
                                        print_results, run_seconds, set_threads, stage_logger)
from bertlab.family.unilm import MASK_KINDS, generate, next_token_accuracy, original_tokens
from bertlab.io import atomic_write_json, atomic_write_text
from bertlab.pretrain import PretrainOptions, build_data, pretrain
from bertlab.recipes import recipe_options
from bertlab.train.pretraining import PretrainingTask
from bertlab.train.run import load_run


@dataclass
class Plan:
    corpus: str = "wiki-en"
    # the fast-cpu recipe (its masking rates) at the course model's sizes: the first half of the steps on 16-token pairs, then
    # 128-token pairs; masked LM leaves the unigram plateau a few hundred steps after the switch
    steps: int = 1500
    max_seq_length: int = 128
    batch_size: int = 32
    vocab_size: int = 8192
    eval_examples: int = 512
    precision: str = "bf16"
    learning_rate: float = 2e-3
    warmup_seq_length: int = 16
    warmup_seq_steps: float = 0.5
    model_overrides: dict = field(default_factory=dict)  # on top of the fast-cpu recipe's
    examples_shown: int = 2  # held-out pairs whose continuations are printed
    seed: int = 0


# --quick: the same pipeline on the small news corpus with a toy model (a smoke test, about a minute)
QUICK = Plan(corpus="news-en", steps=30, max_seq_length=32, batch_size=16, vocab_size=512, eval_examples=64,
             precision="fp32", model_overrides=dict(hidden_size=32, num_attention_heads=2, intermediate_size=64))


def add_arguments(parser) -> None:
    d = Plan()
    add_out_and_quick(parser, "unilm-masks", "the three runs and results.json / results.md",
                      "toy sizes on news-en (a smoke test, ~1 min)")
    parser.add_argument("--steps", type=int, help=f"training steps per mask (default {d.steps}, {QUICK.steps} "
                                                  f"with --quick)")
    parser.add_argument("--corpus", help=f"pre-training corpus (default {d.corpus})")
    parser.add_argument("--seed", type=int, help=f"seed of the runs' initialisation, batches, masks and held-out "
                                                 f"split (default {d.seed})")
    add_run_control(parser)


def plan_from_args(args) -> Plan:
    plan = replace(QUICK) if args.quick else Plan()
    if args.steps is not None:
        if args.steps <= 0:
            raise ValueError(f"--steps must be positive, got {args.steps}")
        plan = replace(plan, steps=args.steps)
    if args.corpus:
        plan = replace(plan, corpus=args.corpus)
    if args.seed is not None:
        if args.seed < 0:
            raise ValueError(f"--seed must be 0 or more, got {args.seed}")
        plan = replace(plan, seed=args.seed)
    return plan


def options_for(plan: Plan, kind: str, out: Path | None, progress: bool = False):
    """The PretrainOptions of the run for mask ``kind``: the fast-cpu recipe, changed only where the plan says.
    One difference from the recipe: its warm-up trains MLM alone on single segments; here the warm-up keeps the
    pairs, so that every step of the seq2seq run trains under the seq2seq mask (UNILM §2.2)."""
    values = recipe_options("fast-cpu")
    values["model_overrides"] = {**values.get("model_overrides", {}), **plan.model_overrides}
    values.update(preset="tiny", corpus=plan.corpus, objective="mlm+nsp", nsp_weight=0.0, steps=plan.steps,
                  max_seq_length=plan.max_seq_length, batch_size=plan.batch_size, vocab_size=plan.vocab_size,
                  eval_examples=plan.eval_examples, precision=plan.precision, learning_rate=plan.learning_rate,
                  warmup_seq_length=plan.warmup_seq_length, warmup_seq_steps=plan.warmup_seq_steps,
                  warmup_seq_objective=None,  # warm-up pairs under the run's own mask (seq2seq needs a target)
                  seed=plan.seed, split_seed=plan.seed,
                  checkpoint_every=max(100, plan.steps // 2), eval_every=max(1, plan.steps // 6),  # curves
                  attention_mask_kind=kind, out=None if out is None else str(out), progress=progress)
    return PretrainOptions(**values)


def train_runs(plan: Plan, out: Path, progress: bool, say) -> dict[str, float]:
    """One run per mask in ``out/<kind>`` (finished runs with the same options are reused). Returns seconds."""
    seconds = {}
    for kind in MASK_KINDS:
        run_dir = out / kind
        say(f"{kind}: {plan.steps} steps")
        state = cached_run(options_for(plan, kind, run_dir, progress), pretrain)
        say(f"{kind}: {state}")
        seconds[kind] = run_seconds(run_dir)
    return seconds


def held_out_batches(plan: Plan, tokenizer) -> list[dict]:
    """The held-out pairs, masked once (BERT's 80/10/10, the same masks for every run), unprepared."""
    return build_data(options_for(plan, "bidirectional", None), tokenizer=tokenizer).eval_batches


def evaluate(model, batches: list[dict]) -> dict[str, float]:
    mlm = PretrainingTask(batches).evaluate(model)
    return {"mlm_acc": mlm["mlm_acc"], "mlm_acc_mask": mlm["mlm_acc_mask"],
            "next_token_acc": next_token_accuracy(model, batches, "left-to-right")["accuracy"],
            "seq2seq_acc": next_token_accuracy(model, batches, "seq2seq")["accuracy"]}


def prompts(batches: list[dict], tokenizer, count: int, prompt_tokens: int = 8) -> list[dict]:
    """``count`` held-out IsNext pairs: the first word pieces of A (a prompt), A itself (a source), true B."""
    out = []
    batch = batches[0]
    ids, types = original_tokens(batch), batch["token_type_ids"]
    for row in range(ids.shape[0]):
        if len(out) == count:
            break
        if int(batch["next_sentence_label"][row]) != 0:
            continue
        real = batch["attention_mask"][row].bool()
        a = [int(t) for t, s in zip(ids[row][real], types[row][real]) if s == 0][1:-1]  # without [CLS], [SEP]
        b = [int(t) for t, s in zip(ids[row][real], types[row][real]) if s == 1][:-1]
        while a and tokenizer.id_to_token(a[0]).startswith("##"):
            a = a[1:]  # A may have been cut mid-word (BERT's truncate_seq_pair): start at a whole word
        if len(a) > prompt_tokens:
            out.append({"prompt": tokenizer.decode(a[:prompt_tokens]), "source": tokenizer.decode(a),
                        "target": tokenizer.decode(b)})
    return out


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _unigram(results: dict) -> str:
    if results.get("unigram_acc_mask") is None:
        return f"{_pct(results['unigram_acc'])} MLM accuracy"
    return f"{_pct(results['unigram_acc_mask'])} at [MASK], {_pct(results['unigram_acc'])} overall"


def markdown(results: dict) -> str:
    plan = results["plan"]
    lines = ["| trained with mask | MLM acc at [MASK] (overall), bidirectional | next-token acc (left-to-right) "
             "| seq2seq target next-token acc | train time |", "|---|---|---|---|---|"]
    for kind in MASK_KINDS:
        r = results["runs"][kind]
        mlm = _pct(r["mlm_acc"]) if r.get("mlm_acc_mask") is None else \
            f"{_pct(r['mlm_acc_mask'])} ({_pct(r['mlm_acc'])})"  # results from before the [MASK] split: overall
        lines.append(f"| {kind} | {mlm} | {_pct(r['next_token_acc'])} | {_pct(r['seq2seq_acc'])} "
                     f"| {r['seconds']:.0f} s |")
    lines += ["", f"Preset tiny, fast-cpu recipe, {plan['steps']} steps of {plan['batch_size']} pairs "
                  f"(max {plan['max_seq_length']} tokens) on {plan['corpus']}, seed {plan['seed']}; the same data for "
                  f"every mask. Held-out: {results['held_out_examples']} pairs; unigram baseline (always the most "
                  f"frequent token) {_unigram(results)}.", "",
              "Greedy continuations (UNILM decoding: append [MASK], predict it, repeat):", ""]
    for example in results["generations"]:
        lines.append(f"- prompt `{example['prompt']}`")
        for kind in MASK_KINDS:
            lines.append(f"  - {kind} run, left-to-right: `{example['continuations'][kind]}`")
        lines.append(f"- source `{example['source']}` (true next: `{example['target']}`)")
        for kind in MASK_KINDS:
            lines.append(f"  - {kind} run, seq2seq: `{example['targets'][kind]}`")
    return "\n".join(lines) + "\n"


def run(args) -> int:
    set_threads(args.threads)
    out = out_folder(args, "unilm-masks")
    return print_results(run_plan(plan_from_args(args), out, fresh=args.fresh, progress=not args.quiet), out)


def run_plan(plan: Plan, out: Path, fresh: bool = False, progress: bool = True) -> dict:
    prepare_out(out, MASK_KINDS, fresh)
    began = time.time()
    say = stage_logger("unilm-masks")

    seconds = train_runs(plan, out, progress, say)
    runs = {kind: load_run(out / kind) for kind in MASK_KINDS}
    vocab = runs["bidirectional"].tokenizer.get_vocab()
    if any(r.tokenizer.get_vocab() != vocab for r in runs.values()):
        raise RuntimeError("the three runs have different tokenizers; the comparison would be unfair (a bug)")
    tokenizer = runs["bidirectional"].tokenizer
    say("evaluating every run under every mask")
    batches = held_out_batches(plan, tokenizer)
    scores = {kind: {**evaluate(run.model, batches), "seconds": seconds[kind], "run": str(out / kind)}
              for kind, run in runs.items()}
    generations = []
    for example in prompts(batches, tokenizer, plan.examples_shown):
        example["continuations"] = {k: generate(r.model, tokenizer, example["prompt"], "left-to-right")
                                    for k, r in runs.items()}
        example["targets"] = {k: generate(r.model, tokenizer, example["source"], "seq2seq") for k, r in runs.items()}
        generations.append(example)
    baselines = runs["bidirectional"].config["baselines"]  # written by pretrain, on the same batches
    results = {"plan": asdict(plan), "runs": scores, "generations": generations,
               "held_out_examples": sum(int(b["input_ids"].shape[0]) for b in batches),
               "unigram_acc": baselines["unigram_mlm_acc"], "unigram_acc_mask": baselines.get("unigram_mlm_acc_mask"),
               "seconds": time.time() - began}
    results["markdown"] = markdown(results)
    atomic_write_json(out / "results.json", results)
    atomic_write_text(out / "results.md", results["markdown"])
    return results
