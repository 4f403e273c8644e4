"""bertlab reproduce: verdict logic on fake numbers, the budget split, the report, and a tiny real run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bertlab.reproduce import budget
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

def test_reference_runs_are_shared_by_claims_1_to_4():
    runs = budget.pretraining_runs((1, 2, 3, 4, 5), (0, 1))
    assert [v for v, s in runs if s == 0] == ["reference", "factorized", "shared", "static", "no-nsp"]
    assert budget.pretraining_runs((5, 6), (0, 1)) == []
    assert budget.pretraining_runs((2,), (0,)) == [("reference", 0), ("factorized", 0)]


def test_default_plan_fits_the_budget():
    p = budget.plan(60, claims=budget.CLAIMS, seeds=(0, 1), device="cpu", seconds_per_step=0.2)
    assert sum(p.claim_minutes.values()) == pytest.approx(60)
    runs = len(p.runs)
    planned = runs * p.scale.steps * p.seconds_per_step * budget.OVERHEAD / 60
    assert planned <= p.claim_minutes["pretraining"] + 1e-6
    assert p.scale.steps == budget.steps_for(60 * p.claim_minutes["pretraining"], runs, 0.2, 50, 5000)
    assert 0 < p.distill_factor <= 1 and p.application["steps"] >= 20
    assert p.estimate == pytest.approx(sum(p.estimated_minutes.values())) and p.estimate <= 60 * 1.01
    for part, planned_minutes in p.claim_minutes.items():
        assert p.estimated_minutes[part] <= planned_minutes * 1.01, part
    slower = budget.plan(60, seeds=(0, 1), device="cpu", seconds_per_step=0.4)
    assert slower.scale.steps < p.scale.steps  # a slower machine trains fewer steps, not longer
    assert budget.steps_for(1, 10, 1.0, 50, 5000) == 50 and budget.steps_for(1e9, 1, 0.01, 50, 5000) == 5000
    with pytest.raises(ValueError, match="claim"):
        budget.plan(60, claims=(7,), seconds_per_step=0.1)
    with pytest.raises(ValueError, match="budget"):
        budget.plan(0, seconds_per_step=0.1)


# --- claims on fake runs -----------------------------------------------------------------------------------------

def _fake_run(tmp_path: Path, name: str, mlm_acc: float, nsp_acc: float, unigram: float = 0.05):
    """``mlm_acc`` and ``unigram`` at [MASK] positions; the unchanged 10 % copied, as an early model does."""
    from bertlab.reproduce.runs import RunOutcome

    run_dir = tmp_path / name
    run_dir.mkdir()
    split = {"mlm_acc_mask": mlm_acc, "mlm_acc_random": mlm_acc / 2, "mlm_acc_unchanged": 0.9,
             "mlm_acc": 0.8 * mlm_acc + 0.1 * mlm_acc / 2 + 0.09}
    lines = [{"split": "train", "step": 1, "mlm_loss": 7.0, "nsp_loss": 0.7},
             {"split": "eval", "step": 10, **split, "nsp_acc": nsp_acc, "mlm_loss": 5.0}]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return RunOutcome("reference", 0, str(run_dir), {**split, "nsp_acc": nsp_acc, "mlm_loss": 5.0},
                      1.0, 10, {}, 0.8 * unigram + 0.01, 1.0, unigram_mlm_acc_mask=unigram)


@pytest.mark.parametrize("mlm, nsp, held", [((0.30, 0.31), (0.80, 0.82), True),  # far above both baselines
                                             ((0.08, 0.09), (0.80, 0.82), False),  # [MASK] only 3.5 points up
                                             ((0.30, 0.31), (0.45, 0.75), False)])  # NSP mean 60 %, spread 30
def test_claim_1_verdict_on_fake_runs(tmp_path, mlm, nsp, held):
    from bertlab.reproduce.claims import Context, claim_1

    plan = budget.plan(1, quick=True, claims=(1,), seeds=(0, 1), seconds_per_step=0.1)
    ctx = Context(plan, tmp_path, log=lambda text: None)
    ctx._runs["reference"] = [_fake_run(tmp_path, f"seed{i}", mlm[i], nsp[i]) for i in range(2)]
    result = claim_1(ctx)
    assert result.held is held
    assert result.measured["held_out_mlm_acc_mask"]["mean_b"] == pytest.approx(0.05)  # the unigram at [MASK]


def test_claim_1_does_not_count_copying(tmp_path):
    """At the unigram plateau the overall MLM accuracy is ~9 points up from copying the unchanged tokens alone;
    the claim is judged at [MASK] positions, so it does not hold."""
    from bertlab.reproduce.claims import Context, claim_1

    plan = budget.plan(1, quick=True, claims=(1,), seeds=(0, 1), seconds_per_step=0.1)
    ctx = Context(plan, tmp_path, log=lambda text: None)
    ctx._runs["reference"] = [_fake_run(tmp_path, f"seed{i}", 0.05, 0.8) for i in range(2)]
    assert ctx._runs["reference"][0].last_eval["mlm_acc"] - ctx._runs["reference"][0].unigram_mlm_acc > 0.05
    result = claim_1(ctx)
    assert result.held is False and "at [MASK] positions" in result.verdict_text
    assert result.measured["held_out_mlm_acc_unchanged"] == [0.9, 0.9]
    assert set(result.figures) == {"claim1_mlm_acc", "claim1_nsp_acc", "claim1_loss"}


def test_exact_parts_decide_and_untrained_models_are_inconclusive():
    from bertlab.reproduce.claims import _verdict

    assert _verdict(False, True, True) == (False, False)  # the parameter count contradicts the claim
    assert _verdict(False, True, False) == (False, False)  # ... whether or not the models learned
    assert _verdict(True, True, False) == (None, True)  # nothing learned: losses cannot rank variants
    assert _verdict(True, False, True) == (False, False)
    assert _verdict(True, True, True) == (True, False)


def test_a_variant_must_keep_its_gain_over_the_unigram_baseline(tmp_path):
    from bertlab.reproduce.claims import _gain_kept

    ref = [_fake_run(tmp_path, f"ref{i}", acc, 0.8, unigram=0.03) for i, acc in enumerate((0.079, 0.081))]
    at_plateau = [_fake_run(tmp_path, f"flat{i}", acc, 0.8, unigram=0.03) for i, acc in enumerate((0.030, 0.031))]
    close = [_fake_run(tmp_path, f"close{i}", acc, 0.8, unigram=0.03) for i, acc in enumerate((0.070, 0.072))]
    check, kept = _gain_kept(at_plateau, ref, 0.75)
    assert not check.held and kept == pytest.approx(0.01, abs=0.01)  # a small loss gap can hide this
    check, kept = _gain_kept(close, ref, 0.75)
    assert check.held and kept == pytest.approx(0.82, abs=0.01)


def test_a_failing_claim_is_reported_as_not_run(tmp_path, monkeypatch):
    import bertlab.reproduce as rp

    def broken(ctx):
        raise ImportError("bertlab.experiments.distill_vs_scratch is not installed")

    monkeypatch.setattr(rp, "claim_function", lambda claim: broken)
    plan = budget.plan(1, quick=True, claims=(5,), seeds=(0,))
    results = rp.reproduce(plan, tmp_path / "report", runs=tmp_path / "runs", command="test", log=lambda t: None)
    saved = json.loads((tmp_path / "report" / "results.json").read_text())
    assert saved["claims"][0]["held"] is None and "not run: ImportError" in saved["claims"][0]["verdict_text"]
    assert "5" in saved["errors"] and results["errors"]
    assert "| 5 |" in (tmp_path / "report" / "report.md").read_text()


def test_readme_section_is_replaced_between_markers(tmp_path):
    from bertlab.reproduce.report import README_BEGIN, README_END, update_readme

    readme = tmp_path / "README.md"
    readme.write_text(f"# bertlab\n\nintro\n\n{README_BEGIN}\nold table\n{README_END}\n\nmore\n")
    update_readme(readme, f"{README_BEGIN}\nnew table\n{README_END}")
    text = readme.read_text()
    assert "new table" in text and "old table" not in text and text.endswith("more\n") and "intro" in text


def test_cli_rejects_bad_claims():
    from bertlab.cli import main

    assert main(["reproduce", "--claims", "1,x"]) == 2
    assert main(["reproduce", "--claims", "9", "--quick"]) == 2


# --- a real run ---------------------------------------------------------------------------------------------------

def test_claim_2_runs_and_reports(tmp_path):
    """Claim 2 for real, 4 steps of a toy model at one seed: exact parameter counts and a written report."""
    from bertlab.reproduce import reproduce

    plan = budget.plan(1, quick=True, claims=(2,), seeds=(0,), seconds_per_step=0.1)
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
    assert set(saved["pretraining_runs"]) == {"reference", "factorized"}


@pytest.mark.slow
def test_quick_reproduce_end_to_end(tmp_path):
    from bertlab.cli import main

    status = main(["reproduce", "--quick", "--out", str(tmp_path / "quick"), "--runs", str(tmp_path / "runs")])
    saved = json.loads((tmp_path / "quick" / "results.json").read_text())
    assert [c["id"] for c in saved["claims"]] == [1, 2, 3, 4, 5, 6]
    assert status == 0 and not saved["errors"], saved["errors"]
    assert all(c["verdict"] != "not run" for c in saved["claims"])  # held, did not hold or inconclusive
    assert all(v == "written" for v in saved["figures"].values()), saved["figures"]


def test_claim_5_judges_the_teacher_at_mask_positions(tmp_path, monkeypatch):
    """A teacher 9 points above the unigram baseline overall, but only from copying unchanged tokens, has
    learned nothing at [MASK]: claim 5 is inconclusive, and says so with the [MASK] numbers."""
    from bertlab.experiments import distill_vs_scratch as dvs
    from bertlab.reproduce.claims import Context
    from bertlab.reproduce.external import claim_5

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
    plan = budget.plan(1, quick=True, claims=(5,), seeds=(0, 1), seconds_per_step=0.1)
    result = claim_5(Context(plan, tmp_path, runs=tmp_path, log=lambda text: None))
    assert result.inconclusive and result.measured["mlm_accuracy"] == "mlm_acc_mask"
    assert "held-out MLM accuracy at [MASK] 5.0 %" in result.verdict_text
