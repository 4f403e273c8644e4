"""The dashboard's non-UI parts: attention maps, fill-mask, run-folder discovery and safety, figures, formulas, CLI."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bertlab.analysis.attention import (AttentionMaps, attention_maps, encode, group_heads, layer_map_for,  # noqa: E402
                                        match_layers)
from bertlab.analysis.fill_mask import fill_mask  # noqa: E402
from bertlab.analysis.params import count_parameters  # noqa: E402
from bertlab.config import PRESETS, get_preset  # noqa: E402
from bertlab.model import BertForPreTraining, BertForSequenceClassification  # noqa: E402
from dashboard import charts, param_table  # noqa: E402
from dashboard import run_folders as rf  # noqa: E402
from tests.dashboard_fixtures import make_tokenizer, model_config, shared_runs  # noqa: E402


@pytest.fixture(scope="module")
def runs() -> Path:
    return shared_runs()


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return BertForPreTraining(model_config(num_hidden_layers=3, num_attention_heads=4)).eval()


@pytest.fixture(scope="module")
def tokenizer():
    return make_tokenizer()


# --- attention maps -------------------------------------------------------------------------------------------

def test_encode_builds_bert_input_and_truncates_longest_first(tokenizer):
    enc = encode(tokenizer, "the cat sat", "it was happy .")
    assert enc.tokens == ["[CLS]", "the", "cat", "sat", "[SEP]", "it", "was", "happy", ".", "[SEP]"]
    assert enc.token_type_ids == [0] * 5 + [1] * 5 and enc.sentence_b_start == 5 and not enc.truncated
    single = encode(tokenizer, "the cat")
    assert single.tokens == ["[CLS]", "the", "cat", "[SEP]"] and single.sentence_b_start is None
    cut = encode(tokenizer, "the cat sat on the mat", "it was very very happy today", max_length=9)
    assert len(cut.input_ids) == 9 and cut.truncated and cut.tokens[0] == "[CLS]" and cut.tokens[-1] == "[SEP]"


def test_attention_maps_match_the_model_and_are_distributions(model, tokenizer):
    maps = attention_maps(model, tokenizer, "the cat sat on the mat", "it was happy")
    assert maps.num_layers == 3 and maps.num_heads == 4 and maps.sentence_b_start == 8
    T = len(maps.tokens)
    ids = torch.tensor([encode(tokenizer, "the cat sat on the mat", "it was happy").input_ids])
    types = torch.tensor([encode(tokenizer, "the cat sat on the mat", "it was happy").token_type_ids])
    with torch.no_grad():
        out = model(ids, token_type_ids=types, output_attentions=True)
    for layer in range(3):
        assert maps.probs[layer].shape == (4, T, T) and maps.scores[layer].shape == (4, T, T)
        torch.testing.assert_close(maps.probs[layer], out.attentions[layer][0])
        torch.testing.assert_close(maps.probs[layer].sum(-1), torch.ones(4, T))
        torch.testing.assert_close(torch.softmax(maps.scores[layer], -1), maps.probs[layer])
    assert [a.shape for a in maps.bertviz_attention()] == [(1, 4, T, T)] * 3
    assert model.training is False


def test_attention_maps_respect_the_position_table(tokenizer):
    short = BertForPreTraining(model_config(max_position_embeddings=8)).eval()
    maps = attention_maps(short, tokenizer, "the cat sat on the mat with his dog today")
    assert len(maps.tokens) == 8 and maps.truncated


def _maps(layers, heads, T=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    probs = [torch.softmax(torch.randn(heads, T, T, generator=g), -1) for _ in range(layers)]
    return AttentionMaps([f"t{i}" for i in range(T)], probs, [p.log() for p in probs])


def test_match_layers_follows_the_layer_map_and_groups_teacher_heads():
    teacher, student = _maps(4, 4, seed=1), _maps(2, 2, seed=2)
    matched = match_layers(teacher, student, [0, 2, 4])
    assert [(m.student_layer, m.teacher_layer) for m in matched] == [(1, 2), (2, 4)]
    torch.testing.assert_close(matched[0].teacher[1], teacher.probs[1][2:4].mean(0))  # head 2 ← teacher 3, 4
    torch.testing.assert_close(matched[1].student, student.probs[1])
    torch.testing.assert_close(matched[1].difference, student.probs[1] - teacher.probs[3].reshape(2, 2, 5, 5).mean(1))
    scores = match_layers(teacher, student, [0, 2, 4], use="scores")
    torch.testing.assert_close(scores[0].student, student.scores[0])
    odd = match_layers(_maps(2, 3), _maps(1, 2), [0, 2])  # 3 vs 2 heads: mean over all heads
    assert odd[0].student.shape[0] == 1 and "do not group" in odd[0].note
    with pytest.raises(ValueError, match="different tokens"):
        match_layers(_maps(2, 2, T=6), _maps(1, 2), [0, 2])
    with pytest.raises(ValueError, match="entries"):
        match_layers(teacher, student, [0, 4])


def test_group_heads_and_layer_maps():
    maps = torch.arange(4 * 2 * 2, dtype=torch.float).reshape(4, 2, 2)
    torch.testing.assert_close(group_heads(maps, 2), torch.stack([maps[:2].mean(0), maps[2:].mean(0)]))
    assert group_heads(maps, 4) is maps
    assert layer_map_for({"distill": {"layer_map": [0, 1, 4]}}, 2, 4) == ([0, 1, 4], "the run's distill.layer_map")
    assert layer_map_for({"distill": {"layer_map": [2, 4]}}, 2, 4)[0] == [0, 2, 4]
    assert layer_map_for({}, 4, 12)[0] == [0, 3, 6, 9, 12]
    assert layer_map_for({"distill": {"method": "distilbert"}}, 3, 4)[0] == [0, 1, 3, 4]
    assert layer_map_for({"distill": {"method": "distilbert", "layer_map": None}}, 2, 4)[0] == [0, 2, 4]


# --- fill-mask ---------------------------------------------------------------------------------------------------

def test_fill_mask_gives_sorted_top_k_probabilities_of_the_mlm_head(model, tokenizer):
    preds = fill_mask(model, tokenizer, "the [MASK] sat on the [mask] .", top_k=4)
    assert [p.index for p in preds] == [0, 1] and [p.position for p in preds] == [2, 6]
    ids = torch.tensor([[2, 5, 4, 11, 13, 5, 4, tokenizer.token_to_id("."), 3]])
    assert tokenizer.token_to_id("the") == 5
    with torch.no_grad():
        logits = model(ids, mlm_positions="all").prediction_logits[0]  # (T, V)
    for p in preds:
        probs = [prob for _, prob in p.candidates]
        assert len(probs) == 4 and probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1
        expected = torch.softmax(logits[p.position], -1).topk(4)
        assert [t for t, _ in p.candidates] == [tokenizer.id_to_token(int(i)) for i in expected.indices]
        assert probs == pytest.approx(expected.values.tolist(), abs=1e-5)
    assert fill_mask(model, tokenizer, "no mask here") == []


def test_fill_mask_needs_an_mlm_head(tokenizer):
    classifier = BertForSequenceClassification(model_config())
    with pytest.raises(ValueError, match="masked-language-model head"):
        fill_mask(classifier, tokenizer, "the [MASK]")


# --- run folders ------------------------------------------------------------------------------------------------

def test_discover_lists_runs_one_level_deep_with_their_problems(runs):
    found = {r.name: r for r in rf.discover_runs(runs)}
    assert set(found) == {"teacher", "student", "broken", "experiment/albert", "experiment/corrupt"}
    assert found["teacher"].usable and found["teacher"].state == "finished" and found["teacher"].kind == "pretrain"
    checkpoints = found["teacher"].checkpoints
    assert checkpoints[0] == rf.FINAL and all(c.startswith("step-") for c in checkpoints[1:])
    assert found["student"].kind == "distill" and found["student"].shape().startswith("L2 H32 A2")
    assert not found["broken"].usable and any("no weights" in e for e in found["broken"].errors)
    assert found["broken"].state == "interrupted"
    assert found["experiment/corrupt"].config is None and "not valid JSON" in found["experiment/corrupt"].errors[0]
    assert "share=all" in found["experiment/albert"].shape()
    records, errors = rf.load_metrics(found["broken"].path)
    assert [r["step"] for r in records] == [2, 4] and len(errors) == 1 and ":2:" in errors[0]


def test_a_mass_run_is_listed_for_its_curves_but_not_offered_to_the_model_pages(tmp_path):
    run = tmp_path / "mass-spans" / "k1"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"kind": "mass", "span": "1", "model": {"encoder": {}}}))
    (run / "model.safetensors").write_bytes(b"")
    (run / "metrics.jsonl").write_text(json.dumps({"split": "train", "step": 1, "loss": 9.0}) + "\n")
    found = {r.name: r for r in rf.discover_runs(tmp_path)}
    mass = found["mass-spans/k1"]
    assert mass.kind == "mass" and not mass.usable
    assert mass.errors == [rf.CURVES_ONLY_KINDS["mass"]]  # one plain sentence, not a config or tokenizer error
    assert [r["step"] for r in rf.load_metrics(mass.path)[0]] == [1]


def test_paths_cannot_leave_the_runs_folder(runs, tmp_path):
    for name in ("../runs/teacher", "/etc", "teacher/../../x", "a/b/c", ""):
        with pytest.raises(rf.UnsafePath):
            rf.resolve_run(runs, name)
    with pytest.raises(FileNotFoundError):
        rf.resolve_run(runs, "nope")
    with pytest.raises(rf.UnsafePath):
        rf.weights_path(runs, "teacher", "../../student/model")
    # a symlinked run and symlinked weights pointing outside the root are ignored
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "config.json").write_text(json.dumps({"kind": "pretrain", "model": model_config().to_dict()}))
    (outside / "model.safetensors").write_bytes(b"")
    os.symlink(outside, root / "linked")
    inner = root / "inner"
    inner.mkdir()
    (inner / "config.json").write_text(json.dumps({"kind": "pretrain", "model": model_config().to_dict()}))
    os.symlink(outside / "model.safetensors", inner / "model.safetensors")
    (outside / "metrics.jsonl").write_text('{"split": "train", "step": 1, "loss": 1.0}\n')
    os.symlink(outside / "metrics.jsonl", inner / "metrics.jsonl")
    found = rf.discover_runs(root)
    assert [r.name for r in found] == ["inner"] and found[0].checkpoints == []
    records, errors = rf.load_metrics(found[0].path)
    assert records == [] and "links outside its run folder" in errors[0]
    (inner / "config.json").rename(outside / "inner-config.json")
    os.symlink(outside / "inner-config.json", inner / "config.json")
    assert "link out of the runs folder" in rf.describe_run(root, "inner").errors[0]


def test_teacher_is_found_only_inside_the_root(runs, tmp_path, monkeypatch):
    listed = rf.discover_runs(runs)
    student = next(r for r in listed if r.name == "student")
    teacher, why = rf.teacher_of(runs, student, listed)
    assert teacher is not None and teacher.name == "teacher", why
    monkeypatch.chdir(runs.parent)
    for written in ("runs/teacher", "teacher", str(runs / "teacher")):
        relative = rf.RunInfo("student", student.path, {**student.config, "teacher": written})
        assert rf.teacher_of(runs, relative, listed)[0].name == "teacher", written
    for written in ("../../etc", str(tmp_path), "/"):
        outside = rf.RunInfo("student", student.path, {**student.config, "teacher": written})
        found, why = rf.teacher_of(runs, outside, listed)
        assert found is None and "not a run inside" in why


def test_a_course_model_outside_the_runs_folder_serves_as_teacher(runs, tmp_path, monkeypatch):
    """Lesson 4's students name a course model as teacher: found in the course-model folder, loaded from there;
    any other folder outside the runs folder still is not read."""
    course = tmp_path / "course-models"
    course.mkdir()
    shutil.copytree(runs / "teacher", course / "en-wiki")
    listed = rf.discover_runs(runs)
    student = next(r for r in listed if r.name == "student")
    taught = rf.RunInfo("student", student.path, {**student.config, "teacher": str(course / "en-wiki")})
    teacher, why = rf.teacher_of(runs, taught, listed, also=[course])
    assert teacher is not None and teacher.name == "en-wiki" and teacher.root == course.resolve(), why
    assert teacher.usable and teacher.path == (course / "en-wiki").resolve()
    assert rf.load_run_safely(teacher.root, teacher.name, teacher.checkpoints[0]).model is not None
    monkeypatch.setenv("BERTLAB_COURSE_DIR", str(course))  # the default: the course models' folder
    assert rf.teacher_of(runs, taught, listed)[0].root == course.resolve()
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(runs / "teacher", elsewhere / "t")
    stray = rf.RunInfo("student", student.path, {**student.config, "teacher": str(elsewhere / "t")})
    found, why = rf.teacher_of(runs, stray, listed)
    assert found is None and "course models" in why


def test_a_silent_running_run_is_stale():
    run = rf.RunInfo("x", Path("."), status={"status": "running", "updated": time.time() - 3600})
    assert run.state == "stale"
    assert rf.RunInfo("x", Path("."), status={"status": "running", "updated": time.time()}).state == "running"
    assert rf.RunInfo("x", Path(".")).state == "unknown"


def test_metric_fields_and_defaults(runs):
    records, _ = rf.load_metrics(runs / "student")
    train = rf.numeric_fields(records, "train")
    assert {"loss", "loss_attn", "loss_hidn", "mlm_acc", "lr"} <= set(train) and "step" not in train
    assert train.index("loss") < train.index("mlm_acc") < train.index("lr")  # losses, accuracies, the rest
    assert rf.default_metrics(train, "train") == ["loss", "mlm_loss"]
    teacher_records, _ = rf.load_metrics(runs / "teacher")
    assert rf.default_metrics(rf.numeric_fields(teacher_records, "eval"), "eval") == ["mlm_acc_mask", "nsp_acc"]
    assert rf.default_metrics(["mlm_acc", "nsp_acc"], "eval") == ["mlm_acc", "nsp_acc"]  # a run from before the split
    assert "teacher_mlm_acc" in rf.numeric_fields(records, "eval")
    assert rf.final_eval(records)["mlm_acc"] == rf.split_records(records, "eval")[-1]["mlm_acc"]


def test_load_run_safely_loads_every_listed_checkpoint(runs):
    teacher = next(r for r in rf.discover_runs(runs) if r.name == "teacher")
    for checkpoint in teacher.checkpoints:
        loaded = rf.load_run_safely(runs, "teacher", checkpoint)
        assert loaded.model_config.num_hidden_layers == 4 and not loaded.model.training


def test_make_one_command_is_the_pretrain_command(tmp_path):
    assert rf.make_one_command(tmp_path / "r") == \
        f"bertlab pretrain --preset tiny --corpus wiki-en --steps 2000 --out {tmp_path / 'r'}/tiny"


# --- figures ------------------------------------------------------------------------------------------------

def test_curves_figure_overlays_runs_and_dashed_teachers(runs):
    records = {name: rf.load_metrics(runs / name)[0] for name in ("teacher", "student")}
    fig = charts.curves_figure(records, ["mlm_acc", "nsp_acc"], "eval",
                               teacher_finals={"student": ("teacher", {"mlm_acc": 0.5})})
    names = [t.name for t in fig.data]
    assert names.count("teacher") == 2 and names.count("student") == 2
    dashed = [t for t in fig.data if t.line.dash == "dash"]
    assert {t.name for t in dashed} == {"student · teacher"}  # teacher_* fields on eval lines win
    # one legend entry per name; the teacher run's eval lines carry unigram_acc, drawn dotted under mlm_acc
    assert sum(t.showlegend for t in fig.data) == 4 and "teacher · unigram baseline" in names
    # a run without teacher fields gets its teacher's final eval value as a dashed horizontal line
    solo = charts.curves_figure({"s": records["teacher"]}, ["mlm_acc"], "eval",
                                teacher_finals={"s": ("t0", {"mlm_acc": 0.5})})
    line = next(t for t in solo.data if t.line.dash == "dash")
    assert line.name == "s · teacher t0 (final)" and list(line.y) == [0.5, 0.5]


def test_mask_accuracy_curve_has_its_unigram_baseline(runs):
    records = {"teacher": rf.load_metrics(runs / "teacher")[0]}
    evals = rf.split_records(records["teacher"], "eval")
    fig = charts.curves_figure(records, ["mlm_acc_mask", "nsp_acc"], "eval")
    dotted = [t for t in fig.data if t.line.dash == "dot"]
    assert [t.name for t in dotted] == ["teacher · unigram baseline"]  # on the [MASK] row only, not on NSP
    assert list(dotted[0].y) == [evals[-1]["unigram_acc_mask"]] * 2
    assert list(dotted[0].x) == [evals[0]["step"], evals[-1]["step"]] and dotted[0].yaxis == "y"


def test_curves_figure_log_scale_applies_to_every_metric_row(runs):
    records = {"teacher": rf.load_metrics(runs / "teacher")[0]}
    linear = charts.curves_figure(records, ["loss", "mlm_loss"], "train")
    logged = charts.curves_figure(records, ["loss", "mlm_loss"], "train", log_y=True)
    assert linear.layout.yaxis.type in (None, "linear") and linear.layout.yaxis2.type in (None, "linear")
    assert logged.layout.yaxis.type == "log" and logged.layout.yaxis2.type == "log"
    assert logged.data and [list(t.y) for t in logged.data] == [list(t.y) for t in linear.data]  # same data, other axis


def test_heatmaps_keep_repeated_tokens_apart():
    tokens = ["[CLS]", "the", "cat", "the", "[SEP]"]
    fig = charts.attention_heatmap(torch.rand(5, 5), tokens)
    assert list(fig.layout.xaxis.ticktext) == tokens and list(fig.data[0].x) == [0, 1, 2, 3, 4]
    assert fig.layout.yaxis.autorange == "reversed"
    grid = charts.heads_grid(torch.rand(4, 5, 5), tokens)
    assert len(grid.data) == 4
    pair = charts.teacher_student_figure(torch.rand(5, 5), torch.rand(5, 5), tokens, "t", "s")
    assert len(pair.data) == 3 and pair.layout.coloraxis2.cmid == 0


def test_bertviz_heights_grow_with_tokens_and_layers():
    small, big = charts.bertviz_heights(10, 2, 2), charts.bertviz_heights(30, 12, 12)
    assert all(300 < h for h in small) and big[0] > small[0]


# --- parameters ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("config", [*PRESETS.values(),
                                    get_preset("tiny", embedding_size=64, share_layers="ffn", norm_placement="pre"),
                                    get_preset("small", share_layers="attention", type_vocab_size=3)],
                         ids=[*PRESETS, "tiny-ffn-pre", "small-attention"])
def test_formulas_equal_the_counted_parameters(config):
    counted = count_parameters(config).by_component
    written = {component: value for component, _, value in param_table.formulas(config)}
    assert written == {c: v for c, v in counted.items() if v}


def test_preset_rows_cover_the_papers_presets():
    rows = {r["name"]: r for r in param_table.preset_rows()}
    for name in ("bert-base", "albert-base", "albert-large", "albert-xlarge", "albert-xxlarge", "distilbert",
                 "tinybert-4", "tinybert-6"):
        assert rows[name]["total"] == count_parameters(PRESETS[name]).total
    assert rows["albert-base"]["applied"] > rows["albert-base"]["total"]  # 12 uses of one shared layer
    assert "fewer" in param_table.embedding_cost_text(PRESETS["albert-base"])


# --- command line ---------------------------------------------------------------------------------------------

def test_cli_refuses_a_missing_runs_folder(tmp_path, capsys):
    from bertlab.cli import main

    assert main(["dashboard", "--runs", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "bertlab pretrain --preset tiny" in err


def test_cli_starts_streamlit_on_localhost(tmp_path, monkeypatch):
    from bertlab.cli import dashboard, main

    calls = []
    monkeypatch.setattr(dashboard.subprocess, "call", lambda cmd: calls.append(cmd) or 0)
    assert main(["dashboard", "--runs", str(tmp_path), "--port", "8765"]) == 0
    cmd = calls[0]
    assert cmd[1:4] == ["-m", "streamlit", "run"] and cmd[4].endswith("dashboard/app.py")
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1" and cmd[cmd.index("--server.port") + 1] == "8765"
    assert cmd[cmd.index("--") + 1:] == ["--runs", str(tmp_path.resolve())]
