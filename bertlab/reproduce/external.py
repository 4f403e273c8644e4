"""Claims 5 and 6, measured by other experiment modules (called as Python functions, with their caches):
``bertlab.experiments.distill_vs_scratch`` with the course teacher (TinyBERT student vs scratch vs teacher) and
``bertlab.experiments.transfer``'s cells (fine-tuning vs frozen features on a single-text and a pair task, the
pre-trained course model). Both need the course models (``bertlab course prepare``): a claim whose model is not
ready is reported as not run, with the command that prepares it."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from bertlab.course import course_dir, course_model, resolve
from bertlab.experiments import distill_vs_scratch as dvs
from bertlab.experiments import transfer
from bertlab.reproduce import figures as fig
from bertlab.reproduce.budget import distill_plan
from bertlab.reproduce.claims import LEARNED, PAPER, PAPER_SHORT, TITLES, ClaimResult, Context, _pct, _pm, not_run
from bertlab.reproduce.verdicts import beats, mean, not_worse, word



def missing_course_model(name: str) -> str | None:
    """None when course model ``name`` is ready, else why not and the command that prepares it."""
    if course_model(name) is not None:
        return None
    model = resolve([name])[0]
    return (f"the course model {model.name!r} ({course_dir() / model.folder}) is not ready; prepare it with "
            f"`bertlab course prepare --only {model.name}` (6,000 fast-cpu steps), then run this claim again")


def _teacher_words(teacher: dict) -> str:
    if teacher.get("trained_here", True):
        return f"trained by the experiment ({teacher['run']})"
    run = Path(os.path.abspath(teacher["run"]))
    shown = run.relative_to(Path.cwd()) if run.is_relative_to(Path.cwd()) else run  # no checkout paths in reports
    return f"the course model `{shown}` (trained before, not here)"


def claim_5(ctx: Context) -> ClaimResult:
    missing = missing_course_model("teacher")
    if missing:
        return not_run(5, missing)
    dplan = distill_plan(ctx.plan, str(course_model("teacher")))
    # one folder per step counts: a rerun with the same budget reuses every run and measure
    out = ctx.runs / "claim5" / f"students{dplan.student_steps}-finetune{dplan.finetune_steps}"
    ctx.log(f"distill-vs-scratch with the course teacher {dplan.teacher_run}: students {dplan.student_steps} steps, "
            f"fine-tuning {dplan.finetune_steps} steps, seeds {dplan.seeds}")
    results = dvs.run_plan(dplan, out, fresh=False, progress=ctx.progress)
    students = results["distilled"] + results["scratch"]
    reused = results.get("reused_students", [])  # finished runs run_plan found in ``out``
    checks = results["summary"]["checks"]
    groups = results["summary"]["groups"]
    teacher = results["teacher"]
    # held-out MLM accuracy at [MASK] positions (copying an unchanged token is no knowledge); overall for results
    # written before the split
    key = "mlm_acc_mask" if all(r.get("mlm_acc_mask") is not None
                                for r in [teacher, *results["distilled"], *results["scratch"]]) else "mlm_acc"
    where = " at [MASK]" if key == "mlm_acc_mask" else ""
    d_mlm = [r[key] for r in results["distilled"]]
    s_mlm = [r[key] for r in results["scratch"]]
    d_down = [r["downstream_acc"] for r in results["distilled"]]
    s_down = [r["downstream_acc"] for r in results["scratch"]]
    c_mlm, c_down = beats(d_mlm, s_mlm), beats(d_down, s_down)
    kept = mean(d_down) / max(teacher["downstream_acc"], 1e-12)
    ratio = results["parameters"]["student"] / results["parameters"]["teacher"]
    # a teacher that learned nothing beyond word frequencies has nothing to teach: no verdict then
    unigram = teacher.get("unigram_acc_mask") if where else None  # scored with the teacher, on the same batches
    if unigram is None:  # results of a trained-here teacher: its run's recorded baseline
        teacher_config = json.loads((Path(teacher["run"]) / "config.json").read_text(encoding="utf-8"))
        unigram = teacher_config.get("baselines", {}).get("unigram_mlm_acc_mask" if where else "unigram_mlm_acc")
    teacher_learned = unigram is None or teacher[key] > unigram + LEARNED
    held = c_mlm.held and c_down.held and kept >= 0.9 and ratio < 1
    inconclusive = not teacher_learned
    if inconclusive:
        held = None
    measured = {"parameters": results["parameters"], "shapes": results["shapes"], "teacher": teacher,
                "teacher_unigram_mlm_acc": unigram, "teacher_learned": teacher_learned, "mlm_accuracy": key,
                "distilled_mlm_acc": d_mlm, "scratch_mlm_acc": s_mlm, "distilled_downstream_acc": d_down,
                "scratch_downstream_acc": s_down, "distilled_vs_scratch_mlm": c_mlm.to_dict(),
                "distilled_vs_scratch_downstream": c_down.to_dict(), "kept_of_teacher_downstream": kept,
                "student_parameter_ratio": ratio, "downstream": results["downstream_description"],
                "experiment_checks": checks, "experiment_target_held": results["summary"]["target_held"],
                "plan": results["plan"], "seconds": results["seconds"], "groups": groups}
    text = (f"Teacher: {_teacher_words(teacher)}. Student {results['shapes']['student']} ({ratio:.0%} of the teacher's {results['parameters']['teacher']:,} "
            f"parameters). Held-out MLM accuracy{where}: distilled {_pm(d_mlm)} vs scratch {_pm(s_mlm)} "
            f"({100 * c_mlm.difference:+.1f} points, seed spread {100 * c_mlm.spread:.1f}) → {word(c_mlm.held)}; "
            f"teacher {_pct(teacher[key])}. Downstream ({results['downstream_description']}): distilled "
            f"{_pm(d_down)} vs scratch {_pm(s_down)} ({100 * c_down.difference:+.1f} points, spread "
            f"{100 * c_down.spread:.1f}) → {word(c_down.held)}; the distilled student keeps {kept:.0%} of the teacher's "
            f"{_pct(teacher['downstream_acc'])} (needed ≥ 90 %) → {word(kept >= 0.9)}. The claim holds only if all "
            f"three do. (distill-vs-scratch's own target, which also asks for ≤ 1/3 of the parameters: "
            f"{word(results['summary']['target_held'])}.)")
    if reused:
        text += (f" ({len(reused)} of the {len(students)} student runs were reused from an earlier report with the "
                 f"same step counts in {out}; delete them to retrain.)")
    if inconclusive:
        text += (f" Inconclusive at this budget: the teacher's held-out MLM accuracy{where} {_pct(teacher[key])} is "
                 f"not "
                 f"{100 * LEARNED:.0f} points above the unigram baseline {_pct(unigram)}, so it had little to teach.")
    labels = ["teacher", "distilled student", "student from scratch"]
    figures = {"claim5_accuracy": fig.bars("Claim 5: held-out MLM and downstream accuracy (mean over seeds)",
                                           [f"held-out MLM accuracy{where}", "downstream accuracy"],
                                           dict(zip(labels, ([teacher[key], teacher["downstream_acc"]],
                                                             [mean(d_mlm), mean(d_down)], [mean(s_mlm), mean(s_down)]))),
                                           "accuracy"),
               "claim5_curves": fig.curves("Claim 5: held-out MLM accuracy while training",
                                           {"distilled": [r["run"] for r in results["distilled"]],
                                            "from scratch": [r["run"] for r in results["scratch"]]}, key, "eval")}
    ours = (f"MLM{where} distilled {_pm(d_mlm)} vs scratch {_pm(s_mlm)} vs teacher {_pct(teacher[key])}; downstream "
            f"{_pm(d_down)} vs {_pm(s_down)} vs {_pct(teacher['downstream_acc'])}; {ratio:.0%} of the parameters")
    return ClaimResult(5, TITLES[5], held, measured, PAPER[5], text, figures, ours, PAPER_SHORT[5],
                       inconclusive=inconclusive)


def transfer_args(cells: dict, out: Path):
    """The argparse namespace of ``bertlab experiment transfer`` for claim 6's cells."""
    parser = argparse.ArgumentParser()
    transfer.add_arguments(parser)
    argv = ["--out", str(out), "--sizes", ",".join(map(str, cells["sizes"])),
            "--seeds", ",".join(map(str, cells["seeds"]))]
    return parser.parse_args(argv + (["--quick"] if cells.get("quick") else []))


def claim_6(ctx: Context) -> ClaimResult:
    missing = missing_course_model("zh")  # both tasks are Chinese: the zh course model reads them
    if missing:
        return not_run(6, missing)
    cells = ctx.plan.transfer
    # the experiment's own folder (a rerun after `bertlab experiment transfer` trains nothing); --quick's toy
    # cells stay with the report's runs
    out = ctx.runs / "claim6" if cells.get("quick") else Path(cells.get("out") or "runs/transfer")
    args = transfer_args(cells, out)
    tplan = transfer.plan_from(args)
    sources, found, infos, reused = {}, [], {}, 0
    for kind, spec in cells["tasks"].items():
        ctx.log(f"transfer: {spec}, {cells['sizes'][0]} labelled examples, seeds {tplan.seeds}, fine-tune and "
                f"frozen features, in {out}")
        task_cells, info = transfer.run_task(spec, tplan, args, sources, out, ctx.log, [], encoders=("pre-trained",))
        found += task_cells
        infos[kind] = info
        reused += sum(c["reused"] for c in task_cells)
    score = {kind: {mode: [c["score"] for c in found if c["task"] == spec and c["mode"] == mode]
                    for mode in ("finetune", "features")} for kind, spec in cells["tasks"].items()}
    metric = {kind: {"span_f1": "span F1", "macro_f1": "macro-F1"}[infos[kind]["metric"]] for kind in infos}
    chance = {kind: infos[kind]["chance"] for kind in infos}
    c_pair = beats(score["pair"]["finetune"], score["pair"]["features"])
    c_single = not_worse(score["single"]["finetune"], score["single"]["features"])
    most_on_pair = c_pair.difference > c_single.difference
    held = c_pair.held and c_single.held and most_on_pair
    # classifiers no better than always answering the majority label cannot rank the modes
    at_chance = [k for k in ("pair", "single") if max(mean(score[k]["finetune"]), mean(score[k]["features"]))
                 <= chance[k] + LEARNED]
    inconclusive = bool(at_chance)
    if inconclusive:
        held = None
    tasks = cells["tasks"]
    measured = {"tasks": tasks, "labelled_examples": cells["sizes"][0], "steps_per_cell": cells["steps"],
                "test_score": score, "metric": metric, "majority_baseline": chance, "pair": c_pair.to_dict(),
                "single": c_single.to_dict(), "gap_larger_on_pair": most_on_pair, "at_chance": at_chance,
                "cells_reused": reused, "cells": found, "transfer_folder": str(out),
                "encoder": {k: infos[k]["encoder"] for k in infos}}
    text = (f"The transfer experiment's cells (docs/transfer.md): the pre-trained course model `{infos['pair']['encoder']}`, "
            f"{cells['sizes'][0]} labelled training examples, fine-tuning every weight ([CLS] through the pooler) vs a "
            f"head on frozen features (scalar mix of all layers), seeds {', '.join(map(str, tplan.seeds))}. Pair task "
            f"({tasks['pair']}), test {metric['pair']}: fine-tuning {_pm(score['pair']['finetune'])} vs features "
            f"{_pm(score['pair']['features'])} ({100 * c_pair.difference:+.1f} points, seed spread "
            f"{100 * c_pair.spread:.1f}) → fine-tuning better beyond the spread: {word(c_pair.held)}. Single-text task "
            f"({tasks['single']}), test {metric['single']}: fine-tuning {_pm(score['single']['finetune'])} vs features "
            f"{_pm(score['single']['features'])} ({100 * c_single.difference:+.1f} points) → fine-tuning not worse "
            f"beyond the spread: {word(c_single.held)}. The gap is larger on pairs: {word(most_on_pair)}. "
            f"Majority-class {metric['pair']}: pair {_pct(chance['pair'])}, single {_pct(chance['single'])}.")
    if reused:
        text += (f" ({reused} of {len(found)} cells were reused from an earlier run with identical options in {out}; "
                 f"delete them to retrain.)")
    if inconclusive:
        text += (f" Inconclusive: on the {' and '.join(at_chance)} task(s) neither mode beats always answering the "
                 f"majority label by {100 * LEARNED:.0f} points.")
    figures = {"claim6_modes": fig.bars(f"Claim 6: test score at {cells['sizes'][0]} labels, fine-tuning vs "
                                        f"frozen features (mean over seeds)",
                                        [f"pair: {tasks['pair']}", f"single: {tasks['single']}"],
                                        {m: [mean(score['pair'][m]), mean(score['single'][m])]
                                         for m in ("finetune", "features")}, "test score (macro-F1)")}
    ours = (f"pair {_pm(score['pair']['finetune'])} vs {_pm(score['pair']['features'])}; single "
            f"{_pm(score['single']['finetune'])} vs {_pm(score['single']['features'])} (fine-tune vs features, "
            f"{metric['single']})")
    return ClaimResult(6, TITLES[6], held, measured, PAPER[6], text, figures, ours, PAPER_SHORT[6],
                       inconclusive=inconclusive)


__all__ = ["claim_5", "claim_6", "transfer_args", "missing_course_model"]
