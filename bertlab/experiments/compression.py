"""Compression side by side: int8 quantization, magnitude pruning, head pruning and a TinyBERT student.

From one pre-trained teacher (``--from RUN``, or a small one trained here and cached under ``--out``) the
experiment makes

- a dynamic int8 copy (every nn.Linear int8 per output row; embeddings and LayerNorms float32);
- unstructured magnitude-pruned copies (global L1 over the encoder's Linear weights, ``--sparsities``);
- head-pruned copies (Michel et al. 2019 importance |∂L/∂ξ_h| on training batches, the lowest
  ``--head-fractions`` of all heads removed), and the most pruned one quantized too;
- a TinyBERT student (``--student RUN``, or one distilled here with ``bertlab.distill``, cached);

saves each to ``--out/models/NAME``, loads it back from disk, and measures all of them the same way:
parameters, weight-file size, CPU latency of one held-out batch (median over rounds in which the models take
turns, torch threads fixed by ``--threads``) and held-out MLM accuracy on the teacher's held-out batches (the
same batches and masks for every model). No model is fine-tuned after compression ("post-training").
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from bertlab.experiments.common import (add_out_and_quick, add_run_control, out_folder, prepare_out, print_results,
                                        set_threads, stage_logger)
from bertlab.experiments.distill_vs_scratch import Plan as TrainPlan
from bertlab.experiments.distill_vs_scratch import distill_run, pretrain_run
from bertlab.family import compression as c
from bertlab.io import atomic_write_json, atomic_write_text
from bertlab.pretrain import PretrainOptions, build_data
from bertlab.train.pretraining import PretrainingTask
from bertlab.train.run import load_run, read_run_config


@dataclass
class Plan:
    corpus: str = "wiki-en"
    vocab_size: int = 2048
    max_seq_length: int = 32  # short inputs leave the unigram plateau soonest (docs/recipe.md)
    batch_size: int = 64
    eval_examples: int = 512
    teacher_preset: str = "tiny"  # with the overrides: L2 H128 A4, pre-LN without dropout (docs/recipe.md run B)
    teacher_overrides: dict = field(default_factory=lambda: dict(
        num_attention_heads=4, norm_placement="pre", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0))
    teacher_steps: int = 1200
    teacher_lr: float = 3e-3
    student_preset: str = "tiny"  # with the overrides: L2 H64 A2 (about half the teacher)
    student_overrides: dict = field(default_factory=lambda: dict(hidden_size=64, num_attention_heads=2,
                                                                  intermediate_size=256))
    student_steps: int = 300
    student_lr: float = 2e-3
    precision: str = "fp32"
    sparsities: tuple = (0.3, 0.5, 0.7, 0.9)
    head_fractions: tuple = (0.25, 0.5)
    score_batches: int = 4  # training batches for the head importance scores
    latency_repeats: int = 30

    def training(self):
        """The training part as distill-vs-scratch's plan, whose cached-run helpers are reused here."""
        names = {"corpus", "vocab_size", "max_seq_length", "batch_size", "eval_examples", "precision",
                 "teacher_preset", "teacher_overrides", "teacher_steps", "teacher_lr", "student_preset",
                 "student_overrides", "student_steps", "student_lr"}
        return TrainPlan(**{k: v for k, v in asdict(self).items() if k in names}, device="cpu", seeds=(0,))


QUICK = Plan(corpus="news-en", vocab_size=1024, max_seq_length=32, batch_size=16, eval_examples=128,
             teacher_preset="tiny", teacher_overrides=dict(hidden_size=64, num_hidden_layers=4, num_attention_heads=4,
                                                           intermediate_size=256),
             teacher_steps=60, teacher_lr=2e-3,
             student_overrides=dict(hidden_size=32, num_attention_heads=2, intermediate_size=128), student_steps=30,
             score_batches=2, latency_repeats=3)


def add_arguments(parser) -> None:
    d = Plan()
    add_out_and_quick(parser, "compression", "the runs, the compressed models, results.json and results.md",
                      "toy sizes on news-en (a smoke test, ~1-2 min)")
    parser.add_argument("--from", dest="from_run", help="the teacher: a finished pre-training run folder "
                                                        "(default: train one here, cached under --out/teacher)")
    parser.add_argument("--student", help="a TinyBERT student run folder distilled from that teacher "
                                          "(default: distil one here, cached under --out/student)")
    parser.add_argument("--no-student", action="store_true", help="leave the distilled student out")
    parser.add_argument("--teacher-steps", type=int, help=f"default {d.teacher_steps}")
    parser.add_argument("--student-steps", type=int, help=f"default {d.student_steps}")
    parser.add_argument("--sparsities", help="unstructured sparsities, comma-separated (default 0.3,0.5,0.7,0.9)")
    parser.add_argument("--head-fractions", help="shares of all heads to remove, comma-separated (default 0.25,0.5)")
    parser.add_argument("--repeats", type=int, help=f"latency rounds (default {d.latency_repeats})")
    add_run_control(parser, threads_help="torch CPU threads for everything (default 1)", threads_default=1,
                    fresh=False)


def _floats(text: str, flag: str, valid, valid_text: str) -> tuple:
    try:
        values = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ValueError(f"{flag} takes numbers separated by commas, e.g. 0.3,0.5; got {text!r}") from None
    bad = [x for x in values if not valid(x)]
    if bad or not values:
        raise ValueError(f"{flag}: every value must be {valid_text}, e.g. 0.3,0.5; got {text!r}")
    return values


def plan_from_args(args) -> Plan:
    plan = replace(QUICK) if args.quick else Plan()
    changes = {k: getattr(args, k) for k in ("teacher_steps", "student_steps") if getattr(args, k, None) is not None}
    if getattr(args, "sparsities", None):  # checked now, not after the teacher has trained
        changes["sparsities"] = _floats(args.sparsities, "--sparsities", lambda x: 0 <= x < 1, "in [0, 1)")
    if getattr(args, "head_fractions", None):
        changes["head_fractions"] = _floats(args.head_fractions, "--head-fractions", lambda x: 0 < x < 1,
                                            "in (0, 1)")
    if getattr(args, "repeats", None):
        changes["latency_repeats"] = args.repeats
    return replace(plan, **changes)


# --- the models ----------------------------------------------------------------------------------------------------

def teacher_data(teacher_dir: Path, tokenizer, batch_size: int):
    """The teacher's held-out batches (the ones its training evaluated on) and its training dataset."""
    saved = read_run_config(teacher_dir).get("options")
    if not saved or read_run_config(teacher_dir).get("kind") != "pretrain":
        raise ValueError(f"--from {teacher_dir}: not a run made by `bertlab pretrain` (its config.json has no "
                         f"pre-training options), so its held-out batches cannot be rebuilt")
    options = PretrainOptions(**{**saved, "out": None, "progress": False, "resume": False, "batch_size": batch_size})
    return build_data(options, tokenizer=tokenizer)


def compressed_models(teacher, plan: Plan, head_scores=None, student=None) -> dict:
    """name -> (model, description) for the plan's sparsities and head fractions; ``head_scores``: one (A,)
    tensor per attention block (``head_importance`` or ``head_weight_norms``), needed when heads are pruned."""
    models = {"original": (teacher, "the teacher as trained (float32)"),
              "int8 dynamic": (c.quantize_int8(teacher), "every nn.Linear int8 per output row")}
    for s in plan.sparsities:
        models[f"pruned {s:.0%} (unstructured)"] = (c.prune_unstructured(teacher, s),
                                                     "global L1 over the encoder's Linear weights")
    if plan.head_fractions:
        if head_scores is None:
            raise ValueError("compressed_models: head fractions given but no head_scores")
        total = sum(s.numel() for s in head_scores)
        for f in plan.head_fractions:
            heads = c.select_heads(head_scores, f)
            pruned = c.prune_heads(teacher, heads)
            gone = sum(map(len, heads.values()))
            models[f"heads pruned {gone}/{total}"] = (pruned, f"heads left per layer {c.heads_left(pruned)}")
        models[f"heads pruned {gone}/{total} + int8"] = (c.quantize_int8(pruned), "the above, then int8")
    if student is not None:
        models["TinyBERT student"] = (student, "distilled student (float32)")
    return models


def measure(models: dict, out: Path, tokenizer_file: Path, eval_batches: list, repeats: int) -> list[dict]:
    """Save each model, load it back, and measure what was loaded."""
    import torch

    loaded, rows = {}, []
    for name, (model, description) in models.items():
        folder = out / "models" / _slug(name)
        sizes = c.save_compressed(model, folder, tokenizer_file=tokenizer_file, description=description)
        loaded[name] = c.load_compressed(folder)
        counts = c.count_weights(loaded[name])
        row = {"method": name, "description": description, "folder": str(folder), "parameters": counts["total"],
               "nonzero": counts["nonzero"], "size_bytes": sizes[c.DENSE_FILE],
               "sparse_size_bytes": sizes.get(c.SPARSE_FILE)}
        if name.startswith("pruned"):
            row["sparsity"] = c.sparsity_of(loaded[name])
        with torch.inference_mode():
            metrics = PretrainingTask(eval_batches).evaluate(loaded[name])
        row["mlm_acc"], row["mlm_acc_mask"], row["mlm_loss"] = (metrics["mlm_acc"], metrics.get("mlm_acc_mask"),
                                                                metrics["mlm_loss"])
        rows.append(row)
    latency = c.cpu_latency(loaded, eval_batches[0], repeats=repeats)
    for row in rows:
        row["latency_ms"] = latency[row["method"]]
    return rows


def _unigram(run_config: dict) -> str:
    baselines = run_config.get("baselines") or {}
    value, at_mask = baselines.get("unigram_mlm_acc"), baselines.get("unigram_mlm_acc_mask")
    if value is None:
        return "unknown"
    return f"{100 * value:.1f} %" + ("" if at_mask is None else f" overall, {100 * at_mask:.1f} % at [MASK]")


def _mask_and_overall(row: dict) -> str:
    if row.get("mlm_acc_mask") is None:  # results from before the [MASK] split
        return f"{100 * row['mlm_acc']:.1f} %"
    return f"{100 * row['mlm_acc_mask']:.1f} % ({100 * row['mlm_acc']:.1f} %)"


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-").replace("--", "-")


# --- the table -----------------------------------------------------------------------------------------------------

def markdown(rows: list[dict], info: dict) -> str:
    base = rows[0]
    mib = 2 ** 20
    lines = ["| method | parameters | size on disk (MiB) | CPU latency (ms/batch) | × vs original | "
             "held-out MLM accuracy at [MASK] (overall) | held-out MLM loss |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        params = f"{r['parameters'] / 1e6:.2f}M"
        if "sparsity" in r:
            params += f" ({r['nonzero'] / 1e6:.2f}M non-zero; encoder sparsity {r['sparsity']:.1%})"
        size = f"{r['size_bytes'] / mib:.2f}"
        if r.get("sparse_size_bytes"):
            size += f" dense / {r['sparse_size_bytes'] / mib:.2f} CSR"
        lines.append(f"| {r['method']} | {params} | {size} | {r['latency_ms']:.1f} | "
                     f"{base['latency_ms'] / r['latency_ms']:.2f}× | {_mask_and_overall(r)} | "
                     f"{r['mlm_loss']:.3f} |")
    lines += ["", f"Teacher {info['teacher']} ({info['teacher_shape']}); held-out MLM accuracy on "
                  f"{info['eval_examples']} held-out examples (same batches and masks for every row; unigram "
                  f"baseline {info['unigram_mlm_acc']}); latency: "
                  f"median of {info['repeats']} rounds of one batch of {info['latency_batch']} inputs, "
                  f"torch threads {info['threads']}, {info['torch']}, quantized engine {info['engine']}. "
                  f"× = original's latency / this one's (above 1 = faster). Every model was saved and loaded back "
                  f"before being measured; sizes are the weight files on disk.", ""]
    return "\n".join(lines) + "\n"


# --- the command ---------------------------------------------------------------------------------------------------

def run(args) -> int:
    set_threads(args.threads)
    plan = plan_from_args(args)
    out = out_folder(args, "compression")
    return print_results(run_plan(plan, out, teacher=args.from_run, student=args.student,
                                  with_student=not args.no_student, progress=not args.quiet), out)


def run_plan(plan: Plan, out: Path, teacher: str | None = None, student: str | None = None,
             with_student: bool = True, progress: bool = True) -> dict:
    import torch

    prepare_out(out)
    began = time.time()
    say = stage_logger("compression")

    training = plan.training()
    if teacher is None:
        say(f"teacher: {plan.teacher_preset} {plan.teacher_overrides or ''} for {plan.teacher_steps} steps "
            f"(cached in {out / 'teacher'})")
        pretrain_run(training, out / "teacher", plan.teacher_preset, plan.teacher_overrides, plan.teacher_steps,
                     plan.teacher_lr, 0, progress)
        teacher = out / "teacher"
    teacher_dir = Path(teacher)
    teacher_run = load_run(teacher_dir)
    if student is None and with_student:
        say(f"TinyBERT student: {plan.student_preset} {plan.student_overrides or ''} for {plan.student_steps} steps "
            f"(cached in {out / 'student'})")
        distill_run(replace(training, student_steps=plan.student_steps), out / "student", teacher_dir, 0, progress)
        student = out / "student"
    student_model = None
    if student is not None:
        student_run = load_run(student)
        if student_run.tokenizer.get_vocab() != teacher_run.tokenizer.get_vocab():
            raise ValueError(f"--student {student}: its tokenizer differs from the teacher's; a student distilled "
                             f"from --from {teacher_dir} shares it (make one with `bertlab distill --teacher "
                             f"{teacher_dir}`)")
        student_model = student_run.model
    say("held-out batches, compressed models, head importance")
    data = teacher_data(teacher_dir, teacher_run.tokenizer, plan.batch_size)
    # Michel et al.'s importance, on training batches: the evaluation batches stay unseen by every choice made
    scores = c.head_importance(teacher_run.model, [data.train.batch(i, plan.batch_size)
                                                   for i in range(plan.score_batches)])
    models = compressed_models(teacher_run.model, plan, scores, student_model)
    say(f"saving, loading back and measuring {len(models)} models")
    rows = measure(models, out, teacher_dir / "tokenizer.json", data.eval_batches, plan.latency_repeats)
    config = teacher_run.model_config
    info = {"teacher": str(teacher_dir), "student": str(student) if student is not None else None,
            "teacher_shape": f"L{config.num_hidden_layers} H{config.hidden_size} A{config.num_attention_heads}, "
                             f"V{config.vocab_size}",
            "eval_examples": sum(int(b["input_ids"].shape[0]) for b in data.eval_batches),
            "latency_batch": "×".join(str(n) for n in data.eval_batches[0]["input_ids"].shape),
            "unigram_mlm_acc": _unigram(teacher_run.config), "repeats": plan.latency_repeats,
            "threads": torch.get_num_threads(), "torch": torch.__version__,
            "engine": torch.backends.quantized.engine}
    results = {"plan": asdict(plan), "info": info, "rows": rows, "seconds": time.time() - began}
    results["markdown"] = markdown(rows, info)
    atomic_write_json(out / "results.json", results)
    atomic_write_text(out / "results.md", results["markdown"])
    say("done")
    return results
