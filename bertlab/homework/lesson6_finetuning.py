"""Lesson 6 checks: the sentence vector a head reads, ELMo's scalar mix, and what feature extraction freezes
(BERT §5.3; Peters et al. 2018, Eq. 1)."""

from __future__ import annotations

import torch

from bertlab.config import BertConfig
from bertlab.homework.grading import Report, hidden_generator, register
from bertlab.homework.helpers import as_tensor, must_raise_value_error
from bertlab.model.classifier import BertForClassification


def _padded_batch(seed: int = 0):
    """Hidden states (B, T, H) whose padding holds wild values (as a real encoder's would: it computes them
    too), and an attention mask (B, T) of 1s for real tokens — long, as the batches of the lessons give it."""
    g = hidden_generator(seed)
    B, T, H = 5, 9, 6
    hidden = torch.randn(B, T, H, generator=g)
    lengths = torch.tensor([9, 6, 3, 7, 2])  # row 0 has no padding; row 4 is [CLS] x only
    mask = (torch.arange(T)[None, :] < lengths[:, None]).long()  # (B, T)
    hidden = hidden.masked_fill(mask[..., None] == 0, 25.0)
    return hidden, mask


def _max_gap(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.detach().float() - b.detach().float()).abs().max())


def _which(value, candidates: dict) -> str | None:
    """The explanation of the first typical wrong answer that ``value`` equals."""
    return next((why for why, c in candidates.items() if c is not None and _max_gap(value, c) <= 1e-5), None)


@register("mean_pool", 6, "a sentence vector: the mean over the real tokens",
          "my_mean_pool(hidden (B, T, H), attention_mask (B, T)) -> (B, H)")
def check_mean_pool(fn, r: Report) -> None:
    hidden, mask = _padded_batch()
    B, T, H = hidden.shape
    given = hidden.clone().requires_grad_(True)
    got = r.call(fn, given, mask.clone())
    real = mask.to(hidden.dtype).unsqueeze(-1)  # (B, T, 1)
    want = (hidden * real).sum(1) / real.sum(1)  # (B, H)

    @r.rule("returns a tensor of shape (B, H): one vector per sentence", required=True)
    def _():
        as_tensor(got, r, "the pooled vectors", shape=(B, H))

    @r.rule("averages the real tokens only ([CLS] and [SEP] included), never the padding")
    def _():
        gap = _max_gap(got, want)
        if gap <= 1e-5:
            return
        value = got.detach().float()
        candidates = {
            "you averaged the padding too: padded positions hold whatever the encoder computed there, so the "
            "same sentence would get another vector in a batch with longer sentences. Multiply by the mask "
            "(B, T, 1) before summing.": hidden.mean(1),
            "the padding is left out of the sum, but you divided by T (all positions) instead of each "
            "sentence's number of real tokens, attention_mask.sum(1).": (hidden * real).sum(1) / T,
            "that is the sum over the real tokens: divide it by how many there are.": (hidden * real).sum(1),
            "you skipped [CLS] (position 0): the library's mean counts [CLS] and [SEP], which are real "
            "positions the encoder attends to.": (hidden[:, 1:] * real[:, 1:]).sum(1) / real[:, 1:].sum(1),
        }
        hint = _which(value, candidates)
        row = int((value - want).abs().amax(1).argmax())
        first = lambda v: [round(float(x), 3) for x in v[row, :3]]  # noqa: E731
        r.fail(f"for row {row} ({int(mask[row].sum())} real tokens of {T}) expected {first(want)}…, "
               f"got {first(value)}…: " + (hint or "average hidden[b, t] over the t where "
                                                             "attention_mask[b, t] is 1."))

    @r.rule("keeps the graph: the head's gradient reaches the encoder when fine-tuning")
    def _():
        if not got.requires_grad:
            r.fail("the result has no gradient: do not call .detach(), .numpy(), .tolist() or build a new "
                   "tensor from the values; compute with torch operations on `hidden`.")
        (grad,) = torch.autograd.grad(got.sum(), given)
        if float(grad[mask == 0].abs().max()) > 0:
            r.fail("padding positions receive a gradient: their values flow into the sentence vector.")


def _layers(seed: int = 1, num_layers: int = 4):
    g = hidden_generator(seed)
    return [torch.randn(3, 5, 4, generator=g) * (j + 1) for j in range(num_layers)]  # L+1 × (B, T, H)


def _weighted(layers, s):
    return sum(s[j] * h for j, h in enumerate(layers))


def _mix(layers, w, gamma):
    return gamma * _weighted(layers, torch.softmax(w, dim=0))


@register("scalar_mix", 6, "ELMo's scalar mix of the L+1 layers",
          "my_scalar_mix(layers (list of L+1 tensors (B, T, H)), weights (L+1,), gamma ()) -> (B, T, H)")
def check_scalar_mix(fn, r: Report) -> None:
    layers = _layers()
    cases = [torch.tensor([0.5, -1.0, 2.0, 0.3]), torch.tensor([3.0, 0.0, 0.0, -2.0]), torch.zeros(4)]
    one = torch.tensor(1.0)
    got = [r.call(fn, [h.clone() for h in layers], w.clone(), one.clone()) for w in cases]

    @r.rule("returns a tensor shaped like one layer, (B, T, H)", required=True)
    def _():
        for value in got:
            as_tensor(value, r, "the mix", shape=tuple(layers[0].shape))

    @r.rule("the weights go through a softmax over the layers: s = softmax(w), Σ_j s_j h_j (γ = 1)")
    def _():
        for w, value in zip(cases, got):
            want = _mix(layers, w, 1.0)
            if _max_gap(value, want) <= 1e-4:
                continue
            stacked = torch.stack(layers)  # (L+1, B, T, H)
            candidates = {
                "the raw weights w were used: softmax them first, so that they are positive and sum to one "
                "(w = 0 then means the plain average of the layers).": _weighted(layers, w),
                "you divided w by its sum: a softmax, exp(w) / Σ exp(w), keeps every weight positive and "
                "works for w = 0 as well.": _weighted(layers, w / w.sum()) if float(w.sum()) else None,
                "you ignored the weights and averaged the layers: the learned s_j decide how much of each "
                "layer the task reads.": stacked.mean(0) if float(w.std()) > 0 else None,
                "you divided the softmax-weighted sum by the number of layers: the softmax weights already "
                "sum to one.": want / len(layers),
            }
            hint = _which(value, candidates)
            r.fail(f"for w = {[round(float(x), 2) for x in w]}, softmax(w) = "
                   f"{[round(float(x), 3) for x in torch.softmax(w, 0)]}: the mix is off by up to "
                   f"{_max_gap(value, want):.3g}. " + (hint or "compute Σ_j softmax(w)_j · layers[j]."))

    @r.rule("γ scales the whole mix: γ Σ_j s_j h_j")
    def _():
        w = cases[0]
        for gamma in (2.5, 0.4):
            value = r.call(fn, [h.clone() for h in layers], w.clone(), torch.tensor(gamma))
            want = _mix(layers, w, gamma)
            if _max_gap(value, want) <= 1e-4 * gamma:
                continue
            if _max_gap(value, _mix(layers, w, 1.0)) <= 1e-4:
                r.fail(f"with γ = {gamma} the result is the same as with γ = 1: γ was forgotten. ELMo scales the "
                       f"mix with a learned γ so the task can set the size of the vectors it reads.")
            r.fail(f"with γ = {gamma} the result is off by up to {_max_gap(value, want):.3g}; multiply the mix by γ.")

    @r.rule("w and γ receive gradients (they are learned with the head)")
    def _():
        w = cases[0].clone().requires_grad_(True)
        gamma = torch.tensor(1.5, requires_grad=True)
        value = r.call(fn, [h.clone() for h in layers], w, gamma)
        if not isinstance(value, torch.Tensor) or not value.requires_grad:
            r.fail("the result has no gradient: compute with torch operations on `weights` and `gamma` "
                   "(no .item(), .tolist() or torch.tensor(...) of their values).")
        grad_w, grad_gamma = torch.autograd.grad((value * layers[-1]).sum(), (w, gamma), allow_unused=True)
        for name, grad in (("weights", grad_w), ("gamma", grad_gamma)):
            if grad is None or float(grad.abs().sum()) == 0:
                r.fail(f"no gradient reaches {name}: the optimiser could never learn it.")


def _models():
    """Two small classifiers: [CLS] pooling (it has a pooler) and a scalar mix (it has w and γ)."""
    config = BertConfig(vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                        num_attention_heads=2, max_position_embeddings=16)
    torch.manual_seed(0)
    return {pooling: BertForClassification(config, 3, pooling) for pooling in ("cls", "scalar-mix")}


def _trainable(model) -> list[str]:
    return [name for name, p in model.named_parameters() if p.requires_grad]


def _group(name: str) -> str:
    if name.startswith("bert.pooler"):
        return "the pooler (bert.pooler)"
    if name.startswith("bert.embeddings"):
        return "the embeddings (bert.embeddings)"
    if name.startswith("bert."):
        return "the Transformer layers (bert.encoder)"
    return name.split(".")[0]


@register("freeze", 6, "feature extraction vs fine-tuning: which weights train",
          "my_set_mode(model, mode ('features' | 'finetune')) -> number of trainable parameters")
def check_freeze(fn, r: Report) -> None:
    models = _models()
    counts = {}
    for pooling, model in models.items():
        counts[pooling] = r.call(fn, model, "features")

    @r.rule("returns the number of trainable parameters (weights, not tensors) as a whole number", required=True)
    def _():
        for pooling, model in models.items():
            value = counts[pooling]
            if isinstance(value, torch.Tensor) and value.numel() == 1:
                value = value.item()
            if isinstance(value, bool) or not isinstance(value, int):
                r.fail(f"my_set_mode returned {type(value).__name__} {value!r:.60}; return the count, e.g. "
                       f"sum(p.numel() for p in model.parameters() if p.requires_grad)")
            trainable = [p for p in model.parameters() if p.requires_grad]
            want = sum(p.numel() for p in trainable)
            if value != want:
                hint = (" That is the number of parameter tensors: count their elements with p.numel()."
                        if value == len(trainable) else
                        " That is every parameter, frozen or not: count only those with requires_grad."
                        if value == sum(p.numel() for p in model.parameters()) else "")
                r.fail(f"after my_set_mode(model, 'features') on a {pooling}-pooling model {want:,} weights have "
                       f"requires_grad=True, but it returned {value}.{hint}")

    @r.rule("features: the whole encoder is frozen — embeddings, Transformer layers and the pooler")
    def _():
        for pooling, model in models.items():
            left = sorted({_group(n) for n in _trainable(model) if n.startswith("bert.")})
            if left:
                hint = (" The pooler, tanh(W h_[CLS]), is part of the pre-trained encoder (NSP trained it): "
                        "freeze all of model.bert, not only model.bert.encoder." if left == ["the pooler (bert.pooler)"]
                        else " Freeze all of model.bert: model.bert.requires_grad_(False).")
                r.fail(f"{pooling} pooling, mode 'features': {', '.join(left)} still train.{hint}")

    @r.rule("features: the head still trains — the classifier and the scalar mix")
    def _():
        for pooling, model in models.items():
            head = [n for n, _ in model.named_parameters() if not n.startswith("bert.")]
            frozen = [n for n in head if n not in _trainable(model)]
            if frozen:
                hint = (" The scalar mix's w and γ are task parameters: they are what lets the task pick its layers."
                        if all(n.startswith("scalar_mix") for n in frozen) else
                        " With the classifier frozen nothing can learn the task.")
                r.fail(f"{pooling} pooling, mode 'features': {', '.join(frozen)} frozen.{hint}")

    @r.rule("finetune: every weight trains, also on a model frozen before")
    def _():
        for pooling, model in models.items():
            total = sum(p.numel() for p in model.parameters())
            value = r.call(fn, model, "finetune")
            frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
            if frozen:
                r.fail(f"{pooling} pooling: after my_set_mode(model, 'finetune') on a model that was in 'features' "
                       f"mode, {len(frozen)} tensors are still frozen (e.g. {frozen[0]}): set requires_grad=True "
                       f"on every parameter, don't only skip freezing.")
            if value != total:
                r.fail(f"{pooling} pooling, mode 'finetune': all {total:,} weights train, but it returned {value!r}.")

    @r.rule("rejects an unknown mode with ValueError")
    def _():
        must_raise_value_error(r, lambda: fn(models["cls"], "frozen"), "my_set_mode(model, 'frozen')",
                               "naming the two modes, 'features' and 'finetune'",
                               "a typo in the mode would silently fine-tune (or freeze) the model")
