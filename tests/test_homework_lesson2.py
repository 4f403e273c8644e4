"""Lesson 2 checks against correct, typically wrong, and crashing solutions."""

from __future__ import annotations

import random

import pytest

from homework_helpers import crashes, fails, passes


def pair_input(first_sep_type=0, last_sep_type=1, final_sep=True, cls=True):
    def my_pair_input(tokens_a, tokens_b):
        tokens = (["[CLS]"] if cls else []) + tokens_a + ["[SEP]"] + tokens_b + (["[SEP]"] if final_sep else [])
        types = ([0] if cls else []) + [0] * len(tokens_a) + [first_sep_type] + [1] * len(tokens_b) \
            + ([last_sep_type] if final_sep else [])
        return tokens, types

    return my_pair_input


def test_pair_input_correct_passes():
    passes("pair_input", pair_input())


def mutating(tokens_a, tokens_b):
    tokens_a.insert(0, "[CLS]")
    tokens_a.append("[SEP]")
    tokens = tokens_a + tokens_b + ["[SEP]"]
    return tokens, [0] * len(tokens_a) + [1] * (len(tokens_b) + 1)


@pytest.mark.parametrize("wrong, rule, words", [
    (pair_input(first_sep_type=1), "token_type_ids", ["closes a belongs to segment a"]),
    (pair_input(last_sep_type=0), "token_type_ids", ["final [sep] closes b"]),
    (pair_input(final_sep=False), "tokens are [CLS] A [SEP] B [SEP]", ["two [sep]"]),
    (pair_input(cls=False), "tokens are [CLS] A [SEP] B [SEP]", ["starts with [cls]"]),
    (mutating, "not modified", ["new list"]),
])
def test_pair_input_typical_mistakes(wrong, rule, words):
    fails("pair_input", wrong, rule, *words)


def nsp(swap_labels=False, same_document=False, always_next=False, one_sentence=False, global_rng=False,
        document_start=False):
    def my_nsp_example(document, index, other_documents, rng):
        r = random if global_rng else rng
        if always_next or r.random() < 0.5:
            return document[index], document[index + 1], (1 if swap_labels else 0)
        if same_document:
            return document[index], r.choice(document), 1
        other = other_documents[0] if one_sentence else r.choice(other_documents)
        sentence = other[0] if one_sentence or document_start else r.choice(other)
        return document[index], sentence, (0 if swap_labels else 1)

    return my_nsp_example


def test_nsp_correct_passes():
    passes("nsp_example", nsp())


@pytest.mark.parametrize("wrong, rule, words", [
    (nsp(swap_labels=True), "IsNext (label 0)", ["labels swapped"]),
    (nsp(same_document=True), "NotNext (label 1)", ["different document"]),
    (nsp(always_next=True), "half of the examples", ["50 %"]),
    (nsp(one_sentence=True), "drawn at random", ["random document"]),
    (nsp(global_rng=True), "randomness comes from `rng`", ["rng.random()"]),
    (nsp(document_start=True), "anywhere in their document", ["first sentence", "rng.choice(other)"]),
])
def test_nsp_typical_mistakes(wrong, rule, words):
    fails("nsp_example", wrong, rule, *words)


def sop(swap_without_label=False, always_swap=False, other_sentence=False):
    def my_sop_example(segment_a, segment_b, rng):
        if always_swap or rng.random() < 0.5:
            if other_sentence:
                return segment_a, "penguins are flightless birds .", 1
            return segment_b, segment_a, (0 if swap_without_label else 1)
        return segment_a, segment_b, 0

    return my_sop_example


def test_sop_correct_passes():
    passes("sop_example", sop())


@pytest.mark.parametrize("wrong, rule, words", [
    (sop(swap_without_label=True), "label 0 = in order", ["label 1 together"]),
    (sop(always_swap=True), "half of the examples are swapped", ["50 %"]),
    (sop(other_sentence=True), "the two segments are A and B", ["would be nsp"]),
])
def test_sop_typical_mistakes(wrong, rule, words):
    fails("sop_example", wrong, rule, *words)


def test_pair_checks_report_crashes():
    def boom(tokens_a, tokens_b):
        return tokens_a + 1

    crashes("pair_input", boom, "TypeError")

    def unfinished(*args):
        raise NotImplementedError

    for name in ("pair_input", "nsp_example", "sop_example"):
        crashes(name, unfinished, "not written yet")
