"""Transfer: learning curves of a pre-trained encoder vs the same shape with random weights, on few labels.

BERT's case (Devlin et al. 2019, §1) is that what pre-training learns transfers to labelled tasks: with
little labelled data a pre-trained encoder beats one that starts from nothing. For each task, each number
of labelled training examples (about 50, 200, 1000, all), each encoder (the course model pre-trained on the
task's language; the same shape and tokenizer with random weights) and each mode (fine-tune every weight
with the top layer's [CLS] / top-layer tokens; or train only a head on frozen features read through ELMo's
scalar mix), three seeds. A seed draws the training sample (stratified by label) and the head's
initialisation; dev and test are the same for every cell, so the encoders are compared on identical data.

Default tasks: ``entities-zh`` (People's Daily named entities, span F1), ``reviews-zh`` (review sentiment),
``capitalization:wiki-en`` (an English token task) and ``next-sentence:peoples-daily-zh`` (a sentence-pair
task); corpus tasks are built from documents the course models held out. Every cell's run is cached under
``--out``: a second call only redoes missing cells and redraws the table and plot.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bertlab.experiments.common import (THREADS_HELP, add_out_and_quick, cached_finetune, out_folder, set_threads,
                                        stage_logger)
from bertlab.finetune.data import EncodedTask, encode_examples
from bertlab.finetune.loop import FinetuneOptions, resolve_source
from bertlab.finetune.metrics import is_bio
from bertlab.finetune.examples import EVAL_SAMPLE_SEED, sample_examples
from bertlab.finetune.tasks import load_task
from bertlab.paths import REPO_ROOT, cache_dir

DEFAULT_TASKS = ("entities-zh", "reviews-zh", "capitalization:wiki-en", "next-sentence:peoples-daily-zh",
                 "word-order:wiki-en", "word-order:peoples-daily-zh")
COURSE_MODELS = {"zh": "course-models/zh-peoples-daily", "en": "course-models/en-wiki"}  # under the cache
ENCODERS = ("pre-trained", "random")
# the runs behind docs/transfer.md: the first four tasks at 50, 200 and 1,000 labels; the word-order tasks (added
# later); the first tasks with all their labels (run later)
PUBLISHED = tuple(REPO_ROOT / "docs" / "data" / name for name in ("transfer-results.json", "transfer-word-order.json",
                                                                  "transfer-all-labels.json"))
TARGET_POINTS = 5.0  # the target: pre-trained ahead by this much at <= TARGET_MAX_EXAMPLES labels
TARGET_MAX_EXAMPLES = 1000


@dataclass
class Plan:
    sizes: tuple = (50, 200, 1000, None)  # labelled training examples per cell; None = the whole training split
    seeds: tuple = (0, 1, 2)
    epochs: float = 8.0  # examples seen = epochs × labelled examples, clipped to [min_seen, max_seen] ...
    min_seen: int = 1600
    max_seen: int = 4000  # ... so 50 examples get 32 epochs, 200 get 8, 1000 and more 4000 examples seen
    batch_size: int = 16
    max_seq_length: int = 128
    max_dev: int = 300  # dev examples (sentences for token tasks): model selection on a few-label budget
    max_test: int = 1000  # test examples per task, the same for every cell


DEFAULT = Plan()
QUICK = Plan(sizes=(16, None), seeds=(0,), epochs=1.0, min_seen=16, max_seen=32, batch_size=8, max_seq_length=32,
             max_dev=24, max_test=24)


def modes_for(kind: str) -> list[tuple[str, str]]:
    """(mode, pooling) pairs: fine-tuning reads BERT's own outputs ([CLS] through the pooler, or each token's
    top layer); frozen features are read through a learned scalar mix of all layers (ELMo), their best reading."""
    return [("finetune", "top" if kind == "token" else "cls"), ("features", "scalar-mix")]


def task_metric(labels: list[str], kind: str) -> str:
    """span F1 for entity tags, macro-F1 otherwise (a majority-class guess scores low on skewed labels)."""
    return "span_f1" if kind == "token" and is_bio(labels) else "macro_f1"


def add_arguments(p) -> None:
    add_out_and_quick(p, "transfer", "every cell's run, the table and the plot",
                      "a minute-long smoke run (two sizes, one seed, a few steps)")
    p.add_argument("--task", dest="tasks", action="append",
                   help=f"a task (repeat for several; default {', '.join(DEFAULT_TASKS)}); its language picks the "
                        f"course model, or TASK@RUN names the pre-trained run")
    p.add_argument("--zh-from", metavar="RUN", help="pre-trained run for Chinese tasks (default: the course model "
                                                    f"in {COURSE_MODELS['zh']} of the cache)")
    p.add_argument("--en-from", metavar="RUN", help="pre-trained run for English tasks (default: the course model "
                                                    f"in {COURSE_MODELS['en']} of the cache)")
    p.add_argument("--sizes", help="labelled examples, comma-separated, 'all' = the whole training split "
                                   "(default 50,200,1000,all)")
    p.add_argument("--seeds", help="comma-separated (default 0,1,2)")
    p.add_argument("--max-seen", type=int, help=f"training examples seen per cell at most (default "
                                                 f"{DEFAULT.max_seen}; steps = that / batch {DEFAULT.batch_size})")
    p.add_argument("--max-test-examples", type=int, help=f"test examples per task (default {DEFAULT.max_test}; "
                                                         f"dev {DEFAULT.max_dev})")
    p.add_argument("--cached-only", action="store_true",
                   help="train nothing: report the cells already in --out and list the missing ones")
    p.add_argument("--threads", type=int, help=THREADS_HELP)  # no --fresh: cells are cached by their options


def plan_from(args) -> Plan:
    plan = QUICK if args.quick else DEFAULT
    given = {"max_seen": args.max_seen, "max_test": args.max_test_examples}
    if args.sizes:
        given["sizes"] = tuple(None if s.strip() == "all" else _positive(s, "--sizes") for s in args.sizes.split(","))
    if args.seeds:
        given["seeds"] = tuple(_positive(s, "--seeds", minimum=0) for s in args.seeds.split(","))
    return dataclasses.replace(plan, **{k: v for k, v in given.items() if v is not None})


def _positive(text: str, flag: str, minimum: int = 1) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{flag}: {text!r} is not a whole number") from None
    if value < minimum:
        raise ValueError(f"{flag}: {value} is below {minimum}")
    return value


def steps_for(plan: Plan, examples: int) -> int:
    seen = min(plan.max_seen, max(plan.min_seen, plan.epochs * examples))
    return max(1, math.ceil(seen / plan.batch_size))


def course_run(language: str, given: str | None) -> Path:
    path = Path(given) if given else cache_dir() / COURSE_MODELS[language]
    if not (path / "config.json").exists():
        flag = f"--{language}-from"
        raise ValueError(f"no pre-trained run at {path} (the {language} course model); train or fetch it, or name "
                         f"a run folder with {flag}")
    return path


def run(args) -> int:
    set_threads(args.threads)
    plan = plan_from(args)
    out = out_folder(args, "transfer")
    out.mkdir(parents=True, exist_ok=True)
    say = stage_logger("transfer")
    began = time.time()
    sources, cells, tasks, missing = {}, [], {}, []
    for spec in args.tasks or DEFAULT_TASKS:
        task_cells, info = run_task(spec, plan, args, sources, out, say, missing)
        cells += task_cells
        tasks[spec.partition("@")[0]] = info
    results = {"plan": asdict(plan), "tasks": tasks, "cells": cells, "seconds": round(time.time() - began, 1),
               "command": command_line(args), "missing": missing}
    results["markdown"] = format_report(results)
    (out / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")
    (out / "results.md").write_text(results["markdown"] + "\n", encoding="utf-8")
    plot_curves(results, out / "transfer.png")
    print(results["markdown"])
    print(f"results: {out / 'results.md'}, results.json and transfer.png")
    return 0


def command_line(args) -> str:
    """The command that makes these results, for the report."""
    words = ["bertlab experiment transfer"] + (["--quick"] if args.quick else []) + \
        (["--cached-only"] if args.cached_only else [])
    for flag, value in (("--out", args.out), ("--zh-from", args.zh_from), ("--en-from", args.en_from),
                        ("--sizes", args.sizes), ("--seeds", args.seeds), ("--max-seen", args.max_seen),
                        ("--max-test-examples", args.max_test_examples), ("--threads", args.threads)):
        if value is not None:
            words.append(f"{flag} {value}")
    words += [f"--task {t}" for t in args.tasks or []]
    return " ".join(words)


def run_task(spec: str, plan: Plan, args, sources: dict, out: Path, say, missing: list,
             encoders: tuple = ENCODERS) -> tuple[list[dict], dict]:
    """Every cell of one task (``SPEC`` or ``SPEC@RUN``: RUN instead of the language's course model);
    returns (cells, what the report needs to know about the task); ``missing`` collects the cells skipped
    by ``--cached-only``; ``encoders`` picks among "pre-trained" and "random" (``bertlab reproduce``'s claim 6
    needs only the first)."""
    spec, _, given = spec.partition("@")
    language = load_task(spec).language  # which course model reads it
    run_dir = Path(given) if given else course_run(language, getattr(args, f"{language}_from"))
    if run_dir not in sources:
        sources[run_dir] = resolve_source(FinetuneOptions(from_run=str(run_dir)))
    source = sources[run_dir]
    task = load_task(spec, seed=0, pretrained_options=source.pretrained_options)
    task = dataclasses.replace(task, dev=sample_examples(task.dev, plan.max_dev, EVAL_SAMPLE_SEED, task.kind),
                               test=sample_examples(task.test, plan.max_test, EVAL_SAMPLE_SEED, task.kind))
    metric = task_metric(task.labels, task.kind)
    dev, test = (encode_examples(getattr(task, s), source.tokenizer, task.kind, task.labels, plan.max_seq_length)
                 for s in ("dev", "test"))
    say(f"{task!r}; encoder {run_dir}; score {metric}")
    cells, sizes = [], sorted({min(n or len(task.train), len(task.train)) for n in plan.sizes})
    folder = out / "cells" / spec.replace(":", "-").replace("/", "_")
    for n in sizes:
        for seed in plan.seeds:
            sub = task.limit(n, None, seed)
            encoded = EncodedTask(encode_examples(sub.train, source.tokenizer, task.kind, task.labels,
                                                  plan.max_seq_length), dev, test, plan.max_seq_length)
            for encoder_name, encoder in (("pre-trained", source), ("random", source.random())):
                if encoder_name not in encoders:
                    continue
                for mode, pooling in modes_for(task.kind):
                    options = FinetuneOptions(
                        task=spec, from_run=str(run_dir) if encoder.weights is not None else None, mode=mode,
                        pooling=pooling, max_seq_length=plan.max_seq_length, max_train_examples=n,
                        steps=steps_for(plan, n), batch_size=plan.batch_size,
                        select_metric=metric, seed=seed, keep_checkpoints=0, progress=False,
                        out=str(folder / f"{encoder_name}-{mode}-{pooling}-n{n}-s{seed}"))
                    data, reused = cached_finetune(options, sub, encoder, encoded, train=not args.cached_only)
                    if data is None:
                        missing.append(f"{spec} n={n} seed {seed} {encoder_name} {mode}")
                        continue
                    for name in ("model.safetensors", "tokenizer.json"):  # the score is what the curve needs
                        (Path(options.out) / name).unlink(missing_ok=True)
                    cell = {"task": spec, "encoder": encoder_name, "mode": mode, "pooling": pooling, "examples": n,
                            "seed": seed, "steps": options.steps, "score": data["test"][metric],
                            "dev_score": data["dev"][metric], "accuracy": data["test"]["accuracy"],
                            "best_step": data["best_step"], "seconds": round(data["seconds"], 1), "reused": reused}
                    cells.append(cell)
                    say(f"  {spec} n={n:<5d} seed {seed} {encoder_name:11s} {mode:8s} {pooling:10s} test {metric} "
                        f"{cell['score']:.3f}{' (cached)' if reused else ''}")
    shown = Path(os.path.abspath(run_dir))  # the checkout's own path stays out of docs
    shown = shown.relative_to(REPO_ROOT) if shown.is_relative_to(REPO_ROOT) else run_dir
    info = {"task": task.summary(), "metric": metric, "encoder": str(shown), "chance": chance_score(task, test)}
    return cells, info


def chance_score(task, test) -> float:
    """The score of always answering the training split's most frequent label: macro-F1 = 2p / (1 + p) / K
    (p its share of the test labels, K the labels in the test set); span F1 0 for entities."""
    import numpy as np

    if task_metric(task.labels, task.kind) == "span_f1":
        return 0.0
    counts = task.label_counts("train")
    majority = task.labels.index(max(counts, key=counts.get))
    gold = test.labels[test.labels != -100]
    p = float(np.mean(gold == majority))
    return 2 * p / (1 + p) / len(set(gold.tolist()) | {majority})


# ------------------------------------------------------------------------------------------------ report

def load_results(out: str | Path | None = "runs/transfer") -> tuple[dict, str]:
    """(results, where from): ``out``'s results.json when that experiment has finished there, else the
    published runs behind docs/transfer.md, joined (what lesson 6 shows in FAST mode)."""
    path = Path(out) / "results.json" if out else None
    if path is not None and path.exists():
        return json.loads(path.read_text(encoding="utf-8")), str(path)
    return join_results([json.loads(p.read_text(encoding="utf-8")) for p in PUBLISHED]), " + ".join(
        str(p.relative_to(REPO_ROOT)) for p in PUBLISHED)  # docs/data/…: where a reader finds them


def join_results(parts: list[dict]) -> dict:
    """Several experiments' results as one: their tasks and cells together. A task may come from several parts
    (more sizes, say) when they describe it alike; a cell measured twice, or a task described two ways, is
    refused."""
    tasks: dict = {}
    seen: set = set()
    for part in parts:
        for spec, info in part["tasks"].items():
            if tasks.setdefault(spec, info) != info:
                raise ValueError(f"transfer results: task {spec} is described differently in two of the results "
                                 f"joined (another encoder or split?)")
        for c in part["cells"]:
            key = (c["task"], c["encoder"], c["mode"], c["pooling"], c["examples"], c["seed"])
            if key in seen:
                raise ValueError(f"transfer results: the cell {' '.join(map(str, key))} is in two of the results "
                                 f"joined")
            seen.add(key)
    return {"tasks": tasks, "cells": [c for part in parts for c in part["cells"]],
            "seconds": sum(part.get("seconds", 0) for part in parts), "plans": [part["plan"] for part in parts]}


def curves(cells: list[dict]) -> dict[tuple, dict[int, list[float]]]:
    """{(task, encoder, mode, pooling): {examples: [score of each seed]}}"""
    out: dict[tuple, dict[int, list[float]]] = {}
    for c in cells:
        out.setdefault((c["task"], c["encoder"], c["mode"], c["pooling"]), {}).setdefault(c["examples"], []).append(
            c["score"])
    return out


def target_lines(spec: str, lines: dict) -> list[str]:
    """Per mode: at each size up to TARGET_MAX_EXAMPLES, the worst pre-trained seed minus the best random one."""
    out = []
    for (task, encoder, mode, pooling), by_size in lines.items():
        if task != spec or encoder != "pre-trained":
            continue
        rival = lines.get((task, "random", mode, pooling), {})
        margins = {n: 100 * (min(s) - max(rival[n])) for n, s in by_size.items()
                   if n in rival and n <= TARGET_MAX_EXAMPLES}
        if not margins:
            continue
        held = [n for n, m in margins.items() if m >= TARGET_POINTS]
        listed = ", ".join(f"n={n}: {m:+.1f}" for n, m in sorted(margins.items()))
        verdict = (f"**held** at n = {', '.join(map(str, held))}" if held else "**not met**")
        out.append(f"{mode} ({pooling}): worst pre-trained seed minus best random seed, in points — {listed}. "
                   f"Target (≥ {TARGET_POINTS:.0f} points at ≤ {TARGET_MAX_EXAMPLES} examples, beyond the seed "
                   f"spread): {verdict}.")
    return out


def format_report(results: dict) -> str:
    lines_by_key = curves(results["cells"])
    plan = results["plan"]
    out = ["## Transfer: test score (× 100) vs labelled training examples", "",
           f"Mean over seeds {', '.join(map(str, plan['seeds']))} with [worst, best] seed; each cell's weights are "
           f"the best by dev score; dev (at most {plan['max_dev']} examples) and test (at most {plan['max_test']}) are "
           f"the same for every cell. Random = the course model's shape and tokenizer with random weights. Training "
           f"per cell: {plan['epochs']:g} epochs in batches of {plan['batch_size']}, at least {plan['min_seen']} and "
           f"at most {plan['max_seen']} examples seen.", "", f"Command: `{results['command'].strip()}`", ""]
    for spec, info in results["tasks"].items():
        t = info["task"]
        keys = [k for k in lines_by_key if k[0] == spec]
        sizes = sorted({n for k in keys for n in lines_by_key[k]})
        metric = {"span_f1": "span F1", "macro_f1": "macro-F1"}[info["metric"]]
        out += [f"### {spec}", "",
                f"{t['description']}. Score: test {metric}; train {t['sizes']['train']}, dev {t['sizes']['dev']}, "
                f"test {t['sizes']['test']} examples; a majority-class guess scores {100 * info['chance']:.1f}. "
                f"Encoder: `{info['encoder']}`.", "",
                "| encoder | mode (pooling) | " + " | ".join(f"n = {n}" for n in sizes) + " |",
                "|---|---|" + "---:|" * len(sizes)]
        for key in keys:
            by_size = lines_by_key[key]
            row = [f"{100 * sum(v) / len(v):.1f} [{100 * min(v):.1f}, {100 * max(v):.1f}]" if v else ""
                   for v in (by_size.get(n, []) for n in sizes)]
            out.append(f"| {key[1]} | {key[2]} ({key[3]}) | " + " | ".join(row) + " |")
        out += [""] + [f"- {line}" for line in target_lines(spec, lines_by_key)] + [""]
    if results.get("missing"):
        per_task = {}
        for cell in results["missing"]:
            per_task[cell.split(" ")[0]] = per_task.get(cell.split(" ")[0], 0) + 1
        out.append(f"Not run (`--cached-only`; {len(results['missing'])} cells, listed in results.json): "
                   + ", ".join(f"{task} {n}" for task, n in per_task.items()) + ".")
        out.append("")
    cached = sum(c["reused"] for c in results["cells"])
    out.append(f"{len(results['cells'])} cells ({cached} reused from an earlier call); training time of all cells "
               f"{sum(c['seconds'] for c in results['cells']) / 60:.1f} min.")
    return "\n".join(out)


STYLE = {("pre-trained", "finetune"): ("tab:blue", "-"), ("pre-trained", "features"): ("tab:blue", "--"),
         ("random", "finetune"): ("tab:orange", "-"), ("random", "features"): ("tab:orange", "--")}


def plot_curves(results: dict, path: Path) -> Path:
    """One panel per task: score vs labelled examples (log x), a line per encoder and mode (the seeds' mean)
    with a band from the worst to the best seed, and the majority-class score dotted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines_by_key = curves(results["cells"])
    specs = list(results["tasks"])
    cols = min(2, len(specs))
    rows = math.ceil(len(specs) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 3.8 * rows), squeeze=False)
    for ax, spec in zip(axes.flat, specs):
        info = results["tasks"][spec]
        for (task, encoder, mode, pooling), by_size in lines_by_key.items():
            if task != spec:
                continue
            sizes = sorted(by_size)
            mean = [100 * sum(by_size[n]) / len(by_size[n]) for n in sizes]
            color, style = STYLE.get((encoder, mode), ("tab:gray", ":"))
            ax.plot(sizes, mean, style, color=color, marker="o", ms=3, label=f"{encoder}, {mode} ({pooling})")
            ax.fill_between(sizes, [100 * min(by_size[n]) for n in sizes], [100 * max(by_size[n]) for n in sizes],
                            color=color, alpha=0.12)
        ax.axhline(100 * info["chance"], color="gray", ls=":", lw=1, label="majority class")
        ax.set_xscale("log")
        ticks = sorted({n for k, v in lines_by_key.items() if k[0] == spec for n in v})
        ax.set_xticks(ticks, [str(n) for n in ticks])
        ax.minorticks_off()
        ax.set_title(spec, fontsize=10)
        ax.set_xlabel("labelled training examples")
        ax.set_ylabel({"span_f1": "test span F1", "macro_f1": "test macro-F1"}[info["metric"]])
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(specs):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


__all__ = ["add_arguments", "run", "run_task", "plan_from", "ENCODERS", "load_results", "join_results", "curves", "PUBLISHED", "Plan", "DEFAULT", "QUICK", "format_report",
           "plot_curves", "modes_for", "steps_for", "task_metric"]
