"""Accuracy and macro-F1 from predictions and gold labels (token tasks: over the scored tokens).

Macro-F1 averages the per-label F1 = 2·TP / (2·TP + FP + FN) over the labels that occur in the gold labels
or the predictions, so a majority-class guesser scores high accuracy but a low macro-F1 on skewed data.
Entity tasks (BIO tags) are scored by span F1 (Tjong Kim Sang & De Meulder 2003, the CoNLL-2003 measure):
a whole entity right, or nothing.
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




# --- span F1 for BIO-tagged entities (the CoNLL-2003 measure; seqeval's default mode) ---------------------------

def is_bio(labels: list[str] | None) -> bool:
    """True for a BIO tag set: "O" and every other label "B-TYPE" or "I-TYPE"."""
    return bool(labels) and "O" in labels and all(t == "O" or t[:2] in ("B-", "I-") for t in labels) \
        and any(t.startswith("B-") for t in labels)


def bio_spans(tags: list[str]) -> set[tuple[int, int, str]]:
    """The entity spans (start, end exclusive, type) of one BIO sequence, read as conlleval does: a span
    starts at B-X, or at an I-X that does not continue a span of type X (after O or another type), and
    runs over the I-X after it. 'B-PER I-PER O I-LOC' → {(0, 2, 'PER'), (3, 4, 'LOC')}."""
    spans, start, kind = set(), None, None
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, _, tag_kind = tag.partition("-")
        continues = prefix == "I" and tag_kind == kind and start is not None
        if start is not None and not continues:
            spans.add((start, i, kind))
            start, kind = None, None
        if prefix in ("B", "I") and not continues:
            start, kind = i, tag_kind
    return spans


def span_f1(gold: list[list[str]], predicted: list[list[str]]) -> dict[str, float]:
    """Span-level precision, recall and F1 over all sequences (micro-averaged): a predicted entity counts
    only when its start, end and type all match a gold one, so 江泽 for 江泽民 is a miss and a false alarm."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sequences but {len(predicted)} predicted ones")
    tp = n_gold = n_pred = 0
    for g, p in zip(gold, predicted):
        if len(g) != len(p):
            raise ValueError(f"a gold sequence of {len(g)} tags was predicted with {len(p)}")
        gs, ps = bio_spans(g), bio_spans(p)
        tp, n_gold, n_pred = tp + len(gs & ps), n_gold + len(gs), n_pred + len(ps)
    precision, recall = tp / n_pred if n_pred else 0.0, tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"span_precision": precision, "span_recall": recall, "span_f1": f1, "gold_spans": n_gold}


__all__ = ["confusion_matrix", "classification_metrics", "is_bio", "bio_spans", "span_f1"]
