"""Dropout (Srivastava et al. 2014) with a faster random mask on CPUs.

Dropout zeroes each element with probability p and scales the survivors by 1 / (1 - p), so the expected
value is unchanged. ``torch.nn.functional.dropout`` on a CPU draws the mask with ``bernoulli_``, one
random number per element; on a ``tiny`` model's attention probabilities this mask is 1.5× faster
(``benchmarks/bench_kernels.py``, results in ``benchmarks/README.md``). Here one 64-bit draw gives the mask of four elements:
each 16-bit slice is compared with a threshold, so p is exact to 1/65536. On GPUs (and MPS) torch's
own fused kernel is already fast and is used as is.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def dropout_mask(shape: torch.Size, p: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A tensor of 0 (probability p) and 1 / (1 - p), drawn from torch's global generator."""
    n = shape.numel()
    bits = torch.empty((n + 3) // 4, dtype=torch.int64, device=device).random_(-2**63, None)  # every bit random
    slices = bits.view(torch.int16)[:n].view(shape)  # 16 random bits per element, uniform on [-32768, 32767]
    threshold = -32768 + round(p * 65536)  # P(slice < threshold) = p
    # (slice - threshold + 1) clamped to [0, 1] is 1 where slice >= threshold, else 0; floats avoid bool
    # tensors, whose element-wise kernels are slow on CPUs.
    keep = slices.to(torch.float32).sub_(threshold - 1).clamp_(0, 1)
    return keep.mul_(1.0 / (1.0 - p)).to(dtype)


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """``F.dropout`` with the fast CPU mask."""
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu" or p >= 1.0:
        return F.dropout(x, p, training)
    return x * dropout_mask(x.shape, p, x.dtype, x.device)


class Dropout(nn.Dropout):
    """``nn.Dropout`` with the fast CPU mask (same arguments, same behaviour)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)
