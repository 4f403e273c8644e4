"""BERT's masking rule, measured: 15 % chosen, 80/10/10, never specials, whole words whole, seeded."""

from __future__ import annotations

import numpy as np
import torch

from bertlab.data import (IGNORE_INDEX, KEPT, MASK_ID, MASKED, NOT_CHOSEN, NUM_SPECIAL_TOKENS, REPLACED,
                          PretrainingDataset, format_masked, mask_text, mask_tokens, masking_cases)


def _real_batch(news_corpus, news_tokenizer):
    """Two epochs of real news examples stacked: well over 100k non-special tokens."""
    data = PretrainingDataset(news_corpus, news_tokenizer, max_seq_length=128, objective="mlm+nsp")
    parts = [data.examples(e) for e in (0, 1)]
    ids = torch.from_numpy(np.concatenate([p.input_ids for p in parts]).astype(np.int64))
    special = torch.from_numpy(np.concatenate([p.special_tokens_mask for p in parts]))
    words = torch.from_numpy(np.concatenate([p.word_ids for p in parts]).astype(np.int64))
    return ids, special, words, news_tokenizer.get_vocab_size()


def test_80_10_10_rule_statistics(news_corpus, news_tokenizer):
    ids, special, _, vocab = _real_batch(news_corpus, news_tokenizer)
    n_real = int((~special).sum())
    assert n_real >= 100_000
    masked, labels = mask_tokens(ids, special, vocab, generator=torch.Generator().manual_seed(0))
    chosen = labels != IGNORE_INDEX
    # 15 % ± 0.5 % of the non-special tokens are chosen
    assert abs(chosen.sum().item() / n_real - 0.15) < 0.005
    # specials ([CLS], [SEP], [PAD]) are never chosen and never changed
    assert not chosen[special].any() and torch.equal(masked[special], ids[special])
    # labels hold the original token at chosen positions
    assert torch.equal(labels[chosen], ids[chosen])
    # of the chosen: 80 % [MASK], 10 % a random token, 10 % unchanged (± 1.5 %)
    n = chosen.sum().item()
    to_mask = (masked[chosen] == MASK_ID).sum().item() / n
    unchanged = (masked[chosen] == ids[chosen]).sum().item() / n
    random_ = 1 - to_mask - unchanged
    assert abs(to_mask - 0.8) < 0.015 and abs(random_ - 0.1) < 0.015 and abs(unchanged - 0.1) < 0.015
    # random replacements are real tokens, never special ones
    replaced = chosen & (masked != MASK_ID) & (masked != ids)
    assert masked[replaced].min() >= 5 and masked[replaced].max() < vocab
    # positions not chosen are untouched
    assert torch.equal(masked[~chosen], ids[~chosen])


def test_whole_word_masking_never_masks_part_of_a_word(news_corpus, news_tokenizer):
    ids, special, words, vocab = _real_batch(news_corpus, news_tokenizer)
    _, labels = mask_tokens(ids, special, vocab, word_ids=words, generator=torch.Generator().manual_seed(1))
    chosen = labels != IGNORE_INDEX
    n_real = int((~special).sum())
    assert abs(chosen.sum().item() / n_real - 0.15) < 0.01  # still ~15 % of tokens (words chosen at 15 %)
    # every word is either fully chosen or not at all
    key = torch.where(special, -1, words + torch.arange(len(words))[:, None] * 10_000)  # words unique per row
    flat_key, flat_chosen = key[~special], chosen[~special].long()
    uniq, inverse = torch.unique(flat_key, return_inverse=True)
    per_word_sum = torch.zeros(len(uniq), dtype=torch.long).index_add_(0, inverse, flat_chosen)
    per_word_len = torch.bincount(inverse)
    assert torch.all((per_word_sum == 0) | (per_word_sum == per_word_len))
    multi = per_word_len > 1
    assert multi.sum() > 1000 and (per_word_sum[multi] > 0).sum() > 100  # multi-piece words do get masked
    # token-level masking, by contrast, does split words
    _, token_labels = mask_tokens(ids, special, vocab, generator=torch.Generator().manual_seed(1))
    tok_sum = torch.zeros(len(uniq), dtype=torch.long).index_add_(
        0, inverse, (token_labels != IGNORE_INDEX)[~special].long())
    assert ((tok_sum > 0) & (tok_sum < per_word_len)).any()


def test_same_generator_seed_same_mask_and_1d_input():
    ids = torch.arange(5, 205).reshape(2, 100)
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = True
    a = mask_tokens(ids, special, 300, generator=torch.Generator().manual_seed(7))
    b = mask_tokens(ids, special, 300, generator=torch.Generator().manual_seed(7))
    c = mask_tokens(ids, special, 300, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and not torch.equal(a[1], c[1])
    masked, labels = mask_tokens(ids[0], special[0], 300, generator=torch.Generator().manual_seed(7))
    assert masked.shape == (100,) and labels.shape == (100,)


def test_chinese_whole_word_demo(zh_tokenizer):
    example = mask_text("今天我玩DOTA", zh_tokenizer, whole_word=True, seed=0)
    assert example["words"] == ["今天", "我", "玩", "DOTA"]
    assert example["tokens"][:5] == ["[CLS]", "今", "天", "我", "玩"]
    chosen = [label is not None for label in example["labels"]]
    assert any(chosen)
    for seed in range(30):  # 今 and 天 are always chosen together
        labels = mask_text("今天我玩DOTA", zh_tokenizer, whole_word=True, seed=seed)["labels"]
        assert (labels[1] is None) == (labels[2] is None)
        assert len({labels[i] is None for i in range(5, len(labels) - 1)}) == 1  # d ##o ##t ##a together
    assert "tokens: [CLS] 今 天 我 玩 d ##o ##t ##a [SEP]" in format_masked(example)


def _grid():
    ids = torch.arange(5, 2005).reshape(4, 500)
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = special[:, -1] = True
    return ids, special


def test_masks_of_a_seed_are_those_of_earlier_releases():
    """Fingerprints of the masks drawn at one seed, token and whole-word, recorded before masking cases existed:
    a change to the random draws would silently change every seeded run and published number."""
    ids, special = _grid()
    weights = torch.arange(2000).reshape(4, 500)
    words = torch.arange(500).expand(4, 500) // 3
    expected = {None: (2367140896, 209905226, 289, 241), "word": (2347334425, 248884330, 312, 244)}
    for unit, fingerprint in expected.items():
        masked, labels = mask_tokens(ids, special, 3000, word_ids=None if unit is None else words,
                                     generator=torch.Generator().manual_seed(11))
        assert (int((masked * weights).sum()), int((labels * weights).sum()), int((labels != IGNORE_INDEX).sum()),
                int((masked == MASK_ID).sum())) == fingerprint


def test_masking_cases_are_the_cases_drawn():
    """Replaying mask_tokens' own draws (choice, action, random token) gives the case of every position."""
    ids, special = _grid()
    masked, labels = mask_tokens(ids, special, 3000, generator=torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    chosen = (torch.rand(ids.shape, generator=g) < 0.15) & ~special
    action = torch.rand(ids.shape, generator=g)
    random_tokens = torch.randint(NUM_SPECIAL_TOKENS, 3000, ids.shape, generator=g)
    drawn_random = chosen & (action >= 0.8) & (action < 0.9)
    expected = torch.full_like(ids, NOT_CHOSEN)
    expected[chosen & (action < 0.8)] = MASKED
    expected[drawn_random] = REPLACED
    expected[chosen & (action >= 0.9)] = KEPT
    expected[drawn_random & (random_tokens == ids)] = KEPT  # a random draw of the token itself shows the answer
    cases = masking_cases(masked, labels)
    assert torch.equal(cases, expected)
    assert {int(c) for c in cases.unique()} == {NOT_CHOSEN, MASKED, REPLACED, KEPT}


def test_masking_cases_by_hand():
    inputs = torch.tensor([[2, MASK_ID, 17, 9, 40, MASK_ID, 3]])  # [CLS] [MASK] 17 9 40 [MASK] [SEP]
    labels = torch.tensor([[-100, 11, 17, 12, -100, 30, -100]])
    assert masking_cases(inputs, labels).tolist() == [[NOT_CHOSEN, MASKED, KEPT, REPLACED, NOT_CHOSEN, MASKED,
                                                      NOT_CHOSEN]]
