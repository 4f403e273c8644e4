"""Lesson 1's input-embedding check against correct, typically wrong and crashing solutions."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bertlab.config import get_preset
from bertlab.model.embeddings import BertEmbeddings
from homework_helpers import crashes, fails, passes


def embedding(positions_from=0, segments=True, norm="after", concat=False, fixed_length=None, detached=False):
    """A family of answers: the correct one with default arguments, a typical mistake with one changed."""

    def my_input_embedding(input_ids, token_type_ids, word_embeddings, position_embeddings, token_type_embeddings,
                           norm_weight, norm_bias, eps=1e-12):
        T = fixed_length or input_ids.shape[1]
        parts = [word_embeddings[input_ids],
                 position_embeddings[torch.arange(positions_from, positions_from + T)].expand(len(input_ids), T, -1)]
        if segments:
            parts.append(token_type_embeddings[token_type_ids])
        if concat:
            return torch.cat(parts, dim=-1)
        H = word_embeddings.shape[1]
        if norm == "each":
            return sum(F.layer_norm(x, (H,), norm_weight, norm_bias, eps) for x in parts)
        x = sum(parts)
        if norm == "none":
            return x
        out = F.layer_norm(x, (H,), norm_weight, norm_bias, eps)
        return out.detach() if detached else out

    return my_input_embedding


def test_input_embedding_correct_answers_pass():
    passes("input_embedding", embedding())

    def with_the_library(input_ids, token_type_ids, word, position, segment, weight, bias, eps=1e-12):
        config = get_preset("tiny", vocab_size=word.shape[0], hidden_size=word.shape[1], num_attention_heads=2,
                            max_position_embeddings=position.shape[0], layer_norm_eps=eps, hidden_dropout_prob=0.0)
        weights = {"word_embeddings.weight": word, "position_embeddings.weight": position,
                   "token_type_embeddings.weight": segment, "norm.weight": weight, "norm.bias": bias}
        return torch.func.functional_call(BertEmbeddings(config), weights, (input_ids, token_type_ids))

    passes("input_embedding", with_the_library)


@pytest.mark.parametrize("wrong, rule, words", [
    (embedding(concat=True), "returns a (B, T, H)", ["concatenated", "sums"]),
    (embedding(positions_from=1), "LayerNorm(word", ["start at 1", "torch.arange(T)"]),
    (embedding(segments=False), "LayerNorm(word", ["segment (token type) embeddings are missing"]),
    (embedding(norm="none"), "LayerNorm(word", ["LayerNorm is missing"]),
    (embedding(norm="each"), "LayerNorm(word", ["sum the three first"]),
    (embedding(detached=True), "get gradients", ["no gradient"]),
    (embedding(fixed_length=7), "follow the input's length", ["T = 4", "RuntimeError", "input_ids.shape[1]"]),
])
def test_input_embedding_typical_mistakes(wrong, rule, words):
    fails("input_embedding", wrong, rule, *words)


def test_input_embedding_unfinished():
    def unfinished(*args, **kwargs):
        raise NotImplementedError

    crashes("input_embedding", unfinished, "not written yet")
