"""``bertlab distill``: the run folder it writes, errors for a wrong teacher or tokenizer, resume, load_run."""

import json
from pathlib import Path

import pytest
import torch

from bertlab.cli import main
from bertlab.train.run import load_run

TEACHER_SHAPE = dict(hidden_size=32, num_hidden_layers=4, num_attention_heads=4, intermediate_size=64)
STUDENT = ["--student-layers", "2", "--student-hidden", "16", "--student-heads", "2"]
FAST = ["--quiet", "--log-every", "1", "--eval-examples", "64", "--precision", "fp32", "--device", "cpu"]


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    """A 5-step teacher on the small news corpus (seconds): shapes and files matter here, not quality."""
    from bertlab.pretrain import PretrainOptions, pretrain

    out = tmp_path_factory.mktemp("teacher") / "T"
    pretrain(PretrainOptions(preset="tiny", model_overrides=TEACHER_SHAPE, corpus="news-en", vocab_size=1024,
                             max_seq_length=32, batch_size=8, steps=5, eval_examples=64, precision="fp32",
                             device="cpu", checkpoint_every=0, out=str(out), progress=False))
    return out


def records(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_cli_writes_the_documented_run_folder(teacher, tmp_path):
    out = tmp_path / "S"
    assert main(["distill", "--teacher", str(teacher), *STUDENT, "--steps", "3", "--out", str(out), *FAST]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["kind"] == "distill" and config["teacher"] == str(teacher)
    assert config["model_class"] == "BertForDistillation"
    assert config["model_kwargs"]["teacher_hidden_size"] == 32
    d = config["distill"]
    assert (d["method"], d["stage"], d["layer_map"], d["temperature"], d["attention_on"]) == \
        ("tinybert", "general", [0, 2, 4], 1.0, "scores")
    assert d["weights"] == {"emb": 1.0, "attn": 1.0, "hidn": 1.0, "pred": 1.0, "pred_nsp": 1.0}  # NSP teacher
    assert config["model"]["vocab_size"] == 1024 and config["model"]["hidden_size"] == 16
    assert config["model"]["intermediate_size"] == 64  # 4H for an overridden width
    assert 0 < config["parameters"]["ratio"] < 1
    # the teacher's corpus, split and sequence length; the student's own seed
    teacher_options = json.loads((teacher / "config.json").read_text())["options"]
    assert config["data_options"]["corpus"] == "news-en" and config["data_options"]["split_seed"] == 0
    assert config["options"]["max_seq_length"] == teacher_options["max_seq_length"] == 32
    assert config["options"]["batch_size"] == 8
    assert config["options"]["learning_rate"] == teacher_options["learning_rate"]
    # the teacher's tokenizer, byte for byte in content
    assert json.loads((out / "tokenizer.json").read_text())["model"]["vocab"] == \
        json.loads((teacher / "tokenizer.json").read_text())["model"]["vocab"]
    lines = records(out)
    train = [r for r in lines if r["split"] == "train"]
    evals = [r for r in lines if r["split"] == "eval"]
    assert [r["step"] for r in train] == [1, 2, 3] and len(evals) == 1
    for key in ("loss_emb", "loss_attn", "loss_hidn", "loss_pred", "loss_pred_nsp", "mlm_acc", "nsp_acc"):
        assert key in train[-1] and key in evals[-1], key
    assert {"teacher_mlm_acc", "teacher_nsp_acc"} <= set(evals[-1])
    # [MASK] accuracy of student and teacher, and the unigram baseline the dashboard draws under it
    assert {"mlm_acc_mask", "teacher_mlm_acc_mask", "unigram_acc_mask"} <= set(evals[-1])
    assert json.loads((out / "status.json").read_text())["status"] == "finished"
    # load_run rebuilds the student (with its projections) from the folder alone
    run = load_run(out)
    assert type(run.model).__name__ == "BertForDistillation" and run.kind == "distill"
    assert run.model.projections.W_e.weight.shape == (32, 16)
    assert run.tokenizer.get_vocab() == load_run(teacher).tokenizer.get_vocab()


def test_options_reach_the_objective_and_are_recorded(teacher, tmp_path):
    out = tmp_path / "S"
    code = main(["distill", "--teacher", str(teacher), *STUDENT, "--layer-map", "1,3", "--attention-on", "probs",
                 "--temperature", "2", "--weights", "attn=0.5,pred_nsp=0", "--steps", "2", "--seed", "3",
                 "--out", str(out), *FAST])
    assert code == 0
    d = json.loads((out / "config.json").read_text())["distill"]
    assert d["layer_map"] == [0, 1, 3] and d["attention_on"] == "probs" and d["temperature"] == 2.0
    assert d["weights"]["attn"] == 0.5 and d["weights"]["pred_nsp"] == 0.0
    assert "nsp" in d["frozen"]  # no loss reaches the NSP head
    options = json.loads((out / "config.json").read_text())["data_options"]
    assert options["seed"] == 3 and options["split_seed"] == 0  # the teacher's held-out documents


def test_distilbert_student_starts_from_the_teachers_layers(teacher, tmp_path):
    from bertlab.distill.run import DistillOptions, distill

    out = tmp_path / "S"
    distill(DistillOptions(teacher=str(teacher), method="distilbert", student_layers=2, steps=1, out=str(out),
                           eval_examples=64, precision="fp32", device="cpu", progress=False, learning_rate=1e-9,
                           warmup=0))
    config = json.loads((out / "config.json").read_text())
    assert config["distill"]["temperature"] == 2.0 and config["distill"]["layer_map"] is None
    s, t = load_run(out).model, load_run(teacher).model
    assert torch.allclose(s.bert.encoder.ffn_blocks[1].output.weight, t.bert.encoder.ffn_blocks[2].output.weight,
                          atol=1e-6)  # every-other layer, barely moved by a tiny learning rate


def test_tokenizer_mismatch_is_a_clear_error(teacher, tmp_path, capsys):
    from bertlab.data import get_tokenizer, save_tokenizer

    other = save_tokenizer(get_tokenizer("news-en", vocab_size=512), tmp_path / "other.json")
    code = main(["distill", "--teacher", str(teacher), "--tokenizer", str(other), "--steps", "1",
                 "--out", str(tmp_path / "S"), *FAST])
    err = capsys.readouterr().err
    assert code == 2 and "differs from the teacher's" in err and "512 vs 1024" in err
    assert not (tmp_path / "S").exists()
    # the teacher's own tokenizer is accepted
    assert main(["distill", "--teacher", str(teacher), "--tokenizer", str(teacher / "tokenizer.json"), *STUDENT,
                 "--steps", "1", "--out", str(tmp_path / "S2"), *FAST]) == 0


def test_student_vocabulary_must_be_the_teachers(teacher):
    from bertlab.distill.run import DistillOptions, distill

    with pytest.raises(ValueError, match="vocab_size 500 differs from the teacher's 1024"):
        distill(DistillOptions(teacher=str(teacher), model_overrides={"vocab_size": 500}, out=None, progress=False))


def test_bad_teacher_paths_are_clear_errors(tmp_path, capsys):
    assert main(["distill", "--teacher", str(tmp_path / "missing"), "--out", str(tmp_path / "S")]) == 2
    assert "no such folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["distill", "--teacher", str(tmp_path / "empty"), "--out", str(tmp_path / "S")]) == 2
    assert "not a bertlab run folder" in capsys.readouterr().err
    assert main(["distill", "--out", str(tmp_path / "S")]) == 2
    assert "--teacher is required" in capsys.readouterr().err
    assert main(["distill", "--teacher", str(tmp_path / "missing"), "--weights", "bogus=1"]) == 2
    assert "unknown TinyBERT loss weight 'bogus'" in capsys.readouterr().err


def test_resume_continues_from_the_checkpoint(teacher, tmp_path, capsys):
    out = tmp_path / "S"
    args = ["distill", "--teacher", str(teacher), *STUDENT, "--out", str(out), *FAST]
    assert main([*args, "--steps", "2"]) == 0
    assert main(["distill", "--out", str(out), "--resume", "--steps", "4", "--method", "distilbert"]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--method distilbert conflicts with the run in" in line and "started with method = 'tinybert'" in line
    assert main(["distill", "--out", str(out), "--resume", "--steps", "4", "--quiet"]) == 0
    steps = [r["step"] for r in records(out) if r["split"] == "train"]
    assert steps == [1, 2, 3, 4]
    assert json.loads((out / "status.json").read_text())["step"] == 4


def test_a_distilled_student_can_teach(teacher, tmp_path):
    """A distill run records its data options, so it can be the teacher of a smaller student."""
    first, second = tmp_path / "S", tmp_path / "S2"
    assert main(["distill", "--teacher", str(teacher), *STUDENT, "--steps", "1", "--out", str(first), *FAST]) == 0
    assert main(["distill", "--teacher", str(first), "--student-layers", "1", "--student-hidden", "8",
                 "--student-heads", "1", "--steps", "1", "--out", str(second), *FAST]) == 0
    config = json.loads((second / "config.json").read_text())
    assert config["data_options"]["corpus"] == "news-en" and config["distill"]["weights"]["pred_nsp"] == 1.0


# --- bertlab experiment distill-vs-scratch ------------------------------------------------------------------

def test_experiment_verdict_compares_the_margin_with_the_seed_spread():
    from bertlab.experiments.distill_vs_scratch import markdown, summarize

    results = {"teacher": {"mlm_acc": 0.20, "downstream_acc": 0.60},
               "distilled": [{"mlm_acc": 0.15, "downstream_acc": 0.56}, {"mlm_acc": 0.16, "downstream_acc": 0.57}],
               "scratch": [{"mlm_acc": 0.12, "downstream_acc": 0.55}, {"mlm_acc": 0.125, "downstream_acc": 0.565}],
               "parameters": {"teacher": 5_529_090, "student": 1_552_898}, "downstream": "nsp",
               "downstream_description": "held-out NSP", "shapes": {"teacher": "L4 H256 A4", "student": "L2 H128 A2"},
               "plan": {"seeds": [0, 1], "student_steps": 600, "teacher_steps": 1200, "corpus": "wiki-en"},
               "seconds": 1200.0, "timings": {"teacher": 600.0, "distilled-seed0": 200.0, "scratch-seed0": 100.0,
                                              "downstream": 300.0}}
    summary = summarize(results)
    c = summary["checks"]
    assert c["beats_scratch_mlm_acc"]["held"] and c["beats_scratch_mlm_acc"]["margin"] == pytest.approx(0.0325)
    assert c["beats_scratch_mlm_acc"]["spread"] == pytest.approx(0.01)
    assert not c["beats_scratch_downstream_acc"]["held"]  # +0.75 points < the 1.5-point spread of scratch
    assert c["keeps_90pct_of_teacher_downstream"]["held"] and c["at_most_a_third_of_parameters"]["held"]
    assert not summary["target_held"]
    table = markdown(results, summary)
    assert "| TinyBERT student (distilled) | L2 H128 A2 | 1.55M (28%) | 15.5 % (15.0, 16.0) |" in table
    assert "NOT held" in table and "time: 20.0 min in all (teacher 10.0, four students 5.0, downstream 5.0)" in table
    assert "keeps 77% of the teacher's held-out MLM accuracy, the student from scratch 61%" in table


def test_experiment_downstream_defaults_to_capitalization_scored_by_macro_f1():
    from bertlab.experiments.distill_vs_scratch import Plan, downstream_kind, downstream_metric

    assert downstream_kind(Plan()) == "capitalization:wiki-en"  # English: ERNIE 2.0's word-aware task
    assert downstream_kind(Plan(corpus="peoples-daily-zh")) == "sentence-distance:peoples-daily-zh"  # no case
    assert downstream_kind(Plan(downstream="nsp")) == "nsp"
    assert downstream_metric("token") == "macro_f1" and downstream_metric("pair") == "accuracy"


def test_experiment_majority_answer_scores_high_accuracy_but_low_macro_f1():
    from bertlab.experiments.distill_vs_scratch import majority_score
    from bertlab.finetune.tasks import Example, TaskData

    words = Example(["a"] * 9, ["lower"] * 8 + ["capitalized"])  # 8 of 9 scored words are lower-case
    task = TaskData("toy", [words], [words], [words], ["capitalized", "lower"], "token", "en")
    assert majority_score(task, "accuracy") == pytest.approx(8 / 9)
    assert majority_score(task, "macro_f1") == pytest.approx((0 + 2 * 8 / (2 * 8 + 1)) / 2)  # F1 0 and 16/17


def test_experiment_cached_measure_of_another_task_is_not_reused(tmp_path):
    from bertlab.experiments.distill_vs_scratch import cached_measure

    saved = tmp_path / "measure.json"
    options = {"task": "sentence-distance:wiki-en", "steps": 300, "learning_rate": 3e-4, "seed": 0}
    saved.write_text(json.dumps({"options": options, "test": {"accuracy": 0.33}}))
    assert cached_measure(saved, options)["test"] == {"accuracy": 0.33}
    assert cached_measure(saved, {**options, "task": "capitalization:wiki-en"}) is None
    assert cached_measure(tmp_path / "missing.json", options) is None


def test_experiment_table_names_the_downstream_metric():
    from bertlab.experiments.distill_vs_scratch import markdown, summarize

    results = {"teacher": {"mlm_acc": 0.14, "downstream_acc": 0.80},
               "distilled": [{"mlm_acc": 0.13, "downstream_acc": 0.78}, {"mlm_acc": 0.13, "downstream_acc": 0.79}],
               "scratch": [{"mlm_acc": 0.08, "downstream_acc": 0.70}, {"mlm_acc": 0.09, "downstream_acc": 0.71}],
               "parameters": {"teacher": 5_529_090, "student": 1_552_898}, "downstream": "capitalization:wiki-en",
               "downstream_metric": "macro_f1", "downstream_description": "capitalization",
               "shapes": {"teacher": "L4 H256 A4", "student": "L2 H128 A2"},
               "plan": {"seeds": [0, 1], "student_steps": 600, "teacher_steps": 1200, "corpus": "wiki-en"},
               "seconds": 60.0, "timings": {"teacher": 30.0, "downstream": 30.0}}
    summary = summarize(results)
    assert summary["target_held"]
    table = markdown(results, summary)
    assert "| downstream macro-F1 (capitalization:wiki-en) |" in table
    assert "keeps 98% of the teacher's downstream macro-F1" in table and "downstream accuracy" not in table
    assert "random weights" not in table  # no reference rows unless they were measured


def test_experiment_table_shows_the_random_weights_reference():
    """What pre-training added downstream: the same fine-tuning from random weights, a row per shape."""
    from bertlab.experiments.distill_vs_scratch import markdown, summarize

    results = {"teacher": {"mlm_acc": 0.31, "downstream_acc": 0.787},
               "distilled": [{"mlm_acc": 0.27, "downstream_acc": 0.764}, {"mlm_acc": 0.27, "downstream_acc": 0.777}],
               "scratch": [{"mlm_acc": 0.115, "downstream_acc": 0.755}, {"mlm_acc": 0.114, "downstream_acc": 0.757}],
               "random_weights": {"teacher": [0.764], "student": [0.765, 0.758]},
               "parameters": {"teacher": 1_156_866, "student": 274_690}, "downstream": "capitalization:wiki-en",
               "downstream_metric": "macro_f1", "downstream_description": "capitalization",
               "shapes": {"teacher": "L4 H128 A2", "student": "L2 H64 A2"},
               "plan": {"seeds": [0, 1], "student_steps": 1000, "teacher_steps": 4500, "corpus": "wiki-en"},
               "seconds": 60.0, "timings": {"teacher": 30.0, "downstream": 30.0}}
    table = markdown(results, summarize(results))
    assert "| *teacher shape, random weights* | L4 H128 A2 | 1.16M | — | 76.4 % |" in table
    assert "| *student shape, random weights* | L2 H64 A2 | 0.27M | — | 76.2 % (76.5, 75.8) |" in table
    assert "without pre-training, for reference" in table
    assert summarize(results)["target_held"]  # the reference rows are context, not part of the verdict


def test_experiment_random_weights_reference_is_skipped_for_the_nsp_measure(tmp_path):
    from bertlab.experiments.distill_vs_scratch import Downstream, Plan

    nsp = Downstream("nsp", Plan(downstream="nsp"), tmp_path, {})
    assert nsp.score_random({"hidden_size": 64}, tmp_path / "random", 0, progress=False) is None
    assert not (tmp_path / "random").exists()


def test_experiment_quick_never_defaults_to_the_full_runs_folder():
    """A smoke test must not land in (or be refused by) the folder of a full run: runs/NAME-quick."""
    import argparse

    from bertlab.experiments.common import add_out_and_quick, out_folder

    parser = argparse.ArgumentParser()
    add_out_and_quick(parser, "distill-vs-scratch", "the runs", "toy sizes")
    assert out_folder(parser.parse_args([]), "distill-vs-scratch") == Path("runs/distill-vs-scratch")
    assert out_folder(parser.parse_args(["--quick"]), "distill-vs-scratch") == Path("runs/distill-vs-scratch-quick")
    assert out_folder(parser.parse_args(["--quick", "--out", "x"]), "distill-vs-scratch") == Path("x")


def test_experiment_bad_seeds_are_refused_by_name(capsys):
    assert main(["experiment", "distill-vs-scratch", "--seeds", "0,x", "--out", "unused"]) != 0
    assert "--seeds takes whole numbers separated by commas (e.g. 0,1), got '0,x'" in capsys.readouterr().err


def test_experiment_quick_runs_end_to_end(tmp_path, capsys):
    """The whole pipeline at toy size (downstream = held-out NSP, to stay fast); finished runs are reused."""
    out = tmp_path / "exp"
    args = ["experiment", "distill-vs-scratch", "--quick", "--downstream", "nsp", "--seeds", "0,1",
            "--student-steps", "10", "--teacher-steps", "20", "--out", str(out), "--quiet"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "| teacher |" in printed and "same student from scratch" in printed
    results = json.loads((out / "results.json").read_text())
    assert results["downstream"] == "nsp" and len(results["distilled"]) == len(results["scratch"]) == 2
    assert (out / "results.md").read_text() == results["markdown"]
    for name in ("teacher", "distilled-seed0", "distilled-seed1", "scratch-seed0", "scratch-seed1"):
        assert json.loads((out / name / "status.json").read_text())["status"] == "finished"
    assert json.loads((out / "distilled-seed1" / "config.json").read_text())["teacher"] == str(out / "teacher")
    teacher_options = json.loads((out / "teacher" / "config.json").read_text())["options"]
    scratch_options = json.loads((out / "scratch-seed0" / "config.json").read_text())["options"]
    assert (teacher_options["warmup_seq_length"], teacher_options["warmup_seq_steps"]) == (8, 0.5)
    assert scratch_options["warmup_seq_length"] == 0  # only the teacher: both students train alike
    before = (out / "teacher" / "model.safetensors").stat().st_mtime_ns
    assert main(args) == 0  # a second call reuses every finished run
    assert (out / "teacher" / "model.safetensors").stat().st_mtime_ns == before
    again = json.loads((out / "results.json").read_text())
    assert again["distilled"] == results["distilled"]
    assert results["reused_students"] == [] and len(again["reused_students"]) == 4


@pytest.mark.slow
def test_experiment_quick_with_fine_tuned_downstream(tmp_path):
    out = tmp_path / "exp"
    assert main(["experiment", "distill-vs-scratch", "--quick", "--out", str(out), "--quiet"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["downstream"] == "capitalization:news-en" and results["downstream_metric"] == "macro_f1"
    assert all(0 <= r["downstream_acc"] <= 1 for r in results["distilled"] + results["scratch"])
    assert (out / "scratch-seed0" / "downstream" / "results.json").exists()
    assert len(results["random_weights"]["teacher"]) == 1 and len(results["random_weights"]["student"]) == 2
    assert (out / "random-weights" / "student-seed1" / "measure.json").exists()
    assert "*student shape, random weights*" in results["markdown"]


# --- the task-specific stage ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def finetuned_teacher(teacher, tmp_path_factory):
    """The pre-trained teacher fine-tuned on sentence distance (held-out news documents), a few steps."""
    from bertlab.finetune.loop import FinetuneOptions, finetune

    out = tmp_path_factory.mktemp("finetuned") / "FT"
    finetune(FinetuneOptions(task="sentence-distance:news-en", from_run=str(teacher), steps=3, batch_size=8,
                             max_seq_length=48, max_train_examples=24, max_eval_examples=16, precision="fp32",
                             device="cpu", out=str(out), progress=False))
    return out


def test_task_stage_two_phases_augmentation_and_run_folder(teacher, finetuned_teacher, tmp_path):
    general = tmp_path / "general"
    assert main(["distill", "--teacher", str(teacher), *STUDENT, "--steps", "2", "--out", str(general), *FAST]) == 0
    out = tmp_path / "S"
    assert main(["distill", "--stage", "task", "--teacher", str(finetuned_teacher), "--student", str(general),
                 "--steps", "4", "--intermediate-fraction", "0.5", "--augment", "1", "--out", str(out), *FAST]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["kind"] == "distill" and config["model_class"] == "BertForClassificationDistillation"
    d = config["distill"]
    assert (d["stage"], d["intermediate_steps"], d["augment"], d["student_run"]) == ("task", 2, 1, str(general))
    assert config["task"]["sizes"]["train"] == 48  # 24 examples + 24 augmented copies
    assert config["task"]["augmented"]["added"] == 24
    lines = records(out)
    train = [r for r in lines if r["split"] == "train"]
    assert [r["phase"] for r in train] == [0, 0, 1, 1]
    assert {"loss_emb", "loss_attn", "loss_hidn"} <= set(train[0]) and "loss_pred" not in train[0]
    assert "loss_pred" in train[-1] and "loss_hidn" not in train[-1]
    evals = [r for r in lines if r["split"] == "eval"]
    assert {"accuracy", "macro_f1", "teacher_accuracy"} <= set(evals[-1])
    test = [r for r in lines if r["split"] == "test"]
    assert len(test) == 1 and {"accuracy", "teacher_accuracy"} <= set(test[0])
    run = load_run(out)
    assert type(run.model).__name__ == "BertForClassificationDistillation" and run.model.num_labels == 3
    # the general student's encoder was the starting point: its embeddings moved only a little in 4 steps
    start = load_run(general).model.bert.embeddings.word_embeddings.weight
    assert (run.model.bert.embeddings.word_embeddings.weight - start).abs().max() < 0.05


def test_stage_and_teacher_kind_must_agree(teacher, finetuned_teacher, tmp_path, capsys):
    assert main(["distill", "--stage", "task", "--teacher", str(teacher), "--out", str(tmp_path / "a"), *FAST]) == 2
    assert "distils from a fine-tuned teacher" in capsys.readouterr().err
    assert main(["distill", "--teacher", str(finetuned_teacher), "--out", str(tmp_path / "b"), *FAST]) == 2
    assert "use --stage task" in capsys.readouterr().err
    assert main(["distill", "--stage", "task", "--teacher", str(finetuned_teacher), "--task", "reviews-zh",
                 "--out", str(tmp_path / "c"), *FAST]) == 2
    assert "differs from the task the teacher was fine-tuned on" in capsys.readouterr().err


def test_augmentation_replaces_one_piece_words_with_mlm_predictions(teacher):
    from bertlab.distill.task_stage import augment_task
    from bertlab.finetune.tasks import Example, TaskData

    run = load_run(teacher)
    examples = [Example("the city council met on monday .", "a", "the mayor spoke about the new road .")] * 3
    task = TaskData("toy", examples, examples[:1], examples[:1], ["a", "b"], "pair", "en")
    augmented = augment_task(task, run.model, run.tokenizer, copies=4, seed=0, probability=1.0)
    assert len(augmented.train) == 3 + 12 and augmented.dev == task.dev
    new = augmented.train[3:]
    assert all(e.label == "a" and e.text_pair is not None for e in new)
    assert all(len(e.text.split()) == len(examples[0].text.split()) for e in new)  # word for word
    assert any(e.text != examples[0].text for e in new)  # with probability 1 every one-piece word is replaced
    vocab = run.tokenizer.get_vocab()
    original = examples[0].text.split()
    for e in new:  # a word is kept, or replaced by a whole-word piece; punctuation is always kept
        for w, o in zip(e.text.split(), original):
            assert w == o or (w in vocab and not w.startswith("##") and w.isalnum()), (w, o)
        assert e.text.split()[-1] == "."


@pytest.mark.parametrize("experiment", ["distill-vs-scratch", "application-modes", "unilm-masks", "mass-spans",
                                        "knowledge-masking", "compression"])
def test_every_experiment_takes_threads_and_refuses_zero(tmp_path, capsys, experiment):
    """Every experiment has --threads and refuses 0 by name before anything trains or writes."""
    import re

    assert main(["experiment", experiment, "--threads", "0", "--out", str(tmp_path / "out")]) != 0
    assert re.search(r"--threads must be (at least 1|positive), got 0", capsys.readouterr().err)
    assert not (tmp_path / "out").exists()
