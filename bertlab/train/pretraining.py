"""The pre-training task for the training loop: masked LM plus NSP or SOP (BERT §3.1, ALBERT §4.2).

Losses are normalised by *global* counts (masked tokens, sentence pairs) so that gradient accumulation
and several processes give the same gradient as one big batch.

Masked-LM accuracy is logged overall (``mlm_acc``) and split by what the model saw at the position (§3.1's
80/10/10 cases, ``bertlab.data.masking.masking_cases``): ``mlm_acc_mask`` at [MASK], ``mlm_acc_random`` at a
random replacement, ``mlm_acc_unchanged`` where the input shows the answer. Only ``mlm_acc_mask`` measures
prediction from context; the unchanged case rewards copying, and lifts ``mlm_acc`` above what the model knows.
Held-out rows add the score to beat, always predicting the training text's most frequent token:
``unigram_acc_mask`` at [MASK] positions and ``unigram_acc`` overall.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from bertlab.config import IGNORE_INDEX
from bertlab.data.attention_masks import check_kind, unilm_mask
from bertlab.data.masking import CASE_NAMES, masking_cases
from bertlab.train.loop import Batch, summed_stats

# position_ids and language_ids: XLM's TLM batches (bertlab.data.crosslingual); absent from BERT's
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "labels", "next_sentence_label", "position_ids",
                "language_ids")


def correct_by_case(predicted: torch.Tensor, labels: torch.Tensor, cases: torch.Tensor,
                    prefix: str = "mlm") -> dict[str, float]:
    """Additive counts per masking case: ``{prefix}_count_mask``, ``{prefix}_correct_mask``, ... for ``random`` and
    ``unchanged``. ``predicted``, ``labels``, ``cases`` (N,): the N chosen positions in the same order."""
    codes = torch.arange(len(CASE_NAMES), device=cases.device)
    at = cases[None, :] == codes[:, None]  # (3, N): position n is of case c
    right = at & (predicted == labels)[None, :]  # (3, N)
    counts, correct = torch.stack([at.sum(1), right.sum(1)]).tolist()  # one transfer, not six
    stats = {}
    for name, n, k in zip(CASE_NAMES, counts, correct):
        stats[f"{prefix}_count_{name}"], stats[f"{prefix}_correct_{name}"] = float(n), float(k)
    return stats


def accuracy_by_case(sums: dict[str, float], prefix: str = "mlm") -> dict[str, float]:
    """``{prefix}_acc_mask``, ``_random``, ``_unchanged`` from summed ``correct_by_case`` counts (a case that
    did not occur is left out, not reported as 0)."""
    return {f"{prefix}_acc_{name}": sums[f"{prefix}_correct_{name}"] / sums[f"{prefix}_count_{name}"]
            for name in CASE_NAMES if sums.get(f"{prefix}_count_{name}")}


def chosen_cases(batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """(labels, cases), each (N,), at the batch's N chosen positions, in the order of the model's
    ``masked_lm_labels`` (row by row)."""
    selected = batch["labels"] != IGNORE_INDEX  # (B, T)
    return batch["labels"][selected], masking_cases(batch["input_ids"], batch["labels"])[selected]


def unigram_accuracy(batches: Sequence[Batch], token_id: int) -> dict[str, float]:
    """The score to beat on ``batches``: always predicting ``token_id`` (the training text's most frequent token).
    → ``{"unigram_acc": overall, "unigram_acc_mask": at [MASK] positions}``."""
    sums: dict[str, float] = {}
    for batch in batches:
        labels, cases = chosen_cases(batch)
        for k, v in correct_by_case(torch.full_like(labels, token_id), labels, cases, "unigram").items():
            sums[k] = sums.get(k, 0.0) + v
    chosen = sum(sums.get(f"unigram_count_{name}", 0.0) for name in CASE_NAMES)
    out = {"unigram_acc": sum(sums.get(f"unigram_correct_{name}", 0.0) for name in CASE_NAMES) / max(chosen, 1.0)}
    out.update({k: v for k, v in accuracy_by_case(sums, "unigram").items() if k == "unigram_acc_mask"})
    return out


class PretrainingTask:
    """``unigram_token_id``: the training text's most frequent token; with it, held-out rows carry the unigram
    baseline (``unigram_acc``, ``unigram_acc_mask``) beside the model's accuracies."""

    def __init__(self, eval_batches: Sequence[Batch] = (), nsp_weight: float = 1.0,
                 attention_mask_kind: str = "bidirectional", unigram_token_id: int | None = None):
        self.eval_batches = list(eval_batches)
        self.nsp_weight = nsp_weight
        self.attention_mask_kind = check_kind(attention_mask_kind)  # UNILM §2.2; batches come prepared for it
        # the baseline depends only on the held-out batches: computed once
        self.unigram = (unigram_accuracy(self.eval_batches, unigram_token_id)
                        if unigram_token_id is not None and self.eval_batches else {})

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
        _, cases = chosen_cases(batch)  # (N,) what the model saw at each predicted position
        stats.update(correct_by_case(predicted, out.masked_lm_labels, cases))
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
            metrics.update(accuracy_by_case(sums))
        if sums.get("pairs"):
            metrics["nsp_loss"] = sums["nsp_loss_sum"] / sums["pairs"]
            metrics["nsp_acc"] = sums["nsp_correct"] / sums["pairs"]
        metrics["loss"] = metrics.get("mlm_loss", 0.0) + metrics.get("nsp_loss", 0.0)
        return metrics

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        if not self.eval_batches:
            return {}
        sums = summed_stats(self.eval_batches, model,
                            lambda batch: self.batch_stats(self._forward(model, batch), batch))
        metrics = {**self.summarize(sums), **self.unigram}
        metrics["examples"] = sum(int(b["input_ids"].shape[0]) for b in self.eval_batches)
        return metrics
