"""Cross-entropy over a vocabulary with fewer (N, V) buffers (BERT §3.1 Task #1's loss, the same numbers).

``F.cross_entropy`` keeps the log-probabilities (N, V) from its forward pass, and its backward allocates two
more (N, V) tensors: a zero-filled gradient with -1/N at the labels, then log-softmax's gradient
``g - exp(log p) * sum(g)``. When every row has a label, that gradient is simply ``(softmax - one_hot) / N``,
and it can be written into the saved log-probabilities in place: exp, subtract 1 at the labels, scale. For a
``tiny`` model the MLM head's (N, V) tensors are as large as all its attention maps, and on a CPU each fresh
tensor of that size also costs page faults (``benchmarks/bench_speed.py`` measures the step).
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable


class _LabelledCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        log_probs = torch.log_softmax(logits, dim=-1)  # (N, V)
        ctx.save_for_backward(log_probs, labels)
        ctx.used = False
        return -log_probs.gather(1, labels[:, None]).mean()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        if ctx.used:
            raise RuntimeError("labelled_cross_entropy: backward ran twice through the same loss (its backward "
                               "reuses the saved log-probabilities in place)")
        ctx.used = True
        log_probs, labels = ctx.saved_tensors
        g = log_probs.exp_()  # (N, V) softmax, in place
        g[torch.arange(labels.shape[0], device=labels.device), labels] -= 1.0
        return g.mul_(grad / labels.shape[0]), None


def labelled_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of ``logits`` (N, V) against ``labels`` (N,), every one a class index (no -100):
    ``F.cross_entropy(logits, labels)`` with one (N, V) buffer instead of three."""
    if logits.dim() != 2 or labels.shape != logits.shape[:1]:
        raise ValueError(f"labelled_cross_entropy takes logits (N, V) and labels (N,), got {tuple(logits.shape)} "
                         f"and {tuple(labels.shape)}")
    return _LabelledCrossEntropy.apply(logits, labels)
