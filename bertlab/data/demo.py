"""Show masking on a piece of text: ``今天我玩DOTA → 今天 [MASK] 玩 dota`` (BERT §3.1, BERT-wwm).

For teaching only: the training pipeline masks token arrays in batches (``masking.mask_tokens``).
"""

from __future__ import annotations

import torch

from bertlab.config import IGNORE_INDEX
from bertlab.data.masking import mask_tokens
from bertlab.data.text import is_chinese, text_to_sentences
from bertlab.data.tokenizer import CLS_ID, SEP_ID, encode_words


def mask_text(text: str, tokenizer, whole_word: bool = True, seed: int = 0, mlm_probability: float = 0.15,
              language: str | None = None, max_redraws: int = 100) -> dict:
    """Tokenize ``text`` as one input (``[CLS] … [SEP]``) and mask it with the 80/10/10 rule.

    Chinese text is segmented by jieba so whole-word masking can mask all characters of a word. A short
    demo sentence often has nothing chosen at 15 %, so the mask is redrawn (same generator, next draw)
    until at least one position is chosen; the rate itself is untouched.
    """
    language = language or ("zh" if is_chinese(text) else "en")
    words = [w for sentence in text_to_sentences(text, language) for w in sentence]
    if not words:
        raise ValueError("mask_text: the text has no words")
    encoding = encode_words(tokenizer, [words])[0]
    ids = torch.tensor([CLS_ID, *encoding.ids, SEP_ID])  # (T,)
    word_ids = torch.tensor([-1, *encoding.word_ids, -1])  # (T,)
    special = word_ids < 0
    generator = torch.Generator().manual_seed(seed)
    for _ in range(max_redraws):
        masked, labels = mask_tokens(ids, special, tokenizer.get_vocab_size(), mlm_probability=mlm_probability,
                                     word_ids=word_ids if whole_word else None, generator=generator)
        if (labels != IGNORE_INDEX).any():
            break
    tokens = [tokenizer.id_to_token(i) for i in ids.tolist()]
    shown = [tokenizer.id_to_token(i) for i in masked.tolist()]
    return {"words": words, "tokens": tokens, "word_ids": word_ids.tolist(), "masked_tokens": shown,
            "labels": [None if t == IGNORE_INDEX else tokenizer.id_to_token(t) for t in labels.tolist()],
            "whole_word": whole_word}


def format_masked(example: dict) -> str:
    """Three readable lines: the words, the tokens, and what the model sees (targets in brackets)."""
    seen = [shown if label is None or shown == label else f"{shown}({label})"
            for shown, label in zip(example["masked_tokens"], example["labels"])]
    seen = [s if label is None or s != label else f"{s}(=)" for s, label in zip(seen, example["labels"])]
    return ("words:  " + " / ".join(example["words"]) + "\n"
            "tokens: " + " ".join(example["tokens"]) + "\n"
            "input:  " + " ".join(seen) + "\n"
            "        (target in brackets after a changed token; (=) marks a chosen token left unchanged)")
