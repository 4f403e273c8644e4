"""Parameter counts by component, read off a real model (ALBERT §3.1, Table 1).

``count_parameters`` builds the model on PyTorch's "meta" device when given a config (no memory, no
time), so the numbers always match the code instead of a formula kept beside it. A student can still
check the formulas: word embeddings V*E, projection E*H + H, attention 4(H*H + H), feed-forward
2*H*I + I + H, LayerNorm 2*width.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from bertlab.config import BertConfig
from bertlab.model import BertForPreTraining, BertModel

COMPONENTS = ("word_embeddings", "position_embeddings", "token_type_embeddings", "embedding_projection",
              "attention", "feed_forward", "layer_norms", "pooler", "mlm_head", "nsp_head", "classifier")
BACKBONE = ("word_embeddings", "position_embeddings", "token_type_embeddings", "embedding_projection",
            "attention", "feed_forward", "layer_norms")  # what the ALBERT paper's sizes count


@dataclass
class ParameterCount:
    unique: int  # distinct parameters: shared layers once (what is stored and trained)
    applied: int  # as if unshared: each shared block counted once per layer that uses it
    by_component: dict[str, int] = field(default_factory=dict)  # unique, by component
    applied_by_component: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Total distinct parameters, ``sum(p.numel() for p in model.parameters())``."""
        return self.unique

    @property
    def backbone(self) -> int:
        """Embeddings + encoder, without pooler and heads (the ALBERT paper's Table 1 convention)."""
        return sum(self.by_component.get(c, 0) for c in BACKBONE)

    def to_dict(self) -> dict:
        return {"total": self.total, "unique": self.unique, "applied": self.applied, "backbone": self.backbone,
                "by_component": self.by_component, "applied_by_component": self.applied_by_component}


def component_of(name: str) -> str:
    """Which component a parameter name belongs to."""
    parts = name.split(".")
    if "word_embeddings" in parts:
        return "word_embeddings"
    for table in ("position_embeddings", "token_type_embeddings"):
        if table in parts:
            return table
    if "projection" in parts:
        return "embedding_projection"
    if parts[0] == "mlm":
        return "mlm_head"
    if parts[0] == "nsp":
        return "nsp_head"
    if "pooler" in parts:
        return "pooler"
    if "norm" in parts or "final_norm" in parts:
        return "layer_norms"
    if "attention_blocks" in parts:
        return "attention"
    if "ffn_blocks" in parts:
        return "feed_forward"
    return "classifier"


def _uses(name: str, model: nn.Module) -> int:
    """How many layers apply the block this parameter lives in (1 outside the encoder)."""
    parts = name.split(".")
    encoder = getattr(getattr(model, "bert", model), "encoder", None)
    for blocks, mapping in (("attention_blocks", "attention_map"), ("ffn_blocks", "ffn_map")):
        if blocks in parts and encoder is not None:
            index = int(parts[parts.index(blocks) + 1])
            return getattr(encoder, mapping).count(index)
    return 1


def count_parameters(config_or_model: BertConfig | nn.Module, head: str = "pretraining") -> ParameterCount:
    """Counts for a model, or for the model a config builds (``head``: pretraining | encoder)."""
    if isinstance(config_or_model, BertConfig):
        with torch.device("meta"):
            model = BertForPreTraining(config_or_model) if head == "pretraining" else BertModel(config_or_model)
    else:
        model = config_or_model
    by_component = {c: 0 for c in COMPONENTS}
    applied_by_component = {c: 0 for c in COMPONENTS}
    for name, param in model.named_parameters():  # named_parameters() yields a shared tensor once
        component = component_of(name)
        by_component[component] += param.numel()
        applied_by_component[component] += param.numel() * _uses(name, model)
    return ParameterCount(sum(by_component.values()), sum(applied_by_component.values()),
                          by_component, applied_by_component)


def embedding_formula(config: BertConfig) -> dict[str, int]:
    """ALBERT §3.1: the vocabulary costs V*H (BERT) or V*E + E*H (factorized)."""
    V, E, H = config.vocab_size, config.E, config.hidden_size
    return {"V*H": V * H, "V*E + E*H": V * E + E * H if config.is_factorized else V * H}


def format_count(n: int) -> str:
    """12345678 -> '12.3M'."""
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)
