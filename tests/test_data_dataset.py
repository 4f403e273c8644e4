"""PretrainingDataset and collator: static vs dynamic masks, seeds, resumable batches, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bertlab.data import (IGNORE_INDEX, PretrainingCollator, PretrainingDataset, get_tokenizer, load_corpus,
                          unigram_baseline)


@pytest.fixture(scope="module")
def static(news_corpus, news_tokenizer):
    return PretrainingDataset(news_corpus, news_tokenizer, masking="static", dupe_factor=3, seed=0)


def test_static_batches_serve_the_stored_masks(static):
    for step in (0, 3 * static.steps_per_epoch(32) + 1):
        epoch, index = static.batch_indices(step, 32)
        labels = static.batch(step, 32)["labels"]
        assert torch.equal(labels, torch.as_tensor(static.examples(epoch).labels[index, :labels.shape[1]]))


@pytest.fixture(scope="module")
def dynamic(news_corpus, news_tokenizer):
    return PretrainingDataset(news_corpus, news_tokenizer, masking="dynamic", seed=0)


def test_batch_contents(dynamic):
    batch = dynamic.batch(0, 16)
    assert set(batch) == {"input_ids", "attention_mask", "token_type_ids", "labels", "next_sentence_label"}
    B, T = batch["input_ids"].shape
    assert B == 16 and T <= 128 and batch["next_sentence_label"].shape == (16,)
    assert all(v.dtype == torch.long for v in batch.values())
    pad = batch["attention_mask"] == 0
    assert (batch["input_ids"][pad] == 0).all() and (batch["labels"][pad] == IGNORE_INDEX).all()
    assert (batch["labels"] != IGNORE_INDEX).any()


def _labels_by_example(data, step):
    """Labels of every example of one epoch, in example order (batch size = the whole epoch)."""
    n = len(data)
    epoch, index = data.batch_indices(step, n)
    labels = data.batch(step, n)["labels"]
    out = torch.full((max(n, int(index.max()) + 1), data.max_seq_length), IGNORE_INDEX)
    out[torch.as_tensor(index), :labels.shape[1]] = labels
    return epoch, out


@pytest.mark.parametrize("objective", ["mlm", "mlm+sop"])
def test_static_masks_are_identical_across_epochs(news_corpus, news_tokenizer, objective):
    data = PretrainingDataset(news_corpus, news_tokenizer, objective=objective, masking="static", dupe_factor=2,
                              max_seq_length=64)
    e0, first = _labels_by_example(data, 0)
    e2, again = _labels_by_example(data, 2)  # epoch 2 serves copy 0 again (2 mod dupe_factor 2)
    assert (e0, e2) == (0, 2) and torch.equal(first, again)
    assert not torch.equal(data.batch(0, len(data))["labels"], data.batch(2, len(data))["labels"])  # reshuffled
    _, copy1 = _labels_by_example(data, 1)  # the other copy: different masks
    assert not torch.equal(first[:50], copy1[:50])


def test_dynamic_masks_differ_across_epochs(news_corpus, news_tokenizer, dynamic):
    data = PretrainingDataset(news_corpus, news_tokenizer, objective="mlm", masking="dynamic", max_seq_length=64)
    assert data.examples(0).labels is None  # nothing stored: masks are drawn when a batch is served
    _, first = _labels_by_example(data, 0)
    _, second = _labels_by_example(data, 1)  # the same examples (full sentences) one epoch later
    chosen1, chosen2 = first != IGNORE_INDEX, second != IGNORE_INDEX
    overlap = (chosen1 & chosen2).sum().item() / chosen1.sum().item()
    assert overlap < 0.25  # independent draws overlap ~15 %, never 100 % as static masks would
    spe = dynamic.steps_per_epoch(32)
    assert not torch.equal(dynamic.batch(0, 32)["labels"], dynamic.batch(spe, 32)["labels"])


def test_same_seed_reproduces_everything(news_corpus, news_tokenizer, dynamic):
    again = PretrainingDataset(news_corpus, news_tokenizer, masking="dynamic", seed=0)
    other = PretrainingDataset(news_corpus, news_tokenizer, masking="dynamic", seed=1)
    for step in (0, 7, 3 * dynamic.steps_per_epoch(32) + 2):  # also a step in a later epoch (resume)
        a, b = dynamic.batch(step, 32), again.batch(step, 32)
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(dynamic.batch(0, 32)["input_ids"], other.batch(0, 32)["input_ids"])
    # a batch depends only on (seed, step): asking in any order gives the same answer
    late = again.batch(40, 32)
    assert torch.equal(dynamic.batch(40, 32)["labels"], late["labels"])


def test_batches_iterator_matches_batch(dynamic):
    got = list(dynamic.batches(8, start_step=3, num_steps=2))
    assert torch.equal(got[1]["input_ids"], dynamic.batch(4, 8)["input_ids"])


def test_collator_on_example_dicts(dynamic, static, news_tokenizer):
    collator = PretrainingCollator(news_tokenizer, whole_word=True)
    batch = collator([dynamic[i] for i in range(4)], generator=torch.Generator().manual_seed(0))
    longest = max(len(dynamic[i]["input_ids"]) for i in range(4))
    assert batch["input_ids"].shape == (4, longest)
    assert batch["attention_mask"].sum().item() == sum(len(dynamic[i]["input_ids"]) for i in range(4))
    # static examples already carry their masks: the collator only pads them
    padded = collator([static[i] for i in range(4)])
    assert torch.equal(padded["labels"][0, :len(static[0]["labels"])], torch.as_tensor(static[0]["labels"]))
    assert PretrainingCollator(news_tokenizer, pad_to_multiple_of=64)([dynamic[0]])["input_ids"].shape[1] % 64 == 0


def test_mlm_only_objective_has_no_nsp_label(news_corpus, news_tokenizer):
    data = PretrainingDataset(news_corpus, news_tokenizer, objective="mlm", max_seq_length=64)
    batch = data.batch(0, 8)
    assert "next_sentence_label" not in batch and (batch["token_type_ids"] == 0).all()


def test_whole_word_dataset_masks_whole_words(zh_corpus, zh_tokenizer):
    train, _ = zh_corpus.split(0.9, seed=0)  # a tenth of the corpus keeps this test fast
    data = PretrainingDataset(train, zh_tokenizer, whole_word=True, max_seq_length=64)
    ex = data.examples(0)
    batch = data.batch(0, 256)
    _, idx = data.batch_indices(0, 256)
    chosen = (batch["labels"] != IGNORE_INDEX).numpy()
    words = ex.word_ids[idx, :chosen.shape[1]]
    for row in range(len(idx)):
        for w in np.unique(words[row][words[row] >= 0]):
            picks = chosen[row][words[row] == w]
            assert picks.all() or not picks.any()


def test_unigram_baseline(dynamic):
    base = unigram_baseline(dynamic, num_batches=10)
    assert 0.02 < base.accuracy < 0.15 and base.num_labels > 1000
    assert dynamic.tokenizer.id_to_token(base.token_id) in {"the", ".", ","}
    labels = torch.tensor([[7, 7, IGNORE_INDEX, 9], [7, IGNORE_INDEX, 9, 9]])
    assert unigram_baseline(labels, token_id=7).accuracy == pytest.approx(0.5)


def test_documents_too_short_for_pairs(tmp_path):
    path = tmp_path / "short.txt"
    path.write_text("Only one sentence here.\n\nAnother lonely sentence.\n", encoding="utf-8")
    corpus = load_corpus(path)
    tok = get_tokenizer(corpus, vocab_size=100, cache=False)
    with pytest.raises(ValueError, match=r"short.txt:1\).*no sentence pair.*objective='mlm'"):
        PretrainingDataset(corpus, tok, objective="mlm+nsp")
    single = tmp_path / "single.txt"
    single.write_text("One document. With two sentences.\n", encoding="utf-8")
    one_doc = load_corpus(single)
    with pytest.raises(ValueError, match=r"NSP needs at least 2 documents.*single.txt:1"):
        PretrainingDataset(one_doc, get_tokenizer(one_doc, vocab_size=100, cache=False), objective="mlm+nsp")
    assert len(PretrainingDataset(one_doc, get_tokenizer(one_doc, vocab_size=100, cache=False),
                                  objective="mlm+sop")) == 1


def test_bad_settings_are_named(news_corpus, news_tokenizer):
    with pytest.raises(ValueError, match="objective must be one of"):
        PretrainingDataset(news_corpus, news_tokenizer, objective="nsp")
    with pytest.raises(ValueError, match="masking must be"):
        PretrainingDataset(news_corpus, news_tokenizer, masking="sometimes")
