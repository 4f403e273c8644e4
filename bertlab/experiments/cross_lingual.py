"""Cross-lingual retrieval on held-out dictionary entries: XLM's MLM, MLM + TLM, and a LASER-style encoder.

Every model has preset ``tiny``'s shape and the same shared English–Chinese vocabulary (``cedict-zh-en``'s
training pairs + wiki-en + peoples-daily-zh); each is trained for the same number of steps and batch size:

- ``mlm``: XLM's MLM on monolingual English and Chinese text only, with language embeddings (XLM §3.2);
- ``mlm+tlm``: the same, alternating with TLM batches of dictionary pairs (XLM §3.3, §4.1);
- ``laser``: a LASER-style encoder trained with translation ranking on the pairs (in-batch negatives; no
  language embeddings, like LASER's encoder; ``bertlab.train.ranking`` says how it differs from LASER);
- ``random``: the ``mlm+tlm`` model's shape with its initial weights, untrained; ``chance``: k / N.

The test: N held-out entries (headwords never seen in training); every Chinese headword and every English side
is embedded on its own (mean of the last layer over its tokens), and each Chinese headword retrieves the English
side with the highest cosine among all N (zh→en), and back (en→zh). Top-1 and top-10 accuracy, per seed; the
table gives the mean and the worst seed. Nothing is tuned on these entries. A second measure reads the MLM head
instead of the embeddings: the translation cloze (``translation_cloze``), one side of a held-out pair masked
whole, the other visible.
"""

from __future__ import annotations

import random as random_module
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from bertlab.data.crosslingual import LANGUAGE_IDS, pad_examples, tlm_example
from bertlab.config import IGNORE_INDEX
from bertlab.data.parallel import load_parallel
from bertlab.data.tokenizer import MASK_ID
from bertlab.experiments.common import (add_out_and_quick, add_run_control, cached_run, out_folder, prepare_out,
                                        print_results, run_seconds, set_threads, stage_logger)
from bertlab.io import atomic_write_json, atomic_write_text
from bertlab.model import BertForPreTraining
from bertlab.pretrain import PretrainOptions, model_config, pretrain
from bertlab.reproduce.figures import bars, write_pngs
from bertlab.train.metrics import read_metrics
from bertlab.train.ranking import sentence_embeddings
from bertlab.train.run import load_run

MODELS = ("mlm", "mlm+tlm", "laser")
OBJECTIVE = {"mlm": "xlm-mlm", "mlm+tlm": "xlm-mlm+tlm", "laser": "translation-ranking"}
LABELS = {"chance": "chance (k / N)", "random": "random weights", "mlm": "MLM only (XLM)",
          "mlm+tlm": "MLM + TLM (XLM)", "laser": "LASER-style (translation ranking)"}
ROWS = ("chance", "random") + MODELS
CLOZE_ROWS = ("random", "mlm", "mlm+tlm")  # models with a trained MLM head (and the untrained one)
CLOZE_SIDES = {"zh": "Chinese side masked, English visible", "en": "English side masked, Chinese visible"}
CENTRED = ("random",) + MODELS  # rows of the second table: each language's mean embedding subtracted
DIRECTIONS = ("zh→en", "en→zh")


@dataclass
class Plan:
    corpus: str = "cedict-zh-en"
    preset: str = "tiny"
    model_overrides: dict = field(default_factory=lambda: {"norm_placement": "pre", "hidden_dropout_prob": 0.0,
                                                           "attention_probs_dropout_prob": 0.0})
    vocab_size: int = 16384  # the characters of both languages take ~9,500 entries; English gets the rest
    max_seq_length: int = 64
    batch_size: int = 32
    steps: int = 1200
    learning_rate: float = 2e-3
    precision: str = "bf16"
    seeds: tuple = (0, 1)
    retrieval_entries: int = 1000  # N: held-out entries in the retrieval test
    eval_examples: int = 512
    threads: int = 1


# --quick / FAST: the same pipeline with toy step counts (a smoke test; the vocabulary is the real one)
QUICK = Plan(steps=4, seeds=(0,), retrieval_entries=50, eval_examples=64, batch_size=8, precision="fp32")


def add_arguments(parser) -> None:
    d = Plan()
    add_out_and_quick(parser, "cross-lingual", "the runs, results.json, results.md and retrieval.png; finished "
                      "runs in it are reused", "a few steps, one seed, 50 entries (a smoke test, ~2 min)")
    parser.add_argument("--steps", type=int, help=f"optimizer steps of every run (default {d.steps})")
    parser.add_argument("--seeds", type=int, nargs="+", help=f"default {' '.join(map(str, d.seeds))}")
    parser.add_argument("--entries", type=int, dest="retrieval_entries",
                        help=f"N, held-out entries to retrieve among (default {d.retrieval_entries})")
    add_run_control(parser, threads_help=f"torch CPU threads (default {d.threads})")


def plan_from_args(args) -> Plan:
    plan = replace(QUICK) if args.quick else Plan()
    changes = {k: getattr(args, k) for k in ("steps", "retrieval_entries", "threads")
               if getattr(args, k, None) is not None}
    for name, value in changes.items():
        if value <= 0:
            raise ValueError(f"--{name.replace('retrieval_entries', 'entries').replace('_', '-')} must be positive, "
                             f"got {value}")
    if getattr(args, "seeds", None):
        changes["seeds"] = tuple(args.seeds)
    return replace(plan, **changes)


# --- training -----------------------------------------------------------------------------------------------

def run_options(plan: Plan, model: str, seed: int, run_dir: Path):
    return PretrainOptions(preset=plan.preset, model_overrides=dict(plan.model_overrides), corpus=plan.corpus,
                           objective=OBJECTIVE[model], language_embeddings=model != "laser",
                           vocab_size=plan.vocab_size, max_seq_length=plan.max_seq_length, batch_size=plan.batch_size,
                           steps=plan.steps, learning_rate=plan.learning_rate, warmup=0.05, lr_decay=0.3,
                           eval_examples=plan.eval_examples, precision=plan.precision, device="cpu", seed=seed,
                           split_seed=0, checkpoint_every=max(100, plan.steps // 2), log_every=10,
                           out=str(run_dir), progress=False)


def train_run(plan: Plan, model: str, seed: int, run_dir: Path) -> float:
    cached_run(run_options(plan, model, seed, run_dir), pretrain)
    return run_seconds(run_dir)


def random_model(plan: Plan, seed: int, vocab_size: int):
    """The ``mlm+tlm`` run's model with the initial weights of ``seed`` (what training starts from)."""
    import torch

    torch.manual_seed(seed)
    return BertForPreTraining(model_config(run_options(plan, "mlm+tlm", seed, Path(".")), vocab_size)).eval()


# --- retrieval ----------------------------------------------------------------------------------------------

def retrieval_pairs(n: int) -> list[tuple[str, str]]:
    """N held-out (Chinese, English) entries, drawn with a fixed seed (the same for every model and seed)."""
    held = load_parallel("cedict-zh-en").held_out_pairs()
    return random_module.Random(0).sample(held, min(n, len(held)))


def retrieval_scores(model, tokenizer, pairs: list[tuple[str, str]], ks=(1, 10), centre: bool = False) -> dict:
    """Top-k accuracy of cosine retrieval both ways: {"zh→en": {1: acc, 10: acc}, "en→zh": {...}}.

    ``centre``: subtract each language's mean embedding first (Libovický et al. 2019: what is left of a
    language's constant offset, e.g. its language embedding, no longer counts)."""
    import torch
    import torch.nn.functional as F

    zh = sentence_embeddings(model, tokenizer, [p[0] for p in pairs], "zh")
    en = sentence_embeddings(model, tokenizer, [p[1] for p in pairs], "en")
    if centre:
        zh, en = F.normalize(zh - zh.mean(0), dim=-1), F.normalize(en - en.mean(0), dim=-1)
    cos = zh @ en.T  # (N, N): row i = Chinese headword i against every English side
    right = torch.arange(len(pairs))
    scores = {}
    for direction, matrix in zip(DIRECTIONS, (cos, cos.T)):
        rank = (matrix > matrix[right, right][:, None]).sum(1)  # how many candidates beat the right one
        scores[direction] = {k: float((rank < k).float().mean()) for k in ks}
    return scores


def translation_cloze(model, tokenizer, pairs: list[tuple[str, str]], masked: str, max_seq_length: int = 64,
                      batch_size: int = 256) -> float:
    """What TLM trains for: laid out as a TLM input (Chinese first), one whole side (``masked`` "zh" or "en") is
    [MASK] and the other visible; the share of the masked side's tokens the MLM head predicts right."""
    import torch

    examples = []
    for zh, en in pairs:
        a = tokenizer.encode(zh, add_special_tokens=False).ids
        b = tokenizer.encode(en, add_special_tokens=False).ids
        example = tlm_example(a, b, LANGUAGE_IDS["zh"], LANGUAGE_IDS["en"], max_seq_length)
        n = int(example["special_tokens_mask"][1:].argmax()) + 1  # the first half's [SEP]
        side = slice(1, n) if masked == "zh" else slice(n + 1, len(example["input_ids"]) - 1)
        example["labels"] = torch.full((len(example["input_ids"]),), IGNORE_INDEX)
        example["labels"][side] = torch.as_tensor(example["input_ids"][side])
        example["input_ids"] = example["input_ids"].copy()
        example["input_ids"][side] = MASK_ID
        examples.append(example)
    correct = total = 0
    with torch.no_grad():
        for start in range(0, len(examples), batch_size):
            chunk = examples[start:start + batch_size]
            labels = torch.nn.utils.rnn.pad_sequence([e.pop("labels") for e in chunk], batch_first=True,
                                                     padding_value=IGNORE_INDEX)
            batch = pad_examples(chunk)
            batch.pop("special_tokens_mask")
            out = model.eval()(**batch, labels=labels)
            correct += int((out.masked_lm_logits.argmax(-1) == out.masked_lm_labels).sum())
            total += out.masked_lm_labels.numel()
    return correct / max(1, total)


def nearest_glosses(model, tokenizer, chinese: str, candidates: list[str], k: int = 5) -> list[tuple[str, float]]:
    """The ``k`` English texts of ``candidates`` closest (cosine of pooled embeddings) to a Chinese word."""
    query = sentence_embeddings(model, tokenizer, [chinese], "zh")
    pool = sentence_embeddings(model, tokenizer, candidates, "en")
    values, index = (pool @ query[0]).topk(min(k, len(candidates)))
    return [(candidates[i], float(v)) for v, i in zip(values.tolist(), index.tolist())]


# --- the table and the figure -------------------------------------------------------------------------------

def summarise(per_seed: dict) -> dict:
    """{row: {direction: {k: {"mean", "worst"}}}} over seeds (a row "X centred" for each centred run)."""
    out = {}
    for row, seeds in per_seed.items():
        out[row] = {d: {k: {"mean": sum(s[d][k] for s in seeds.values()) / len(seeds),
                            "worst": min(s[d][k] for s in seeds.values())} for k in ("1", "10")}
                    for d in DIRECTIONS}
    return out


def _table(summary: dict, rows, suffix: str = "") -> list[str]:
    head = " | ".join(f"{d} top-{k}" for d in DIRECTIONS for k in ("1", "10"))
    lines = [f"| model{f' ({suffix.strip()})' if suffix else ''} | {head} |", "|---" * 5 + "|"]
    for row in rows:
        cells = []
        for d in DIRECTIONS:
            for k in ("1", "10"):
                s = summary[row + suffix][d][k]
                cells.append(f"{100 * s['mean']:.1f} %" if row == "chance"
                             else f"{100 * s['mean']:.1f} % (worst {100 * s['worst']:.1f})")
        lines.append(f"| {LABELS[row]} | " + " | ".join(cells) + " |")
    return lines


def markdown(results: dict) -> str:
    plan, summary = results["plan"], results["summary"]
    lines = _table(summary, ROWS)
    seeds = ", ".join(map(str, plan["seeds"]))
    lines += ["", f"N = {results['entries']} held-out CC-CEDICT entries (headwords never in training); mean over "
                  f"seeds {seeds} (worst seed in brackets). Preset {plan['preset']} (pre-LN, no dropout), "
                  f"vocabulary {results['vocab_size']:,} shared by English and Chinese, {plan['steps']} steps × batch "
                  f"{plan['batch_size']}, lr {plan['learning_rate']:g}, {plan['precision']}; MLM sequences of "
                  f"{plan['max_seq_length']} tokens. Pooled embedding: mean of the last layer over the word's "
                  "tokens; retrieval by cosine among all N.",
              "Held-out pre-training metrics at the end (seed 0): " + "; ".join(
                  f"{LABELS[m]}: {v}" for m, v in results["held_out_metrics"].items()) + ".",
              f"Time: {results['seconds'] / 60:.1f} min in all (training: " + ", ".join(
                  f"{m} {sum(s.values()) / 60:.1f} min" for m, s in results["train_seconds"].items()) + ").",
              "", "The same embeddings with each language's mean embedding subtracted before the cosine:", ""]
    lines += _table(summary, CENTRED, " centred")
    cloze = results["cloze"]
    lines += ["", "Translation cloze on the same N entries (what TLM trains for): laid out as a TLM input, one whole "
                  "side is [MASK] and the other visible; the share of the masked side's tokens predicted right "
                  "(mean over seeds, worst in brackets):", "",
              "| model | " + " | ".join(CLOZE_SIDES.values()) + " |", "|---|---|---|"]
    for row in CLOZE_ROWS:
        cells = [f"{100 * sum(v.values()) / len(v):.1f} % (worst {100 * min(v.values()):.1f})"
                 for v in (cloze[row][side] for side in CLOZE_SIDES)]
        lines.append(f"| {LABELS[row]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def figure(results: dict):
    summary = results["summary"]
    categories = [f"{d} top-{k}" for d in DIRECTIONS for k in ("1", "10")]
    series = {LABELS[row]: [100 * summary[row][d][k]["mean"] for d in DIRECTIONS for k in ("1", "10")]
              for row in ROWS}
    return bars(f"Cross-lingual retrieval among N = {results['entries']} held-out dictionary entries",
                categories, series, "accuracy (%, mean over seeds)")


# --- the command --------------------------------------------------------------------------------------------

def run(args) -> int:
    plan = plan_from_args(args)
    out = out_folder(args, "cross-lingual")
    return print_results(run_plan(plan, out, fresh=args.fresh, progress=not args.quiet), out)


def run_name(model: str, seed: int) -> str:
    return f"{model.replace('+', '-')}-seed{seed}"


def run_plan(plan: Plan, out: Path, fresh: bool = False, progress: bool = True) -> dict:
    set_threads(plan.threads)
    prepare_out(out, [run_name(m, s) for m in MODELS for s in plan.seeds], fresh)
    began = time.time()
    say = stage_logger("cross-lingual")
    pairs = retrieval_pairs(plan.retrieval_entries)
    per_seed = {row: {} for row in ROWS + tuple(f"{row} centred" for row in CENTRED)}
    train_seconds = {m: {} for m in MODELS}
    held_out_metrics = {}
    cloze = {row: {side: {} for side in CLOZE_SIDES} for row in CLOZE_ROWS}
    tokenizer = None
    for seed in plan.seeds:
        for model in MODELS:
            run_dir = out / run_name(model, seed)
            say(f"{model}, seed {seed}: {plan.steps} steps ({OBJECTIVE[model]})")
            train_seconds[model][seed] = train_run(plan, model, seed, run_dir)
            run = load_run(run_dir)
            tokenizer = run.tokenizer
            per_seed[model][seed] = retrieval_scores(run.model, tokenizer, pairs)
            per_seed[f"{model} centred"][seed] = retrieval_scores(run.model, tokenizer, pairs, centre=True)
            if model in CLOZE_ROWS:
                for side in CLOZE_SIDES:
                    cloze[model][side][str(seed)] = translation_cloze(run.model, tokenizer, pairs, side)
            if seed == plan.seeds[0]:
                last = read_metrics(run_dir / "metrics.jsonl").split("eval")[-1]
                held_out_metrics[model] = ", ".join(f"{k} {v:.3f}" for k, v in last.items()
                                                    if k in ("mlm_acc", "mlm_loss", "rank_acc", "rank_loss"))
        untrained = random_model(plan, seed, tokenizer.get_vocab_size())
        per_seed["random"][seed] = retrieval_scores(untrained, tokenizer, pairs)
        per_seed["random centred"][seed] = retrieval_scores(untrained, tokenizer, pairs, centre=True)
        for side in CLOZE_SIDES:
            cloze["random"][side][str(seed)] = translation_cloze(untrained, tokenizer, pairs, side)
    n = len(pairs)
    per_seed["chance"] = {0: {d: {1: 1 / n, 10: min(1.0, 10 / n)} for d in DIRECTIONS}}
    per_seed = {row: {seed: {d: {str(k): v for k, v in s[d].items()} for d in s} for seed, s in seeds.items()}
                for row, seeds in per_seed.items()}
    results = {"plan": asdict(plan), "entries": n, "vocab_size": tokenizer.get_vocab_size(),
               "per_seed": {row: {str(s): v for s, v in seeds.items()} for row, seeds in per_seed.items()},
               "summary": summarise(per_seed), "held_out_metrics": held_out_metrics, "cloze": cloze,
               "train_seconds": {m: {str(s): v for s, v in t.items()} for m, t in train_seconds.items()},
               "examples": pairs[:5]}
    results["seconds"] = time.time() - began
    results["markdown"] = markdown(results)
    results["figure_error"] = write_pngs({"retrieval": figure(results)}, out).get("retrieval")
    atomic_write_json(out / "results.json", results)
    atomic_write_text(out / "results.md", results["markdown"])
    return results
