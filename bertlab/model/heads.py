"""Task heads on top of the encoder (BERT §3.1 pre-training tasks, §4 fine-tuning)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bertlab.config import BertConfig
from bertlab.model.layer import ACTIVATIONS


class Pooler(nn.Module):
    """tanh(W h_[CLS] + b): the sentence vector NSP and sentence classifiers read (BERT §3.1)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(hidden[:, 0]))  # (B, H)


class MaskedLMHead(nn.Module):
    """Transform then project onto the vocabulary with the (tied) word-embedding matrix.

    BERT transforms H -> H; ALBERT (E != H) transforms H -> E, so the tied V x E embedding can
    serve as the output matrix. ``bias`` is the only vocabulary-sized parameter the head owns.
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.E)
        self.activation = ACTIVATIONS[config.hidden_act]
        self.norm = nn.LayerNorm(config.E, eps=config.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden: torch.Tensor, word_embeddings: torch.Tensor) -> torch.Tensor:
        """hidden (..., H), word_embeddings (V, E) -> logits (..., V)."""
        return F.linear(self.norm(self.activation(self.dense(hidden))), word_embeddings, self.bias)


class SentencePairHead(nn.Module):
    """Two-way classifier on the pooled [CLS]: NSP (BERT) or sentence order (ALBERT SOP)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.classifier = nn.Linear(config.hidden_size, 2)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.classifier(pooled)  # (B, 2)
