"""Sentence pairs: NSP's NotNext from another document, IsNext the true continuation, SOP's swaps, packing."""

from __future__ import annotations

import random

import numpy as np
import pytest

from bertlab.data import (IS_NEXT, NOT_NEXT, SWAPPED, Corpus, PretrainingDataset, full_sentence_instances,
                          pair_instances, tokenize_corpus)
from bertlab.data.pairs import truncate_pair


@pytest.fixture(scope="module")
def news_tokens(news_corpus, news_tokenizer):
    return tokenize_corpus(news_corpus, news_tokenizer)


def _doc_of(tokens, start, end):
    d0, d1 = tokens.document_of_token(start), tokens.document_of_token(end - 1)
    assert d0 == d1, "a segment never spans two documents"
    return d0


def test_nsp_labels_and_sources(news_tokens):
    instances = pair_instances(news_tokens, 128, "nsp", random.Random(0))
    labels = np.array([i.label for i in instances])
    assert len(instances) > 500
    assert abs(labels.mean() - 0.5) < 0.05  # 50 % NotNext (± 5 %: ~700 pairs, 3.5 standard errors)
    for inst in instances:
        (a0, a1), (b0, b1) = inst.segments
        assert a1 > a0 and b1 > b0 and (a1 - a0) + (b1 - b0) <= 128 - 3  # both sides kept, fits
        doc_a, doc_b = _doc_of(news_tokens, a0, a1), _doc_of(news_tokens, b0, b1)
        if inst.label == NOT_NEXT:
            assert doc_b != doc_a  # NotNext B never comes from A's document
        else:
            assert inst.label == IS_NEXT and doc_b == doc_a and b0 >= a1  # IsNext: same document, after A


def test_is_next_is_the_exact_continuation_without_truncation():
    # Short sentences and a long max_seq_length: nothing is truncated, so B must start where A ends,
    # and both must start and end on sentence boundaries.
    docs = [[[f"d{d}s{s}w{w}" for w in range(3)] for s in range(6)] for d in range(40)]
    corpus = Corpus("synthetic", "en", docs)
    from bertlab.data import get_tokenizer
    tokens = tokenize_corpus(corpus, get_tokenizer(corpus, vocab_size=400), cache=False)
    boundaries = set(tokens.sentence_starts.tolist())
    instances = pair_instances(tokens, 512, "nsp", random.Random(1), short_seq_prob=0.0)
    is_next = [i for i in instances if i.label == IS_NEXT]
    assert len(is_next) > 5
    for inst in instances:
        for start, end in inst.segments:
            assert start in boundaries and end in boundaries
    for inst in is_next:
        (a0, a1), (b0, b1) = inst.segments
        assert b0 == a1


def test_sop_swaps_exactly_the_labelled_half(news_tokens):
    instances = pair_instances(news_tokens, 128, "sop", random.Random(0))
    labels = np.array([i.label for i in instances])
    assert abs(labels.mean() - 0.5) < 0.05
    for inst in instances:
        (a0, a1), (b0, b1) = inst.segments
        assert _doc_of(news_tokens, a0, a1) == _doc_of(news_tokens, b0, b1)  # always the same document
        if inst.label == SWAPPED:
            assert b1 <= a0  # B comes first in the text: the pair was swapped
        else:
            assert a1 <= b0


def test_truncation_keeps_both_sides():
    rng = random.Random(0)
    for la, lb in [(200, 3), (3, 200), (100, 100), (1, 500)]:
        (a0, a1), (b0, b1) = truncate_pair((0, la), (1000, 1000 + lb), 125, rng)
        assert (a1 - a0) + (b1 - b0) == 125 and a1 > a0 and b1 > b0
        assert 0 <= a0 and a1 <= la and 1000 <= b0 and b1 <= 1000 + lb


def test_full_sentences_pack_up_to_max_length(news_tokens):
    instances = full_sentence_instances(news_tokens, 128)
    assert all(i.label is None and i.num_tokens <= 128 for i in instances)
    assert np.mean([i.num_tokens for i in instances]) > 100  # filled, not one sentence per input
    covered = sum(e - s for i in instances for s, e in i.segments)
    assert covered > 0.98 * news_tokens.num_tokens  # almost nothing lost
    assert any(len(set(i.documents)) > 1 for i in instances)  # crosses document boundaries with a [SEP]


def test_packed_example_layout(news_corpus, news_tokenizer):
    data = PretrainingDataset(news_corpus, news_tokenizer, max_seq_length=64, objective="mlm+nsp")
    ex = data[0]
    ids, types, special = ex["input_ids"], ex["token_type_ids"], ex["special_tokens_mask"]
    sep = np.flatnonzero(ids == 3)
    assert ids[0] == 2 and len(sep) == 2 and sep[-1] == len(ids) - 1
    assert (types[:sep[0] + 1] == 0).all() and (types[sep[0] + 1:] == 1).all()  # A = 0, B (and its [SEP]) = 1
    assert special.tolist() == [i in (0, sep[0], sep[1]) for i in range(len(ids))]
    assert ex["word_ids"][0] == -1 and (np.diff(ex["word_ids"][1:sep[0]]) >= 0).all()
