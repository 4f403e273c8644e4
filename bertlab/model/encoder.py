"""The encoder stack, with ALBERT's cross-layer parameter sharing as an index map (ALBERT §3.1).

Layer j applies ``attention_blocks[attention_map[j]]`` then ``ffn_blocks[ffn_map[j]]``:

    share_layers   attention_map (L=4)   ffn_map
    "none"         [0, 1, 2, 3]          [0, 1, 2, 3]     BERT: every layer its own weights
    "all"          [0, 0, 0, 0]          [0, 0, 0, 0]     ALBERT's default: one layer applied L times
    "attention"    [0, 0, 0, 0]          [0, 1, 2, 3]
    "ffn"          [0, 1, 2, 3]          [0, 0, 0, 0]

Shared weights exist once, so ``model.parameters()`` counts them once; the compute is still L layers.
"""

from __future__ import annotations

import torch
from torch import nn

from bertlab.config import BertConfig
from bertlab.model.layer import AttentionBlock, FeedForwardBlock


def layer_maps(config: BertConfig) -> tuple[list[int], list[int]]:
    """(attention_map, ffn_map) for the config's sharing mode."""
    L = config.num_hidden_layers
    own, shared = list(range(L)), [0] * L
    return {
        "none": (own, own),
        "all": (shared, shared),
        "attention": (shared, own),
        "ffn": (own, shared),
    }[config.share_layers]


class Encoder(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.attention_map, self.ffn_map = layer_maps(config)
        self.attention_blocks = nn.ModuleList(AttentionBlock(config) for _ in range(max(self.attention_map) + 1))
        self.ffn_blocks = nn.ModuleList(FeedForwardBlock(config) for _ in range(max(self.ffn_map) + 1))
        # pre-LN stacks end with one more LayerNorm (the residual stream is never normalised otherwise)
        self.final_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps) \
            if config.norm_placement == "pre" else None

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, output_attentions: bool = False,
                output_hidden_states: bool = False):
        hidden_states = [x] if output_hidden_states else None
        scores_per_layer, probs_per_layer = [], []
        for a, f in zip(self.attention_map, self.ffn_map):
            x, scores, probs = self.attention_blocks[a](x, mask, output_attentions)
            x = self.ffn_blocks[f](x)
            if output_hidden_states:
                hidden_states.append(x)
            if output_attentions:
                scores_per_layer.append(scores)
                probs_per_layer.append(probs)
        if self.final_norm is not None:
            x = self.final_norm(x)
            if output_hidden_states:
                hidden_states[-1] = x
        # the order of every layer's tuple: output first, then what was asked for, scores before probabilities
        return (x, tuple(hidden_states) if output_hidden_states else None,
                tuple(scores_per_layer) if output_attentions else None,
                tuple(probs_per_layer) if output_attentions else None)
