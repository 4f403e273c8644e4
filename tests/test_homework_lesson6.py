"""Lesson 6 checks against correct, typically wrong, and crashing solutions."""

from __future__ import annotations

import pytest
import torch

from homework_helpers import crashes, fails, passes

from bertlab.model.pooling import masked_mean


def my_mean_pool(hidden, attention_mask):
    real = attention_mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * real).sum(1) / real.sum(1)


def test_mean_pool_correct_passes():
    passes("mean_pool", my_mean_pool)


def test_library_masked_mean_passes():
    passes("mean_pool", masked_mean)


def averages_padding(hidden, attention_mask):
    return hidden.mean(1)


def divides_by_length(hidden, attention_mask):
    return (hidden * attention_mask.unsqueeze(-1)).sum(1) / hidden.shape[1]


def sums(hidden, attention_mask):
    return (hidden * attention_mask.unsqueeze(-1)).sum(1)


def skips_cls(hidden, attention_mask):
    return my_mean_pool(hidden[:, 1:], attention_mask[:, 1:])


def detaches(hidden, attention_mask):
    return my_mean_pool(hidden, attention_mask).detach()


def keeps_tokens(hidden, attention_mask):
    return hidden * attention_mask.unsqueeze(-1)


@pytest.mark.parametrize("wrong, rule, words", [
    (averages_padding, "never the padding", ["averaged the padding", "row 4 (2 real tokens of 9)"]),
    (divides_by_length, "never the padding", ["attention_mask.sum(1)"]),
    (sums, "never the padding", ["divide it by how many"]),
    (skips_cls, "never the padding", ["[cls]"]),
    (detaches, "keeps the graph", ["no gradient"]),
    (keeps_tokens, "shape (b, h)", ["(5, 6)"]),
])
def test_mean_pool_typical_mistakes(wrong, rule, words):
    fails("mean_pool", wrong, rule, *words)


def my_scalar_mix(layers, weights, gamma):
    s = torch.softmax(weights, dim=0)
    return gamma * sum(s[j] * h for j, h in enumerate(layers))


def test_scalar_mix_correct_passes():
    passes("scalar_mix", my_scalar_mix)


def test_library_scalar_mix_passes():
    from bertlab.model.pooling import ScalarMix

    def library(layers, weights, gamma):
        # the module with the given tensors in place of its parameters, so gradients reach them
        return torch.func.functional_call(ScalarMix(len(layers)), {"scalar_parameters": weights,
                                                                   "gamma": gamma.reshape(1)}, (layers,))

    passes("scalar_mix", library)


def raw_weights(layers, weights, gamma):
    return gamma * sum(weights[j] * h for j, h in enumerate(layers))


def no_gamma(layers, weights, gamma):
    return my_scalar_mix(layers, weights, 1.0)


def divided_by_sum(layers, weights, gamma):
    return gamma * sum((weights / weights.sum())[j] * h for j, h in enumerate(layers))


def plain_average(layers, weights, gamma):
    return gamma * torch.stack(layers).mean(0)


def mean_of_weighted(layers, weights, gamma):
    return my_scalar_mix(layers, weights, gamma) / len(layers)


def values_only(layers, weights, gamma):
    return my_scalar_mix(layers, torch.tensor(weights.tolist()), gamma.item())


def stacks_layers(layers, weights, gamma):
    return gamma * torch.softmax(weights, 0)[:, None, None, None] * torch.stack(layers)


@pytest.mark.parametrize("wrong, rule, words", [
    (raw_weights, "softmax over the layers", ["raw weights", "softmax(w)"]),
    (no_gamma, "γ scales", ["γ was forgotten"]),
    (divided_by_sum, "softmax over the layers", ["divided w by its sum"]),
    (plain_average, "softmax over the layers", ["ignored the weights"]),
    (mean_of_weighted, "softmax over the layers", ["already sum to one"]),
    (values_only, "receive gradients", ["no gradient"]),
    (stacks_layers, "shaped like one layer", ["(3, 5, 4)"]),
])
def test_scalar_mix_typical_mistakes(wrong, rule, words):
    fails("scalar_mix", wrong, rule, *words)


def my_set_mode(model, mode):
    if mode not in ("features", "finetune"):
        raise ValueError(f"mode must be 'features' or 'finetune', got {mode!r}")
    model.requires_grad_(True)
    if mode == "features":
        model.bert.requires_grad_(False)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_set_mode_correct_passes():
    passes("freeze", my_set_mode)


def layers_only(model, mode):
    model.requires_grad_(True)
    if mode == "features":
        model.bert.embeddings.requires_grad_(False)
        model.bert.encoder.requires_grad_(False)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def freezes_everything(model, mode):
    model.requires_grad_(mode == "finetune")
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def freezes_the_mix(model, mode):
    my_set_mode(model, mode)
    if mode == "features" and model.scalar_mix is not None:
        model.scalar_mix.requires_grad_(False)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def never_unfreezes(model, mode):
    if mode == "features":
        model.bert.requires_grad_(False)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def counts_tensors(model, mode):
    my_set_mode(model, mode)
    return len([p for p in model.parameters() if p.requires_grad])


def counts_all(model, mode):
    my_set_mode(model, mode)
    return sum(p.numel() for p in model.parameters())


def accepts_any_mode(model, mode):
    model.requires_grad_(True)
    if mode == "features":
        model.bert.requires_grad_(False)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("wrong, rule, words", [
    (layers_only, "whole encoder is frozen", ["pooler", "model.bert.encoder"]),
    (freezes_everything, "head still trains", ["classifier", "nothing can learn"]),
    (freezes_the_mix, "head still trains", ["scalar_mix", "pick its layers"]),
    (never_unfreezes, "frozen before", ["still frozen"]),
    (counts_tensors, "number of trainable parameters", ["p.numel()"]),
    (counts_all, "number of trainable parameters", ["frozen or not"]),
    (accepts_any_mode, "unknown mode", ["silently"]),
])
def test_set_mode_typical_mistakes(wrong, rule, words):
    fails("freeze", wrong, rule, *words)


def test_finetuning_checks_report_unfinished_work():
    def unfinished(*args, **kwargs):
        raise NotImplementedError

    for name in ("mean_pool", "scalar_mix", "freeze"):
        crashes(name, unfinished, "not written yet")


def test_lesson6_checks_are_listed():
    from bertlab.homework import list_checks

    assert [c.name for c in list_checks(6)] == ["mean_pool", "scalar_mix", "freeze"]
