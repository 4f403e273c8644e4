"""UNILM's three self-attention masks (bertlab/family/unilm.py): the masks, the model under them, training."""

import json
import types

import pytest
import torch

from bertlab.config import get_preset
from bertlab.data.masking import IGNORE_INDEX
from bertlab.data.tokenizer import MASK_ID
from bertlab.experiments import EXPERIMENTS, load_experiment
from bertlab.family.unilm import (MASK_KINDS, check_objective, generate, next_token_accuracy, prepare_batch,
                                  run_mask_kind, two_stream_inputs, unilm_mask)
from bertlab.model import BertForPreTraining


def pair_batch():
    """Three rows of [CLS] A [SEP] B [SEP] with different lengths; padding after each."""
    #              len  A ends (its [SEP]) at
    rows = [(10, 4), (7, 2), (5, 3)]
    T = 10
    mask = torch.zeros(len(rows), T, dtype=torch.long)
    types_ = torch.zeros(len(rows), T, dtype=torch.long)
    for r, (length, a_sep) in enumerate(rows):
        mask[r, :length] = 1
        types_[r, a_sep + 1:length] = 1
    return mask, types_, rows


def pair_ids(seed):
    """Random word pieces laid out as [CLS] A [SEP] B [SEP] [PAD]… in the rows of ``pair_batch``."""
    mask, _, rows = pair_batch()
    ids = torch.randint(5, 200, mask.shape, generator=torch.Generator().manual_seed(seed)) * mask
    for r, (length, a_sep) in enumerate(rows):
        ids[r, 0], ids[r, a_sep], ids[r, length - 1] = 2, 3, 3
    return ids


def expected(kind, i, j, length, a_sep):
    """The rule of UNILM §2.2 written out for one (query, key) pair of a real row."""
    if i >= length:  # a padding query attends only itself
        return i == j
    if j >= length:
        return False
    if kind == "bidirectional":
        return True
    if kind == "left-to-right":
        return j <= i
    source_j, source_i = j <= a_sep, i <= a_sep
    return source_j or (not source_i and j <= i)


@pytest.mark.parametrize("kind", MASK_KINDS)
def test_every_entry_of_every_mask_follows_the_rule(kind):
    mask, types_, rows = pair_batch()
    m = unilm_mask(kind, mask, types_)
    assert m.shape == (3, 10, 10) and m.dtype == torch.bool
    for r, (length, a_sep) in enumerate(rows):
        want = torch.tensor([[expected(kind, i, j, length, a_sep) for j in range(10)] for i in range(10)])
        assert torch.equal(m[r], want), (kind, r)


def test_masks_differ_where_the_paper_says():
    mask, types_, _ = pair_batch()
    bi, l2r, s2s = (unilm_mask(k, mask, types_)[0] for k in MASK_KINDS)
    assert l2r[2, 3] == 0 and bi[2, 3] == 1  # source token 2 sees source token 3 only bidirectionally ...
    assert s2s[2, 3] == 1  # ... and under seq2seq (the source is bidirectional)
    assert s2s[2, 6] == 0 and s2s[6, 2] == 1  # the source never sees the target; the target sees the source
    assert s2s[6, 7] == 0 and s2s[7, 6] == 1  # the target sees its left context only


def test_bad_inputs_are_refused_clearly():
    mask, types_, _ = pair_batch()
    with pytest.raises(ValueError, match="must be one of"):
        unilm_mask("right-to-left", mask, types_)
    with pytest.raises(ValueError, match="token_type_ids"):
        unilm_mask("seq2seq", mask)
    with pytest.raises(ValueError, match="follows a target"):
        unilm_mask("seq2seq", mask, 1 - types_)
    with pytest.raises(ValueError, match="sentence pairs"):
        check_objective("seq2seq", "mlm")
    check_objective("left-to-right", "mlm")  # a causal LM needs no pairs


def tiny_model(**overrides):
    torch.manual_seed(0)
    return BertForPreTraining(get_preset("tiny", vocab_size=200, num_hidden_layers=2, **overrides)).eval()


def test_left_to_right_outputs_ignore_the_future():
    """A real causality test through the model: changing tokens > i leaves position <= i untouched."""
    model = tiny_model()
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 200, (2, 12), generator=g)
    changed = ids.clone()
    changed[:, 7:] = torch.randint(5, 200, (2, 5), generator=g)
    types_ = torch.zeros_like(ids)
    mask = unilm_mask("left-to-right", torch.ones_like(ids), types_)
    a = model(ids, mask, types_, mlm_positions="all").prediction_logits
    b = model(changed, mask, types_, mlm_positions="all").prediction_logits
    assert torch.allclose(a[:, :7], b[:, :7], atol=1e-5)
    assert not torch.allclose(a[:, 7:], b[:, 7:], atol=1e-3)  # the test could fail: later positions do change
    full = torch.ones(2, 12, dtype=torch.long)  # and without the causal mask, the past changes too
    assert not torch.allclose(model(ids, full, types_, mlm_positions="all").prediction_logits[:, :7],
                              model(changed, full, types_, mlm_positions="all").prediction_logits[:, :7], atol=1e-3)


@pytest.mark.parametrize("kind", MASK_KINDS)
def test_eager_and_fast_attention_agree_under_each_mask(kind):
    model = tiny_model().bert
    mask, types_, _ = pair_batch()
    ids = pair_ids(1)
    m = unilm_mask(kind, mask, types_)
    fast = model(ids, m, types_).last_hidden_state
    eager = model(ids, m, types_, output_attentions=True)
    real = mask.bool()
    assert torch.allclose(fast[real], eager.last_hidden_state[real], atol=1e-5)
    probs = eager.attentions[0]  # (B, A, T, T): exactly zero where the mask forbids
    assert float(probs.detach().masked_select(~m[:, None].expand_as(probs)).abs().max()) == 0.0


def test_a_two_dimensional_and_an_equivalent_three_dimensional_mask_agree():
    model = tiny_model().bert
    mask, types_, _ = pair_batch()
    ids = pair_ids(2)
    two = model(ids, mask, types_).last_hidden_state
    three = model(ids, unilm_mask("bidirectional", mask, types_), types_).last_hidden_state
    assert torch.allclose(two[mask.bool()], three[mask.bool()], atol=1e-5)
    with pytest.raises(ValueError, match="attention_mask must have shape"):
        model(ids, mask[:, :4], types_)


def test_three_dimensional_mask_matches_transformers():
    pytest.importorskip("transformers")
    from bertlab.interop import to_transformers

    model = tiny_model(hidden_act="gelu")
    hf = to_transformers(model).eval()
    mask, types_, _ = pair_batch()
    ids = pair_ids(3)
    for kind in ("left-to-right", "seq2seq"):
        m = unilm_mask(kind, mask, types_)
        ours = model(ids, m, types_, mlm_positions="all")
        # transformers 5 takes a custom mask as (B, 1, T, T) additive floats (older versions turned a (B, T, T)
        # mask into exactly this in get_extended_attention_mask)
        additive = (1.0 - m[:, None].float()) * torch.finfo(torch.float32).min
        theirs = hf(input_ids=ids, attention_mask=additive, token_type_ids=types_)
        real = mask.bool()
        assert torch.allclose(ours.prediction_logits[real], theirs.prediction_logits[real], atol=1e-5), kind


def test_prepare_batch_removes_the_answer_from_causal_rows():
    mask, types_, _ = pair_batch()
    ids = pair_ids(4)
    labels = torch.full_like(ids, IGNORE_INDEX)
    labels[:, 1] = ids[:, 1]  # a kept token in the source (position 1) ...
    labels[0, 6] = ids[0, 6]  # ... and in the target of row 0
    labels[1, 5] = 7  # a masked / replaced target token of row 1 (a NotNext pair below)
    batch = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types_, "labels": labels,
             "next_sentence_label": torch.tensor([0, 1, 0])}
    assert prepare_batch(batch, "bidirectional") is batch
    l2r = prepare_batch(batch, "left-to-right")
    assert "next_sentence_label" not in l2r and (l2r["input_ids"][:, 1] == MASK_ID).all()
    s2s = prepare_batch(batch, "seq2seq")
    assert torch.equal(s2s["input_ids"][:, 1], ids[:, 1])  # the source is bidirectional: BERT's rule stays
    assert s2s["input_ids"][0, 6] == MASK_ID  # a kept target token would show its own answer
    assert s2s["labels"][1, 5] == IGNORE_INDEX and s2s["labels"][1, 1] == ids[1, 1]  # NotNext: source only
    assert torch.equal(batch["input_ids"], ids)  # the input batch is not changed


@pytest.mark.parametrize("kind", ["left-to-right", "seq2seq"])
def test_two_stream_evaluation_equals_decoding_one_position_at_a_time(kind):
    """Slot i of the two-stream input must give exactly what UNILM decoding gives: the input cut after i,
    token i replaced by [MASK], read at i."""
    model = tiny_model()
    mask, types_, rows = pair_batch()
    ids = pair_ids(6)
    inputs = two_stream_inputs(kind, ids, mask, types_)
    slots = model.bert(inputs["input_ids"], inputs["attention_mask"], inputs["token_type_ids"],
                       position_ids=inputs["position_ids"]).last_hidden_state[:, 10:]  # (B, T, H)
    checked = 0
    for r, (length, a_sep) in enumerate(rows):
        for i in range(1, length):
            if kind == "seq2seq" and i <= a_sep:
                continue  # seq2seq decodes the target only
            cut = ids[r:r + 1, :i + 1].clone()
            cut[0, i] = MASK_ID
            t = types_[r:r + 1, :i + 1]
            step = model.bert(cut, unilm_mask(kind, torch.ones_like(cut), t), t).last_hidden_state[0, i]
            assert torch.allclose(slots[r, i], step, atol=1e-5), (r, i)
            checked += 1
    assert checked >= 7


def test_next_token_accuracy_and_generation_run_on_a_model():
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(195)])}
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    model = tiny_model()
    mask, types_, _ = pair_batch()
    ids = pair_ids(5)
    batch = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types_,
             "labels": torch.full_like(ids, IGNORE_INDEX), "next_sentence_label": torch.tensor([0, 1, 0])}
    l2r = next_token_accuracy(model, [batch], "left-to-right")
    s2s = next_token_accuracy(model, [batch], "seq2seq")
    assert l2r["scored"] == int(mask.sum()) - 3 * 3  # every word piece but [CLS] and the two [SEP]s
    assert s2s["scored"] == (10 - 4 - 2) + (5 - 3 - 2)  # targets of the two IsNext rows, [SEP]s excluded
    with pytest.raises(ValueError, match="causal"):
        next_token_accuracy(model, [batch], "bidirectional")
    for kind in MASK_KINDS:
        text = generate(model, tokenizer, "w1 w2 w3", kind, max_new_tokens=4)
        assert isinstance(text, str) and len(text.split()) <= 4


def test_the_mask_kind_is_saved_with_the_run_and_read_back(tmp_path):
    from bertlab.pretrain import PretrainOptions, options_for_resume, pretrain
    from bertlab.train.run import load_run

    out = tmp_path / "s2s"
    options = PretrainOptions(preset="tiny", model_overrides=dict(hidden_size=32, num_attention_heads=2,
                                                                  intermediate_size=64, num_hidden_layers=1),
                              corpus="news-en", vocab_size=512, max_seq_length=32, batch_size=8, steps=3,
                              eval_examples=16, attention_mask_kind="seq2seq", out=str(out), progress=False,
                              checkpoint_every=3, precision="fp32", device="cpu")
    result = pretrain(options)
    assert result.status == "finished" and "nsp_acc" not in result.last_eval  # no NSP under seq2seq
    saved = json.loads((out / "config.json").read_text())
    assert saved["options"]["attention_mask_kind"] == "seq2seq"
    assert run_mask_kind(load_run(out).config) == "seq2seq"
    assert options_for_resume(out).attention_mask_kind == "seq2seq"
    assert run_mask_kind({"options": {}}) == "bidirectional"  # runs from before the option existed
    with pytest.raises(ValueError, match="sentence pairs"):
        PretrainOptions(objective="mlm", attention_mask_kind="seq2seq")


def test_cli_flag_reaches_the_options(monkeypatch):
    import bertlab.pretrain as pretrain_module
    from bertlab.cli import main

    seen = {}
    for name in EXPERIMENTS:  # the CLI imports them; one imported under the patch would keep the fake for good
        load_experiment(name)

    def fake_pretrain(options):
        seen["kind"] = options.attention_mask_kind
        return types.SimpleNamespace(status="finished", step=1, seconds=0.0, last_eval={})

    monkeypatch.setattr(pretrain_module, "pretrain", fake_pretrain)
    assert main(["pretrain", "--attention-mask", "left-to-right", "--out", "", "--quiet"]) == 0
    assert seen["kind"] == "left-to-right"


def test_attention_maps_follow_the_runs_mask_and_the_figure_draws_three_masks():
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    from bertlab.analysis.attention import attention_maps
    from bertlab.family.unilm import pair_mask_figure

    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "it"])}
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    model = tiny_model()
    causal = attention_maps(model, tokenizer, "the cat sat", "it sat", mask_kind="left-to-right")
    upper = torch.triu(torch.ones(8, 8, dtype=torch.bool), diagonal=1)
    assert causal.mask_kind == "left-to-right" and causal.probs[0].shape[-1] == 8
    assert all(float(p[:, upper].abs().max()) == 0.0 for p in causal.probs)  # lower-triangular maps
    full = attention_maps(model, tokenizer, "the cat sat", "it sat")
    assert float(full.probs[0][:, upper].min()) > 0.0  # the default (bidirectional) maps are not
    pytest.importorskip("plotly")
    fig = pair_mask_figure(tokenizer, "the cat sat", "it sat")
    assert [t.name for t in fig.data] == list(MASK_KINDS)
    assert fig.data[1].z[0][1] == 0 and fig.data[0].z[0][1] == 1  # [CLS] sees "the" only bidirectionally


def test_experiment_quick_path_runs(tmp_path, capsys):
    import argparse

    from bertlab.experiments import load_experiment

    module = load_experiment("unilm-masks")
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    args = parser.parse_args(["--quick", "--steps", "6", "--out", str(tmp_path), "--threads", "1", "--quiet",
                              "--seed", "3"])
    assert module.plan_from_args(args).seed == 3
    with pytest.raises(ValueError, match="--seed must be 0 or more"):
        module.plan_from_args(parser.parse_args(["--quick", "--seed", "-1"]))
    assert module.run(args) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results["runs"]) == set(MASK_KINDS)
    for scores in results["runs"].values():
        assert all(0.0 <= scores[k] <= 1.0 for k in ("mlm_acc", "mlm_acc_mask", "next_token_acc", "seq2seq_acc"))
    report = (tmp_path / "results.md").read_text()
    assert "left-to-right run" in report and "seed 3" in report
    assert "MLM acc at [MASK] (overall)" in report
    assert "seq2seq target next-token acc" in capsys.readouterr().out
