"""Self-attention masks for UNILM's pre-training (Dong et al. 2019, §2.2): what each position may attend to.

A (T, T) mask M has M[i, j] = 1 when query row i may attend key column j (see docs/algorithms.md, "UNILM"):

    bidirectional (BERT)   every token sees every token                  M[i, j] = 1
    left-to-right (GPT)    token i sees tokens j <= i                    M[i, j] = [j <= i]
    seq2seq                source ([CLS] A [SEP], segment 0) sees the source; target (B [SEP], segment 1)
                           sees the whole source and its own left context

The pre-training pipeline needs these (``bertlab pretrain --attention-mask``); the decoding, the figures
and the evaluation of UNILM live in ``bertlab.family.unilm``. ``prepare_batch`` makes one decision,
explained in its docstring: a token BERT's 80/10/10 rule kept unchanged would hand a causal row its own
answer, so under a causal row it becomes [MASK].
"""

from __future__ import annotations

import torch

from bertlab.config import IGNORE_INDEX
from bertlab.data.tokenizer import MASK_ID

MASK_KINDS = ("bidirectional", "left-to-right", "seq2seq")
PAIR_OBJECTIVES = ("mlm+nsp", "mlm+sop")  # objectives whose inputs are [CLS] A [SEP] B [SEP] pairs


def check_kind(kind: str) -> str:
    if kind not in MASK_KINDS:
        raise ValueError(f"attention mask kind must be one of {', '.join(MASK_KINDS)}, got {kind!r}")
    return kind


def check_objective(kind: str, objective: str, option: str = "--objective") -> None:
    """seq2seq needs a source and a target: sentence pairs. A clear error for full-sentence ``mlm`` data, naming
    ``option``, the flag that chose ``objective``."""
    check_kind(kind)
    if kind == "seq2seq" and objective not in PAIR_OBJECTIVES:
        raise ValueError(f"the seq2seq attention mask needs sentence pairs (source A, target B) but objective "
                         f"{objective!r} packs full sentences with no segment B; use {option} mlm+nsp or "
                         f"mlm+sop (targets are trained only on pairs where B is A's true continuation)")


def unilm_mask(kind: str, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
    """The (B, T, T) bool mask of ``kind`` (True = query row i may attend key column j).

    ``attention_mask`` (B, T): 1 on real tokens, 0 on padding. ``token_type_ids`` (B, T): 0 = source, 1 = target;
    only seq2seq reads them. Real queries never attend padding keys. A padding query attends only itself: its
    output is never used, and a row with nothing to attend would make the softmax 0/0 (NaN) in bf16.
    """
    check_kind(kind)
    if attention_mask.dim() != 2:
        raise ValueError(f"attention_mask must be (batch, sequence), got shape {tuple(attention_mask.shape)}")
    real = attention_mask.bool()  # (B, T)
    B, T = real.shape
    position = torch.arange(T, device=real.device)
    causal = position[:, None] >= position[None, :]  # (T, T): key j <= query i
    if kind == "bidirectional":
        allowed = torch.ones(B, T, T, dtype=torch.bool, device=real.device)
    elif kind == "left-to-right":
        allowed = causal.expand(B, T, T)
    else:
        if token_type_ids is None:
            raise ValueError("the seq2seq mask needs token_type_ids (0 = source segment, 1 = target segment)")
        source = real & (token_type_ids == 0)  # (B, T)
        target = real & (token_type_ids != 0)
        if (source[:, 1:] & target[:, :-1]).any():
            raise ValueError("seq2seq: a source token (token_type 0) follows a target token (token_type 1); "
                             "the input must be [CLS] source [SEP] target [SEP]")
        allowed = source[:, None, :] | (target[:, :, None] & target[:, None, :] & causal)  # (B, T, T)
    allowed = allowed & real[:, None, :]  # no query attends a padding key
    eye = torch.eye(T, dtype=torch.bool, device=real.device)
    return torch.where(real[:, :, None], allowed, eye)  # (B, T, T)


def causal_positions(kind: str, attention_mask: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
    """(B, T) bool: the positions whose row of the mask is causal (all real tokens for left-to-right, the
    target for seq2seq, none for bidirectional)."""
    real = attention_mask.bool()
    if kind == "left-to-right":
        return real
    if kind == "seq2seq":
        return real & (token_type_ids != 0)
    return torch.zeros_like(real)


def prepare_batch(batch: dict, kind: str) -> dict:
    """The pre-training batch that ``kind`` trains on (a new dict; the input is not changed).

    - Under a causal row, a "kept" token (10 % of the chosen ones under 80/10/10) is visible to its own
      position: the label sits in the input. It becomes [MASK], so every label there is a real prediction
      from tokens to its left (``bidirectional`` keeps BERT's rule unchanged, as UNILM's source segment does).
    - ``next_sentence_label`` is dropped: [CLS] at position 0 sees only itself (left-to-right) or only the
      source (seq2seq), so NSP/SOP cannot be learned from it (UNILM §2.3 uses NSP only with the
      bidirectional mask).
    - seq2seq: target labels are kept only where B is A's true continuation (IsNext under NSP, in order under
      SOP, label 0); on NotNext / swapped pairs only the source's masked tokens are trained.
    """
    check_kind(kind)
    if kind == "bidirectional":
        return batch
    out = dict(batch)
    ids, labels = batch["input_ids"], batch["labels"]  # (B, T) each
    causal = causal_positions(kind, batch["attention_mask"], batch["token_type_ids"])
    kept = causal & (labels != IGNORE_INDEX) & (ids == labels)  # the answer is visible to its own position
    out["input_ids"] = torch.where(kept, torch.full_like(ids, MASK_ID), ids)
    pair_label = out.pop("next_sentence_label", None)
    if kind == "seq2seq":
        if pair_label is None:
            raise ValueError("seq2seq needs sentence pairs with a next_sentence_label (0 = B continues A); "
                             "build the data with objective mlm+nsp or mlm+sop")
        continuation = (pair_label.reshape(-1) == 0)[:, None]  # (B, 1)
        out["labels"] = torch.where(causal & ~continuation, torch.full_like(labels, IGNORE_INDEX), labels)
    return out


def original_tokens(batch: dict) -> torch.Tensor:
    """(B, T) input ids before masking: the label where a token was chosen, the input elsewhere."""
    return torch.where(batch["labels"] != IGNORE_INDEX, batch["labels"], batch["input_ids"])


__all__ = ["MASK_KINDS", "PAIR_OBJECTIVES", "check_kind", "check_objective", "unilm_mask", "causal_positions",
           "prepare_batch", "original_tokens"]
