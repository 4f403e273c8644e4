"""From the encoder's outputs to the vectors a classifier reads: [CLS], token mean, or a learned layer mix.

A pre-trained encoder gives L+1 hidden states per token (the embeddings, then each layer). A task head
needs one vector per sentence (sequence tasks) or per token (token tasks). The choices compared by
``bertlab experiment application-modes``:

    pooling      sequence task (one vector per input)                 token task (one vector per token)
    cls          the top layer's [CLS] through the pooler (BERT §4.1)  (not available)
    mean         the top layer averaged over the real tokens           (not available)
    top          (not available)                                       the top layer (BERT §4.3)
    scalar-mix   γ Σ_j softmax(w)_j · h_j, averaged over real tokens   γ Σ_j softmax(w)_j · h_j

so ``cls`` vs ``mean`` asks *which tokens* to read and ``mean`` vs ``scalar-mix`` asks *which layers*.
``ScalarMix`` is ELMo's task-specific layer weighting (Peters et al. 2018, Eq. 1).
"""

from __future__ import annotations

import torch
from torch import nn

SEQUENCE_POOLINGS = ("cls", "mean", "scalar-mix")
TOKEN_POOLINGS = ("top", "scalar-mix")
POOLINGS = ("cls", "mean", "top", "scalar-mix")


def check_pooling(pooling: str, task_kind: str) -> str:
    """The pooling to use for a task kind ("single" | "pair" | "token"); None picks the default."""
    if task_kind not in ("single", "pair", "token"):
        raise ValueError(f"task kind must be 'single', 'pair' or 'token', got {task_kind!r}")
    allowed = TOKEN_POOLINGS if task_kind == "token" else SEQUENCE_POOLINGS
    if pooling is None:
        return allowed[0]
    if pooling not in allowed:
        why = ("a token task labels every token, so it reads each token's own vector"
               if task_kind == "token" else "a sequence task needs one vector per input")
        raise ValueError(f"pooling {pooling!r} does not apply to a {task_kind} task ({why}); "
                         f"choose one of: {', '.join(allowed)}")
    return pooling


class ScalarMix(nn.Module):
    """γ · Σ_j s_j h_j with s = softmax(w) over the L+1 layers (Peters et al. 2018, Eq. 1).

    ``w`` starts at zero (an unweighted mean of the layers) and ``γ`` at one, so training begins from
    the plain layer average and moves away from it only as far as the task asks.
    """

    def __init__(self, num_layers: int):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"ScalarMix needs at least one layer, got {num_layers}")
        self.scalar_parameters = nn.Parameter(torch.zeros(num_layers))  # w: one logit per layer
        self.gamma = nn.Parameter(torch.ones(1))  # γ: scales the whole mix

    @property
    def weights(self) -> torch.Tensor:
        """s = softmax(w): non-negative, summing to one."""
        return torch.softmax(self.scalar_parameters, dim=0)

    def forward(self, hidden_states: tuple[torch.Tensor, ...] | list[torch.Tensor]) -> torch.Tensor:
        """hidden_states: L+1 tensors of the same shape, e.g. (B, T, H) -> the mix, same shape."""
        if len(hidden_states) != len(self.scalar_parameters):
            raise ValueError(f"ScalarMix was built for {len(self.scalar_parameters)} layers, got "
                             f"{len(hidden_states)} hidden states")
        stacked = torch.stack(list(hidden_states), dim=0)  # (L+1, B, T, H)
        s = self.weights.to(stacked.dtype).view(-1, *([1] * (stacked.dim() - 1)))  # (L+1, 1, 1, 1)
        return self.gamma.to(stacked.dtype) * (s * stacked).sum(dim=0)


def masked_mean(hidden: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """(B, T, H) averaged over the positions where ``attention_mask`` is 1 -> (B, H).

    [CLS] and [SEP] count as tokens (they are real positions the encoder attends to); padding does not.
    """
    if attention_mask is None:
        return hidden.mean(dim=1)
    mask = attention_mask.to(hidden.dtype).unsqueeze(-1)  # (B, T, 1)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


__all__ = ["ScalarMix", "masked_mean", "check_pooling", "POOLINGS", "SEQUENCE_POOLINGS", "TOKEN_POOLINGS"]
