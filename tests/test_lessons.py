"""The helpers the lesson notebooks import from ``bertlab.lessons`` (fast unit tests; the notebooks
themselves run in tests/test_notebooks.py)."""

from __future__ import annotations

import numpy as np
import pytest


def test_fast_switch_and_pick(monkeypatch):
    from bertlab.lessons import fast_mode, pick, run_name

    monkeypatch.setenv("BERTLAB_FAST", "1")
    assert fast_mode() and pick(700, 12) == 12 and run_name("lesson1-en") == "lesson1-en-fast"
    monkeypatch.setenv("BERTLAB_FAST", "0")
    assert not fast_mode() and pick(700, 12) == 700 and run_name("x") == "x"


def test_fresh_run_empties_only_run_folders(tmp_path, monkeypatch):
    from bertlab.lessons import fresh_run

    monkeypatch.setenv("BERTLAB_RUNS", str(tmp_path))
    monkeypatch.delenv("BERTLAB_FAST", raising=False)
    run = tmp_path / "lesson3-variant0"
    run.mkdir()
    (run / "config.json").write_text("{}")
    assert fresh_run("lesson3-variant0") == str(run) and not run.exists()
    other = tmp_path / "notes"
    other.mkdir()
    (other / "mine.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a bertlab run folder"):
        fresh_run("notes")
    assert (other / "mine.txt").exists()


def test_live_curves_collects_series_and_redraws_in_place():
    from bertlab.lessons import LiveCurves

    curves = LiveCurves(["mlm_loss", "mlm_acc"], min_interval=0.0)
    a, b = curves.series("a"), curves.series("b")
    for step in (5, 10):
        a({"split": "train", "step": step, "mlm_loss": 9.0 - step / 10, "mlm_acc": 0.01 * step})
        b({"split": "train", "step": step, "mlm_loss": 8.0, "mlm_acc": 0.02})
    a({"split": "eval", "step": 10, "mlm_loss": 8.5, "mlm_acc": 0.05})
    empty = LiveCurves(["mlm_acc", "nsp_acc"])
    empty.reference("nsp_acc", 0.5, "chance")  # before any data: the line must still be drawn
    assert len(empty.fig.layout.shapes) == 1 and empty.fig.layout.shapes[0].yref == "y2"
    curves.reference("mlm_acc", 0.049, "baseline")
    names = [t.name for t in curves.fig.data]
    assert names.count("a (train)") == 2 and "a (held-out)" in names and "b (train)" in names
    first = curves.fig.data[0]
    assert list(first.x) == [5, 10] and first.y[0] == pytest.approx(8.5)
    assert curves.last("a") == {"split": "eval", "step": 10, "mlm_loss": 8.5, "mlm_acc": 0.05}
    with pytest.raises(ValueError, match="not one of the panels"):
        curves.reference("nsp_acc", 0.5, "chance")


def test_mask_with_split_follows_the_asked_split(news_tokenizer):
    from bertlab.lessons.inspect import mask_with_split, masked_html

    text = " ".join(["the prime minister said on tuesday that the government would act"] * 20)
    example = mask_with_split(text, news_tokenizer, mlm_probability=0.5, mask_fraction=0.0, random_fraction=1.0,
                              seed=1)
    actions = [a for a in example["action"] if a is not None]
    assert actions and set(actions) == {"random"}
    assert example["masked_tokens"][0] == "[CLS]" and example["action"][0] is None
    everything_masked = mask_with_split(text, news_tokenizer, mlm_probability=0.5, mask_fraction=1.0,
                                        random_fraction=0.0, seed=1)
    chosen = [i for i, a in enumerate(everything_masked["action"]) if a]
    assert all(everything_masked["masked_tokens"][i] == "[MASK]" for i in chosen)
    assert "target:" in masked_html(everything_masked)
    with pytest.raises(ValueError, match="within"):
        mask_with_split(text, news_tokenizer, mask_fraction=0.8, random_fraction=0.3)


def test_overlap_separates_nsp_but_not_sop(news_corpus, news_tokenizer):
    from bertlab.data import PretrainingDataset
    from bertlab.lessons.inspect import pair_overlaps, threshold_accuracy

    nsp = PretrainingDataset(news_corpus, news_tokenizer, max_seq_length=64, objective="mlm+nsp")
    sop = PretrainingDataset(news_corpus, news_tokenizer, max_seq_length=64, objective="mlm+sop")
    nsp_acc, _ = threshold_accuracy(*pair_overlaps(nsp, 1500))
    overlaps, labels = pair_overlaps(sop, 1500)
    sop_acc, _ = threshold_accuracy(overlaps, labels)
    assert nsp_acc > 0.6  # topic alone solves a good part of NSP
    assert abs(sop_acc - 0.5) < 0.06  # and none of SOP: the overlap is the same in either order
    assert np.allclose(np.sort(overlaps[labels == 0]).mean(), np.sort(overlaps[labels == 1]).mean(), atol=0.02)


def test_roc_auc_ranks_and_averages_ties():
    from bertlab.lessons.inspect import roc_auc

    labels = np.array([0, 0, 1, 1])
    assert roc_auc(np.array([0.0, 1.0, 2.0, 3.0]), labels) == 1.0  # every positive above every negative
    assert roc_auc(np.array([3.0, 2.0, 1.0, 0.0]), labels) == 0.0
    assert roc_auc(np.zeros(4), labels) == 0.5  # a constant score ranks nothing, whatever the label order
    assert roc_auc(np.array([0.0, 1.0, 1.0, 2.0]), np.array([0, 1, 0, 1])) == 0.875  # the tie counts half
    with pytest.raises(ValueError, match="both labels"):
        roc_auc(np.array([0.0, 1.0]), np.array([1, 1]))


def test_nsp_scores_follow_the_head_and_leave_the_mode(news_corpus, news_tokenizer):
    import torch

    from bertlab.config import get_preset
    from bertlab.data import PretrainingDataset
    from bertlab.lessons.inspect import nsp_scores, roc_auc
    from bertlab.model import BertForPreTraining

    data = PretrainingDataset(news_corpus, news_tokenizer, max_seq_length=32, objective="mlm+nsp")
    batches = [data.batch(step, 16) for step in range(2)]
    torch.manual_seed(0)
    model = BertForPreTraining(get_preset("tiny", hidden_size=32, num_attention_heads=2, intermediate_size=64,
                                          vocab_size=news_tokenizer.get_vocab_size()))
    with torch.no_grad():  # make the head read one direction of the pooled [CLS] only, then flip it
        model.nsp.classifier.weight.zero_()
        model.nsp.classifier.weight[1, 0] = 1.0
    model.train()
    scores, labels = nsp_scores(model, batches)
    assert scores.shape == labels.shape == (32,) and model.training
    model.eval()
    with torch.no_grad():
        b = batches[0]
        pooled = model.bert(b["input_ids"], b["attention_mask"], b["token_type_ids"]).pooler_output  # (16, H)
        bias = model.nsp.classifier.bias
        expected = (pooled[:, 0] + bias[1] - bias[0]).numpy()  # NotNext logit minus IsNext logit
    assert np.allclose(scores[:16], expected, atol=1e-5)
    assert labels.tolist() == [int(x) for b in batches for x in b["next_sentence_label"]]
    with torch.no_grad():
        model.nsp.classifier.weight.neg_()
    flipped, _ = nsp_scores(model, batches)
    assert np.allclose(flipped, -scores, atol=1e-5)
    assert abs(roc_auc(flipped, labels) + roc_auc(scores, labels) - 1.0) < 1e-9


def test_layer_mapping_and_parameter_figures():
    from bertlab.config import get_preset
    from bertlab.lessons.widgets import layer_mapping_figure, parameter_figure

    fig = layer_mapping_figure(4, 12, [0, 3, 6, 9, 12])
    labels = [a.text for a in fig.layout.annotations]
    assert "g(1) = 3" in labels and "g(4) = 12" in labels
    bars = parameter_figure({"bert": get_preset("bert-base", vocab_size=30000), "albert": get_preset("albert-base")})
    totals = [float(t.rstrip("M")) for t in bars.data[-1].text]
    assert totals[0] > 100 and totals[1] < 15  # ~109M vs ~12M with the pooler


def test_widgets_build_and_redraw(news_tokenizer):
    pytest.importorskip("ipywidgets")
    from bertlab.lessons.widgets import albert_panel, masking_panel

    panel = masking_panel({"en": news_tokenizer}, text="the prime minister said on tuesday that he would act")
    view = panel.children[-1]
    assert "target:" in view.value or "0 of" in view.value
    albert = albert_panel(vocab_size=30000, hidden_size=768, embedding_size=128, num_hidden_layers=12)
    formula = albert.widget.children[1]
    assert "3,938,304" in formula.value and "23,040,000" in formula.value
    assert albert.figure.fig is not None and len(albert.figure.fig.data) >= 2
    share = albert.widget.children[0].children[0].children[2]
    before, figure_before = formula.value, albert.figure.fig
    share.value = "none"  # a control change redraws the formula and the figure
    assert formula.value != before and albert.figure.fig is not figure_before


def test_threads_follow_the_free_cores(monkeypatch):
    import os

    import torch

    from bertlab.lessons.settings import choose_threads

    monkeypatch.delenv("BERTLAB_FAST", raising=False)
    monkeypatch.delenv("BERTLAB_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.2, 0.2, 0.2))
    assert choose_threads()[0] == 2  # idle: torch's default
    monkeypatch.setattr(os, "getloadavg", lambda: (5.0, 5.0, 5.0))
    assert choose_threads()[0] == 1  # busy: never more threads than free cores
    monkeypatch.setenv("BERTLAB_THREADS", "2")
    assert choose_threads() == (2, "BERTLAB_THREADS")
    monkeypatch.delenv("BERTLAB_THREADS")
    monkeypatch.setenv("BERTLAB_FAST", "1")
    assert choose_threads() == (1, "FAST mode")


def test_accuracy_by_case_separates_copying_from_context():
    """A model that copies its input is perfect where the input shows the answer and wrong everywhere else."""
    from types import SimpleNamespace

    import torch

    from bertlab.data.tokenizer import MASK_ID
    from bertlab.lessons.inspect import accuracy_by_case

    class Copier(torch.nn.Module):
        def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
            chosen = labels != -100
            logits = torch.nn.functional.one_hot(input_ids[chosen], 50).float()  # (N, V): the token it sees
            return SimpleNamespace(masked_lm_logits=logits, masked_lm_labels=labels[chosen])

    # targets 7, 7, 9, 9, 7 at positions 1-5: two hidden by [MASK], one replaced (by 11), two unchanged
    input_ids = torch.tensor([[2, MASK_ID, MASK_ID, 11, 9, 7, 3]])
    labels = torch.tensor([[-100, 7, 7, 9, 9, 7, -100]])
    batch = {"input_ids": input_ids, "labels": labels, "attention_mask": torch.ones_like(input_ids),
             "token_type_ids": torch.zeros_like(input_ids)}
    cases = accuracy_by_case(Copier(), [batch], unigram_token_id=7)
    assert {c: v["positions"] for c, v in cases.items()} == {"[MASK]": 2, "random": 1, "unchanged": 2}
    assert cases["[MASK]"]["accuracy"] == 0 and cases["random"]["accuracy"] == 0
    assert cases["unchanged"]["accuracy"] == 1
    assert cases["[MASK]"]["unigram"] == 1 and cases["random"]["unigram"] == 0 and cases["unchanged"]["unigram"] == 0.5
    assert "unigram" not in accuracy_by_case(Copier(), [batch])["[MASK]"]


def test_lessons_fall_back_to_a_live_fast_recipe_model(tmp_path, monkeypatch):
    from bertlab.lessons.setups import lesson_model, model_line, prepared_model

    monkeypatch.setenv("BERTLAB_COURSE_DIR", str(tmp_path / "course"))  # empty: no course model is ready
    monkeypatch.setenv("BERTLAB_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("BERTLAB_FAST", raising=False)
    path, options = lesson_model("en", live_run="lesson1-en")
    assert path is None and options.steps == 2000 and options.corpus == "wiki-en"
    assert options.model_overrides["norm_placement"] == "pre" and options.warmup_seq_length == 16
    assert options.out == str(tmp_path / "runs" / "lesson1-en")
    assert "trains a live one with the fast-cpu recipe" in model_line("en", path, options)
    zh = lesson_model("zh", live_run="lesson1-zh")[1]
    assert zh.corpus == "peoples-daily-zh" and zh.masking_unit == "word"
    monkeypatch.setenv("BERTLAB_FAST", "1")
    monkeypatch.delenv("BERTLAB_COURSE_DIR")
    monkeypatch.setattr("bertlab.lessons.setups.course_model", lambda name: tmp_path / "would-be-used")
    assert prepared_model("en") is None  # FAST mode: the live path, unless BERTLAB_COURSE_DIR is set
    monkeypatch.setenv("BERTLAB_COURSE_DIR", str(tmp_path))
    assert prepared_model("en") == tmp_path / "would-be-used"
