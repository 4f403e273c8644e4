"""bertlab reproduce: verdict logic on fake numbers, the budget split, the report, and a tiny real run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import bertlab.reproduce as rp
from bertlab.cli import main
from bertlab.config import IGNORE_INDEX
from bertlab.course import course_model
from bertlab.data import PretrainingDataset
from bertlab.experiments import distill_vs_scratch as dvs
from bertlab.experiments import transfer
from bertlab.experiments.distill_vs_scratch import Plan, given_teacher
from bertlab.pretrain import PretrainOptions, seconds_for_steps, steps_for_seconds
from bertlab.recipes import recipe_options
from bertlab.reproduce import budget, external, reproduce
from bertlab.reproduce.claims import (Context, _ahead_text, _bottleneck_text, _format_text, _gain_kept, _verdict,
                                      claim_1)
from bertlab.reproduce.external import claim_5
from bertlab.reproduce.report import README_BEGIN, README_END, update_readme
from bertlab.reproduce.runs import RunOutcome, static_copy
from bertlab.reproduce.verdicts import beats, not_worse, spread


# --- held vs the seed spread ------------------------------------------------------------------------------------

def test_beats_needs_the_difference_to_exceed_the_seed_spread():
    assert beats([0.30, 0.32], [0.25, 0.26]).held  # +5.5 points, spread 2
    noisy = beats([0.30, 0.40], [0.28, 0.30])  # +6 points, but the seeds alone differ by 10
    assert not noisy.held and noisy.spread == pytest.approx(0.10)
    assert not beats([0.30, 0.31], [0.31, 0.32]).held  # wrong direction
    assert not beats([0.31], [0.30], margin=0.05).held  # beyond the spread but not the margin
    assert beats([0.31], [0.30]).held and not beats([0.31], [0.30]).seeds_checked  # one seed: direction only


def test_not_worse_allows_the_spread_and_a_tolerance():
    assert not_worse([0.29, 0.31], [0.30, 0.31]).held  # -0.5 points, spread 2
    assert not not_worse([0.20, 0.21], [0.30, 0.31]).held  # -10 points, spread 1
    assert not_worse([-2.10], [-2.00], tolerance=0.15).held  # loss 5 % higher, 7.5 % allowed
    assert not not_worse([-2.10], [-2.00], tolerance=0.05).held
    assert spread([1.0]) == 0.0 and spread([1.0, 3.0]) == 2.0


# --- the budget --------------------------------------------------------------------------------------------------

QUIET = {"short": 0.070, "long": 0.092}  # the recipe's probe on 2 idle cores of the reference CPU (docs/recipe.md)


def _probe(config, batch, length, nsp, precision):  # claim 5's shapes, without measuring
    return 0.1 if config.hidden_size >= 128 else 0.05


def test_reference_runs_are_shared_by_claims_2_to_4_and_claim_1_may_train_longer():
    runs = budget.pretraining_runs((1, 2, 3, 4, 5), (0, 1))
    assert [v for v, s in runs if s == 0] == ["reference", "factorized", "shared", "static", "no-nsp"]
    runs = budget.pretraining_runs((1, 2, 3, 4, 5), (0, 1), separate_long=True)
    assert [v for v, s in runs if s == 0] == ["long", "reference", "factorized", "shared", "static", "no-nsp"]
    assert budget.pretraining_runs((5, 6), (0, 1)) == []
    assert budget.pretraining_runs((2,), (0,)) == [("reference", 0), ("factorized", 0)]
    assert budget.pretraining_runs((1,), (0,), separate_long=True) == [("long", 0)]


def test_runs_use_the_fast_cpu_recipe_and_change_one_thing():
    scale = budget.Scale(steps=1000, long_steps=3000)
    ref = scale.options("reference", 0)
    assert (ref.precision, ref.learning_rate, ref.vocab_size, ref.max_seq_length) == ("bf16", 2e-3, 8192, 128)
    short = recipe_options("fast-cpu")["warmup_seq_steps"]  # the recipe's share of short steps, whatever it is now
    assert (ref.warmup_seq_length, ref.warmup_seq_steps, ref.warmup_seq_objective) == (16, short, "mlm")
    assert (ref.mlm_probability, ref.warmup_mlm_probability) == (0.3, 0.4)  # the recipe's masking rates too
    assert ref.model_overrides["norm_placement"] == "pre" and ref.lr_decay == 0.3 and ref.steps == 1000
    assert ref.warmup_seq_step_count == int(1000 * short) and ref.split_seed == 0
    assert scale.options("long", 0).steps == 3000
    assert scale.options("long", 0).warmup_seq_step_count == int(3000 * short)
    fac, shared = scale.options("factorized", 1), scale.options("shared", 1)
    static, no_nsp = scale.options("static", 1), scale.options("no-nsp", 1)
    assert fac.embedding_size == 32 and ref.embedding_size is None and shared.share_layers == "all"
    assert static.masking == "static" and no_nsp.objective == "mlm" and ref.objective == "mlm+nsp"
    for o in (fac, shared, static, no_nsp):  # the recipe is the same for every variant
        assert (o.learning_rate, o.precision, o.warmup_seq_length, o.steps) == (2e-3, "bf16", 16, 1000)
    with pytest.raises(ValueError, match="variant"):
        scale.options("wide", 0)


def test_static_masks_keep_the_recipes_masking_rate(news_corpus, news_tokenizer):
    """The static variant differs from the dynamic reference only in when masks are drawn: its copies mask as
    many tokens as the dataset they copy (it once fell back to 15 % while the reference masked 30 / 40 %)."""
    dynamic = PretrainingDataset(news_corpus, news_tokenizer, max_seq_length=32, objective="mlm", mlm_probability=0.3)
    static, copies = static_copy(dynamic, PretrainOptions(), epochs=8, seed=0, max_seq_length=32, objective="mlm")
    assert copies == 2 and static.masking == "static" and static.collator.mlm_probability == 0.3
    batch = static.batch(0, 64)
    chosen = (batch["labels"] != IGNORE_INDEX).sum() / batch["attention_mask"].sum()
    assert 0.25 < float(chosen) < 0.35  # about 30 % of the tokens ([CLS]/[SEP] count in the denominator)


def test_steps_for_seconds_counts_both_phases():
    half = PretrainOptions(warmup_seq_length=16, warmup_seq_steps=0.5, out=None)
    assert steps_for_seconds(half, 300, {"short": 0.07, "long": 0.09}) == int(300 / 0.08)
    assert steps_for_seconds(half, 300, {"long": 0.09}) == int(300 / 0.09)  # one phase measured: all long
    fixed = PretrainOptions(warmup_seq_length=16, warmup_seq_steps=1000, out=None)
    assert steps_for_seconds(fixed, 100, {"short": 0.05, "long": 0.1}) == 1000 + 500  # 50 s short, 50 s long
    plain = PretrainOptions(out=None, steps=3750)
    assert steps_for_seconds(plain, 300, {"short": 0.07, "long": 0.08}) == 3750
    assert seconds_for_steps(plain, {"long": 0.08}) == pytest.approx(300)
    half.steps = 3750
    assert seconds_for_steps(half, {"short": 0.07, "long": 0.09}) == pytest.approx(1875 * 0.16)


def test_the_probe_labels_each_phase_at_the_recipes_masking_rate(monkeypatch):
    """The MLM head's cost grows with the labelled tokens: timing the fast-cpu steps at BERT's 15 % (as the probe
    once did) promised a quarter more steps than the runs' 30 / 40 % masking allow."""
    seen = {}

    def fake(config, B, T, nsp, precision, device, mlm_probability=0.15):
        seen[T] = mlm_probability
        return 0.1

    monkeypatch.setattr(budget, "measure_step_seconds", fake)
    scale = budget.Scale(steps=100)
    options = scale.options("reference", 0)
    budget.measure_phases(scale)
    assert seen == {options.max_seq_length: options.mlm_probability,
                    options.warmup_seq_length: options.warmup_mlm_probability}
    assert (options.mlm_probability, options.warmup_mlm_probability) == (0.3, 0.4)


def test_default_plan_fits_the_budget():
    p = budget.plan(60, claims=budget.CLAIMS, seeds=(0, 1), device="cpu", step_seconds=QUIET, probe=_probe)
    assert sum(p.claim_minutes.values()) == pytest.approx(60)
    s = p.scale
    # on 2 idle cores the runs of claims 2-4 reach the steps claim 1 needs (NSP ~70 % at LONG_MAX): claim 1 reads them
    assert not s.separate_long and s.steps >= budget.LONG_MAX and len(p.runs) == 10
    pre = p.estimated_minutes["pretraining"]
    assert pre <= (p.claim_minutes["1"] + p.claim_minutes["pretraining"]) * 1.01  # claim 1's spare went to 2-4
    assert pre >= (p.claim_minutes["1"] + p.claim_minutes["pretraining"]) * 0.97
    assert 0 < p.distill["factor"] <= 1 and p.transfer["sizes"] == [budget.TRANSFER_EXAMPLES]
    assert p.estimate == pytest.approx(sum(p.estimated_minutes.values())) and p.estimate <= 60 * 1.01
    slower = budget.plan(60, seeds=(0, 1), device="cpu", step_seconds={k: 2 * v for k, v in QUIET.items()},
                         probe=_probe)  # half the speed: claim 1 keeps its steps in runs of its own, 2-4 get fewer
    assert slower.scale.long_steps == budget.LONG_MAX and slower.scale.separate_long and slower.scale.steps < s.steps
    assert [v for v, seed in slower.runs].count("long") == 2 and len(slower.runs) == 12
    slowest = budget.plan(60, seeds=(0, 1), device="cpu", step_seconds={k: 3 * v for k, v in QUIET.items()},
                          probe=_probe)
    assert slowest.scale.long_steps < budget.LONG_MAX and slowest.scale.steps < slower.scale.steps  # fewer, not longer
    crawl = budget.plan(60, seeds=(0, 1), device="cpu", step_seconds={"short": 3.0, "long": 3.0}, probe=_probe)
    assert not crawl.scale.separate_long and crawl.runs[0] == ("reference", 0)  # claim 1 reads the reference
    only_1 = budget.plan(10, claims=(1,), seeds=(0, 1), device="cpu", step_seconds=QUIET)
    assert only_1.runs == [("reference", 0), ("reference", 1)] and only_1.scale.steps > 1000
    fixed = budget.plan(60, claims=(1, 2), device="cpu", step_seconds=QUIET, steps=500, long_steps=0)
    assert fixed.scale.steps == 500 and fixed.runs[0] == ("reference", 0)
    with pytest.raises(ValueError, match="claim"):
        budget.plan(60, claims=(7,), step_seconds=QUIET)
    with pytest.raises(ValueError, match="budget"):
        budget.plan(0, step_seconds=QUIET)
    with pytest.raises(ValueError, match="--steps"):
        budget.plan(60, steps=0, step_seconds=QUIET)


def test_claim_5_plan_uses_the_course_teacher():
    p = budget.plan(60, claims=(5,), seeds=(0, 1), device="cpu", step_seconds=QUIET, probe=_probe)
    d = budget.distill_plan(p, "teacher-run")
    assert d.teacher_run == "teacher-run" and d.corpus == "wiki-en" and d.vocab_size == 8192 and d.seeds == (0, 1)
    assert d.student_steps <= 1000 and d.student_steps == round(1000 * p.distill["factor"])
    quick = budget.distill_plan(budget.plan(1, quick=True, claims=(5,), seeds=(0,), step_seconds=QUIET), "t")
    assert quick.student_steps <= 10 and quick.downstream == "nsp"


# --- claims on fake runs -----------------------------------------------------------------------------------------

def _fake_run(tmp_path: Path, name: str, mlm_acc: float, nsp_acc: float, unigram: float = 0.05):
    """``mlm_acc`` and ``unigram`` at [MASK] positions; the unchanged 10 % copied, as an early model does."""
    run_dir = tmp_path / name
    run_dir.mkdir()
    split = {"mlm_acc_mask": mlm_acc, "mlm_acc_random": mlm_acc / 2, "mlm_acc_unchanged": 0.9,
             "mlm_acc": 0.8 * mlm_acc + 0.1 * mlm_acc / 2 + 0.09}
    lines = [{"split": "train", "step": 1, "mlm_loss": 7.0, "nsp_loss": 0.7},
             {"split": "eval", "step": 10, **split, "nsp_acc": nsp_acc, "mlm_loss": 5.0}]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return RunOutcome("reference", 0, str(run_dir), {**split, "nsp_acc": nsp_acc, "mlm_loss": 5.0},
                      1.0, 10, {}, 0.8 * unigram + 0.01, 1.0, unigram_mlm_acc_mask=unigram)


def test_claim_2_explains_a_failed_loss_tolerance_and_only_then():
    assert _bottleneck_text(True, 32, 128, 8192) == ""
    why = _bottleneck_text(False, 32, 128, 8192)
    assert "rank at most 32" in why and "8,192 pieces" in why and "H/4" in why


def test_claim_4_explains_a_loss_on_the_pair_format_only():
    held, lost = not_worse([0.209, 0.210], [0.207, 0.208]), not_worse([0.195, 0.200], [0.208, 0.209])
    assert "never saw two segments" in _format_text({"full-sentence": held, "pairs": lost})
    assert _format_text({"full-sentence": held, "pairs": held}) == ""
    assert _format_text({"full-sentence": lost, "pairs": lost}) == ""


def test_claim_4_says_whether_dynamic_masking_is_ahead_or_a_draw():
    assert "a draw" in _ahead_text(beats([0.213, 0.223], [0.211, 0.216]))  # +0.45 points, spread 1.0
    assert "also ahead" in _ahead_text(beats([0.213, 0.223], [0.192, 0.196]))  # +2.4 points


@pytest.mark.parametrize("mlm, nsp, held", [((0.30, 0.31), (0.80, 0.82), True),  # far above both baselines
                                             ((0.08, 0.09), (0.80, 0.82), False),  # [MASK] only 3.5 points up
                                             ((0.30, 0.31), (0.45, 0.75), False)])  # NSP mean 60 %, spread 30
def test_claim_1_verdict_on_fake_runs(tmp_path, mlm, nsp, held):
    plan = budget.plan(1, quick=True, claims=(1,), seeds=(0, 1), step_seconds=QUIET)
    ctx = Context(plan, tmp_path, log=lambda text: None)
    ctx._runs["reference"] = [_fake_run(tmp_path, f"seed{i}", mlm[i], nsp[i]) for i in range(2)]
    result = claim_1(ctx)
    assert result.held is held
    assert result.measured["held_out_mlm_acc_mask"]["mean_b"] == pytest.approx(0.05)  # the unigram at [MASK]


def test_claim_1_does_not_count_copying(tmp_path):
    """At the unigram plateau the overall MLM accuracy is ~9 points up from copying the unchanged tokens alone;
    the claim is judged at [MASK] positions, so it does not hold."""

    plan = budget.plan(1, quick=True, claims=(1,), seeds=(0, 1), step_seconds=QUIET)
    ctx = Context(plan, tmp_path, log=lambda text: None)
    ctx._runs["reference"] = [_fake_run(tmp_path, f"seed{i}", 0.05, 0.8) for i in range(2)]
    assert ctx._runs["reference"][0].last_eval["mlm_acc"] - ctx._runs["reference"][0].unigram_mlm_acc > 0.05
    result = claim_1(ctx)
    assert result.held is False and "at [MASK] positions" in result.verdict_text
    assert result.measured["held_out_mlm_acc_unchanged"] == [0.9, 0.9]
    assert set(result.figures) == {"claim1_mlm_acc", "claim1_nsp_acc", "claim1_loss"}


def test_exact_parts_decide_and_untrained_models_are_inconclusive():
    assert _verdict(False, True, True) == (False, False)  # the parameter count contradicts the claim
    assert _verdict(False, True, False) == (False, False)  # ... whether or not the models learned
    assert _verdict(True, True, False) == (None, True)  # nothing learned: losses cannot rank variants
    assert _verdict(True, False, True) == (False, False)
    assert _verdict(True, True, True) == (True, False)


def test_a_variant_must_keep_its_gain_over_the_unigram_baseline(tmp_path):
    ref = [_fake_run(tmp_path, f"ref{i}", acc, 0.8, unigram=0.03) for i, acc in enumerate((0.079, 0.081))]
    at_plateau = [_fake_run(tmp_path, f"flat{i}", acc, 0.8, unigram=0.03) for i, acc in enumerate((0.030, 0.031))]
    close = [_fake_run(tmp_path, f"close{i}", acc, 0.8, unigram=0.03) for i, acc in enumerate((0.070, 0.072))]
    check, kept = _gain_kept(at_plateau, ref, 0.75)
    assert not check.held and kept == pytest.approx(0.01, abs=0.01)  # a small loss gap can hide this
    check, kept = _gain_kept(close, ref, 0.75)
    assert check.held and kept == pytest.approx(0.82, abs=0.01)


def test_a_failing_claim_is_reported_as_not_run(tmp_path, monkeypatch):
    def broken(ctx):
        raise ImportError("bertlab.experiments.distill_vs_scratch is not installed")

    monkeypatch.setattr(rp, "claim_function", lambda claim: broken)
    plan = budget.plan(1, quick=True, claims=(5,), seeds=(0,), step_seconds=QUIET)
    results = rp.reproduce(plan, tmp_path / "report", runs=tmp_path / "runs", command="test", log=lambda t: None)
    saved = json.loads((tmp_path / "report" / "results.json").read_text())
    assert saved["claims"][0]["held"] is None and "not run: ImportError" in saved["claims"][0]["verdict_text"]
    assert "5" in saved["errors"] and results["errors"]
    assert "| 5 |" in (tmp_path / "report" / "report.md").read_text()


def test_readme_section_is_replaced_between_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# bertlab\n\nintro\n\n{README_BEGIN}\nold table\n{README_END}\n\nmore\n")
    update_readme(readme, f"{README_BEGIN}\nnew table\n{README_END}")
    text = readme.read_text()
    assert "new table" in text and "old table" not in text and text.endswith("more\n") and "intro" in text


def test_cli_rejects_bad_claims():
    assert main(["reproduce", "--claims", "1,x"]) == 2
    assert main(["reproduce", "--claims", "9", "--quick"]) == 2


# --- a real run ---------------------------------------------------------------------------------------------------

def test_claim_2_runs_and_reports(tmp_path):
    """Claim 2 for real, 4 steps of a toy model at one seed: exact parameter counts and a written report."""
    plan = budget.plan(1, quick=True, claims=(2,), seeds=(0,), step_seconds=QUIET)
    plan.scale.steps, plan.scale.eval_points, plan.scale.eval_examples = 4, 1, 64
    results = reproduce(plan, tmp_path / "report", runs=tmp_path / "runs", command="test", log=lambda t: None)
    assert not results["errors"], results["errors"]
    saved = json.loads((tmp_path / "report" / "results.json").read_text())
    measured = saved["claims"][0]["measured"]
    V, H, E = measured["V"], measured["H"], measured["E"]
    assert E < H and measured["matches_formula"]
    assert measured["embedding_parameters"]["E=H"] == V * H
    claim = saved["claims"][0]
    assert claim["verdict"] in ("held", "did not hold", "inconclusive")  # 4 steps: inconclusive, as a rule
    assert (claim["held"] is None) == (claim["verdict"] == "inconclusive")
    report = (tmp_path / "report" / "report.md").read_text()
    assert "| 2 | Factorized" in report and "Claim 2" in report
    assert "[MASK] acc" in claim["ours"] and "recipe `fast-cpu`" in report  # the MLM number is [MASK] accuracy
    assert set(saved["pretraining_runs"]) == {"reference", "factorized"}


@pytest.mark.slow
def test_quick_reproduce_end_to_end(tmp_path):
    status = main(["reproduce", "--quick", "--out", str(tmp_path / "quick"), "--runs", str(tmp_path / "runs")])
    saved = json.loads((tmp_path / "quick" / "results.json").read_text())
    assert [c["id"] for c in saved["claims"]] == [1, 2, 3, 4, 5, 6]
    assert status == 0 and not saved["errors"], saved["errors"]
    ready = {5: course_model("teacher") is not None, 6: course_model("zh") is not None}
    for c in saved["claims"]:  # held, did not hold or inconclusive; 5 and 6 need the course models
        assert (c["verdict"] != "not run") == ready.get(c["id"], True), c["verdict_text"]
    assert saved["plan"]["scale"]["recipe"] == "fast-cpu"
    runs = saved["pretraining_runs"]["reference"]
    assert runs[0]["short_steps"] == 50 and runs[0]["steps"] == 100  # both phases of the recipe
    assert all(v == "written" for v in saved["figures"].values()), saved["figures"]


def test_claim_5_judges_the_teacher_at_mask_positions(tmp_path, monkeypatch):
    """A teacher 9 points above the unigram baseline overall, but only from copying unchanged tokens, has
    learned nothing at [MASK]: claim 5 is inconclusive, and says so with the [MASK] numbers."""

    teacher_dir = tmp_path / "teacher"
    teacher_dir.mkdir()
    (teacher_dir / "config.json").write_text(json.dumps({"baselines": {"unigram_mlm_acc": 0.05,
                                                                       "unigram_mlm_acc_mask": 0.05}}))
    for name in ("d0", "d1", "s0", "s1"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.jsonl").write_text(json.dumps({"split": "eval", "step": 1, "mlm_acc_mask": 0.05})
                                                       + "\n")

    def student(name, mask, down):
        return {"run": str(tmp_path / name), "mlm_acc": mask + 0.09, "mlm_acc_mask": mask, "downstream_acc": down}

    results = {"teacher": {"run": str(teacher_dir), "mlm_acc": 0.14, "mlm_acc_mask": 0.05, "downstream_acc": 0.6},
               "distilled": [student("d0", 0.05, 0.6), student("d1", 0.05, 0.6)],
               "scratch": [student("s0", 0.05, 0.55), student("s1", 0.05, 0.55)],
               "summary": {"checks": {}, "groups": {}, "target_held": False},
               "parameters": {"teacher": 4, "student": 1},
               "shapes": {"teacher": "L4", "student": "L2"}, "plan": {}, "seconds": 1.0,
               "downstream_description": "NSP"}
    monkeypatch.setattr(dvs, "run_plan", lambda *args, **kwargs: results)
    monkeypatch.setattr(external, "course_model", lambda name: teacher_dir)
    plan = budget.plan(1, quick=True, claims=(5,), seeds=(0, 1), step_seconds=QUIET)
    result = claim_5(Context(plan, tmp_path, runs=tmp_path, log=lambda text: None))
    assert result.inconclusive and result.measured["mlm_accuracy"] == "mlm_acc_mask"
    assert "held-out MLM accuracy at [MASK] 5.0 %" in result.verdict_text
    assert "reused" not in result.verdict_text

    # a rerun with the same budget finds the finished student runs and says it trained nothing new
    results["reused_students"] = ["distilled-seed0"]  # run_plan's cache found this run finished
    again = claim_5(Context(plan, tmp_path, runs=tmp_path, log=lambda text: None))
    assert "1 of the 4 student runs were reused" in again.verdict_text


def test_claim_1_reads_the_longer_runs_when_the_plan_has_them(tmp_path):
    plan = budget.plan(20, claims=(1, 2), seeds=(0, 1), device="cpu", step_seconds=QUIET)
    assert plan.scale.separate_long
    ctx = Context(plan, tmp_path, log=lambda text: None)
    ctx._runs["reference"] = [_fake_run(tmp_path, f"ref{i}", 0.30, 0.50) for i in range(2)]  # NSP at chance
    ctx._runs["long"] = [_fake_run(tmp_path, f"long{i}", 0.30, 0.70 + 0.01 * i) for i in range(2)]
    assert claim_1(ctx).held is True


def test_claims_5_and_6_without_course_models_say_how_to_prepare_them(tmp_path, monkeypatch):
    monkeypatch.setattr(external, "course_model", lambda name: None)
    plan = budget.plan(1, quick=True, claims=(5, 6), seeds=(0,), step_seconds=QUIET)
    ctx = Context(plan, tmp_path, runs=tmp_path, log=lambda text: None)
    five, six = external.claim_5(ctx), external.claim_6(ctx)
    assert five.held is None and "bertlab course prepare --only en" in five.verdict_text
    assert six.held is None and "bertlab course prepare --only zh" in six.verdict_text


def _transfer_cells(spec, scores):
    """Fake cells of the transfer experiment: {mode: [score per seed]}."""
    return [{"task": spec, "encoder": "pre-trained", "mode": mode, "pooling": "cls", "examples": 1000, "seed": seed,
             "score": score, "reused": True} for mode, values in scores.items() for seed, score in enumerate(values)]


@pytest.mark.parametrize("pair, single, held", [
    ({"finetune": [0.77, 0.76], "features": [0.54, 0.55]}, {"finetune": [0.72, 0.72], "features": [0.66, 0.67]},
     True),  # the committed transfer run at 1,000 labels
    ({"finetune": [0.77, 0.76], "features": [0.54, 0.55]}, {"finetune": [0.60, 0.61], "features": [0.70, 0.70]},
     False),  # frozen features clearly better on the single-text task
    ({"finetune": [0.60, 0.70], "features": [0.55, 0.56]}, {"finetune": [0.72, 0.72], "features": [0.66, 0.67]},
     False),  # fine-tuning ahead on pairs, but not beyond the seeds' spread
])
def test_claim_6_reads_the_transfer_cells(tmp_path, monkeypatch, pair, single, held):
    calls = []

    def run_task(spec, plan, args, sources, out, say, missing, encoders=transfer.ENCODERS):
        calls.append((spec, plan.sizes, plan.seeds, Path(out), encoders))
        scores = pair if spec.startswith("next-sentence") else single
        return _transfer_cells(spec, scores), {"metric": "macro_f1", "chance": 0.33, "encoder": "zh-run"}

    monkeypatch.setattr(external, "course_model", lambda name: tmp_path)
    monkeypatch.setattr(transfer, "run_task", run_task)
    plan = budget.plan(60, claims=(6,), seeds=(0, 1), device="cpu", step_seconds=QUIET, transfer_out="runs/tr")
    result = external.claim_6(Context(plan, tmp_path, runs=tmp_path / "runs", log=lambda text: None))
    assert result.held is held and not result.inconclusive
    assert [c[0] for c in calls] == ["reviews-zh", "next-sentence:peoples-daily-zh"]
    assert all(c[1] == (1000,) and c[2] == (0, 1) and c[3] == Path("runs/tr") and c[4] == ("pre-trained",)
               for c in calls)  # the experiment's own cells and folder: a rerun after it trains nothing
    assert "4 of 8 cells were reused" not in result.verdict_text and "8 of 8 cells were reused" in result.verdict_text


def test_distill_vs_scratch_takes_a_finished_teacher_and_its_corpus(tmp_path):
    with pytest.raises(ValueError, match="bertlab course prepare"):
        given_teacher(Plan(teacher_run=str(tmp_path / "none")))
    run = tmp_path / "teacher"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"options": {"corpus": "news-en", "vocab_size": 1024}}))
    (run / "status.json").write_text(json.dumps({"status": "running", "step": 3}))
    with pytest.raises(ValueError, match="no finished"):
        given_teacher(Plan(teacher_run=str(run)))
    (run / "status.json").write_text(json.dumps({"status": "finished", "step": 10}))
    p = given_teacher(Plan(teacher_run=str(run)))
    assert (p.corpus, p.vocab_size, p.teacher_run) == ("news-en", 1024, str(run))
    assert given_teacher(Plan()) == Plan()
