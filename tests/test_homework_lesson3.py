"""Lesson 3 checks against correct, typically wrong, and crashing solutions."""

from __future__ import annotations

import pytest

from bertlab.analysis.params import count_parameters
from bertlab.config import BertConfig
from homework_helpers import crashes, fails, passes


def my_embedding_params(V, E, H):  # noqa: N803
    return V * H if E == H else V * E + E * H


def test_embedding_params_correct_passes():
    passes("embedding_params", my_embedding_params)


def test_embedding_formula_agrees_with_a_counted_model():
    config = BertConfig(vocab_size=8192, hidden_size=128, embedding_size=64, num_hidden_layers=2)
    counts = count_parameters(config).by_component
    # the counted projection has a bias of H on top of the formula's E x H
    assert counts["word_embeddings"] + counts["embedding_projection"] - 128 == my_embedding_params(8192, 64, 128)


@pytest.mark.parametrize("wrong, rule, words", [
    (lambda V, E, H: V * E, "E < H", ["V×E alone", "projection up to the hidden size is missing"]),
    (lambda V, E, H: V * E + E * H, "E = H", ["no projection"]),
    (lambda V, E, H: V * H, "E < H", ["bert's table"]),
    (lambda V, E, H: V * E + E * H + (H if E != H else 0), "E < H", ["bias"]),
    (lambda V, E, H: V * E * H, "E < H", ["adds"]),
    (lambda V, E, H: float(V * E + E * H) + 0.5, "whole number", ["whole number"]),
])
def test_embedding_params_typical_mistakes(wrong, rule, words):
    wrong.__name__ = "my_embedding_params"
    fails("embedding_params", wrong, rule, *words)


def my_encoder_params(H, I, L, share):  # noqa: N803, E741
    attention = 4 * (H * H + H) + 2 * H
    ffn = H * I + I + I * H + H + 2 * H
    return (1 if share in ("all", "attention") else L) * attention + (1 if share in ("all", "ffn") else L) * ffn


def test_encoder_params_correct_passes():
    passes("encoder_params", my_encoder_params)


def no_biases(H, I, L, share):  # noqa: N803, E741
    return (1 if share in ("all", "attention") else L) * (4 * H * H + 2 * H) + \
        (1 if share in ("all", "ffn") else L) * (2 * H * I + 2 * H)


def no_sharing(H, I, L, share):  # noqa: N803, E741
    return my_encoder_params(H, I, L, "none")


def swapped(H, I, L, share):  # noqa: N803, E741
    return my_encoder_params(H, I, L, {"attention": "ffn", "ffn": "attention"}.get(share, share))


def no_norms(H, I, L, share):  # noqa: N803, E741
    return (1 if share in ("all", "attention") else L) * 4 * (H * H + H) + \
        (1 if share in ("all", "ffn") else L) * (2 * H * I + I + H)


@pytest.mark.parametrize("wrong, rule, words", [
    (no_biases, "share='none'", ["biases are missing"]),
    (no_norms, "share='none'", ["layernorms are missing"]),
    (no_sharing, "share='all'", ["don't multiply them by l"]),
    (swapped, "only one kind of block", ["shared the other block"]),
])
def test_encoder_params_typical_mistakes(wrong, rule, words):
    fails("encoder_params", wrong, rule, *words)


def my_encoder_macs(H, I, L, T, share):  # noqa: N803, E741
    return L * (4 * T * H * H + 2 * T * T * H + 2 * T * H * I)


def test_encoder_macs_correct_passes():
    passes("encoder_macs", my_encoder_macs)


def divided_when_shared(H, I, L, T, share):  # noqa: N803, E741
    return my_encoder_macs(H, I, L, T, share) // (L if share == "all" else 1)


def no_attention_products(H, I, L, T, share):  # noqa: N803, E741
    return L * (4 * T * H * H + 2 * T * H * I)


@pytest.mark.parametrize("wrong, rule, words", [
    (divided_when_shared, "same for every sharing mode", ["applies it l times"]),
    (no_attention_products, "share='none'", ["attention products are missing"]),
])
def test_encoder_macs_typical_mistakes(wrong, rule, words):
    fails("encoder_macs", wrong, rule, *words)


def test_albert_checks_report_crashes():
    def unfinished(*args):
        raise NotImplementedError

    def returns_text(*args):
        return "a lot"

    for name in ("embedding_params", "encoder_params", "encoder_macs"):
        crashes(name, unfinished, "not written yet")
        fails(name, returns_text, "whole number", "should be a number")
