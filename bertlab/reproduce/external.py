"""Claims 5 and 6, measured by other engineers' experiment modules (called as Python functions):
``bertlab.experiments.distill_vs_scratch`` (TinyBERT student vs scratch vs teacher) and
``bertlab.experiments.application_modes`` (fine-tuning vs feature extraction)."""

from __future__ import annotations

import contextlib
import json
from dataclasses import replace
from pathlib import Path

from bertlab.experiments import application_modes as am
from bertlab.experiments import distill_vs_scratch as dvs
from bertlab.reproduce import figures as fig
from bertlab.reproduce.claims import LEARNED, PAPER, PAPER_SHORT, TITLES, ClaimResult, Context, _pct, _pm
from bertlab.reproduce.verdicts import beats, mean, not_worse, word

QUICK_FACTOR = 0.5  # --quick: half of distill-vs-scratch's own QUICK steps, NSP as the downstream measure


def distill_plan(plan):
    """distill-vs-scratch's plan for this budget: for --quick its QUICK plan halved, scored by the NSP head
    (fine-tuning five models is most of its time); otherwise its recipe scaled to the claim's minutes."""
    if plan.quick:
        base = replace(dvs.QUICK.scaled(QUICK_FACTOR), downstream="nsp")
    else:
        base = dvs.Plan().scaled(plan.distill_factor)
    return replace(base, seeds=tuple(plan.seeds))


def claim_5(ctx: Context) -> ClaimResult:
    dplan = distill_plan(ctx.plan)
    out = ctx.runs / "claim5"
    ctx.log(f"distill-vs-scratch: teacher {dplan.teacher_steps} steps, students {dplan.student_steps} steps, "
            f"seeds {dplan.seeds}")
    results = dvs.run_plan(dplan, out, fresh=True, progress=ctx.progress)
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
    text = (f"Student {results['shapes']['student']} ({ratio:.0%} of the teacher's {results['parameters']['teacher']:,} "
            f"parameters). Held-out MLM accuracy{where}: distilled {_pm(d_mlm)} vs scratch {_pm(s_mlm)} "
            f"({100 * c_mlm.difference:+.1f} points, seed spread {100 * c_mlm.spread:.1f}) → {word(c_mlm.held)}; "
            f"teacher {_pct(teacher[key])}. Downstream ({results['downstream_description']}): distilled "
            f"{_pm(d_down)} vs scratch {_pm(s_down)} ({100 * c_down.difference:+.1f} points, spread "
            f"{100 * c_down.spread:.1f}) → {word(c_down.held)}; the distilled student keeps {kept:.0%} of the teacher's "
            f"{_pct(teacher['downstream_acc'])} (needed ≥ 90 %) → {word(kept >= 0.9)}. The claim holds only if all "
            f"three do. (distill-vs-scratch's own target, which also asks for ≤ 1/3 of the parameters: "
            f"{word(results['summary']['target_held'])}.)")
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


def application_args(budget: dict, out: Path, seed: int, from_run: str | None):
    """The argparse namespace of ``bertlab experiment application-modes`` for this budget."""
    import argparse

    parser = argparse.ArgumentParser()
    am.add_arguments(parser)
    argv = ["--out", str(out), "--no-random", "--seed", str(seed), "--pretrain-steps", str(budget["pretrain_steps"]),
            "--steps", str(budget["steps"]), "--max-train-examples", str(budget["max_train"]),
            "--max-eval-examples", str(budget["max_eval"])]
    if budget.get("quick"):
        argv.append("--quick")
    if from_run:
        argv += ["--from", from_run]
    return parser.parse_args(argv)


def claim_6(ctx: Context) -> ClaimResult:
    budget = ctx.plan.application
    per_seed, pretrained, reused = [], None, 0
    for seed in ctx.plan.seeds:
        out = ctx.runs / "claim6" / f"seed{seed}"
        ctx.log(f"application-modes, seed {seed}: {budget['steps']} steps per cell")
        out.mkdir(parents=True, exist_ok=True)
        before = {f: f.stat().st_mtime for f in out.glob("cells/*/results.json")}
        with open(out / "stdout.log", "w", encoding="utf-8") as log, contextlib.redirect_stdout(log):
            status = am.run(application_args(budget, out, seed, pretrained))
        # application-modes reuses a cell whose options match an earlier run's: say so (wall time is then lower)
        reused += sum(1 for f, t in before.items() if f.exists() and f.stat().st_mtime == t)
        if status:
            raise RuntimeError(f"application-modes exited with status {status}")
        data = json.loads((out / "results.json").read_text(encoding="utf-8"))
        pretrained = pretrained or data["pretrained"]  # later seeds fine-tune the same encoder
        per_seed.append(data)
    kinds = {spec: info["task"]["kind"] for spec, info in per_seed[0]["tasks"].items()}
    acc = {}  # kind -> mode -> [mean over poolings, per seed]
    for data in per_seed:
        for spec, kind in kinds.items():
            for mode in ("finetune", "features"):
                cells = [c["accuracy"] for c in data["cells"] if c["task"] == spec and c["mode"] == mode
                         and c["encoder"] == "pre-trained"]
                acc.setdefault(kind, {}).setdefault(mode, []).append(mean(cells))
    if "pair" not in acc or "single" not in acc:
        return ClaimResult(6, TITLES[6], None, {"accuracy": acc}, PAPER[6],
                           f"not run: expected a single-text and a pair task, got {sorted(acc)}")
    c_pair = beats(acc["pair"]["finetune"], acc["pair"]["features"])
    c_single = not_worse(acc["single"]["finetune"], acc["single"]["features"])
    most_on_pair = c_pair.difference > c_single.difference
    held = c_pair.held and c_single.held and most_on_pair
    tasks = {kinds[s]: s for s in kinds}
    majority = {kinds[s]: i["majority"] for s, i in per_seed[0]["tasks"].items()}
    # classifiers no better than always answering the majority label cannot rank the modes
    chance = [k for k in ("pair", "single") if max(mean(acc[k]["finetune"]), mean(acc[k]["features"]))
              <= majority[k] + LEARNED]
    inconclusive = bool(chance)
    if inconclusive:
        held = None
    measured = {"tasks": tasks, "accuracy_mean_over_poolings": acc, "pair": c_pair.to_dict(),
                "single": c_single.to_dict(), "gap_larger_on_pair": most_on_pair, "budget": budget,
                "majority_baseline": majority, "at_chance": chance, "cells_reused_from_cache": reused,
                "cells": [d["cells"] for d in per_seed]}
    text = (f"Test accuracy, mean over the [CLS] / mean / scalar-mix poolings. Pair task ({tasks['pair']}): "
            f"fine-tuning {_pm(acc['pair']['finetune'])} vs features {_pm(acc['pair']['features'])} "
            f"({100 * c_pair.difference:+.1f} points, seed spread {100 * c_pair.spread:.1f}) → fine-tuning better "
            f"beyond the spread: {word(c_pair.held)}. Single-text task ({tasks['single']}): fine-tuning "
            f"{_pm(acc['single']['finetune'])} vs features {_pm(acc['single']['features'])} "
            f"({100 * c_single.difference:+.1f} points) → fine-tuning not worse beyond the spread: "
            f"{word(c_single.held)}. The gap is larger on pairs: {word(most_on_pair)}.")
    if reused:
        text += (f" ({reused} of {sum(len(d['cells']) for d in per_seed)} cells were reused from an earlier run with "
                 f"identical options in {ctx.runs / 'claim6'}; delete it to retrain them.)")
    if inconclusive:
        text += (f" Inconclusive at this budget: on the {' and '.join(chance)} task(s) neither mode beats always "
                 f"answering the majority label ({', '.join(_pct(majority[k]) for k in chance)}) by "
                 f"{100 * LEARNED:.0f} points.")
    figures = {"claim6_modes": fig.bars("Claim 6: test accuracy, fine-tuning vs feature extraction (mean over seeds "
                                        "and poolings)", [f"pair: {tasks['pair']}", f"single: {tasks['single']}"],
                                        {m: [mean(acc['pair'][m]), mean(acc['single'][m])]
                                         for m in ("finetune", "features")}, "test accuracy")}
    ours = (f"pair {_pm(acc['pair']['finetune'])} vs {_pm(acc['pair']['features'])}; single "
            f"{_pm(acc['single']['finetune'])} vs {_pm(acc['single']['features'])} (fine-tune vs features)")
    return ClaimResult(6, TITLES[6], held, measured, PAPER[6], text, figures, ours, PAPER_SHORT[6],
                       inconclusive=inconclusive)


__all__ = ["claim_5", "claim_6", "distill_plan", "application_args"]
