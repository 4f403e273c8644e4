"""`bertlab pretrain` option precedence: defaults < --recipe < --config < explicit flags."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from bertlab.cli import main
from bertlab.pretrain import PretrainOptions, batch_function, build_data, summary_line
from bertlab.recipes import recipe_options
from bertlab.train.loop import TrainResult


def test_recipe_config_and_flags_reach_the_run(tmp_path, capsys):
    config = tmp_path / "opts.json"
    config.write_text(json.dumps({"learning_rate": 0.004, "max_seq_length": 32, "hidden_size": 64,
                                  "num_attention_heads": 2}))
    out = tmp_path / "run"
    code = main(["pretrain", "--recipe", "fast-cpu", "--config", str(config), "--corpus", "news-en",
                 "--steps", "4", "--batch-size", "8", "--log-every", "2", "--out", str(out), "--quiet"])
    assert code == 0, capsys.readouterr().err
    saved = json.loads((out / "config.json").read_text())
    options, model = saved["options"], saved["model"]
    assert options["warmup_seq_length"] == 16 and options["warmup_seq_objective"] == "mlm"  # from the recipe
    assert options["learning_rate"] == 0.004 and options["max_seq_length"] == 32  # the file beats the recipe
    assert options["batch_size"] == 8 and options["steps"] == 4  # explicit flags beat both
    assert model["norm_placement"] == "pre" and model["hidden_size"] == 64  # recipe and file model fields merge
    # the held-out row splits MLM accuracy by masking case, beside the unigram baseline at [MASK]
    assert "held-out [MASK] acc" in capsys.readouterr().out
    assert 0 < saved["baselines"]["unigram_mlm_acc_mask"] < 1
    last = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()][-1]
    assert last["split"] == "eval" and {"mlm_acc", "mlm_acc_mask", "mlm_acc_random", "mlm_acc_unchanged",
                                        "unigram_acc", "unigram_acc_mask"} <= set(last)
    assert last["unigram_acc_mask"] == round(saved["baselines"]["unigram_mlm_acc_mask"], 6)  # jsonl rounds to 6


def test_summary_line_puts_mask_accuracy_first():
    e = {"mlm_acc": 0.28, "mlm_acc_mask": 0.22, "mlm_acc_random": 0.163, "mlm_acc_unchanged": 0.875,
         "unigram_acc_mask": 0.056, "nsp_acc": 0.756}
    line = summary_line(TrainResult(3708, "finished", last_eval=e, seconds=412))
    assert line == ("finished at step 3708 in 412 s, held-out [MASK] acc 22.0% (unigram 5.6%; overall 28.0%, "
                    "copying unchanged 87.5%), NSP/SOP acc 75.6%")
    old_run = summary_line(TrainResult(10, "finished", last_eval={"mlm_acc": 0.12}, seconds=1))
    assert "held-out MLM acc 12.0%" in old_run  # a run logged before the split: the number it has


def test_bad_arguments_fail_clearly(tmp_path, capsys):
    assert main(["pretrain", "--steps", "0", "--out", str(tmp_path / "r")]) == 2
    assert "--steps must be positive" in capsys.readouterr().err
    assert main(["pretrain", "--corpus", "no-such-corpus", "--steps", "2", "--out", str(tmp_path / "r")]) == 2
    assert "unknown corpus 'no-such-corpus'" in capsys.readouterr().err
    assert main(["pretrain", "--corpus", "news-en", "--batch-size", "100000", "--steps", "2",
                 "--out", str(tmp_path / "r2"), "--quiet"]) == 2
    assert "larger than the" in capsys.readouterr().err


def _time_to_quality_benchmark():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_time_to_quality.py"
    spec = importlib.util.spec_from_file_location("bench_time_to_quality", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_time_to_quality_ladder_climbs_to_the_recipe_and_set_changes_one_field():
    bench = _time_to_quality_benchmark()
    names = [name for name, _, _ in bench.LADDER]
    assert bench.ladder_options(0) == {"model_overrides": {}}  # BERT's settings: the defaults
    top = bench.base_options(bench.ladder_options(len(names) - 1))
    assert top == bench.base_options(recipe_options("fast-cpu"))  # the last rung is the recipe, whole
    assert bench.base_options(bench.ladder_options(len(names) - 2)) != top
    assert bench.parse_sets(["vocab_size=8192", "warmup_seq_steps=0.5", "corpus=news-en"]) == \
        {"vocab_size": 8192, "warmup_seq_steps": 0.5, "corpus": "news-en"}  # JSON where it parses
    for bad in ("vocab_size", "no_such_field=1"):
        with pytest.raises(SystemExit, match="FIELD=VALUE"):
            bench.parse_sets([bad])
    assert bench.parse_sets(["warmup_seq_steps=1", "progress=false"]) == {"warmup_seq_steps": 1, "progress": False}
    for bad in ("vocab_size=abc", "vocab_size=true", "progress=1"):  # refused here, not deep inside training
        with pytest.raises(SystemExit, match="takes a value of type (int|bool)"):
            bench.parse_sets([bad])
    with pytest.raises(SystemExit, match="embedding_size must be an integer"):  # a field whose default is None
        bench.main(["--steps", "2", "--set", "embedding_size=abc"])


def test_time_to_quality_reports_a_run_with_a_fixed_step_count():
    """--steps N trains without a throughput probe, so there is no budget rate to print (this used to raise)."""
    bench = _time_to_quality_benchmark()
    row = {"label": "fast-cpu", "mlm_acc": 0.25, "unigram_acc": 0.04, "nsp_acc": None, "steps": 20,
           "tokens_per_step": 3957.0, "tokens_per_s_budget": None, "train_seconds": 4.0}
    text = bench.describe(row)  # a result file from before the [MASK] split
    assert "MLM accuracy 25.0%" in text and "NSP accuracy n/a" in text and "budget" not in text
    assert "| 0 | fast-cpu | — | 20 | — | n/a | n/a | 25.0% | n/a |" in bench.table([row])
    split = {**row, "mlm_acc_mask": 0.22, "mlm_acc_random": 0.163, "mlm_acc_unchanged": 0.875,
             "unigram_acc_mask": 0.056, "train_tokens": 14_623_293}
    text = bench.describe(split)  # [MASK] accuracy first, overall beside it
    assert text.startswith("held-out [MASK] accuracy 22.0% (unigram baseline 5.6%; overall MLM 25.0%")
    assert "14,623,293 training tokens, 20 steps" in text
    assert "| 0 | fast-cpu | — | 20 | 14.62 M | 22.0% | 5.6% | 25.0% | n/a |" in bench.table([split])
    budgeted = bench.describe({**row, "tokens_per_s_budget": 61058.0, "nsp_acc": 0.547, "minutes": 5})
    assert "budget tokens/s 61,058" in budgeted and "NSP accuracy 54.7%" in budgeted
    assert "trained in 4 s wall (budget 300 s)" in budgeted  # the run's own time beside the budget


def test_time_to_quality_times_each_phase_of_the_run_as_the_probe_does():
    """The run's own step times, measured as the probe measures them, are printed beside the probe's: a probe that
    mispredicts the run shows up in the output instead of as a run that ends early or late."""
    bench = _time_to_quality_benchmark()
    # 10 short steps at 0.1 s, then long steps at 0.2 s, logged every 2 steps; an evaluation (2 s) after step 16
    records, elapsed = [], 0.0
    for step in range(2, 31, 2):
        elapsed += sum(0.1 if s < 10 else 0.2 for s in range(step - 2, step)) + (2.0 if step == 18 else 0.0)
        records.append((step, elapsed))
    speeds = bench.phase_step_seconds(records, short_steps=10)
    assert speeds == pytest.approx({"short": 0.1, "long": 0.2})  # the evaluation's window: an outlier
    assert bench.phase_step_seconds(records, short_steps=0) == pytest.approx({"long": 0.2})
    row = {"label": "fast-cpu", "mlm_acc": 0.25, "unigram_acc": 0.04, "nsp_acc": 0.7, "steps": 30,
           "tokens_per_step": 4000.0, "tokens_per_s_budget": 5000.0, "minutes": 1, "train_seconds": 12.5,
           "step_seconds_probe": {"short": 0.12, "long": 0.25}, "step_seconds_run": speeds, "loop_seconds": 9.0}
    assert "probe → run: short 120 → 100 ms/step, long 250 → 200 ms/step; the training loop took 9 s, the rest" \
           in bench.describe(row)
    assert "probe" not in bench.describe({**row, "step_seconds_probe": None})  # --steps, --tokens: no probe


def test_time_to_quality_tokens_budget(tmp_path, capsys):
    """--tokens N: the most steps whose batches (both warm-up phases) hold at most N real tokens."""
    bench = _time_to_quality_benchmark()
    out = tmp_path / "result.json"
    assert bench.main(["--tokens", "9000", "--set", "corpus=news-en", "--set", "max_seq_length=32",
                       "--set", "eval_examples=64", "--json", str(out)]) == 0
    (r,) = json.loads(out.read_text())
    assert r["tokens_budget"] == 9000 and r["train_tokens"] <= 9000 and r["steps"] >= 2
    assert f"{r['train_tokens']:,} training tokens, {r['steps']} steps" in capsys.readouterr().out
    values = {**bench.recipe_options("fast-cpu"), "corpus": "news-en", "max_seq_length": 32}
    options = bench.base_options(values, steps=r["steps"])
    data = build_data(options)
    assert options.warmup_seq_step_count >= 1  # both phases are counted
    served = sum(int(batch_function(options, data)(s)["attention_mask"].sum()) for s in range(r["steps"]))
    assert served == r["train_tokens"]  # the count is what the batches hold
    assert bench.steps_for_tokens(options, 9000, data) == (r["steps"], r["train_tokens"])
    longer = bench.base_options(values, steps=r["steps"] + 1)
    assert bench.run_tokens(longer, build_data(longer)) > 9000  # one more step would go over the budget
    with pytest.raises(SystemExit):
        bench.main(["--tokens", "8e6", "--steps", "10"])


def test_time_to_quality_seeds_report_the_worst(tmp_path, capsys):
    """--seeds 0,1: one run per seed (seed and held-out split change), then the worst of each metric."""
    bench = _time_to_quality_benchmark()
    out = tmp_path / "result.json"
    assert bench.main(["--steps", "4", "--seeds", "0,1", "--set", "corpus=news-en", "--set", "max_seq_length=32",
                       "--set", "eval_examples=64", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [r["values"]["seed"] for r in rows] == [0, 1] and rows[0]["label"].endswith("seed=0")
    assert rows[0]["unigram_acc_mask"] != rows[1]["unigram_acc_mask"]  # another held-out split per seed
    printed = capsys.readouterr().out
    worst = min(r["nsp_acc"] for r in rows)
    assert f"worst of 2 seeds: held-out [MASK] accuracy {min(r['mlm_acc_mask'] for r in rows):.1%}" in printed
    assert f"NSP accuracy {worst:.1%}" in printed.split("worst of 2 seeds")[1]
    for bad in ("0,x", "1,1"):
        with pytest.raises(SystemExit):
            bench.main(["--steps", "4", "--seeds", bad])


def test_sequence_length_warmup_batches_and_their_objective():
    common = dict(corpus="news-en", vocab_size=512, max_seq_length=64, batch_size=8, steps=4, out=None,
                  warmup_seq_length=16, warmup_seq_steps=2, objective="mlm+nsp")
    for objective, has_pairs in ((None, True), ("mlm", False)):
        options = PretrainOptions(**common, warmup_seq_objective=objective)
        batch_fn = batch_function(options, build_data(options))
        short, full = batch_fn(1), batch_fn(2)
        assert short["input_ids"].shape == (32, 16)  # the same 512 tokens per step on 16-token inputs
        assert full["input_ids"].shape == (8, 64)
        assert ("next_sentence_label" in short) == has_pairs  # "mlm": no sentence pairs in the short phase
        assert "next_sentence_label" in full  # the run's own objective afterwards
        assert int(short["token_type_ids"].max()) == int(has_pairs)  # one segment when there is no pair
    with pytest.raises(ValueError, match="warmup_seq_objective must be one of"):
        PretrainOptions(**common, warmup_seq_objective="nsp")
    with pytest.raises(ValueError, match="use --warmup-seq-objective mlm\\+nsp"):  # seq2seq needs pairs throughout
        PretrainOptions(**common, warmup_seq_objective="mlm", attention_mask_kind="seq2seq")


def test_masking_rates_of_each_phase_and_the_held_out_masks_stay_at_15_percent():
    common = dict(corpus="news-en", vocab_size=512, max_seq_length=64, batch_size=8, steps=40, out=None,
                  warmup_seq_length=16, warmup_seq_steps=20, warmup_seq_objective="mlm")

    def labelled_share(batches, specials: int) -> float:  # chosen positions / real tokens that can be chosen
        chosen = sum(int((b["labels"] != -100).sum()) for b in batches)
        real = sum(int(b["attention_mask"].sum()) - specials * b["input_ids"].shape[0] for b in batches)
        return chosen / real

    options = PretrainOptions(**common, mlm_probability=0.3, warmup_mlm_probability=0.5)
    data = build_data(options)
    batch_fn = batch_function(options, data)
    assert abs(labelled_share([batch_fn(s) for s in range(20)], 2) - 0.5) < 0.03  # [CLS] A [SEP]: 50 %
    assert abs(labelled_share([batch_fn(s) for s in range(20, 40)], 3) - 0.3) < 0.03  # [CLS] A [SEP] B [SEP]: 30 %
    # evaluation keeps BERT's 15 %, whatever the run trains with: the same held-out masks as a 15 % run
    default = build_data(PretrainOptions(**common))
    assert all(torch.equal(a["labels"], b["labels"]) for a, b in zip(data.eval_batches, default.eval_batches))
    assert default.warmup_train.collator.mlm_probability == 0.15  # None: the run's rate
    assert build_data(PretrainOptions(**common, mlm_probability=0.2)).warmup_train.collator.mlm_probability == 0.2
    for bad, flag in ((dict(mlm_probability=0.0), "--mlm-probability"),
                      (dict(warmup_mlm_probability=1.5), "--warmup-mlm-probability")):
        with pytest.raises(ValueError, match=f"\\({flag}\\) must be between 0 and 1"):  # names the flag to fix
            PretrainOptions(**common, **bad)
