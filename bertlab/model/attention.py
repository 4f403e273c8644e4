"""Multi-head self-attention (Vaswani et al. 2017 §3.2; BERT §3).

Three paths compute the same thing:
- fast: ``torch.nn.functional.scaled_dot_product_attention`` (fused kernels, flash attention on GPUs,
  and on CPUs whenever no attention dropout is needed, i.e. at evaluation time);
- CPU training: written out with bertlab's fast dropout mask (``dropout.py``). With dropout, torch's SDPA
  falls back on CPUs to the same written-out computation, but with a slow ``bernoulli_`` mask; in bf16 its
  fused CPU kernel trains 2.4× slower than these plain batched matrix products at tiny's shapes
  (``benchmarks/bench_kernels.py``, results in ``benchmarks/README.md``);
- eager: written out, used when the caller asks for the attention maps. It returns the scores
  ``QK^T / sqrt(d)`` *before* the padding mask and softmax (what TinyBERT distils, §3.1) and the
  probabilities (what the attention pictures show). ``tests/test_model.py`` checks the paths agree.

The mask is *additive*: (B, 1, 1, T) with 0 where a key may be attended and a very large negative
number on padding, added to the scores before the softmax (so padded keys get weight 0).
Q, K and V come from one matrix product with the three weight matrices stacked (one large product is
faster than three small ones); the weights stay separate modules ``query``, ``key``, ``value``, so the
state dict keeps BERT's names.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from bertlab.config import BertConfig
from bertlab.model.dropout import dropout


def _written_out_on_cpu(x: torch.Tensor, dropout_p: float) -> bool:
    """Whether training on a CPU takes the written-out path: attention dropout, or Q and K not in fp32
    (bf16 autocast), where SDPA's CPU kernels are slower (the module docstring)."""
    if x.device.type != "cpu" or not torch.is_grad_enabled():
        return False
    dtype = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else x.dtype  # Q's dtype
    return dropout_p > 0 or dtype != torch.float32


class SelfAttention(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        H = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.head_dim = config.head_dim
        self.query = nn.Linear(H, H)
        self.key = nn.Linear(H, H)
        self.value = nn.Linear(H, H)
        self.dropout_p = config.attention_probs_dropout_prob

    def _qkv(self, x: torch.Tensor, q_scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Q (times ``q_scale``), K, V, each (B, A, T, d), from one product with the stacked (3H, H) weight.

        ``q_scale`` multiplies Q's rows of the stacked weight and bias, an (H, H) product instead of one over
        every position's Q; for d = 64, 1/sqrt(d) = 1/8 is a power of two and the result is bit for bit
        ``q * q_scale``."""
        B, T, _ = x.shape
        wq, bq = (self.query.weight, self.query.bias) if q_scale == 1.0 else \
            (self.query.weight * q_scale, self.query.bias * q_scale)
        weight = torch.cat((wq, self.key.weight, self.value.weight))  # (3H, H)
        bias = torch.cat((bq, self.key.bias, self.value.bias))  # (3H,)
        qkv = F.linear(x, weight, bias).view(B, T, 3, self.num_heads, self.head_dim)  # (B, T, 3, A, d)
        return qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x (B, A, T, d)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, output_attentions: bool = False):
        """x (B, T, H); mask (B, 1, 1, T) additive (0 = may attend, very negative = padding); returns
        context (B, T, H), and with ``output_attentions`` also (scores, probabilities), each (B, A, T, T)."""
        B, T, _ = x.shape
        dropout_p = self.dropout_p if self.training else 0.0
        scores = probs = None
        training_on_cpu = not output_attentions and _written_out_on_cpu(x, dropout_p)
        q, k, v = (None, None, None) if training_on_cpu else self._qkv(x)
        if output_attentions:
            scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim)  # (B, A, T, T)
            masked = scores if mask is None else scores + mask.to(scores.dtype)
            probs = masked.softmax(dim=-1)  # each query's weights over the keys sum to 1
            context = dropout(probs, dropout_p, self.training) @ v  # (B, A, T, d)
        elif training_on_cpu:
            q, k, v = self._qkv(x, 1.0 / math.sqrt(self.head_dim))  # Q already scaled by 1/sqrt(d)
            weights = q @ k.transpose(-1, -2)  # (B, A, T, T)
            if mask is not None:
                weights.add_(mask.to(weights.dtype))  # in place: the product's backward needs q and k, not it
            context = dropout(weights.softmax(dim=-1), dropout_p) @ v  # (B, A, T, d)
        else:
            if mask is not None:
                mask = mask.to(q.dtype)
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)  # (B, A, T, d)
        # (B, T, A*d): heads concatenated; A*d = H unless heads were pruned (num_heads lowered)
        context = context.transpose(1, 2).reshape(B, T, self.num_heads * self.head_dim)
        return context, scores, probs
