"""UNILM: one shared Transformer, three self-attention masks (Dong et al. 2019, §2.2–2.3).

UNILM trains BERT's encoder with BERT's cloze objective (predict a [MASK]ed token) and changes only *what
each position may attend to*. A (T, T) mask M has M[i, j] = 1 when query row i may attend key column j:

    bidirectional (BERT)   every token sees every token                  M[i, j] = 1
    left-to-right (GPT)    token i sees tokens j <= i                    M[i, j] = [j <= i]
    seq2seq                source ([CLS] A [SEP], segment 0) sees the source; target (B [SEP], segment 1)
                           sees the whole source and its own left context
                                                                         M[i, j] = [j in src] + [i, j in tgt, j <= i]

Padding is never attended. Because a [MASK] at position i under a causal mask sees only tokens < i (and
itself, the [MASK]), predicting it *is* next-token prediction, and generation appends a [MASK], predicts it,
writes the prediction in its place and appends the next [MASK] (§2.3, "decoding").

The masks and the batches they train on are built in ``bertlab.data.attention_masks`` (the pre-training
pipeline needs them); this module holds UNILM's decoding, its evaluation and the figures. Two decisions,
each explained where it is made:
- ``prepare_batch`` (in ``bertlab.data.attention_masks``): BERT's 80/10/10 rule leaves 10 % of the chosen
  tokens unchanged (bidirectionally, the model then learns to trust a real token it sees). Under a causal mask the label is meant to be predicted
  from the left, yet position i sees itself, so a kept token hands the model its own answer: a copy, not a
  prediction. We replace kept tokens by [MASK] wherever the row is causal (90 % [MASK], 10 % random there;
  the paper keeps BERT's rule for every mask), and every evaluation puts [MASK] at the predicted position,
  so no reported number can profit from a copy either way. Seq2seq trains target tokens only on pairs whose
  B really continues A, and [CLS]-based NSP/SOP is dropped under both causal masks ([CLS] sees only itself,
  or only the source).
- ``next_token_accuracy``: UNILM's decoding step, evaluated exactly and for all positions in one pass
  (``two_stream_inputs``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from bertlab.analysis.attention import encode

# the masks themselves are data: the pre-training pipeline builds them (re-exported here for the lessons)
from bertlab.data.attention_masks import (MASK_KINDS, check_kind, check_objective, original_tokens, prepare_batch,
                                          unilm_mask)
from bertlab.data.tokenizer import CLS_ID, MASK_ID, NUM_SPECIAL_TOKENS, PAD_ID, SEP_ID, UNK_ID
from bertlab.model.bert import find_encoder


def two_stream_inputs(kind: str, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                      token_type_ids: torch.Tensor) -> dict:
    """One input that asks UNILM's decoding question at every position at once (used by ``next_token_accuracy``).

    The (B, T) tokens are followed by T query slots: slot i holds [MASK] with position id i and token i's
    segment, so it is the [MASK] that UNILM decoding would put at position i. Mask, (B, 2T, 2T):

        tokens → tokens   the ``kind`` mask as in training (row i never sees the query slots)
        slot i → tokens   row i of the ``kind`` mask *without token i itself*: tokens < i (left-to-right),
                          or the source plus target tokens < i (seq2seq)
        slot i → slot i   itself only

    Under a causal row nothing after i reaches i, in any layer, so slot i's output equals the output at i of the
    input cut after i with token i replaced by [MASK]: UNILM's decoding step, exactly (``tests/test_family_unilm.py``
    checks it), for all T positions in one forward pass of 2T tokens instead of T passes.
    """
    B, T = input_ids.shape
    base = unilm_mask(kind, attention_mask, token_type_ids)  # (B, T, T)
    real = attention_mask.bool()
    eye = torch.eye(T, dtype=torch.bool, device=base.device)
    query_to_tokens = base & ~eye & real[:, :, None]  # (B, T, T): row i without key i
    mask = torch.zeros(B, 2 * T, 2 * T, dtype=torch.bool, device=base.device)
    mask[:, :T, :T] = base
    mask[:, T:, :T] = query_to_tokens
    mask[:, T:, T:] = eye  # each slot attends itself (its [MASK] and position)
    position = torch.arange(T, device=input_ids.device)
    return {"input_ids": torch.cat([input_ids, torch.full_like(input_ids, MASK_ID)], dim=1),  # (B, 2T)
            "token_type_ids": torch.cat([token_type_ids, token_type_ids], dim=1),
            "position_ids": torch.cat([position, position]).expand(B, 2 * T),
            "attention_mask": mask}


@torch.inference_mode()
def next_token_accuracy(model: nn.Module, batches: Sequence[dict], kind: str = "left-to-right") -> dict:
    """Held-out accuracy of UNILM's decoding step: position i holds [MASK], sees tokens < i, predicts token i.

    ``kind``: "left-to-right" scores every word piece of ``[CLS] A [SEP] B [SEP]``; "seq2seq" scores the word
    pieces of the target B, given the whole source, on pairs where B continues A. Special tokens are not
    scored. ``batches``: held-out pre-training batches (their MLM masking is undone first), so each prediction
    sees real tokens only, never its answer and never another [MASK]. Computed for every position at once
    with ``two_stream_inputs``.
    """
    if kind not in ("left-to-right", "seq2seq"):
        raise ValueError(f"next-token accuracy reads a causal mask: kind 'left-to-right' or 'seq2seq', got {kind!r}")
    bert = find_encoder(model)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    correct = total = 0
    try:
        for batch in batches:
            ids, real, types = original_tokens(batch), batch["attention_mask"].bool(), batch["token_type_ids"]
            scored = real & (ids >= NUM_SPECIAL_TOKENS)  # (B, T): word pieces only
            scored[:, 0] = False
            if kind == "seq2seq":
                if "next_sentence_label" not in batch:
                    raise ValueError("seq2seq next-token accuracy needs sentence-pair batches (mlm+nsp / mlm+sop)")
                scored &= (types != 0) & (batch["next_sentence_label"].reshape(-1) == 0)[:, None]
            inputs = {k: v.to(device) for k, v in two_stream_inputs(kind, ids, batch["attention_mask"], types).items()}
            T = ids.shape[1]
            hidden = bert(inputs["input_ids"], inputs["attention_mask"], inputs["token_type_ids"],
                          position_ids=inputs["position_ids"]).last_hidden_state[:, T:]  # (B, T, H): the slots
            predicted = model.mlm_logits(hidden[scored.to(device)]).argmax(-1).cpu()  # (N,)
            correct += int((predicted == ids[scored]).sum())
            total += int(scored.sum())
    finally:
        model.train(was_training)
    return {"accuracy": correct / max(total, 1), "correct": correct, "scored": total}


@torch.inference_mode()
def generate(model: nn.Module, tokenizer, prompt: str, kind: str = "left-to-right", max_new_tokens: int = 20) -> str:
    """Greedy decoding as UNILM decodes (§2.3): append [MASK], predict it, put the prediction in its place.

    left-to-right / bidirectional: continue ``prompt`` (``[CLS] prompt …``, segment 0; bidirectional decoding
    works too, since nothing to the right exists yet). seq2seq: ``prompt`` is the source, the output the
    target (``[CLS] source [SEP] target …``, segment 1). Stops at [SEP] or after ``max_new_tokens``.
    """
    check_kind(kind)
    prompt_ids = tokenizer.encode(prompt, add_special_tokens=False).ids
    ids = [CLS_ID, *prompt_ids] + ([SEP_ID] if kind == "seq2seq" else [])
    types = [0] * len(ids)
    new_type = 1 if kind == "seq2seq" else 0
    bert = find_encoder(model)
    device = next(model.parameters()).device
    limit = bert.config.max_position_embeddings
    banned = torch.tensor([PAD_ID, UNK_ID, CLS_ID, MASK_ID])  # never generated ([SEP] ends the text)
    was_training = model.training
    model.eval()
    generated: list[int] = []
    try:
        while len(generated) < max_new_tokens and len(ids) < limit:
            x = torch.tensor([ids + [MASK_ID]], device=device)  # (1, t+1)
            t = torch.tensor([types + [new_type]], device=device)
            mask = unilm_mask(kind, torch.ones_like(x), t)
            logits = model.mlm_logits(bert(x, mask, t).last_hidden_state[0, -1]).float().cpu()  # (V,)
            logits[banned] = float("-inf")
            token = int(logits.argmax())
            if token == SEP_ID:
                break
            ids.append(token)
            types.append(new_type)
            generated.append(token)
    finally:
        model.train(was_training)
    return tokenizer.decode(generated)


def mask_figure(tokens: Sequence[str], masks: dict, title: str = "UNILM self-attention masks"):
    """A plotly figure: one heatmap per mask (row = query i, column = key j, dark = may attend)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=len(masks), subplot_titles=list(masks), horizontal_spacing=0.06)
    labels = [f"{i} {t}" for i, t in enumerate(tokens)]  # unique labels: a repeated token keeps its own row
    for col, (kind, mask) in enumerate(masks.items(), start=1):
        fig.add_trace(go.Heatmap(z=mask.int().tolist(), x=labels, y=labels, zmin=0, zmax=1, showscale=False,
                                 colorscale=[[0, "#f4f4f4"], [1, "#2b5c8a"]], name=kind,
                                 hovertemplate="query %{y}<br>key %{x}<br>may attend: %{z}<extra></extra>"),
                      row=1, col=col)
        fig.update_yaxes(autorange="reversed", tickfont_size=9, row=1, col=col)
        fig.update_xaxes(tickangle=-60, tickfont_size=9, row=1, col=col)
    fig.update_layout(title=title, height=420, margin=dict(l=10, r=10, t=70, b=10))
    return fig


def pair_mask_figure(tokenizer, text_a: str, text_b: str):
    """The three masks of a real tokenized pair ``[CLS] A [SEP] B [SEP]`` (notebook and dashboard)."""
    enc = encode(tokenizer, text_a, text_b, max_length=48)
    types = torch.tensor([enc.token_type_ids])  # (1, T)
    masks = {kind: unilm_mask(kind, torch.ones_like(types), types)[0] for kind in MASK_KINDS}
    return mask_figure(enc.tokens, masks, f"UNILM masks of a {len(enc.tokens)}-token pair (row = query, "
                                          f"column = key; dark = may attend)")


def run_mask_kind(run_config: dict) -> str:
    """The mask a run folder's model was trained with (its config.json ``options``; bidirectional when unset)."""
    return (run_config.get("options") or {}).get("attention_mask_kind") or "bidirectional"


__all__ = ["MASK_KINDS", "check_kind", "check_objective", "generate", "mask_figure", "next_token_accuracy",
           "original_tokens", "pair_mask_figure", "prepare_batch", "run_mask_kind", "two_stream_inputs", "unilm_mask"]
