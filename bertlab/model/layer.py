"""One Transformer encoder layer = an attention block and a feed-forward block (BERT §3, post-LN).

Each block is ``x + sublayer(x)`` followed by LayerNorm ("post"), as in BERT; ``norm_placement="pre"``
normalises before the sub-layer instead (``x + sublayer(norm(x))``), a variant that trains more easily.
The two blocks are separate modules so that ALBERT can share either one across layers (§3.1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bertlab.config import BertConfig
from bertlab.model.dropout import Dropout
from bertlab.model.attention import SelfAttention

ACTIVATIONS = {
    "gelu": F.gelu,  # exact, erf-based (BERT)
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),  # tanh approximation (ALBERT, GPT-2)
    "relu": F.relu,
}


class AttentionBlock(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.attention = SelfAttention(config)
        self.output = nn.Linear(config.hidden_size, config.hidden_size)  # mixes the concatenated heads
        self.dropout = Dropout(config.hidden_dropout_prob)
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.pre_norm = config.norm_placement == "pre"

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, output_attentions: bool = False):
        h = self.norm(x) if self.pre_norm else x
        context, scores, probs = self.attention(h, mask, output_attentions)
        x = x + self.dropout(self.output(context))  # residual connection
        return (x if self.pre_norm else self.norm(x)), scores, probs


class FeedForwardBlock(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.intermediate = nn.Linear(config.hidden_size, config.intermediate_size)  # H -> 4H
        self.output = nn.Linear(config.intermediate_size, config.hidden_size)  # 4H -> H
        self.activation = ACTIVATIONS[config.hidden_act]
        self.dropout = Dropout(config.hidden_dropout_prob)
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.pre_norm = config.norm_placement == "pre"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(x) if self.pre_norm else x
        x = x + self.dropout(self.output(self.activation(self.intermediate(h))))
        return x if self.pre_norm else self.norm(x)
