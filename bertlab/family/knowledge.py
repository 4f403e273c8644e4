"""ERNIE 1.0's knowledge masking, the leaf side: entity cloze tests and what a mask covered (Sun et al. 2019, §3.2).

The units themselves (entities, phrases, words per token) are built in ``bertlab.data.knowledge``, because
``bertlab pretrain --masking-unit knowledge`` needs them; they are re-exported here. This module holds what
the knowledge-masking experiment and lesson 7 measure with them.
"""

from __future__ import annotations

import numpy as np
import torch

from bertlab.config import IGNORE_INDEX
from bertlab.data.knowledge import (ENTITY, KINDS, PHRASE, WORD, KnowledgeUnits, Span, capitalised_spans, chinese_spans,
                                    english_spans, knowledge_units, learn_phrases, sentence_spans)
from bertlab.data.masking import choose_positions
from bertlab.data.tokenizer import MASK_ID


def lay_out(instances, values: np.ndarray, max_seq_length: int, fill: int = -1) -> np.ndarray:
    """(N, L): a per-token corpus array placed where ``pack_instances`` puts the tokens
    (``[CLS] A [SEP] B [SEP]``), ``fill`` on special tokens and padding."""
    out = np.full((len(instances), max_seq_length), fill, dtype=values.dtype)
    for n, instance in enumerate(instances):
        pos = 1  # after [CLS]
        for start, end in instance.segments:
            out[n, pos:pos + end - start] = values[start:end]
            pos += end - start + 1  # and the segment's [SEP]
    return out


# ----------------------------------------------------------------------------------- cloze and counts

def entity_cloze(input_ids: torch.Tensor, special_tokens_mask: torch.Tensor, unit_ids: torch.Tensor,
                 kinds: torch.Tensor, probability: float = 0.5, mask_token_id: int | None = None,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Entity cloze: every entity (all (B, T) arguments) is chosen with ``probability`` and *all* its tokens
    become [MASK] (no 80/10/10: this is a test, not training). → (masked_input_ids, labels), -100 elsewhere."""
    not_entity = special_tokens_mask.bool() | (kinds != ENTITY)  # only entity tokens can be chosen
    chosen = choose_positions(not_entity, probability, word_ids=unit_ids, generator=generator)
    labels = torch.where(chosen, input_ids, IGNORE_INDEX)
    masked = torch.where(chosen, MASK_ID if mask_token_id is None else mask_token_id, input_ids)
    return masked, labels


def unit_starts(unit_ids: torch.Tensor, special_tokens_mask: torch.Tensor) -> torch.Tensor:
    """Boolean (B, T): True on the first token of every unit."""
    start = torch.ones_like(unit_ids, dtype=torch.bool)
    start[:, 1:] = unit_ids[:, 1:] != unit_ids[:, :-1]
    return start & ~special_tokens_mask.bool()


def span_statistics(chosen: torch.Tensor, unit_ids: torch.Tensor, kinds: torch.Tensor,
                    special_tokens_mask: torch.Tensor) -> dict:
    """What a mask covered (all (B, T)): the share of real tokens chosen, and per kind of unit the share of
    chosen units and their mean length in tokens."""
    real = ~special_tokens_mask.bool()
    first = unit_starts(unit_ids, special_tokens_mask) & chosen
    stats = {"token_rate": float(chosen[real].float().mean()), "masked_units": int(first.sum()),
             "mean_unit_tokens": float(chosen.sum() / first.sum().clamp(min=1))}
    for k, name in enumerate(KINDS):
        units = int((first & (kinds == k)).sum())
        stats[f"{name}_share"] = units / max(1, stats["masked_units"])
        stats[f"{name}_mean_tokens"] = float((chosen & (kinds == k)).sum()) / max(1, units)
    return stats


__all__ = ["WORD", "PHRASE", "ENTITY", "KINDS", "Span", "KnowledgeUnits", "capitalised_spans", "chinese_spans",
           "english_spans", "knowledge_units", "learn_phrases", "sentence_spans", "lay_out", "entity_cloze",
           "unit_starts", "span_statistics"]
