"""Model outputs as dataclasses (field names follow transformers so code can swap one for the other)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

Tensors = tuple[torch.Tensor, ...]


@dataclass
class EncoderOutput:
    last_hidden_state: torch.Tensor  # (B, T, H)
    pooler_output: torch.Tensor | None = None  # (B, H): tanh(W h_[CLS] + b)
    hidden_states: Tensors | None = None  # L+1 tensors (B, T, H): embeddings first
    attentions: Tensors | None = None  # L tensors (B, A, T, T): softmax probabilities
    attention_scores: Tensors | None = None  # L tensors (B, A, T, T): QK^T/sqrt(d), before mask and softmax


@dataclass
class PreTrainingOutput:
    loss: torch.Tensor | None = None  # mlm_loss + nsp_loss (whichever are present)
    mlm_loss: torch.Tensor | None = None
    nsp_loss: torch.Tensor | None = None
    prediction_logits: torch.Tensor | None = None  # (B, T, V) when computed at every position
    masked_lm_logits: torch.Tensor | None = None  # (N, V) at the N positions whose label != -100
    masked_lm_labels: torch.Tensor | None = None  # (N,)
    seq_relationship_logits: torch.Tensor | None = None  # (B, 2): 0 = IsNext / in order, 1 = NotNext / swapped
    last_hidden_state: torch.Tensor | None = None
    hidden_states: Tensors | None = None
    attentions: Tensors | None = None
    attention_scores: Tensors | None = None


@dataclass
class ClassifierOutput:
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None  # (B, num_labels) or (B, T, num_labels)
    hidden_states: Tensors | None = None
    attentions: Tensors | None = None
    attention_scores: Tensors | None = None
