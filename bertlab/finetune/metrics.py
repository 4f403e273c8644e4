"""Accuracy and macro-F1 from predictions and gold labels (token tasks: over the scored tokens).

Macro-F1 averages the per-label F1 = 2·TP / (2·TP + FP + FN) over the labels that occur in the gold labels
or the predictions, so a majority-class guesser scores high accuracy but a low macro-F1 on skewed data.
"""

from __future__ import annotations

import torch

from bertlab.config import IGNORE_INDEX


def confusion_matrix(predictions: torch.Tensor, labels: torch.Tensor, num_labels: int) -> torch.Tensor:
    """(num_labels, num_labels) counts: row = gold label, column = prediction; -100 labels are skipped."""
    keep = labels != IGNORE_INDEX
    gold, pred = labels[keep].long(), predictions[keep].long()
    return torch.bincount(gold * num_labels + pred, minlength=num_labels * num_labels).view(num_labels, num_labels)


def classification_metrics(confusion: torch.Tensor) -> dict[str, float]:
    """accuracy, macro_f1 and per-label f1 (a list) from a confusion matrix."""
    confusion = confusion.double()
    total = float(confusion.sum())
    tp = confusion.diag()
    fp, fn = confusion.sum(0) - tp, confusion.sum(1) - tp
    present = (tp + fp + fn) > 0
    f1 = torch.where(present, 2 * tp / (2 * tp + fp + fn).clamp(min=1e-12), torch.zeros_like(tp))
    return {"accuracy": float(tp.sum()) / total if total else 0.0,
            "macro_f1": float(f1[present].mean()) if bool(present.any()) else 0.0,
            "f1_per_label": [round(float(x), 6) for x in f1]}


__all__ = ["confusion_matrix", "classification_metrics"]
