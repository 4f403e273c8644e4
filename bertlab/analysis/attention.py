"""Attention maps of a sentence or a sentence pair, and a student's maps beside its teacher's.

BERT §3.2: the input is ``[CLS] A [SEP] B [SEP]`` with segment ids 0 for A and 1 for B. Each layer's
self-attention gives, per head, a (T, T) matrix whose row i says how much token i attends to each token
(Vaswani et al. 2017, §3.2.1). TinyBERT (Jiao et al. 2020, §3.1) distils these maps layer by layer:
student layer m learns from teacher layer g(m), and when the head counts differ we compare each student
head with the mean of a group of teacher heads (``bertlab.distill.losses.match_heads``).

Everything here is a pure function of (model, tokenizer, text), so notebooks, the dashboard and the
benchmark share it:

    maps = attention_maps(run.model, run.tokenizer, "the cat sat", "it was tired")
    maps.probs[0][1]          # layer 1 (counted from 1 in the text, 0 in the list), head 2: (T, T)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from bertlab.data.attention_masks import unilm_mask
from bertlab.data.tokenizer import CLS_ID, SEP_ID
from bertlab.distill.mapping import uniform_layer_map, validate_layer_map
from bertlab.model.bert import find_encoder

MAX_TOKENS = 128  # longest input drawn: a (T, T) heatmap per head stops being readable long before 512


@dataclass
class Encoded:
    """``[CLS] A [SEP] (B [SEP])`` as ids, segment ids and token strings."""

    input_ids: list[int]
    token_type_ids: list[int]
    tokens: list[str]
    sentence_b_start: int | None  # index of B's first token, None for a single sentence
    truncated: bool = False


@dataclass
class AttentionMaps:
    """One input's attention in every layer. ``probs[l]`` and ``scores[l]`` are ``(A, T, T)`` for layer
    l + 1; ``scores`` are the pre-softmax QK^T/sqrt(d) (what TinyBERT's attention loss compares)."""

    tokens: list[str]
    probs: list[torch.Tensor]
    scores: list[torch.Tensor]
    sentence_b_start: int | None = None
    truncated: bool = False
    mask_kind: str = "bidirectional"  # the UNILM self-attention mask the maps were computed under

    @property
    def num_layers(self) -> int:
        return len(self.probs)

    @property
    def num_heads(self) -> int:
        return int(self.probs[0].shape[0])

    def bertviz_attention(self) -> tuple[torch.Tensor, ...]:
        """The probabilities shaped as bertviz wants them: one ``(1, A, T, T)`` tensor per layer."""
        return tuple(p.unsqueeze(0) for p in self.probs)


def encode(tokenizer, text_a: str, text_b: str | None = None, max_length: int = MAX_TOKENS) -> Encoded:
    """Tokenize like BERT's input (§3.2) with bertlab's special ids, cutting the longer segment first
    until the whole input fits in ``max_length`` tokens."""
    a = tokenizer.encode(text_a, add_special_tokens=False).ids
    b = tokenizer.encode(text_b, add_special_tokens=False).ids if text_b and text_b.strip() else None
    budget = max_length - (3 if b is not None else 2)
    if budget < 2:
        raise ValueError(f"max_length {max_length} leaves no room for text between the special tokens")
    truncated = False
    while len(a) + len(b or []) > budget:  # longest-first, as BERT's create_pretraining_data does
        truncated = True
        if b is not None and len(b) > len(a):
            b.pop()
        else:
            a.pop()
    ids = [CLS_ID, *a, SEP_ID]
    types = [0] * len(ids)
    start = None
    if b is not None:
        start = len(ids)
        ids += [*b, SEP_ID]
        types += [1] * (len(b) + 1)
    tokens = [tokenizer.id_to_token(i) or f"<{i}>" for i in ids]
    return Encoded(ids, types, tokens, start, truncated)


@torch.inference_mode()
def attention_maps(model: nn.Module, tokenizer, text_a: str, text_b: str | None = None,
                   max_length: int = MAX_TOKENS, mask_kind: str = "bidirectional") -> AttentionMaps:
    """Attention probabilities and scores of every layer and head for one sentence or a pair.

    ``mask_kind``: the UNILM self-attention mask (``bertlab.data.attention_masks``; a run's own is
    ``bertlab.family.unilm.run_mask_kind(run.config)``), so a left-to-right model's maps are lower-triangular as
    in training."""
    bert = find_encoder(model)
    limit = min(max_length, bert.config.max_position_embeddings)
    enc = encode(tokenizer, text_a, text_b, limit)
    device = next(bert.parameters()).device
    ids = torch.tensor([enc.input_ids], device=device)  # (1, T)
    types = torch.tensor([enc.token_type_ids], device=device)
    was_training = bert.training
    bert.eval()
    try:
        mask = torch.ones_like(ids) if mask_kind == "bidirectional" else \
            unilm_mask(mask_kind, torch.ones_like(ids), types)  # (1, T) or (1, T, T)
        out = bert(ids, mask, types, output_attentions=True)
    finally:
        bert.train(was_training)
    probs = [a[0].float().cpu() for a in out.attentions]  # L × (A, T, T)
    scores = [s[0].float().cpu() for s in out.attention_scores]
    return AttentionMaps(enc.tokens, probs, scores, enc.sentence_b_start, enc.truncated, mask_kind)


def layer_map_for(config: dict, student_layers: int, teacher_layers: int) -> tuple[list[int], str]:
    """``[g(0) = 0, g(1), …, g(M)]`` for a distilled student, and where it came from.

    A list in ``config["distill"]["layer_map"]`` is used as written; "uniform" or nothing gives TinyBERT's
    g(m) = m·N/M, rounded when M does not divide N (DistilBERT runs have no map; uniform is what they
    approximate by copying every other layer)."""
    written = (config.get("distill") or {}).get("layer_map", "uniform")
    if isinstance(written, (list, tuple)):
        return validate_layer_map(written, student_layers, teacher_layers), "the run's distill.layer_map"
    if teacher_layers % student_layers == 0:
        return uniform_layer_map(student_layers, teacher_layers), "uniform, g(m) = m·N/M"
    rounded = [0] + [min(teacher_layers, max(1, round(m * teacher_layers / student_layers)))
                     for m in range(1, student_layers + 1)]
    return rounded, "uniform, g(m) = round(m·N/M)"


def group_heads(maps: torch.Tensor, heads: int) -> torch.Tensor:
    """``(A, T, T)`` → ``(heads, T, T)`` by averaging consecutive groups of A / heads heads."""
    A, T, _ = maps.shape
    if A == heads:
        return maps
    if A % heads:
        raise ValueError(f"cannot group {A} heads into {heads}")
    return maps.reshape(heads, A // heads, T, T).mean(1)


@dataclass
class MatchedLayer:
    """A student layer's maps beside the teacher layer it learns from (heads made comparable)."""

    student_layer: int  # m, counted from 1
    teacher_layer: int  # g(m), counted from 1
    student: torch.Tensor  # (A', T, T)
    teacher: torch.Tensor  # (A', T, T)
    note: str  # how heads were paired

    @property
    def difference(self) -> torch.Tensor:
        """student − teacher."""
        return self.student - self.teacher


def match_layers(teacher: AttentionMaps, student: AttentionMaps, layer_map: Sequence[int],
                 use: str = "probs") -> list[MatchedLayer]:
    """Pair student layer m with teacher layer g(m) (TinyBERT §3.1) for m = 1 … M.

    Heads: equal counts pair one to one; A_T a multiple of A_S pairs each student head with the mean of a
    group of teacher heads (as bertlab's attention loss does); A_S a multiple of A_T groups the student's
    heads instead; any other pair of counts compares the mean over all heads on both sides."""
    if student.tokens != teacher.tokens:
        raise ValueError("teacher and student maps were computed on different tokens; use one tokenizer")
    if len(layer_map) != student.num_layers + 1:
        raise ValueError(f"layer map {list(layer_map)} needs {student.num_layers + 1} entries (g(0) … g(M))")
    A_S, A_T = student.num_heads, teacher.num_heads
    if A_S == A_T:
        heads, note = A_S, "head i ↔ teacher head i"
    elif A_T % A_S == 0:
        k = A_T // A_S
        heads = A_S
        note = f"student head h ↔ mean of teacher heads {k}(h−1)+1 … {k}h (groups of {k}, counted from 1)"
    elif A_S % A_T == 0:
        k = A_S // A_T
        heads = A_T
        note = f"mean of student heads {k}(h−1)+1 … {k}h ↔ teacher head h (groups of {k}, counted from 1)"
    else:
        heads, note = 1, f"{A_S} and {A_T} heads do not group evenly: mean over all heads on both sides"
    out = []
    for m in range(1, student.num_layers + 1):
        g = int(layer_map[m])
        s = getattr(student, use)[m - 1]
        t = getattr(teacher, use)[g - 1]
        out.append(MatchedLayer(m, g, group_heads(s, heads), group_heads(t, heads), note))
    return out


__all__ = ["AttentionMaps", "Encoded", "MatchedLayer", "attention_maps", "encode", "group_heads",
           "layer_map_for", "match_layers"]
