"""Distillation vs training alone: a TinyBERT student against the same small model trained from scratch.

One command trains, on one corpus and one document split:

1. a teacher (preset ``tiny`` made 4 layers deep: L4 H128, 1.16M parameters with a 2048-piece vocabulary),
   trained with the ``fast-cpu`` recipe (pre-LN, no dropout, bf16, lr 2e-3, two thirds of its steps on
   16-token inputs: docs/recipe.md);
2. a student (L2 H64, 0.27M = 24 % of the teacher) distilled from it with TinyBERT's general distillation
   (embeddings, attention scores, hidden states, soft MLM and NSP targets; §3.1–3.2);
3. the same student trained from scratch (plain MLM + NSP) for the same number of steps, batch size,
   learning rate, sequence length and normalisation placement;

students with two seeds each, and prints a table of parameters, held-out MLM accuracy and a downstream
score, with the spread between seeds. Held-out MLM accuracy is measured on the same masked held-out
batches for every model (the teacher's held-out documents, the same masks). The downstream measure
(``--downstream``, default ``auto``) fine-tunes every model the same way on a task built from the teacher's
held-out documents: on an English corpus ERNIE 2.0's capitalisation prediction (§4.2.1: which words of
lower-cased text were capitalised; a token task, scored by test **macro-F1**, because ~89 % of the words are
lower-case and accuracy mostly counts that majority class), otherwise sentence distance (adjacent / same
document / other document; test accuracy). Without ``bertlab.finetune`` it reads the pre-trained NSP head's
held-out accuracy. The table header names the task and the metric; ``results.json`` keeps the score under
``downstream_acc`` (its metric under ``downstream_metric``) and every test metric under ``downstream_test``.
The same fine-tuning from *random* weights of the teacher's and the student's shapes (``random_weights``,
two reference rows of the table) says what pre-training added at all.

``--teacher RUN`` (``Plan.teacher_run``) distils from a finished pre-training run instead of step 1, e.g. the
course model (``bertlab.course.course_model("teacher")``; ``bertlab reproduce``'s claim 5): its corpus and
vocabulary, scored here on the students' held-out batches, fine-tuned into the experiment's folder.

Why this recipe: a teacher is only worth copying if it knows something. The first version (preset ``small``
trained with BERT's plain settings for 1200 steps) reached 13.7 % held-out MLM accuracy, and no downstream
task told its students from random initialisation. Trained with the fast-cpu recipe, a 4-layer teacher
reaches ~31 % in 9 minutes. Both students train on 128-token pairs without the warm-up: alone, a student sits
on the plateau where every 128-token run starts (~12 %); distilled, it copies the teacher's attention maps
and leaves it. Every run's step count is fixed (not timed), so results do not depend on how busy the machine
is; ``--budget-minutes`` scales them.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from bertlab.analysis.params import count_parameters
from bertlab.config import BertConfig
from bertlab.data.builtin import BUILTIN_CORPORA
from bertlab.distill.run import DistillOptions, distill
from bertlab.experiments.common import (add_out_and_quick, add_run_control, cached_run, out_folder, prepare_out,
                                        print_results, run_seconds, set_threads, stage_logger)
from bertlab.finetune.data import encode_task
from bertlab.finetune.loop import EncoderSource, FinetuneOptions, finetune
from bertlab.finetune.metrics import classification_metrics
from bertlab.finetune.tasks import load_task
from bertlab.io import atomic_write_json, atomic_write_text
from bertlab.pretrain import PretrainOptions, build_data, pretrain, task_and_baselines
from bertlab.recipes import RECIPES
from bertlab.train.metrics import read_metrics
from bertlab.train.run import load_run, read_status

FULL_MINUTES = 15  # what the default step counts take on 2 idle cores of the reference CPU (see the README)
FAST_CPU_MODEL = RECIPES["fast-cpu"]["model_overrides"]  # pre-LN, no dropout


@dataclass
class Plan:
    corpus: str = "wiki-en"
    vocab_size: int = 2048
    max_seq_length: int = 128
    batch_size: int = 32
    eval_examples: int = 1024
    precision: str = "bf16"
    device: str = "auto"
    teacher_preset: str = "tiny"
    teacher_overrides: dict = field(default_factory=lambda: {**FAST_CPU_MODEL, "num_hidden_layers": 4})
    teacher_steps: int = 4500
    teacher_lr: float = 2e-3
    # the teacher's sequence-length warm-up (docs/recipe.md): its first steps on short inputs. Only the teacher:
    # both students get the very same recipe (distillation has no such warm-up), so they compare fairly
    teacher_warmup_seq_length: int = 16
    teacher_warmup_seq_steps: float = 0.667
    student_preset: str = "tiny"
    student_overrides: dict = field(default_factory=lambda: {**FAST_CPU_MODEL, "hidden_size": 64,
                                                             "num_attention_heads": 2, "intermediate_size": 256})
    student_steps: int = 1000
    student_lr: float = 2e-3
    seeds: tuple = (0, 1)
    downstream: str = "auto"  # auto | nsp | a fine-tuning task name
    finetune_steps: int = 300
    finetune_lr: float = 3e-4  # bertlab finetune's default for fine-tuning
    # a finished pre-training run to distil from instead of training the teacher above (e.g. the course model,
    # ``bertlab.course.course_model("teacher")``); the corpus and vocabulary must be its own
    teacher_run: str | None = None

    def scaled(self, factor: float) -> "Plan":
        return replace(self, teacher_steps=max(10, round(self.teacher_steps * factor)),
                       student_steps=max(5, round(self.student_steps * factor)),
                       finetune_steps=max(5, round(self.finetune_steps * factor)))


# --quick: the same pipeline on the small news corpus with toy shapes (tests; a minute or two)
QUICK = Plan(corpus="news-en", vocab_size=1024, max_seq_length=32, batch_size=16, eval_examples=128, precision="fp32",
             teacher_preset="tiny", teacher_overrides=dict(hidden_size=64, num_hidden_layers=4, num_attention_heads=4,
                                                           intermediate_size=256),
             teacher_steps=60, teacher_lr=2e-3, teacher_warmup_seq_length=8, teacher_warmup_seq_steps=0.5,
             student_overrides=dict(hidden_size=32, num_attention_heads=2, intermediate_size=128, norm_placement="pre"),
             student_steps=30,
             finetune_steps=20, finetune_lr=1e-3)


def add_arguments(parser) -> None:
    d = Plan()
    add_out_and_quick(parser, "distill-vs-scratch", "the runs, results.json and results.md; finished runs in it "
                      "are reused", "toy sizes on news-en (a smoke test, ~1-2 min)")
    parser.add_argument("--budget-minutes", type=float, default=None,
                        help=f"scale every step count to this budget (default {FULL_MINUTES}: the recipe below)")
    parser.add_argument("--corpus", help=f"pre-training corpus (default {d.corpus})")
    parser.add_argument("--teacher-steps", type=int, help=f"default {d.teacher_steps}")
    parser.add_argument("--teacher", dest="teacher_run", metavar="RUN",
                        help="distil from this finished pre-training run (e.g. the course model: .cache/course-models/"
                             "en-wiki) instead of training one; the corpus and vocabulary are then the teacher's")
    parser.add_argument("--student-steps", type=int, help=f"default {d.student_steps}")
    parser.add_argument("--seeds", help="student seeds, comma-separated (default 0,1)")
    parser.add_argument("--downstream", help="auto (default: capitalization:CORPUS on an English corpus, scored by "
                                             "macro-F1, else sentence-distance:CORPUS; NSP without bertlab.finetune), "
                                             "nsp, or a fine-tuning task name")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16"), help=f"default {d.precision}")
    parser.add_argument("--device", help="auto | cpu | cuda | mps")
    add_run_control(parser)


def plan_from_args(args) -> Plan:
    plan = replace(QUICK) if args.quick else Plan()
    if args.budget_minutes is not None:
        if args.budget_minutes <= 0:
            raise ValueError(f"--budget-minutes must be positive, got {args.budget_minutes}")
        plan = plan.scaled(args.budget_minutes / FULL_MINUTES)
    changes = {k: getattr(args, k) for k in ("corpus", "teacher_steps", "student_steps", "downstream", "precision",
                                             "device", "teacher_run") if getattr(args, k, None) is not None}
    if getattr(args, "seeds", None):
        try:
            changes["seeds"] = tuple(int(s) for s in args.seeds.split(","))
        except ValueError:
            raise ValueError(f"--seeds takes whole numbers separated by commas (e.g. 0,1), got {args.seeds!r}") from None
    return replace(plan, **changes)


# --- runs ------------------------------------------------------------------------------------------------------

def _last_eval(run_dir: Path) -> dict:
    evals = read_metrics(run_dir / "metrics.jsonl").split("eval")
    if not evals:
        raise ValueError(f"{run_dir}: no evaluation in metrics.jsonl")
    return evals[-1]


def pretrain_run(plan: Plan, run_dir: Path, preset: str, overrides: dict, steps: int, lr: float, seed: int,
                 progress: bool, warmup_seq: tuple[int, float] = (0, 0.0)) -> tuple[dict, str]:
    options = PretrainOptions(preset=preset, model_overrides=dict(overrides), corpus=plan.corpus,
                              vocab_size=plan.vocab_size, max_seq_length=plan.max_seq_length,
                              batch_size=plan.batch_size, eval_examples=plan.eval_examples, steps=steps,
                              learning_rate=lr, precision=plan.precision, device=plan.device, seed=seed,
                              warmup_seq_length=warmup_seq[0], warmup_seq_steps=warmup_seq[1], split_seed=0,
                              checkpoint_every=max(100, steps // 4), log_every=10, out=str(run_dir), progress=progress)
    state = cached_run(options, pretrain)  # "reuse", "resume" or "new"
    return _last_eval(run_dir), state


def distill_run(plan: Plan, run_dir: Path, teacher_dir: Path, seed: int, progress: bool) -> tuple[dict, str]:
    o = dict(plan.student_overrides)
    shape = {name: o.pop(name, None) for name in ("hidden_size", "num_attention_heads", "intermediate_size",
                                                   "num_hidden_layers")}
    options = DistillOptions(teacher=str(teacher_dir), student_preset=plan.student_preset,
                             student_hidden=shape["hidden_size"], student_heads=shape["num_attention_heads"],
                             student_intermediate=shape["intermediate_size"], student_layers=shape["num_hidden_layers"],
                             model_overrides=o,  # the rest (normalisation placement, dropout): as the scratch student
                             method="tinybert", steps=plan.student_steps, learning_rate=plan.student_lr,
                             batch_size=plan.batch_size, eval_examples=plan.eval_examples, precision=plan.precision,
                             device=plan.device, seed=seed, checkpoint_every=max(100, plan.student_steps // 4),
                             out=str(run_dir), progress=progress)
    state = cached_run(options, distill)  # "reuse", "resume" or "new"
    return _last_eval(run_dir), state


# --- the downstream measure --------------------------------------------------------------------------------------

def downstream_kind(plan: Plan) -> str:
    """``auto``: capitalisation (ERNIE 2.0 §4.2.1) on an English corpus, sentence distance otherwise; the NSP
    head when ``bertlab.finetune`` is missing. Capitalisation is the default because a small English encoder
    gets clearly above the majority-class answer on it (lesson 6: macro-F1 0.77 vs 0.47), while sentence
    distance stayed at chance for every encoder here, teacher included. (It is above chance but does not
    separate the encoders either: random initialisation scores as well; see docs/distill.md.)"""
    if plan.downstream != "auto":
        return plan.downstream
    import importlib.util

    if importlib.util.find_spec("bertlab.finetune.loop") is None:
        return "nsp"
    corpus = BUILTIN_CORPORA.get(plan.corpus)
    task = "capitalization" if corpus is not None and corpus.language == "en" else "sentence-distance"
    return f"{task}:{plan.corpus}"


METRIC_NAMES = {"accuracy": "accuracy", "macro_f1": "macro-F1"}


def downstream_metric(task_kind: str) -> str:
    """Token tasks are scored by macro-F1: most words are lower-case, so accuracy mostly counts the majority
    class (capitalisation: ~89 % for the answer "lower" everywhere, whose macro-F1 is only ~0.47)."""
    return "macro_f1" if task_kind == "token" else "accuracy"


def majority_score(task, metric: str) -> float:
    """The test score of answering the most frequent test label everywhere: the line a model must beat."""
    import torch

    counts = torch.tensor([task.label_counts("test")[label] for label in task.labels])  # (num_labels,)
    confusion = torch.zeros(len(counts), len(counts), dtype=torch.long)  # row = gold label, column = prediction
    confusion[:, int(counts.argmax())] = counts
    return classification_metrics(confusion)[metric]


def cached_measure(saved: Path, wanted: dict) -> dict | None:
    """The saved downstream measure if it was made with exactly these options (task included), else None."""
    if not saved.exists():
        return None
    cached = json.loads(saved.read_text())
    return cached if cached.get("options") == wanted else None


class Downstream:
    """The downstream measure, prepared once: NSP reads the pre-trained head's held-out accuracy; a task
    fine-tunes every model the same way (same data, steps, learning rate, seed) and reads its test score
    (``self.metric``: accuracy, or macro-F1 for a token task). A corpus-built task uses only the teacher's
    held-out documents, which no model saw in pre-training."""

    def __init__(self, kind: str, plan: Plan, teacher_dir: Path, teacher_options: dict):
        self.kind, self.plan = kind, plan
        self.task = self.encoded = None
        self.metric = "accuracy"
        self.seconds = 0.0  # fine-tuning time, cached runs included
        if kind != "nsp":
            self.tokenizer = load_run(teacher_dir).tokenizer  # every model here shares it
            self.task = load_task(kind, seed=0, pretrained_options=teacher_options)
            self.kind = self.task.name  # the full name: "capitalization" → "capitalization:wiki-en"
            self.metric = downstream_metric(self.task.kind)
            self.encoded = encode_task(self.task, self.tokenizer, max_seq_length=128)

    def describe(self) -> str:
        if self.kind == "nsp":
            return "held-out NSP accuracy of the pre-trained NSP head (no fine-tuning)"
        sizes = f"{len(self.task.train)} / {len(self.task.dev)} / {len(self.task.test)} train / dev / test examples"
        counts = self.task.label_counts("test")
        majority = max(counts.values()) / sum(counts.values())
        return (f"{self.kind}, test {METRIC_NAMES[self.metric]} after fine-tuning each model for "
                f"{self.plan.finetune_steps} steps (lr {self.plan.finetune_lr:g}, best dev checkpoint) on {sizes} "
                f"from the teacher's held-out documents ({self.task.info.get('documents', '')}); majority class "
                f"{majority:.1%} of test {'words' if self.task.kind == 'token' else 'examples'}, whose "
                f"{METRIC_NAMES[self.metric]} is {_pct(majority_score(self.task, self.metric))}")

    def score(self, run_dir: Path, last_eval: dict, seed: int, progress: bool,
              folder: Path | None = None) -> tuple[float, dict]:
        """(the score, every test metric) of one pre-trained run; fine-tuned once into ``folder`` (default
        ``RUN/downstream``: a teacher trained elsewhere gets a folder of the experiment's), then read from its
        ``measure.json``."""
        if self.kind == "nsp":
            if "nsp_acc" not in last_eval:
                raise ValueError(f"{run_dir}: no held-out NSP accuracy (was it trained with objective mlm?)")
            return float(last_eval["nsp_acc"]), {"accuracy": float(last_eval["nsp_acc"])}

        def pretrained():
            run = load_run(run_dir)
            return EncoderSource(run.model_config, self.tokenizer, run.model, f"pre-trained run {run_dir}")
        return self._measure(folder or run_dir / "downstream", seed, progress, pretrained)

    def score_random(self, config: dict, folder: Path, seed: int, progress: bool) -> tuple[float, dict] | None:
        """The same fine-tuning from *random* weights of the shape ``config`` (a run's "model" dict): the line
        that says what pre-training added. None for the NSP measure (an untrained NSP head is at chance)."""
        if self.kind == "nsp":
            return None

        def random_weights():
            return EncoderSource(BertConfig.from_dict(config), self.tokenizer, None, "random initialisation")
        return self._measure(folder, seed, progress, random_weights)

    def _measure(self, folder: Path, seed: int, progress: bool, make_source) -> tuple[float, dict]:
        """Fine-tune the encoder ``make_source()`` gives into ``folder``, or read the measure saved there."""
        saved = folder / "measure.json"
        wanted = {"task": self.kind, "steps": self.plan.finetune_steps, "learning_rate": self.plan.finetune_lr,
                  "seed": seed}
        cached = cached_measure(saved, wanted)
        if cached is not None:
            self.seconds += cached.get("seconds", 0.0)
            return float(cached["test"][self.metric]), cached["test"]

        shutil.rmtree(folder, ignore_errors=True)  # another task's or settings' measure
        options = FinetuneOptions(task=self.kind, steps=self.plan.finetune_steps, learning_rate=self.plan.finetune_lr,
                                  batch_size=32, precision=self.plan.precision, device=self.plan.device, seed=seed,
                                  out=str(folder), progress=progress)
        result = finetune(options, task=self.task, source=make_source(), encoded=self.encoded)
        self.seconds += result.seconds
        saved.write_text(json.dumps({"options": wanted, "test": result.test, "seconds": result.seconds}))
        return float(result.test[self.metric]), result.test


# --- the table ---------------------------------------------------------------------------------------------------

def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _cell(values: list[float]) -> str:
    if len(values) == 1:
        return _pct(values[0])
    mean = sum(values) / len(values)
    return f"{_pct(mean)} ({', '.join(f'{100 * v:.1f}' for v in values)})"


def summarize(results: dict) -> dict:
    """Means, spreads (max − min over seeds) and whether each part of the target held."""
    teacher = results["teacher"]
    groups = {}
    for name in ("distilled", "scratch"):
        runs = results[name]
        groups[name] = {}
        for measure in ("mlm_acc", "downstream_acc"):
            values = [r[measure] for r in runs]
            groups[name][measure] = {"values": values, "mean": sum(values) / len(values),
                                     "spread": max(values) - min(values)}
    checks = {}
    for measure in ("mlm_acc", "downstream_acc"):
        d, s = groups["distilled"][measure], groups["scratch"][measure]
        margin = d["mean"] - s["mean"]
        spread = max(d["spread"], s["spread"])
        checks[f"beats_scratch_{measure}"] = {"margin": margin, "spread": spread, "held": margin > spread}
    kept = groups["distilled"]["downstream_acc"]["mean"] / max(teacher["downstream_acc"], 1e-12)
    ratio = results["parameters"]["student"] / results["parameters"]["teacher"]
    checks["keeps_90pct_of_teacher_downstream"] = {"kept": kept, "held": kept >= 0.9}
    checks["at_most_a_third_of_parameters"] = {"ratio": ratio, "held": ratio <= 1 / 3}
    return {"groups": groups, "checks": checks, "target_held": all(c["held"] for c in checks.values())}


def markdown(results: dict, summary: dict) -> str:
    p, t = results["parameters"], results["teacher"]
    g, c = summary["groups"], summary["checks"]
    kind = results["downstream"]
    down = results["downstream_description"]
    shapes = results["shapes"]
    header = "NSP" if kind == "nsp" else kind
    metric = METRIC_NAMES[results.get("downstream_metric", "accuracy")]
    lines = [f"| model | shape | parameters | held-out MLM accuracy | downstream {metric} ({header}) |",
             "|---|---|---|---|---|",
             f"| teacher | {shapes['teacher']} | {p['teacher'] / 1e6:.2f}M | {_pct(t['mlm_acc'])} "
             f"| {_pct(t['downstream_acc'])} |"]
    for name, label in (("distilled", "TinyBERT student (distilled)"), ("scratch", "same student from scratch")):
        lines.append(f"| {label} | {shapes['student']} | {p['student'] / 1e6:.2f}M ({p['student'] / p['teacher']:.0%}) "
                     f"| {_cell(g[name]['mlm_acc']['values'])} | {_cell(g[name]['downstream_acc']['values'])} |")
    random = results.get("random_weights")
    if random:  # the reference line: fine-tuned without any pre-training
        lines.append(f"| *teacher shape, random weights* | {shapes['teacher']} | {p['teacher'] / 1e6:.2f}M | — "
                     f"| {_cell(random['teacher'])} |")
        lines.append(f"| *student shape, random weights* | {shapes['student']} | {p['student'] / 1e6:.2f}M | — "
                     f"| {_cell(random['student'])} |")
    seeds = ", ".join(str(s) for s in results["plan"]["seeds"])
    plan = results["plan"]
    lines += ["", f"Students: mean over seeds {seeds} (each seed in brackets); {plan['student_steps']} steps "
                  f"each; teacher "
                  f"{plan['teacher_run'] + ' (trained elsewhere)' if plan.get('teacher_run') else str(plan['teacher_steps']) + ' steps'}; "
                  f"corpus {plan['corpus']}. "
                  f"Downstream: {down}." + (" Random weights: the same fine-tuning (teacher seed 0, student "
                                             "seeds as above) without pre-training, for reference." if random else ""),
              ""]
    for measure, label in (("mlm_acc", "held-out MLM accuracy"), ("downstream_acc", f"downstream {metric}")):
        check = c[f"beats_scratch_{measure}"]
        lines.append(f"- distilled − scratch {label}: {100 * check['margin']:+.1f} points; largest seed spread "
                     f"{100 * check['spread']:.1f} points → {'held' if check['held'] else 'NOT held'}")
    kept_mlm = {name: g[name]["mlm_acc"]["mean"] / max(t["mlm_acc"], 1e-12) for name in ("distilled", "scratch")}
    lines.append(f"- (for reference: the distilled student keeps {kept_mlm['distilled']:.0%} of the teacher's held-out "
                 f"MLM accuracy, the student from scratch {kept_mlm['scratch']:.0%})")
    kept = c["keeps_90pct_of_teacher_downstream"]
    lines.append(f"- distilled student keeps {kept['kept']:.0%} of the teacher's downstream {metric} (target ≥ 90 %) "
                 f"→ {'held' if kept['held'] else 'NOT held'}")
    ratio = c["at_most_a_third_of_parameters"]
    lines.append(f"- student parameters: {ratio['ratio']:.0%} of the teacher's (target ≤ 33 %) → "
                 f"{'held' if ratio['held'] else 'NOT held'}")
    students = sum(v for k, v in results["timings"].items() if k.startswith(("distilled", "scratch")))
    lines.append(f"- target {'held' if summary['target_held'] else 'NOT held'}")
    lines.append(f"- time: {results['seconds'] / 60:.1f} min in all (teacher {results['timings']['teacher'] / 60:.1f}, "
                 f"four students {students / 60:.1f}, downstream {results['timings']['downstream'] / 60:.1f})")
    return "\n".join(lines) + "\n"


def _shape(config: dict) -> str:
    return f"L{config['num_hidden_layers']} H{config['hidden_size']} A{config['num_attention_heads']}"


# --- the command -------------------------------------------------------------------------------------------------

def run(args) -> int:
    set_threads(args.threads)
    plan = plan_from_args(args)
    out = out_folder(args, "distill-vs-scratch")
    return print_results(run_plan(plan, out, fresh=args.fresh, progress=not args.quiet), out)


def given_teacher(plan: Plan) -> Plan:
    """``plan`` with the corpus and vocabulary of its ``teacher_run`` (the students must read the teacher's
    corpus and tokens); a missing or unfinished run is refused."""
    if not plan.teacher_run:
        return plan
    folder = Path(plan.teacher_run)
    if not (folder / "config.json").exists() or read_status(folder).get("status") != "finished":
        raise ValueError(f"--teacher {folder}: no finished pre-training run there (for the course model: "
                         f"bertlab course prepare --only en)")
    options = json.loads((folder / "config.json").read_text())["options"]
    return replace(plan, corpus=options["corpus"], vocab_size=int(options["vocab_size"]))


def teacher_eval(plan: Plan, teacher_dir: Path) -> dict:
    """Held-out metrics of a teacher trained elsewhere, on the batches every student here is scored on (its
    held-out documents and masks, ``plan.eval_examples`` of them), with the [MASK] / random / unchanged split
    and the unigram baseline, which a run trained before that split does not log."""
    import torch

    run = load_run(teacher_dir)
    options = PretrainOptions(**{**run.config["options"], "eval_examples": plan.eval_examples, "out": None,
                                 "resume": False, "progress": False, "warmup_seq_length": 0})
    data = build_data(options, tokenizer=run.tokenizer)
    task, _ = task_and_baselines(options, data)
    run.model.eval()
    with torch.no_grad():
        return task.evaluate(run.model)


def run_plan(plan: Plan, out: Path, fresh: bool = False, progress: bool = True) -> dict:
    plan = given_teacher(plan)
    prepare_out(out, ("teacher", "teacher-downstream",
                      *(f"{kind}-seed{s}" for kind in ("distilled", "scratch") for s in plan.seeds),
                      "random-weights"), fresh)
    began = time.time()
    timings = {}
    say = stage_logger("distill-vs-scratch")

    kind = downstream_kind(plan)
    if plan.teacher_run:  # trained elsewhere (e.g. the course model): scored here, fine-tuned into out
        teacher_dir = Path(plan.teacher_run)
        say(f"teacher: {teacher_dir} (trained elsewhere)")
        last_teacher = teacher_eval(plan, teacher_dir)
        timings["teacher"] = 0.0
    else:
        say(f"teacher: {plan.teacher_preset} {plan.teacher_overrides or ''} for {plan.teacher_steps} steps")
        teacher_dir = out / "teacher"
        last_teacher, _ = pretrain_run(plan, teacher_dir, plan.teacher_preset, plan.teacher_overrides,
                                    plan.teacher_steps, plan.teacher_lr, 0, progress,
                                    (plan.teacher_warmup_seq_length, plan.teacher_warmup_seq_steps))
        timings["teacher"] = run_seconds(teacher_dir)
    teacher_config = json.loads((teacher_dir / "config.json").read_text())
    teacher_options = teacher_config["options"]
    runs = {"distilled": [], "scratch": []}
    reused = []  # student runs found finished in ``out``
    for seed in plan.seeds:
        for name in ("distilled", "scratch"):
            run_dir = out / f"{name}-seed{seed}"
            say(f"{name} student, seed {seed}: {plan.student_steps} steps")
            if name == "distilled":
                last, state = distill_run(plan, run_dir, teacher_dir, seed, progress)
            else:
                last, state = pretrain_run(plan, run_dir, plan.student_preset, plan.student_overrides, plan.student_steps,
                                    plan.student_lr, seed, progress)
            timings[run_dir.name] = run_seconds(run_dir)
            runs[name].append({"seed": seed, "run": str(run_dir), "mlm_acc": float(last["mlm_acc"]),
                               "mlm_acc_mask": last.get("mlm_acc_mask"), "nsp_acc": last.get("nsp_acc"),
                               "last_eval": last})
            if state == "reuse":
                reused.append(run_dir.name)
    # checked before any fine-tuning: a mismatch here means the comparison is unfair, whatever follows
    student_model = json.loads((out / f"scratch-seed{plan.seeds[0]}" / "config.json").read_text())["model"]
    distilled_model = json.loads((out / f"distilled-seed{plan.seeds[0]}" / "config.json").read_text())["model"]
    if distilled_model != student_model:
        raise RuntimeError("the distilled and the from-scratch student have different shapes; this is a bug")
    say(f"downstream measure: {kind}")
    downstream = Downstream(kind, plan, teacher_dir, teacher_options)
    # "downstream_acc" holds the task's score (accuracy, or macro-F1 for a token task: "downstream_metric")
    teacher_down, teacher_test = downstream.score(teacher_dir, last_teacher, 0, progress,
                                                  folder=out / "teacher-downstream" if plan.teacher_run else None)
    for name in runs:
        for r in runs[name]:
            r["downstream_acc"], r["downstream_test"] = downstream.score(Path(r["run"]), r["last_eval"], r["seed"],
                                                                         progress)
    random_weights = {"teacher": [], "student": []}
    for shape, config, seeds in (("teacher", teacher_config["model"], (0,)), ("student", student_model, plan.seeds)):
        for seed in seeds:
            measured = downstream.score_random(config, out / "random-weights" / f"{shape}-seed{seed}", seed, progress)
            if measured is not None:
                random_weights[shape].append(measured[0])
    timings["downstream"] = downstream.seconds
    student_config = BertConfig.from_dict(student_model)
    teacher_vocab = json.loads((teacher_dir / "tokenizer.json").read_text())["model"]["vocab"]
    for r in runs["scratch"]:  # trained on the same split, so get_tokenizer must have given the same vocabulary
        if json.loads((Path(r["run"]) / "tokenizer.json").read_text())["model"]["vocab"] != teacher_vocab:
            raise RuntimeError(f"{r['run']} has another tokenizer than the teacher; the comparison would be unfair")
    results = {
        "plan": asdict(plan), "downstream": downstream.kind, "downstream_metric": downstream.metric,
        "downstream_description": downstream.describe(),
        "seconds": sum(timings.values()), "seconds_this_call": time.time() - began, "timings": timings,
        "reused_students": reused,
        "parameters": {"teacher": count_parameters(BertConfig.from_dict(teacher_config["model"])).unique,
                       "student": count_parameters(student_config).unique},
        "shapes": {"teacher": _shape(teacher_config["model"]), "student": _shape(student_config.to_dict())},
        "teacher": {"run": str(teacher_dir), "mlm_acc": float(last_teacher["mlm_acc"]),
                    "mlm_acc_mask": last_teacher.get("mlm_acc_mask"),
                    "unigram_acc_mask": last_teacher.get("unigram_acc_mask"),
                    "nsp_acc": last_teacher.get("nsp_acc"), "trained_here": not plan.teacher_run,
                    "downstream_acc": teacher_down,
                    "downstream_test": teacher_test},
        "distilled": [{k: v for k, v in r.items() if k != "last_eval"} for r in runs["distilled"]],
        "scratch": [{k: v for k, v in r.items() if k != "last_eval"} for r in runs["scratch"]],
        "random_weights": random_weights if random_weights["student"] else None,  # downstream scores, per seed
    }
    # The distilled runs scored the teacher on the very same held-out batches (with the eager attention path,
    # which differs from SDPA by rounding): a clearly different number would mean different held-out data.
    for r, logged in zip(results["distilled"], (r["last_eval"].get("teacher_mlm_acc") for r in runs["distilled"])):
        r["teacher_mlm_acc_logged"] = logged
        if logged is not None and abs(logged - results["teacher"]["mlm_acc"]) > 0.005:
            raise RuntimeError(f"{r['run']}: teacher MLM accuracy {logged:.4f} on its held-out batches differs from "
                               f"the teacher run's {results['teacher']['mlm_acc']:.4f}: the held-out data differ")
    summary = summarize(results)
    results["summary"] = summary
    results["markdown"] = markdown(results, summary)
    atomic_write_json(out / "results.json", results)
    atomic_write_text(out / "results.md", results["markdown"])
    return results
