"""Lesson 7 checks against correct, typically wrong, and crashing solutions."""

from __future__ import annotations

import pytest
import torch

from homework_helpers import crashes, fails, passes

from bertlab.data.tokenizer import MASK_ID

# --- UNILM masks -------------------------------------------------------------------------------------------------


def my_unilm_mask(kind, token_type_ids, attention_mask):
    if kind not in ("bidirectional", "left-to-right", "seq2seq"):
        raise ValueError(f"unknown kind {kind!r}")
    real = attention_mask.bool()  # (B, T)
    T = real.shape[1]
    causal = torch.ones(T, T, dtype=torch.bool).tril()  # key j <= query i
    if kind == "bidirectional":
        allowed = torch.ones(T, T, dtype=torch.bool).expand(real.shape[0], T, T)
    elif kind == "left-to-right":
        allowed = causal.expand(real.shape[0], T, T)
    else:
        source, target = token_type_ids == 0, token_type_ids == 1
        allowed = source[:, None, :] | (target[:, :, None] & target[:, None, :] & causal)
    return allowed & real[:, None, :]


def test_unilm_mask_correct_passes():
    passes("unilm_mask", my_unilm_mask)


def test_library_unilm_mask_passes():
    from bertlab.family.unilm import unilm_mask

    passes("unilm_mask", lambda kind, types, mask: unilm_mask(kind, mask, types))


def test_an_int_mask_of_zeros_and_ones_passes():
    passes("unilm_mask", lambda kind, types, mask: my_unilm_mask(kind, types, mask).long())


def target_blind_to_source(kind, types, mask):
    out = my_unilm_mask(kind, types, mask)
    if kind == "seq2seq":
        target = types == 1
        out = out & ~(target[:, :, None] & (types == 0)[:, None, :])
    return out


def source_sees_target(kind, types, mask):
    out = my_unilm_mask(kind, types, mask)
    if kind == "seq2seq":
        out = out | ((types == 0)[:, :, None] & (types == 1)[:, None, :] & mask.bool()[:, None, :])
    return out


def attends_padding(kind, types, mask):
    return my_unilm_mask(kind, types, torch.ones_like(mask))


def no_diagonal(kind, types, mask):
    T = types.shape[1]
    out = my_unilm_mask(kind, types, mask)
    return out & ~torch.eye(T, dtype=torch.bool) if kind != "bidirectional" else out


def upper_triangle(kind, types, mask):
    out = my_unilm_mask(kind, types, mask)
    return out.transpose(1, 2) & mask.bool()[:, None, :] if kind == "left-to-right" else out


def no_value_error(kind, types, mask):
    return my_unilm_mask("bidirectional" if kind == "causal" else kind, types, mask)


@pytest.mark.parametrize("wrong, rule, words", [
    (target_blind_to_source, "seq2seq", ["cannot see the source"]),
    (source_sees_target, "seq2seq", ["source token (segment 0) attends the target"]),
    (attends_padding, "bidirectional", ["padding key"]),
    (attends_padding, "seq2seq", ["padding key"]),  # left-to-right is right by luck: padding is on the right
    (no_diagonal, "left-to-right", ["diagonal is missing"]),
    (no_diagonal, "seq2seq", ["diagonal is missing"]),
    (upper_triangle, "left-to-right", ["to its right", "j ≤ query i"]),
    (no_value_error, "unknown kind", ["instead of raising valueerror"]),
])
def test_unilm_mask_typical_mistakes(wrong, rule, words):
    fails("unilm_mask", wrong, rule, *words)


def test_unilm_mask_wrong_shape_stops_early():
    feedback = fails("unilm_mask", lambda kind, types, mask: mask.bool(), "(b, t, t) bool", "(3, 11, 11)")
    assert "not checked" in feedback


def test_unilm_mask_crash_is_explained():
    def crashing(kind, types, mask):
        return types[:, :, None] @ mask[:, None, :].float()

    crashes("unilm_mask", crashing, "raised", "crashing")


# --- MASS inputs ---------------------------------------------------------------------------------------------------


def my_mass_inputs(ids, start, k):
    encoder_input = ids.clone()
    encoder_input[start:start + k] = MASK_ID
    labels = ids[start:start + k].clone()
    decoder_input = torch.cat([torch.tensor([MASK_ID]), labels[:-1]])
    return encoder_input, decoder_input, labels


def test_mass_inputs_correct_passes():
    passes("mass_inputs", my_mass_inputs)


def span_visible(ids, start, k):
    _, dec, labels = my_mass_inputs(ids, start, k)
    return ids.clone(), dec, labels


def not_shifted(ids, start, k):
    enc, _, labels = my_mass_inputs(ids, start, k)
    return enc, labels.clone(), labels


def token_before_span(ids, start, k):
    enc, _, labels = my_mass_inputs(ids, start, k)
    return enc, ids[start - 1:start + k - 1].clone(), labels


def off_by_one(ids, start, k):
    return my_mass_inputs(ids, start + 1, k) if start + k < len(ids) else my_mass_inputs(ids, start, k)


def in_place(ids, start, k):
    labels = ids[start:start + k].clone()
    ids[start:start + k] = MASK_ID
    return ids, torch.cat([torch.tensor([MASK_ID]), labels[:-1]]), labels


@pytest.mark.parametrize("wrong, rule, words", [
    (span_visible, "encoder input", ["still visible to the encoder"]),
    (not_shifted, "decoder input", ["equals the labels", "shift right"]),
    (token_before_span, "decoder input", ["token before the span"]),
    (off_by_one, "encoder input", ["wrong place"]),
    (off_by_one, "labels", ["one token too far"]),
    (in_place, "does not change", ["clone"]),
])
def test_mass_inputs_typical_mistakes(wrong, rule, words):
    fails("mass_inputs", wrong, rule, *words)


def test_mass_inputs_must_return_three_tensors():
    fails("mass_inputs", lambda ids, start, k: my_mass_inputs(ids, start, k)[:2], "three tensors", "tuple")


# --- magnitude pruning ---------------------------------------------------------------------------------------------


def my_magnitude_prune(weight, sparsity):
    n = round(sparsity * weight.numel())
    out = weight.clone()
    if n:
        threshold = weight.abs().flatten().kthvalue(n).values
        out[weight.abs() <= threshold] = 0.0
    return out


def test_magnitude_prune_correct_passes():
    passes("magnitude_prune", my_magnitude_prune)


def test_library_prune_unstructured_passes(monkeypatch):
    """bertlab's global pruning, on a one-layer "encoder" holding the weight, agrees with the check."""
    from torch import nn

    import bertlab.family.compression as c

    class OneLayer(nn.Module):
        def __init__(self, weight):
            super().__init__()
            self.encoder = nn.Sequential(nn.Linear(weight.shape[1], weight.shape[0], bias=False))
            self.encoder[0].weight.data.copy_(weight)

    monkeypatch.setattr(c, "_bert", lambda model: model)  # the toy model is its own BertModel
    passes("magnitude_prune", lambda weight, sparsity: c.prune_unstructured(OneLayer(weight), sparsity)
           .encoder[0].weight.detach())


def keeps_smallest(weight, sparsity):
    n = round(sparsity * weight.numel())
    out = weight.clone()
    out.view(-1)[weight.abs().view(-1).argsort(descending=True)[:n]] = 0.0
    return out


def per_row(weight, sparsity):
    out = weight.clone()
    k = round(sparsity * weight.shape[1])
    for row in out:
        row[row.abs().argsort()[:k]] = 0.0
    return out


def truncates_count(weight, sparsity):
    n = int(sparsity * weight.numel())
    out = weight.clone()
    out.view(-1)[weight.abs().view(-1).argsort()[:n]] = 0.0
    return out


def strict_threshold(weight, sparsity):
    n = round(sparsity * weight.numel())
    out = weight.clone()
    if n:
        out[weight.abs() < weight.abs().flatten().kthvalue(n).values] = 0.0
    return out


def signed(weight, sparsity):
    n = round(sparsity * weight.numel())
    out = weight.clone()
    out.view(-1)[weight.view(-1).argsort()[:n]] = 0.0
    return out


def modifies_input(weight, sparsity):
    n = round(sparsity * weight.numel())
    if n:
        weight.view(-1)[weight.abs().view(-1).argsort()[:n]] = 0.0
    return weight


@pytest.mark.parametrize("wrong, rule, words", [
    (keeps_smallest, "smallest |w|", ["zeroed the largest"]),
    (per_row, "smallest |w|", ["same share of every row", "row 0 should have"]),
    (truncates_count, "exactly round", ["rounds down", "expected 40 zeros, got 39"]),
    (strict_threshold, "exactly round", ["use <="]),
    (signed, "smallest |w|", ["signed value"]),
    (modifies_input, "never modified", ["pruned copy"]),
])
def test_magnitude_prune_typical_mistakes(wrong, rule, words):
    fails("magnitude_prune", wrong, rule, *words)


def test_magnitude_prune_crash_at_zero_sparsity_is_explained():
    def kth_at_zero(weight, sparsity):
        out = weight.clone()
        out[weight.abs() <= weight.abs().flatten().kthvalue(round(sparsity * weight.numel())).values] = 0.0
        return out

    crashes("magnitude_prune", kth_at_zero, "raised", "0.0")  # the call is shown with its arguments


def test_checks_are_registered_for_lesson_7():
    from bertlab.homework import list_checks

    assert {c.name for c in list_checks(7)} == {"unilm_mask", "mass_inputs", "magnitude_prune"}
