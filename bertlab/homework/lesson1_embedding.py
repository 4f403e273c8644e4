"""Lesson 1 check: BERT's input embedding — token + segment + position embeddings, summed, then LayerNorm
(BERT §3, Figure 2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from bertlab.homework.grading import Report, hidden_generator, register
from bertlab.homework.helpers import as_tensor, needs_gradient

V, P, H = 40, 16, 8  # vocabulary, positions, width of the hidden test tables


def _tables(seed: int = 4) -> dict[str, torch.Tensor]:
    g = hidden_generator(seed)
    return {"word_embeddings": torch.randn(V, H, generator=g), "position_embeddings": torch.randn(P, H, generator=g),
            "token_type_embeddings": torch.randn(2, H, generator=g),
            "norm_weight": 1 + 0.5 * torch.randn(H, generator=g), "norm_bias": 0.5 * torch.randn(H, generator=g)}


def _inputs(B: int, T: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``[CLS] A [SEP] B [SEP]`` rows: real ids, segment 0 up to a row's first [SEP], 1 after it."""
    g = hidden_generator(seed)
    ids = torch.randint(5, V, (B, T), generator=g)
    ids[:, 0] = 2
    split = torch.randint(2, T - 1, (B, 1), generator=g)  # (B, 1): where segment B starts
    return ids, (torch.arange(T)[None, :] >= split).long()


def _embed(t: dict, ids, types, positions=None, norm: str = "after", drop: str | None = None) -> torch.Tensor:
    """The right answer (the defaults) and the typical wrong ones, for the diagnosis: ``positions`` other than
    0 … T−1, ``norm`` "none" / "plain" (no weight, bias) / "each" (each part normalised), ``drop`` a part."""
    T = ids.shape[1]
    positions = torch.arange(T) if positions is None else positions
    parts = {"word": t["word_embeddings"][ids], "position": t["position_embeddings"][positions].expand(len(ids), T, H),
             "segment": t["token_type_embeddings"][types]}  # each (B, T, H)
    parts = [x for name, x in parts.items() if name != drop]
    if norm == "each":
        return sum(F.layer_norm(x, (H,), t["norm_weight"], t["norm_bias"], 1e-12) for x in parts)
    x = sum(parts)  # (B, T, H)
    if norm == "none":
        return x
    if norm == "plain":
        return F.layer_norm(x, (H,), eps=1e-12)
    return F.layer_norm(x, (H,), t["norm_weight"], t["norm_bias"], 1e-12)


@register("input_embedding", 1, "BERT's input embedding: token + segment + position, summed, then LayerNorm",
          "my_input_embedding(input_ids (B, T), token_type_ids (B, T), word_embeddings (V, H), position_embeddings "
          "(P, H), token_type_embeddings (2, H), norm_weight (H,), norm_bias (H,), eps=1e-12) -> (B, T, H)")
def check_input_embedding(fn, r: Report) -> None:
    tables = _tables()
    B, T = 3, 7
    ids, types = _inputs(B, T, seed=5)
    given = {name: value.clone().requires_grad_(True) for name, value in tables.items()}
    out = r.call(fn, ids.clone(), types.clone(), *given.values(), eps=1e-12)
    expected = _embed(tables, ids, types)
    holder = {}

    @r.rule("returns a (B, T, H) tensor of floats", required=True)
    def _():
        if isinstance(out, torch.Tensor) and tuple(out.shape) == (B, T, 3 * H):
            r.fail(f"got shape {tuple(out.shape)}: you concatenated the three vectors. BERT SUMS them, so the "
                   f"width stays H = {H} (Figure 2: token + segment + position embeddings)")
        holder["out"] = as_tensor(out, r, "the embedding", (B, T, H))
        if not holder["out"].dtype.is_floating_point:
            r.fail(f"the embedding should hold floats, got dtype {holder['out'].dtype}")

    @r.rule("LayerNorm(word[input_ids] + position[0 … T−1] + segment[token_type_ids]) with its weight and bias")
    def _():
        value = holder["out"].detach()
        if torch.allclose(value, expected, atol=1e-4):
            return
        candidates = {
            "the position embeddings are missing: without them the model cannot tell 'dog bites man' from "
            "'man bites dog' (attention itself ignores order).": _embed(tables, ids, types, drop="position"),
            "the segment (token type) embeddings are missing: they tell the model which sentence, A or B, a token "
            "belongs to (lesson 2).": _embed(tables, ids, types, drop="segment"),
            "your positions start at 1: the first token ([CLS]) has position 0, so use torch.arange(T).":
                _embed(tables, ids, types, positions=torch.arange(1, T + 1)),
            "the LayerNorm is missing: BERT normalises the sum (then applies dropout) before the first layer.":
                _embed(tables, ids, types, norm="none"),
            "you normalised without the LayerNorm's learned weight and bias (γ, β): pass norm_weight and norm_bias "
            "(F.layer_norm(x, (H,), norm_weight, norm_bias, eps)).": _embed(tables, ids, types, norm="plain"),
            "you normalised each table's vector and then summed: sum the three first, then one LayerNorm.":
                _embed(tables, ids, types, norm="each"),
        }
        hint = next((why for why, wrong in candidates.items() if torch.allclose(value, wrong, atol=1e-4)),
                    "look up the three tables (word by input_ids, position by 0 … T−1, segment by "
                    "token_type_ids), add them, then F.layer_norm over the last dimension.")
        worst = float((value - expected).abs().max())
        r.fail(f"your embedding differs from the expected one by up to {worst:.4f}: {hint}")

    @r.rule("positions follow the input's length (T = 4 and T = 12 as well)")
    def _():
        fix = "take positions 0 … T−1 of THIS input (T = input_ids.shape[1]), not a fixed length"
        for length in (4, 12):
            ids_n, types_n = _inputs(2, length, seed=length)
            try:  # it worked at T = 7: an error now comes from the length
                value = fn(ids_n, types_n, *tables.values(), eps=1e-12)
            except Exception as err:  # noqa: BLE001 - a student's function may raise anything
                r.fail(f"for inputs of length T = {length} your function raised {type(err).__name__}: {err}; {fix}")
            value = as_tensor(value, r, f"the embedding at T = {length}", (2, length, H))
            if not torch.allclose(value.detach(), _embed(tables, ids_n, types_n), atol=1e-4):
                r.fail(f"for inputs of length T = {length} the result is wrong: {fix}")

    @r.rule("the three tables and the LayerNorm weight and bias get gradients (they are learned)")
    def _():
        value = holder["out"]
        needs_gradient(r, value, "the result", "the given tables")
        (value * torch.linspace(-1, 1, H)).sum().backward()  # a weighting that LayerNorm does not cancel
        missing = [name for name, t in given.items() if t.grad is None or float(t.grad.abs().sum()) == 0]
        if missing:
            r.fail(f"no gradient reached {', '.join(missing)}: every one of them is a parameter BERT learns")
