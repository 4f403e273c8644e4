"""MASS (Song et al. 2019 §2): span selection, the batch layout, a causal decoder, the task in the loop."""

import json

import pytest
import torch

from bertlab.config import get_preset
from bertlab.data.tokenizer import CLS_ID, MASK_ID, PAD_ID, SEP_ID
from bertlab.family.mass import (MassConfig, MassData, MassModel, MassTask, choose_span, choose_spans, greedy_fill,
                                 mass_inputs, parse_span, show_reconstruction, span_lengths)
from bertlab.train.loop import TrainSettings, train
from bertlab.train.metrics import read_metrics

V, T = 64, 16
FAST = dict(progress=False, device="cpu", precision="fp32", log_every=2, learning_rate=3e-3, warmup=2)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def tiny_mass(seed: int = 0, dropout: float = 0.1) -> MassModel:
    torch.manual_seed(seed)
    encoder = get_preset("tiny", vocab_size=V, hidden_size=32, num_attention_heads=2, intermediate_size=64,
                         max_position_embeddings=T, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout)
    return MassModel(MassConfig(encoder, decoder_layers=1))


def sentences(step: int, batch_size: int = 8, fixed: bool = False):
    """[CLS] a run of consecutive ids [SEP] [PAD]…: ids (B, T) and special_tokens_mask, lengths 4..T-2."""
    g = torch.Generator().manual_seed(0 if fixed else 1000 + step)
    lengths = torch.randint(4, T - 1, (batch_size,), generator=g)
    first = torch.randint(5, V - T, (batch_size, 1), generator=g)
    ids = torch.full((batch_size, T), PAD_ID)
    special = torch.ones(batch_size, T, dtype=torch.bool)
    for b, m in enumerate(lengths.tolist()):
        ids[b, 0], ids[b, 1:m + 1], ids[b, m + 1] = CLS_ID, first[b] + torch.arange(m), SEP_ID
        special[b, 1:m + 1] = False
    return ids, special, g


def synthetic_batch(step: int, fixed: bool = False, rule="50%") -> dict:
    ids, special, g = sentences(step, fixed=fixed)
    return mass_inputs(ids, *choose_spans(special, *parse_span(rule), generator=g))


# --- span selection ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("length", [1, 2, 7, 30])
@pytest.mark.parametrize("k", [1, 3, 100])
def test_a_span_is_k_contiguous_tokens_inside_the_sentence(length, k):
    g = torch.Generator().manual_seed(length * 100 + k)
    for _ in range(50):
        start, end = choose_span(length, k, generator=g)
        assert end - start == min(k, length) and 0 <= start and end <= length


def test_fractions_round_to_at_least_one_token():
    m = torch.tensor([1, 2, 3, 10, 11, 40])
    assert span_lengths(m, fraction=0.5).tolist() == [1, 1, 2, 5, 6, 20]  # round half to even, never 0
    assert span_lengths(m, fraction=1.0).tolist() == m.tolist()  # the whole sentence: a language model
    assert span_lengths(m, k=1).tolist() == [1] * 6  # BERT-like
    assert parse_span("50%") == (None, 0.5) and parse_span("3") == (3, None) and parse_span(0.25) == (None, 0.25)


def test_span_start_is_uniform():
    g = torch.Generator().manual_seed(0)
    m, k, draws = 10, 3, 16000  # 8 places where a 3-token span fits in 10 tokens
    special = torch.zeros(draws, m, dtype=torch.bool)
    start, end = choose_spans(special, k, generator=g)
    counts = torch.bincount(start, minlength=m).float()
    assert counts[m - k + 1:].sum() == 0  # never a span that would run off the end
    expected = draws / (m - k + 1)
    chi2 = float(((counts[:m - k + 1] - expected) ** 2 / expected).sum())
    assert chi2 < 24.3  # chi-square with 7 degrees of freedom: p = 0.001


def test_batched_spans_cover_only_real_tokens(news_corpus, news_tokenizer):
    data = MassData(news_corpus, news_tokenizer, max_seq_length=32, seed=0)
    ids, special = data.rows(torch.arange(64).numpy())
    for rule in ("1", "50%", "100%", "5"):
        start, end = choose_spans(special, *parse_span(rule), generator=torch.Generator().manual_seed(1))
        positions = torch.arange(ids.shape[1])
        in_span = (positions >= start[:, None]) & (positions < end[:, None])
        assert not (in_span & special).any()  # never [CLS], [SEP] or [PAD]
        real = (~special).sum(1)
        assert torch.equal(end - start, span_lengths(real, *parse_span(rule)))


def test_bad_span_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="exactly one of k"):
        span_lengths(torch.tensor([5]), k=2, fraction=0.5)
    with pytest.raises(ValueError, match="fraction must be in"):
        span_lengths(torch.tensor([5]), fraction=1.5)
    with pytest.raises(ValueError, match="token count"):
        parse_span("half")
    special = torch.tensor([[True, False, True, False, True]])  # two sentences in one row
    with pytest.raises(ValueError, match="contiguous"):
        choose_spans(special, 1)


# --- the MASS example --------------------------------------------------------------------------------------------

def test_mass_inputs_follow_figure_1():
    ids = torch.tensor([[CLS_ID, 10, 11, 12, 13, 14, SEP_ID, PAD_ID]])
    b = mass_inputs(ids, torch.tensor([2]), torch.tensor([5]))
    assert b["input_ids"].tolist() == [[CLS_ID, 10, MASK_ID, MASK_ID, MASK_ID, 14, SEP_ID, PAD_ID]]
    assert b["decoder_input_ids"].tolist() == [[MASK_ID, 11, 12]]  # x_{u-1} = 10 is visible to the encoder: [M]
    assert b["labels"].tolist() == [[11, 12, 13]]
    assert b["decoder_positions"].tolist() == [[2, 3, 4]]
    assert b["attention_mask"].tolist() == [[1, 1, 1, 1, 1, 1, 1, 0]]


def test_the_encoder_never_sees_the_span_and_the_decoder_never_sees_the_rest():
    ids, special, g = sentences(0)
    start, end = choose_spans(special, fraction=0.5, generator=g)
    b = mass_inputs(ids, start, end)
    changed = ids.clone()
    positions = torch.arange(T)
    in_span = (positions >= start[:, None]) & (positions < end[:, None])
    changed[in_span] = 7  # other span tokens: the encoder input must not change
    assert torch.equal(mass_inputs(changed, start, end)["input_ids"], b["input_ids"])
    assert (b["input_ids"][in_span] == MASK_ID).all()
    model = tiny_mass().eval()
    with torch.no_grad():
        assert torch.equal(model.encode(b["input_ids"], b["attention_mask"]),
                           model.encode(mass_inputs(changed, start, end)["input_ids"], b["attention_mask"]))
    for row in range(len(ids)):  # decoder input = [MASK] + the span's own tokens, nothing from outside it
        k = int(end[row] - start[row])
        assert b["decoder_input_ids"][row, :k].tolist() == [MASK_ID] + ids[row, start[row]:end[row] - 1].tolist()


def test_k_1_is_masked_lm_and_k_m_is_a_language_model():
    ids, special, g = sentences(0)
    one = mass_inputs(ids, *choose_spans(special, 1, generator=g))
    assert one["decoder_input_ids"].tolist() == [[MASK_ID]] * len(ids)  # no left context in the decoder
    assert ((one["input_ids"] == MASK_ID).sum(1) == 1).all()
    whole = mass_inputs(ids, *choose_spans(special, fraction=1.0, generator=g))
    real = ~special
    assert (whole["input_ids"][real] == MASK_ID).all()  # the encoder sees only [MASK]s (and [CLS] [SEP])
    assert torch.equal(whole["labels"][whole["labels"] != -100], ids[real])  # the decoder predicts every token


# --- the model ---------------------------------------------------------------------------------------------------

def test_the_decoder_is_causal():
    model = tiny_mass().eval()
    b = synthetic_batch(0, rule="100%")
    with torch.no_grad():
        memory = model.encode(b["input_ids"], b["attention_mask"])
        base = model.decode(memory, b["attention_mask"], b["decoder_input_ids"], b["decoder_positions"])
        j = 3
        changed = b["decoder_input_ids"].clone()
        changed[:, j] = (changed[:, j] + 1) % V
        after = model.decode(memory, b["attention_mask"], changed, b["decoder_positions"])
    assert torch.allclose(base[:, :j], after[:, :j], atol=1e-6)  # outputs before j ignore token j
    assert not torch.allclose(base[:, j], after[:, j], atol=1e-3)  # output j reads it


def test_word_embeddings_are_tied_and_saved_once(tmp_path):
    from bertlab.train.checkpoint import load_weights, save_weights

    model = tiny_mass()
    assert not any("decoder" in name and "word" in name for name, _ in model.named_parameters())
    save_weights(model, tmp_path / "m.safetensors")  # shared tensors would make safetensors refuse
    other = tiny_mass(seed=5)
    load_weights(other, tmp_path / "m.safetensors")
    assert torch.equal(other.word_embeddings.weight, model.word_embeddings.weight)


def test_loss_falls_on_a_fixed_batch_and_greedy_decoding_rebuilds_the_span(tmp_path):
    model = tiny_mass(dropout=0.0)
    batch = synthetic_batch(0, fixed=True)
    result = train(model, MassTask({"fixed": [batch]}), lambda step: batch, TrainSettings(steps=80, **FAST),
                   tmp_path / "run")
    records = read_metrics(tmp_path / "run" / "metrics.jsonl").split("train")
    assert records[-1]["loss"] < 0.3 * records[0]["loss"]
    assert result.last_eval["fixed_acc"] > 0.9
    predicted = greedy_fill(model, batch)
    valid = batch["labels"] != -100
    assert (predicted[~valid] == PAD_ID).all()
    assert (predicted[valid] == batch["labels"][valid]).float().mean() > 0.8


def test_the_task_resumes_where_an_uninterrupted_run_ends(tmp_path):
    settings = TrainSettings(steps=8, checkpoint_every=100, **FAST)
    whole = tiny_mass()
    train(whole, MassTask(), synthetic_batch, settings, tmp_path / "whole")

    def stop_at_4(record):
        if record["step"] == 4:
            raise KeyboardInterrupt

    first = train(tiny_mass(), MassTask(), synthetic_batch, settings, tmp_path / "cut", callbacks=(stop_at_4,))
    assert first.status == "interrupted" and first.step == 4
    resumed = tiny_mass(seed=9)
    assert train(resumed, MassTask(), synthetic_batch, settings, tmp_path / "cut", resume=True).step == 8
    for key, value in whole.state_dict().items():
        assert torch.allclose(value, resumed.state_dict()[key], atol=1e-6), key


def test_data_batches_are_pure_functions_of_the_step(news_corpus, news_tokenizer):
    data = MassData(news_corpus, news_tokenizer, max_seq_length=32, seed=0)
    a, b = data.batch(3, 8, "50%"), data.batch(3, 8, "50%")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["input_ids"], data.batch(4, 8, "50%")["input_ids"])
    text = show_reconstruction(news_tokenizer, a, 0)
    assert text.count("⟦") == 1 and text.count("⟧") == 1 and len(text) > 10


# --- the experiment ----------------------------------------------------------------------------------------------

def test_the_experiment_runs_and_reuses_its_runs(tmp_path):
    from bertlab.cli import main

    out = tmp_path / "mass"
    assert main(["experiment", "mass-spans", "--quick", "--steps", "4", "--quiet", "--threads", "1",
                 "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results["runs"]) == {"1", "50%", "100%"}
    for r in results["runs"].values():
        assert set(r["probes"]) == {"1", "50%", "100%"} and 0.0 <= r["greedy"]["token_acc"] <= 1.0
    assert "| most frequent token |" in (out / "results.md").read_text()
    assert main(["experiment", "mass-spans", "--quick", "--steps", "4", "--quiet", "--out", str(out)]) == 0
    assert all(r["reused"] for r in json.loads((out / "results.json").read_text())["runs"].values())


@pytest.mark.slow
def test_the_quick_experiment_runs(tmp_path):
    from bertlab.cli import main

    assert main(["experiment", "mass-spans", "--quick", "--quiet", "--threads", "1", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "results.md").exists()


@pytest.mark.parametrize("rule", ["0", "-2", "0%", "150%", "1.5"])
def test_a_span_rule_outside_one_token_to_the_whole_sentence_is_refused_when_parsed(rule):
    from bertlab.family.mass import parse_span

    with pytest.raises(ValueError, match="at least 1 token and at most the whole sentence"):
        parse_span(rule)
