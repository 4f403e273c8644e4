"""Multi-head self-attention (Vaswani et al. 2017 §3.2; BERT §3).

Two paths compute the same thing:
- fast: ``torch.nn.functional.scaled_dot_product_attention`` (fused kernels, flash attention on GPUs);
- eager: written out, used when the caller asks for the attention maps. It returns the scores
  ``QK^T / sqrt(d)`` *before* the padding mask and softmax (what TinyBERT distils, §3.1) and the
  probabilities (what the attention pictures show). ``tests/test_model.py`` checks both paths agree.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from bertlab.config import BertConfig


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

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        return x.view(B, T, self.num_heads, self.head_dim).transpose(1, 2)  # (B, A, T, d)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, output_attentions: bool = False):
        """x (B, T, H); mask (B, 1, 1, T) boolean, True = may attend; returns context (B, T, H),
        and with ``output_attentions`` also (scores, probabilities), each (B, A, T, T)."""
        B, T, H = x.shape
        q, k, v = self._split_heads(self.query(x)), self._split_heads(self.key(x)), self._split_heads(self.value(x))
        dropout_p = self.dropout_p if self.training else 0.0
        if not output_attentions:
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)  # (B, A, T, d)
            scores = probs = None
        else:
            scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim)  # (B, A, T, T)
            masked = scores if mask is None else scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
            probs = masked.softmax(dim=-1)  # each query's weights over the keys sum to 1
            context = F.dropout(probs, dropout_p, self.training) @ v  # (B, A, T, d)
        context = context.transpose(1, 2).reshape(B, T, H)  # (B, T, H): heads concatenated
        return context, scores, probs
