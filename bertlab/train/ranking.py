"""Sentence embeddings by pooling, and the translation-ranking task that trains a LASER-style encoder.

LASER (Artetxe & Schwenk 2019, §3) trains one BiLSTM encoder for 93 languages through a decoder that translates
each sentence into English or Spanish; the max-pooled encoder states are the sentence embedding, and with no
language id in the encoder a sentence and its translation land close together. bertlab keeps the aim and trains
the closeness *directly*, as dual encoders do (Guo et al. 2018; Yang et al. 2019): for a batch of B pairs,
pooled embeddings u_i (Chinese side) and v_j (English side), scores S_ij = s · cos(u_i, v_j), and a cross-entropy
that picks the right translation among the B in the batch, both ways:

    L = ½ [CE(S, i ↦ i) + CE(Sᵀ, j ↦ j)]      (the other B − 1 pairs of the batch are the negatives)

Differences from LASER: a small Transformer, not a 5-layer BiLSTM; mean pooling, not max pooling; no decoder
(so no translation is learnt, only the geometry); negatives only from the batch. Like LASER's encoder, the
model is meant to run without language embeddings (``num_languages=0``).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from bertlab.data.crosslingual import side_batch
from bertlab.data.tokenizer import CLS_ID, SEP_ID
from bertlab.model.bert import find_encoder
from bertlab.model.pooling import masked_mean
from bertlab.train.loop import Batch, summed_stats

RANKING_SCALE = 20.0  # s: cosines lie in [-1, 1]; a softmax over them needs a sharper scale to train
ENCODER_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "position_ids", "language_ids")


def mean_pool(hidden: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, T, H) → (B, H): the mean over real tokens, [CLS], [SEP] and padding left out."""
    keep = attention_mask.bool() & (input_ids != CLS_ID) & (input_ids != SEP_ID)  # (B, T)
    return masked_mean(hidden, keep)


def pooled(model: nn.Module, batch: Batch, prefix: str = "") -> torch.Tensor:
    """Mean-pooled last hidden states (B, H) of the inputs under ``prefix`` ("" or "pair_") in ``batch``."""
    inputs = {name: batch[prefix + name] for name in ENCODER_INPUTS if prefix + name in batch}
    hidden = find_encoder(model)(**inputs).last_hidden_state  # (B, T, H)
    return mean_pool(hidden, inputs["input_ids"], inputs["attention_mask"])


def ranking_loss(u: torch.Tensor, v: torch.Tensor, scale: float = RANKING_SCALE) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, scores (B, B)) for u, v (B, H): row i of u belongs with row i of v; in-batch negatives, both ways."""
    scores = scale * F.normalize(u.float(), dim=-1) @ F.normalize(v.float(), dim=-1).T  # (B, B) scaled cosines
    target = torch.arange(len(u), device=u.device)
    return 0.5 * (F.cross_entropy(scores, target) + F.cross_entropy(scores.T, target)), scores


class RankingTask:
    """The training loop's task for ``--objective translation-ranking`` (batches from ``CrossLingualDataset``)."""

    def __init__(self, eval_batches: Sequence[Batch] = (), scale: float = RANKING_SCALE):
        self.eval_batches, self.scale = list(eval_batches), scale

    def counts(self, batch: Batch) -> dict[str, float]:
        return {"pairs": float(batch["input_ids"].shape[0])}

    def batch_stats(self, model: nn.Module, batch: Batch):
        loss, scores = ranking_loss(pooled(model, batch), pooled(model, batch, "pair_"), self.scale)
        B = scores.shape[0]
        right = torch.arange(B, device=scores.device)
        stats = {"tokens": float(batch["attention_mask"].sum() + batch["pair_attention_mask"].sum()),
                 "pairs": float(B), "rank_loss_sum": float(loss.detach()) * B,
                 "rank_correct": float((scores.argmax(1) == right).sum())}  # Chinese → English, top-1 in batch
        return loss, stats

    def step(self, model: nn.Module, batch: Batch, totals: dict[str, float]):
        # a micro-batch's negatives are its own rows; its share of the step's loss is its share of the pairs
        loss, stats = self.batch_stats(model, batch)
        return loss * (stats["pairs"] / max(totals["pairs"], 1.0)), stats

    def summarize(self, sums: dict[str, float]) -> dict[str, float]:
        if not sums.get("pairs"):
            return {"loss": 0.0}
        loss = sums["rank_loss_sum"] / sums["pairs"]
        return {"loss": loss, "rank_loss": loss, "rank_acc": sums["rank_correct"] / sums["pairs"]}

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        if not self.eval_batches:
            return {}
        sums = summed_stats(self.eval_batches, model, lambda batch: self.batch_stats(model, batch)[1])
        return {**self.summarize(sums), "examples": sums["pairs"]}


@torch.no_grad()
def sentence_embeddings(model: nn.Module, tokenizer, texts: list[str], language: str, batch_size: int = 256,
                        max_seq_length: int = 64) -> torch.Tensor:
    """(N, H) unit-length mean-pooled embeddings of ``texts`` in ``language`` ("en" or "zh")."""
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, len(texts), batch_size):
        batch = side_batch(tokenizer, texts[start:start + batch_size], language, max_seq_length)
        out.append(F.normalize(pooled(model, batch).float(), dim=-1))
    model.train(was_training)
    return torch.cat(out)
