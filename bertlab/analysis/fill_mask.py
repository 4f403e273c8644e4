"""Fill in the blanks: the masked-language-model head's top-k tokens for each ``[MASK]`` (BERT §3.1, Task #1).

    for mask in fill_mask(run.model, run.tokenizer, "the [MASK] sat on the mat", top_k=5):
        print(mask.position, mask.candidates)   # 2 [("cat", 0.41), ("dog", 0.12), ...]

Each mask is predicted independently from the same forward pass (BERT's MLM assumes the masked tokens are
conditionally independent given the rest), so two adjacent masks may get an unlikely combination.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import nn

from bertlab.data.tokenizer import CLS_ID, MASK_ID, SEP_ID
from bertlab.model.bert import find_encoder

MASK_PATTERN = re.compile(r"\[mask\]", re.I)  # a lower-casing normaliser must not hide the user's [mask]


@dataclass
class MaskPrediction:
    index: int  # which [MASK] in the text, counted from 0
    position: int  # its token position in the input ([CLS] is 0)
    candidates: list[tuple[str, float]]  # (token, probability), most probable first


def encode_with_masks(tokenizer, text: str, max_length: int = 512) -> tuple[list[int], list[str]]:
    """``[CLS] text [SEP]`` with every literal ``[MASK]`` (any case) turned into the mask id, whatever the
    tokenizer does with the string "[MASK]"."""
    pieces = MASK_PATTERN.split(text)
    ids = [CLS_ID]
    for i, piece in enumerate(pieces):
        if i:
            ids.append(MASK_ID)
        if piece.strip():
            ids += tokenizer.encode(piece, add_special_tokens=False).ids
    ids.append(SEP_ID)
    if len(ids) > max_length:
        raise ValueError(f"the text is {len(ids)} tokens long with [CLS] and [SEP]; this model reads at most "
                         f"{max_length}")
    return ids, [tokenizer.id_to_token(i) or f"<{i}>" for i in ids]


@torch.inference_mode()
def fill_mask(model: nn.Module, tokenizer, text: str, top_k: int = 5) -> list[MaskPrediction]:
    """The ``top_k`` most probable tokens (softmax over the whole vocabulary) for each ``[MASK]`` in ``text``.

    ``model`` must have the pre-training MLM head (``BertForPreTraining`` or a distilled student); an empty
    list means the text has no ``[MASK]``."""
    if not hasattr(model, "mlm_logits"):
        raise ValueError(f"{type(model).__name__} has no masked-language-model head: fill-mask needs a "
                         f"pre-trained or distilled model, not a fine-tuned classifier")
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    bert = find_encoder(model)
    ids, _ = encode_with_masks(tokenizer, text, bert.config.max_position_embeddings)
    positions = [p for p, i in enumerate(ids) if i == MASK_ID]
    if not positions:
        return []
    device = next(model.parameters()).device
    input_ids = torch.tensor([ids], device=device)  # (1, T)
    was_training = model.training
    model.eval()
    try:
        hidden = bert(input_ids, torch.ones_like(input_ids), torch.zeros_like(input_ids)).last_hidden_state
        logits = model.mlm_logits(hidden[0, positions])  # (masks, V): the head only where it is needed
    finally:
        model.train(was_training)
    probs = torch.softmax(logits.float(), dim=-1)
    top = probs.topk(min(top_k, probs.shape[-1]), dim=-1)
    out = []
    for n, (position, values, indices) in enumerate(zip(positions, top.values, top.indices)):
        candidates = [(tokenizer.id_to_token(int(i)) or f"<{int(i)}>", float(v)) for v, i in zip(values, indices)]
        out.append(MaskPrediction(n, position, candidates))
    return out


__all__ = ["MaskPrediction", "encode_with_masks", "fill_mask"]
