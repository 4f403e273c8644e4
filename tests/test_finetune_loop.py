"""End to end: `bertlab finetune` run folders (metrics, best checkpoint, load_run) and the experiment command."""

import json

import pytest
import torch

from bertlab.cli import main
from bertlab.experiments import application_modes, transfer
from bertlab.finetune.loop import FinetuneOptions, finetune
from bertlab.train.metrics import read_metrics

SMALL = {"hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64, "max_position_embeddings": 64}


@pytest.fixture(scope="module")
def pretrained_run(tmp_path_factory):
    """A (barely) pre-trained small encoder on news-en: its run folder, as `bertlab pretrain` writes it."""
    from bertlab.pretrain import PretrainOptions, pretrain

    out = tmp_path_factory.mktemp("pretrained") / "run"
    pretrain(PretrainOptions(preset="tiny", model_overrides=SMALL, corpus="news-en", max_seq_length=32, steps=2,
                             batch_size=8, eval_examples=64, out=str(out), progress=False))
    return out


@pytest.fixture(scope="module")
def sentiment_csv(tmp_path_factory, news_corpus):
    """A toy single-text task from real sentences: is the sentence longer than 20 words?"""
    path = tmp_path_factory.mktemp("data") / "train.csv"
    rows = ["text,label"]
    for doc in news_corpus.documents[:40]:
        for sentence in doc[:4]:
            text = news_corpus.sentence_text(sentence).replace('"', "'")
            rows.append(f'"{text}",{"long" if len(sentence) > 20 else "short"}')
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_run_folder_keeps_the_best_weights_and_loads_back(tmp_path, pretrained_run, sentiment_csv):
    from bertlab import load_run

    out = tmp_path / "ft"
    result = finetune(FinetuneOptions(task=str(sentiment_csv), from_run=str(pretrained_run), mode="features",
                                      pooling="scalar-mix", steps=8, batch_size=8, eval_every=4, log_every=4,
                                      max_seq_length=32, device="cpu", out=str(out), progress=False))
    config = json.loads((out / "config.json").read_text())
    assert config["kind"] == "finetune" and config["finetune"]["mode"] == "features"
    assert config["model_class"] == "BertForClassification" and config["task"]["labels"] == ["long", "short"]
    metrics = read_metrics(out / "metrics.jsonl")
    assert [r["step"] for r in metrics.split("train")] == [4, 8]
    assert {"loss", "accuracy"} <= set(metrics.split("train")[0])
    evals = metrics.split("eval")
    assert [r["step"] for r in evals] == [4, 8] and {"accuracy", "macro_f1", "loss"} <= set(evals[0])
    best = max(evals, key=lambda r: r["macro_f1"])  # the first of equals wins
    assert result.best_step == best["step"] and result.dev["macro_f1"] == pytest.approx(best["macro_f1"], abs=1e-6)
    assert metrics.split("test")[0]["accuracy"] == pytest.approx(result.test["accuracy"], abs=1e-6)
    assert (out / "best.safetensors").exists() and json.loads((out / "results.json").read_text())["best_step"]
    assert result.mix_weights and sum(result.mix_weights) == pytest.approx(1.0, abs=1e-5)

    run = load_run(out)
    assert run.kind == "finetune" and run.model.pooling == "scalar-mix" and run.model.labels == ["long", "short"]
    batch = {"input_ids": torch.tensor([[2, 50, 60, 3]]), "attention_mask": torch.ones(1, 4, dtype=torch.long)}
    result.model.eval()
    assert torch.allclose(run.model(**batch).logits, result.model(**batch).logits)
    # the encoder is the pre-trained one, unchanged by feature extraction
    pretrained = load_run(pretrained_run).model.bert.state_dict()
    for name, value in run.model.bert.state_dict().items():
        assert torch.equal(value, pretrained[name]), name


def test_cli_finetunes_a_pair_task_from_a_random_encoder(tmp_path, capsys):
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps({"q": f"is {i} even", "a": f"{i} is a number", "y": i % 2 == 0}) + "\n"
                            for i in range(60)), encoding="utf-8")
    out = tmp_path / "run"
    code = main(["finetune", "--preset", "tiny", "--task", str(data), "--text-column", "q", "--text-pair-column", "a",
                 "--label-column", "y", "--steps", "4", "--batch-size", "8", "--max-seq-length", "16", "--device",
                 "cpu", "--out", str(out), "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert "test accuracy" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert config["task"]["kind"] == "pair" and config["task"]["labels"] == ["false", "true"]
    assert config["finetune"]["pooling"] == "cls" and (out / "tokenizer.json").exists()


def test_cli_reports_bad_data_without_a_traceback(tmp_path, capsys):
    data = tmp_path / "train.csv"
    data.write_text("sentence,label\nhi,1\n", encoding="utf-8")
    code = main(["finetune", "--task", str(data), "--steps", "2", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and f"{data}: no column 'text'" in err and "'sentence', 'label'" in err
    conll = tmp_path / "train.conll"
    conll.write_text("".join(f"w{i} O\nParis B-LOC\n\n" for i in range(12)), encoding="utf-8")
    code = main(["finetune", "--task", str(conll), "--pooling", "cls", "--steps", "2", "--out", str(tmp_path / "r2")])
    assert code == 2 and "pooling 'cls' does not apply to a token task" in capsys.readouterr().err


def test_application_modes_experiment_prints_the_grid(tmp_path, pretrained_run, sentiment_csv, capsys):
    out = tmp_path / "exp"
    args = ["experiment", "application-modes", "--from", str(pretrained_run), "--out", str(out),
            "--single-task", str(sentiment_csv), "--steps", "2", "--max-seq-length", "32",
            "--max-train-examples", "48", "--max-eval-examples", "24"]
    assert main(args) == 0
    table = capsys.readouterr().out
    assert "| pre-trained | finetune |" in table and "| random | features |" in table
    assert "sentence-distance:news-en" in table and "The article's claims at this scale" in table
    results = json.loads((out / "results.json").read_text())
    assert len(results["cells"]) == 2 * 2 * 2 * 3  # tasks × encoders × modes × poolings
    assert main(args) == 0  # the second call reuses every cell
    assert capsys.readouterr().out.count("|") == table.count("|")


def test_claims_get_noise_aware_verdicts():
    from bertlab.experiments.application_modes import Cell, check_claims

    def cells(task, accuracy):  # accuracy[(encoder, mode, pooling)]
        return [Cell(task, e, m, p, accuracy=a, test_examples=1000) for (e, m, p), a in accuracy.items()]
    grid = lambda ft, fx, rand: {(e, m, p): (ft if m == "finetune" else fx) - (rand if e == "random" else 0)  # noqa
                                 for e in ("pre-trained", "random") for m in ("finetune", "features")
                                 for p in ("cls", "mean", "scalar-mix")}
    tasks = {"s": {"task": {"kind": "single"}, "majority": 0.5}, "p": {"task": {"kind": "pair"}, "majority": 0.34}}
    lines = check_claims(cells("s", grid(0.80, 0.79, 0.10)) + cells("p", grid(0.34, 0.34, 0.0)), tasks)
    text = "\n".join(lines)
    assert "No cell learned p" in text and "untestable" in text  # every pair cell sits at the majority rate
    assert "feature extraction on s: **not shown**" in text and "are close" in text and "**held** (+1.0" in text
    assert "Pre-training helps on s: **held**" in text


def test_transfer_experiment_draws_curves_from_cached_cells(tmp_path, pretrained_run, capsys):
    out = tmp_path / "transfer"
    args = ["experiment", "transfer", "--quick", "--en-from", str(pretrained_run), "--out", str(out),
            "--task", "next-sentence:news-en", "--task", "capitalization:news-en"]
    assert main(args) == 0
    table = capsys.readouterr().out
    assert "### next-sentence:news-en" in table and "| random | features (scalar-mix) |" in table
    assert "| pre-trained | finetune (top) |" in table and "worst pre-trained seed minus best random seed" in table
    results = json.loads((out / "results.json").read_text())
    assert len(results["cells"]) == 2 * 2 * 2 * 2  # tasks × sizes × encoders × modes (one seed)
    assert (out / "transfer.png").stat().st_size > 1000
    tests = {(c["task"], c["examples"]): c for c in results["cells"]}
    assert len(tests) == 4 and all(0.0 <= c["score"] <= 1.0 for c in results["cells"])
    assert main(args) == 0  # the second call reuses every cell
    assert all(c["reused"] for c in json.loads((out / "results.json").read_text())["cells"])
    assert main(args + ["--cached-only", "--sizes", "16,30"]) == 0  # trains nothing, names what is missing
    assert "Not run (`--cached-only`; 8 cells, listed in results.json): next-sentence:news-en 4" in \
        capsys.readouterr().out


def test_application_modes_pretrains_on_the_default_split_whatever_the_seed(tmp_path, monkeypatch):
    """Corpus tasks are built from the documents the default split (seed 0) holds out, so the experiment's own
    encoder must hold out those documents for every --seed (else finetune refuses it as having seen them)."""
    seen = {}

    def stop(options):
        seen["options"] = options
        raise RuntimeError("stop before training")

    monkeypatch.setattr(application_modes, "pretrain", stop)
    with pytest.raises(RuntimeError, match="stop before training"):
        application_modes.ensure_pretrained(tmp_path / "enc", application_modes.Budget(pretrain_steps=2),
                                            "news-en", seed=1, precision="fp32")
    assert seen["options"].seed == 1 and seen["options"].split_seed == 0


def test_published_transfer_results_are_joined_when_no_run_is_given(tmp_path):
    """Lesson 6's FAST mode reads the published runs together; a finished run of the student's own wins."""
    results, where = transfer.load_results(None)
    assert {"entities-zh", "reviews-zh", "word-order:wiki-en", "word-order:peoples-daily-zh"} <= set(results["tasks"])
    assert {c["task"] for c in results["cells"]} == set(results["tasks"]) and " + " in where
    own = tmp_path / "results.json"
    own.write_text(json.dumps({"plan": {}, "tasks": {"t": {}}, "cells": []}))
    assert transfer.load_results(tmp_path) == ({"plan": {}, "tasks": {"t": {}}, "cells": []}, str(own))
    cell = {"task": "t", "encoder": "random", "mode": "finetune", "pooling": "cls", "examples": 50, "seed": 0}
    part = {"plan": {}, "tasks": {"t": {"encoder": "a"}}, "cells": [cell]}
    more = {"plan": {}, "tasks": {"t": {"encoder": "a"}}, "cells": [{**cell, "examples": 200}]}
    assert len(transfer.join_results([part, more])["cells"]) == 2  # one task, more sizes: joined
    with pytest.raises(ValueError, match="cell t random finetune cls 50 0 is in two"):
        transfer.join_results([part, part])
    with pytest.raises(ValueError, match="task t is described differently"):
        transfer.join_results([part, {**more, "tasks": {"t": {"encoder": "b"}}}])
