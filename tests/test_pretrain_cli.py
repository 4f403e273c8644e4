"""`bertlab pretrain` option precedence: defaults < --recipe < --config < explicit flags."""

import json

from bertlab.cli import main


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
    assert options["vocab_size"] == 2048 and options["warmup_seq_length"] == 16  # from the recipe
    assert options["learning_rate"] == 0.004 and options["max_seq_length"] == 32  # the file beats the recipe
    assert options["batch_size"] == 8 and options["steps"] == 4  # explicit flags beat both
    assert model["norm_placement"] == "pre" and model["hidden_size"] == 64  # recipe and file model fields merge


def test_bad_arguments_fail_clearly(tmp_path, capsys):
    assert main(["pretrain", "--steps", "0", "--out", str(tmp_path / "r")]) == 2
    assert "--steps must be positive" in capsys.readouterr().err
    assert main(["pretrain", "--corpus", "no-such-corpus", "--steps", "2", "--out", str(tmp_path / "r")]) == 2
    assert "unknown corpus 'no-such-corpus'" in capsys.readouterr().err
    assert main(["pretrain", "--corpus", "news-en", "--batch-size", "100000", "--steps", "2",
                 "--out", str(tmp_path / "r2"), "--quiet"]) == 2
    assert "larger than the" in capsys.readouterr().err


def _time_to_quality_benchmark():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_time_to_quality.py"
    spec = importlib.util.spec_from_file_location("bench_time_to_quality", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_time_to_quality_ladder_climbs_to_the_recipe_and_set_changes_one_field():
    import pytest

    from bertlab.recipes import recipe_options

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


def test_time_to_quality_reports_a_run_with_a_fixed_step_count():
    """--steps N trains without a throughput probe, so there is no budget rate to print (this used to raise)."""
    bench = _time_to_quality_benchmark()
    row = {"label": "fast-cpu", "mlm_acc": 0.25, "unigram_acc": 0.04, "nsp_acc": None, "steps": 20,
           "tokens_per_step": 3957.0, "tokens_per_s_budget": None, "train_seconds": 4.0}
    text = bench.describe(row)
    assert "MLM accuracy 25.0%" in text and "NSP accuracy n/a" in text and "budget" not in text
    assert "| 0 | fast-cpu | — | 20 | 25.0% | 4.0% | n/a |" in bench.table([row])
    budgeted = bench.describe({**row, "tokens_per_s_budget": 61058.0, "nsp_acc": 0.547})
    assert "budget tokens/s 61,058" in budgeted and "NSP accuracy 54.7%" in budgeted
