"""Time to quality: what ``--preset tiny`` learns on wiki-en in a few minutes of this CPU.

    python benchmarks/bench_time_to_quality.py [--minutes 5] [--recipe fast-cpu]
    python benchmarks/bench_time_to_quality.py --table [--minutes 5]        # the recipe ladder, for the README
    python benchmarks/bench_time_to_quality.py --recipe bert --steps 1200   # a fixed number of steps instead
    python benchmarks/bench_time_to_quality.py --tokens 8000000             # or of training tokens
    python benchmarks/bench_time_to_quality.py --set vocab_size=8192         # the recipe with one option changed
    python benchmarks/bench_time_to_quality.py --tokens 8e6 --seeds 0,1,2   # three seeds and the worst of them

Each run trains a fresh model with ``bertlab.pretrain.pretrain`` (the same code as ``bertlab pretrain``) and
prints the held-out accuracy at [MASK] positions (what the model predicts from context) beside the overall
MLM accuracy (which also counts the 10 % of chosen tokens left unchanged, where copying the input is right),
the unigram baseline at [MASK] (always predicting the training text's most frequent token, scored on the same
held-out masks), the held-out NSP accuracy, and the training tokens, steps and wall time it took.

The budget is a number of optimizer steps, worked out from the speed *this* recipe reaches here: a short
probe trains the recipe's model for a few dozen steps in windows and takes the median window of each phase.
(It used to take the fastest window, as the closest to the uncontended speed; but this shared machine's speed
drifts by ±20 % over tens of seconds, so the fastest window promised ~15 % more steps than 5 minutes hold:
a "5-minute" run took 348–360 s.) A recipe with sequence-length warm-up has two phases of different speed
(short inputs with a big batch, then full-length inputs), so the probe times both and the step count
solves short steps x s/step(short) + long steps x s/step(long) = minutes x 60. On a quiet machine the run then
takes about the budget; on a busy one it takes longer but does the same work. ``--tokens-per-s`` fixes the
throughput instead (e.g. one measured on a quiet machine; steps = minutes x 60 x tokens/s / tokens per
step), ``--steps`` the step count, ``--tokens`` the number of training tokens (real, not padding; a measure of
the work that does not depend on the machine): the most steps whose batches hold at most that many.

``--table`` runs the ladder of recipes below, from BERT's plain settings to the fast-cpu recipe, one change
per row, and prints a markdown table (``docs/recipe.md`` holds one). Each row's
results can also be produced separately (``--rung N --json FILE``) and joined (``--from-json FILES``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bertlab.pretrain import PretrainOptions, build_data, pretrain, steps_for_seconds  # noqa: E402
from bertlab.recipes import recipe_options  # noqa: E402

# The ladder: each rung adds one change to the one before (what each bought is in docs/recipe.md).
LADDER: list[tuple[str, str, dict]] = [
    ("bert", "BERT's settings: post-LN, dropout 0.1, fp32, lr 1e-3, warm-up 6 %, WordPiece 8192, seq 128, batch 32", {}),
    ("bf16", "+ bf16 autocast on the CPU", {"precision": "bf16"}),
    ("pre-ln", "+ pre-LN, no dropout, lr 2e-3, warm-up 5 %",
     {"learning_rate": 2e-3, "warmup": 0.05,
      "model_overrides": {"norm_placement": "pre", "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}}),
    ("seq-warmup", "+ half of the steps on 16-token inputs (batch 256)",
     {"warmup_seq_length": 16, "warmup_seq_steps": 0.5}),
    ("mlm-warmup", "+ MLM only on the 16-token inputs", {"warmup_seq_objective": "mlm"}),
    ("late-decay", "+ peak lr until the last 30 % of the steps", {"lr_decay": 0.3}),
    ("mask-more", "+ 40 % masked on the short inputs, 30 % on the pairs, 30 % of the steps short: the fast-cpu recipe",
     {"warmup_mlm_probability": 0.4, "mlm_probability": 0.3, "warmup_seq_steps": 0.3}),
]


def ladder_options(rung: int) -> dict:
    """PretrainOptions values of ladder rung ``rung`` (the changes of rungs 0..rung, in order)."""
    values: dict = {}
    for _, _, change in LADDER[:rung + 1]:
        change = dict(change)
        overrides = change.pop("model_overrides", {})
        values.update(change)
        values["model_overrides"] = {**values.get("model_overrides", {}), **overrides}
    return values


def base_options(values: dict, **extra) -> PretrainOptions:
    options = dict(preset="tiny", corpus="wiki-en", out=None, progress=False, checkpoint_every=0, log_every=25)
    options.update(values)
    options.update(extra)
    return PretrainOptions(**options)


def tokens_per_step(options: PretrainOptions, data=None, batches: int = 50) -> float:
    """Mean real (non-padding) tokens in a training batch."""
    data = data or build_data(options)
    return sum(float(data.train.batch(s, options.batch_size)["attention_mask"].sum()) for s in range(batches)) / batches


def probe_step_seconds(values: dict, steps: int = 200, window: int = 5) -> dict[str, float]:
    """Median seconds per step of each phase ("short" inputs of a sequence-length warm-up, "long" full-length
    inputs) over windows of ``window`` steps, while training the recipe's model for ``steps`` steps."""
    options = base_options(values, steps=steps, log_every=window, eval_examples=64)
    records: list[tuple[int, float]] = []
    pretrain(options, callbacks=(lambda r: records.append((r["step"], r["elapsed"])) if r["split"] == "train"
                                 else None,))
    return phase_step_seconds(records, options.warmup_seq_step_count)


def phase_step_seconds(records: list[tuple[int, float]], short_steps: int) -> dict[str, float]:
    """Median seconds per step of each phase from a run's (step, elapsed seconds) train records: the probe's
    measure, also applied to the run itself so that the two can be compared. A window with an evaluation in it
    is an outlier the median ignores; one across the switch from short to long inputs times neither phase."""
    per_phase: dict[str, list[float]] = {"short": [], "long": []}
    for (s0, e0), (s1, e1) in zip(records, records[1:]):
        phase = "short" if s1 <= short_steps else "long"
        if s0 < short_steps < s1:
            continue
        per_phase[phase].append((e1 - e0) / (s1 - s0))
    return {phase: statistics.median(times) for phase, times in per_phase.items() if times}


def batch_tokens(dataset, batch_size: int, step: int) -> int:
    """Real (non-padding) tokens of ``dataset.batch(step, batch_size)``, read from the examples' lengths (what its
    attention mask sums to) without building or masking the batch."""
    epoch, index = dataset.batch_indices(step, batch_size)
    return int(dataset.examples(epoch).lengths[index].sum())


def cumulative_tokens(dataset, batch_size: int, limit: float) -> np.ndarray:
    """``out[k]``: real tokens in the first k batches of ``dataset``, for k = 0, 1, ... until past ``limit``."""
    totals = [0]
    while totals[-1] <= limit:
        totals.append(totals[-1] + batch_tokens(dataset, batch_size, len(totals) - 1))
    return np.array(totals)


def steps_for_tokens(options: PretrainOptions, tokens: float, data=None) -> tuple[int, int]:
    """(steps, their training tokens): the most steps whose batches hold at most ``tokens`` real tokens, counting
    both phases of a sequence-length warm-up (whose length depends on the step count)."""
    data = data or build_data(options)
    long = cumulative_tokens(data.train, options.batch_size, tokens)
    short = None
    if options.warmup_seq_length and data.warmup_train is not None:
        short = cumulative_tokens(data.warmup_train, options.warmup_batch_size, tokens)

    def used(steps: int) -> float:  # tokens of a run of `steps` steps (inf: more than the budget)
        k = replace(options, steps=steps).warmup_seq_step_count if short is not None else 0
        if (short is not None and k >= len(short)) or steps - k >= len(long):
            return float("inf")
        return (short[k] if short is not None else 0) + long[steps - k]

    lo, hi = 0, len(long) + (len(short) if short is not None else 0)  # used(lo) <= tokens < used(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if used(mid) <= tokens else (lo, mid)
    if lo == 0:
        raise SystemExit(f"--tokens {tokens:,.0f} is less than one training step ({used(1):,.0f} tokens)")
    return lo, int(used(lo))


def run(values: dict, minutes: float, steps: int | None = None, tokens_per_s: float | None = None,
        label: str = "", tokens: float | None = None) -> dict:
    options = base_options(values)
    per_step = tokens_per_step(options)
    probed = None
    if tokens is not None:
        steps, _ = steps_for_tokens(options, tokens)
    elif steps is None:
        if tokens_per_s is not None:
            steps = max(1, int(minutes * 60 * tokens_per_s / per_step))
        else:
            probed = probe_step_seconds(values)
            steps = steps_for_seconds(options, minutes * 60, probed)
            tokens_per_s = steps * per_step / (minutes * 60)  # the average rate the budget assumes
    options = base_options(values, steps=steps)
    data = build_data(options)
    speeds = ", ".join(f"{phase} {s * 1000:.0f} ms/step" for phase, s in (probed or {}).items())
    print(f"[{label}] {steps} steps ({per_step:.0f} tokens each"
          + (f", budget {minutes:g} min at {tokens_per_s:,.0f} tokens/s" if tokens_per_s else "")
          + (f", budget {tokens:,.0f} tokens" if tokens is not None else "")
          + (f"; probe: {speeds}" if speeds else "") + ")", file=sys.stderr, flush=True)
    train_rates: list[float] = []
    records: list[tuple[int, float]] = []  # (step, seconds since training began) of each train log line

    def on_record(r: dict) -> None:
        if r["split"] == "train":
            train_rates.append(r["tokens_per_s"])
            records.append((r["step"], r["elapsed"]))

    began = time.time()
    result = pretrain(options, callbacks=(on_record,))
    seconds = time.time() - began
    e = result.last_eval
    return {"label": label, "values": values, "steps": steps, "tokens_per_step": per_step,
            "train_tokens": run_tokens(options, data), "tokens_budget": tokens,
            "tokens_per_s_budget": tokens_per_s, "step_seconds_probe": probed,
            "step_seconds_run": phase_step_seconds(records, options.warmup_seq_step_count if data.warmup_train
                                                   is not None else 0),
            "loop_seconds": records[-1][1] if records else None,
            "tokens_per_s_train_best": max(train_rates) if train_rates else None,
            "train_seconds": seconds, "minutes": minutes, "mlm_acc": e.get("mlm_acc"),
            "mlm_acc_mask": e.get("mlm_acc_mask"), "mlm_acc_random": e.get("mlm_acc_random"),
            "mlm_acc_unchanged": e.get("mlm_acc_unchanged"), "nsp_acc": e.get("nsp_acc"),
            "mlm_loss": e.get("mlm_loss"), "nsp_loss": e.get("nsp_loss"), "eval_examples": e.get("examples"),
            "unigram_acc": e.get("unigram_acc"), "unigram_acc_mask": e.get("unigram_acc_mask"),
            "threads": torch.get_num_threads()}


def run_tokens(options: PretrainOptions, data) -> int:
    """Real training tokens of a run of ``options.steps`` steps (both phases of a sequence-length warm-up)."""
    short = options.warmup_seq_step_count if data.warmup_train is not None else 0
    return (sum(batch_tokens(data.warmup_train, options.warmup_batch_size, s) for s in range(short))
            + sum(batch_tokens(data.train, options.batch_size, s) for s in range(options.steps - short)))


def _pct(x) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def describe(r: dict) -> str:
    trained = f"trained in {r['train_seconds']:.0f} s wall"
    if r["tokens_per_s_budget"] is not None:  # a time budget (not --steps): its rate, and the run's time beside it
        trained = f"budget tokens/s {r['tokens_per_s_budget']:,.0f}, {trained} (budget {r['minutes'] * 60:.0f} s)"
    if r.get("tokens_budget") is not None:
        trained += f" (budget {r['tokens_budget']:,.0f} tokens)"
    if r.get("step_seconds_probe") and r.get("step_seconds_run"):  # did the probe foresee the run's speed?
        speeds = ", ".join(f"{phase} {r['step_seconds_probe'][phase] * 1000:.0f} → {run * 1000:.0f} ms/step"
                           for phase, run in r["step_seconds_run"].items() if phase in r["step_seconds_probe"])
        trained += (f"; probe → run: {speeds}; the training loop took {r['loop_seconds']:.0f} s, the rest "
                    f"(data, tokenizer, final evaluation) {r['train_seconds'] - r['loop_seconds']:.0f} s")
    tokens = f"{r['train_tokens']:,} training tokens, " if r.get("train_tokens") is not None else ""
    if r.get("mlm_acc_mask") is None:  # a result file from before the split
        mlm = f"held-out MLM accuracy {_pct(r['mlm_acc'])} (unigram baseline {_pct(r['unigram_acc'])})"
    else:
        mlm = (f"held-out [MASK] accuracy {_pct(r['mlm_acc_mask'])} (unigram baseline {_pct(r['unigram_acc_mask'])}; "
               f"overall MLM {_pct(r['mlm_acc'])}, random-replaced {_pct(r['mlm_acc_random'])}, "
               f"unchanged {_pct(r['mlm_acc_unchanged'])})")
    return (f"{mlm}, NSP accuracy {_pct(r['nsp_acc'])} (chance 50 %), {tokens}{r['steps']} steps x "
            f"{r['tokens_per_step']:.0f} tokens, {trained}")


def table(rows: list[dict]) -> str:
    lines = ["| # | recipe (change from the row above) | tok/s | steps | training tokens | held-out [MASK] acc | "
             "unigram at [MASK] | overall MLM acc | NSP acc |",
             "|---|---|---|---|---|---|---|---|---|"]
    for i, r in enumerate(rows):
        rate = "—" if r["tokens_per_s_budget"] is None else f"{r['tokens_per_s_budget']:,.0f}"  # --steps: no budget
        tokens = "—" if r.get("train_tokens") is None else f"{r['train_tokens'] / 1e6:.2f} M"
        lines.append(f"| {i} | {r['label']} | {rate} | {r['steps']} | {tokens} | {_pct(r.get('mlm_acc_mask'))} | "
                     f"{_pct(r.get('unigram_acc_mask'))} | {_pct(r['mlm_acc'])} | {_pct(r['nsp_acc'])} |")
    return "\n".join(lines)


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",")]
    except ValueError:
        raise SystemExit(f"--seeds {text!r}: expected comma-separated integers, e.g. 0,1,2") from None
    if len(set(seeds)) != len(seeds):
        raise SystemExit(f"--seeds {text!r}: a seed is repeated")
    return seeds


def worst_of(rows: list[dict]) -> str:
    """The worst seed of each target metric (the number that counts), beside the budget they were reached in."""
    worst_mask = min(r["mlm_acc_mask"] for r in rows)
    worst_nsp = min(r["nsp_acc"] for r in rows)
    most_tokens = max(r["train_tokens"] for r in rows)
    slowest = max(r["train_seconds"] for r in rows)
    return (f"worst of {len(rows)} seeds: held-out [MASK] accuracy {_pct(worst_mask)}, NSP accuracy {_pct(worst_nsp)}; "
            f"at most {most_tokens:,} training tokens and {max(r['steps'] for r in rows)} steps per run, "
            f"the slowest trained in {slowest:.0f} s wall")


def parse_sets(pairs: list[str]) -> dict:
    """``--set FIELD=VALUE`` pairs as PretrainOptions values (VALUE read as JSON when it parses: 8192, 0.5, true)."""
    import dataclasses

    defaults = {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
                for f in dataclasses.fields(PretrainOptions)}
    values = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or name not in defaults:
            raise SystemExit(f"--set {pair!r}: expected FIELD=VALUE with FIELD one of PretrainOptions' fields "
                             f"({', '.join(sorted(defaults))})")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        default = defaults[name]
        wanted = (int, float) if type(default) is float else type(default)
        bool_mismatch = isinstance(value, bool) != isinstance(default, bool)  # JSON true is not an int here
        if default is not None and (not isinstance(value, wanted) or bool_mismatch):
            raise SystemExit(f"--set {pair!r}: {name} takes a value of type {type(default).__name__} "
                             f"(default {default!r})")
        values[name] = value
    return values


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="training budget (default 5)")
    parser.add_argument("--recipe", default="fast-cpu", help="a bertlab recipe (bertlab/recipes.py)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="change one PretrainOptions field of the recipe, e.g. --set vocab_size=8192 (repeatable)")
    parser.add_argument("--table", action="store_true", help="run the whole ladder and print a markdown table")
    parser.add_argument("--rung", type=int, help="run one ladder rung (0 = BERT's settings)")
    parser.add_argument("--steps", type=int, help="train this many steps (no throughput probe)")
    parser.add_argument("--tokens", type=float, metavar="N",
                        help="train the most steps whose batches hold at most N real training tokens, e.g. 8e6 "
                             "(no throughput probe)")
    parser.add_argument("--tokens-per-s", type=float, help="budget throughput (no probe)")
    parser.add_argument("--seeds", help="comma-separated seeds, e.g. 0,1,2: one run each (its own held-out split "
                                        "too), then the worst of them, which is the number that counts")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--json", help="write the result(s) to this JSON file")
    parser.add_argument("--from-json", nargs="+", help="print the table of these result files and stop")
    args = parser.parse_args(argv)
    budgets = [flag for flag, value in (("--steps", args.steps), ("--tokens", args.tokens),
                                        ("--tokens-per-s", args.tokens_per_s)) if value is not None]
    if len(budgets) > 1:
        parser.error(f"{' and '.join(budgets)} each set the budget; give one of them")
    if args.tokens is not None and args.tokens <= 0:
        parser.error(f"--tokens must be positive, got {args.tokens:g}")
    if args.from_json:
        rows = [r for f in args.from_json for r in json.loads(Path(f).read_text())]
        print(table(rows))
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"CPU threads: {torch.get_num_threads()} ({os.cpu_count()} cores); wiki-en, preset tiny", file=sys.stderr)
    if args.set and (args.table or args.rung is not None):
        raise SystemExit("--set changes a recipe (--recipe); the ladder rungs (--table, --rung) are fixed")
    if args.table or args.rung is not None:
        rungs = range(len(LADDER)) if args.table else [args.rung]
        rows = [run(ladder_options(i), args.minutes, args.steps, args.tokens_per_s, label=LADDER[i][1],
                    tokens=args.tokens) for i in rungs]
    else:
        changes = parse_sets(args.set)
        try:  # a value PretrainOptions refuses is told here, before any training
            base_options({**recipe_options(args.recipe), **changes})
        except ValueError as err:
            raise SystemExit(f"--set {' '.join(args.set)}: {err}") from None
        label = " ".join([args.recipe] + [f"{k}={v}" for k, v in changes.items()])
        seeds = parse_seeds(args.seeds) if args.seeds else [changes.get("seed")]
        rows = [run({**recipe_options(args.recipe), **changes, **({} if seed is None else {"seed": seed})},
                    args.minutes, args.steps, args.tokens_per_s, tokens=args.tokens,
                    label=label if seed is None or "seed" in changes else f"{label} seed={seed}") for seed in seeds]
    for r in rows:
        print(f"{r['label']}: {describe(r)}")
    if args.seeds:
        print(worst_of(rows))
    if len(rows) > 1 or args.table:
        print("\n" + table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
