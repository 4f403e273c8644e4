"""The pre-training task for the training loop: masked LM plus NSP or SOP (BERT §3.1, ALBERT §4.2).

Losses are normalised by *global* counts (masked tokens, sentence pairs) so that gradient accumulation
and several processes give the same gradient as one big batch.
"""

from __future__ import annotations

from typing import Sequence

from torch import nn

from bertlab.config import IGNORE_INDEX
from bertlab.data.attention_masks import check_kind, unilm_mask
from bertlab.train.loop import Batch

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "labels", "next_sentence_label")


class PretrainingTask:
    def __init__(self, eval_batches: Sequence[Batch] = (), nsp_weight: float = 1.0,
                 attention_mask_kind: str = "bidirectional"):
        self.eval_batches = list(eval_batches)
        self.nsp_weight = nsp_weight
        self.attention_mask_kind = check_kind(attention_mask_kind)  # UNILM §2.2; batches come prepared for it

    def counts(self, batch: Batch) -> dict[str, float]:
        counts = {"masked": float((batch["labels"] != IGNORE_INDEX).sum())}
        if "next_sentence_label" in batch:
            counts["pairs"] = float((batch["next_sentence_label"] != IGNORE_INDEX).sum())
        return counts

    def _forward(self, model: nn.Module, batch: Batch):
        inputs = {k: batch[k] for k in MODEL_INPUTS if k in batch}
        if self.attention_mask_kind != "bidirectional":  # (B, T) padding mask -> UNILM's (B, T, T) mask

            inputs["attention_mask"] = unilm_mask(self.attention_mask_kind, batch["attention_mask"],
                                                  batch["token_type_ids"])
        return model(**inputs)

    def batch_stats(self, out, batch: Batch) -> dict[str, float]:
        """Additive statistics of one batch: loss sums and correct counts."""
        masked = out.masked_lm_labels.numel()
        # argmax over (N, V) bf16 logits is ~4x slower on a CPU than over an fp32 copy (bf16 -> fp32 is exact,
        # so the same answer): at V = 8192 that was 9 of a ~95 ms training step
        predicted = out.masked_lm_logits.detach().float().argmax(-1)  # (N,)
        stats = {"tokens": float(batch["attention_mask"].sum()), "masked": float(masked),
                 "mlm_loss_sum": float(out.mlm_loss.detach()) * masked,
                 "mlm_correct": float((predicted == out.masked_lm_labels).sum())}
        if out.nsp_loss is not None:
            labels = batch["next_sentence_label"]
            pairs = int((labels != IGNORE_INDEX).sum())
            stats.update(pairs=float(pairs), nsp_loss_sum=float(out.nsp_loss.detach()) * pairs,
                         nsp_correct=float((out.seq_relationship_logits.argmax(-1) == labels).sum()))
        return stats

    def step(self, model: nn.Module, batch: Batch, totals: dict[str, float]):
        out = self._forward(model, batch)
        stats = self.batch_stats(out, batch)
        # mean over this micro-batch * (its count / the step's global count) = its share of the global mean
        loss = out.mlm_loss * (stats["masked"] / max(totals["masked"], 1.0))
        if out.nsp_loss is not None:
            loss = loss + self.nsp_weight * out.nsp_loss * (stats["pairs"] / max(totals["pairs"], 1.0))
        return loss, stats

    def summarize(self, sums: dict[str, float]) -> dict[str, float]:
        metrics = {}
        if sums.get("masked"):
            metrics["mlm_loss"] = sums["mlm_loss_sum"] / sums["masked"]
            metrics["mlm_acc"] = sums["mlm_correct"] / sums["masked"]
        if sums.get("pairs"):
            metrics["nsp_loss"] = sums["nsp_loss_sum"] / sums["pairs"]
            metrics["nsp_acc"] = sums["nsp_correct"] / sums["pairs"]
        metrics["loss"] = metrics.get("mlm_loss", 0.0) + metrics.get("nsp_loss", 0.0)
        return metrics

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        if not self.eval_batches:
            return {}
        device = next(model.parameters()).device
        sums: dict[str, float] = {}
        for batch in self.eval_batches:
            batch = {k: v.to(device) for k, v in batch.items()}
            for k, v in self.batch_stats(self._forward(model, batch), batch).items():
                sums[k] = sums.get(k, 0.0) + v
        metrics = self.summarize(sums)
        metrics["examples"] = sum(int(b["input_ids"].shape[0]) for b in self.eval_batches)
        return metrics
