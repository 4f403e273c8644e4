"""Lesson 5 checks against correct, typically wrong, and crashing solutions."""

from __future__ import annotations

import pytest

from homework_helpers import crashes, fails, passes


def my_mask_coverage(epochs, p, masking, dupe_factor=1):
    masks = epochs if masking == "dynamic" else min(epochs, dupe_factor)
    return 1 - (1 - p) ** masks


def test_mask_coverage_correct_passes():
    passes("mask_coverage", my_mask_coverage)


@pytest.mark.parametrize("wrong, rule, words", [
    (lambda e, p, m, dupe_factor=1: min(1.0, p * (e if m == "dynamic" else min(e, dupe_factor))),
     "static masking", ["masks overlap"]),
    (lambda e, p, m, dupe_factor=1: 1 - (1 - p) ** e, "static masking", ["only dupe_factor"]),
    (lambda e, p, m, dupe_factor=1: (1 - p) ** (e if m == "dynamic" else min(e, dupe_factor)), "static masking",
     ["1 minus"]),
    (lambda e, p, m, dupe_factor=1: 1 - (1 - p) ** min(e, dupe_factor), "dynamic masking", ["new mask every epoch"]),
    (lambda e, p, m, dupe_factor=1: p * e, "between 0 and 1", ["counts some tokens twice"]),
])
def test_mask_coverage_typical_mistakes(wrong, rule, words):
    fails("mask_coverage", wrong, rule, *words)


def my_pack_sentences(sentence_lengths, max_seq_length):
    packs, current, used = [], [], 2
    for i, n in enumerate(sentence_lengths):
        if current and used + n > max_seq_length:
            packs.append(current)
            current, used = [], 2
        current.append(i)
        used += n
    if current:
        packs.append(current)
    return packs


def test_pack_sentences_correct_passes():
    passes("pack_sentences", my_pack_sentences)


def one_per_input(lengths, limit):
    return [[i] for i in range(len(lengths))]


def no_specials(lengths, limit):
    packs, current, used = [], [], 0
    for i, n in enumerate(lengths):
        if current and used + n > limit:
            packs.append(current)
            current, used = [], 0
        current.append(i)
        used += n
    return packs + [current]


def drops_long(lengths, limit):
    return [p for p in my_pack_sentences(lengths, limit) if sum(lengths[i] for i in p) + 2 <= limit]


@pytest.mark.parametrize("wrong, rule, words", [
    (one_per_input, "filled greedily", ["as full as possible"]),
    (no_specials, "each input fits", ["count [cls] and [sep]"]),
    (drops_long, "used exactly once", ["nothing dropped"]),
])
def test_pack_sentences_typical_mistakes(wrong, rule, words):
    fails("pack_sentences", wrong, rule, *words)


def test_roberta_checks_report_unfinished_work():
    def unfinished(*args, **kwargs):
        raise NotImplementedError

    for name in ("mask_coverage", "pack_sentences"):
        crashes(name, unfinished, "not written yet")
