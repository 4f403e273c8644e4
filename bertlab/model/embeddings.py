"""Input embeddings: token + position + segment, with ALBERT's factorization (ALBERT §3.1).

BERT (§3.2) sums three tables of width H. ALBERT keeps the tables at a smaller width E and projects
E -> H with one linear map, so the vocabulary costs V*E + E*H parameters instead of V*H.
XLM (§3.1) adds a fourth table, one row per language, when ``config.num_languages`` > 0.
"""

from __future__ import annotations

import torch
from torch import nn

from bertlab.config import BertConfig
from bertlab.model.dropout import Dropout


class BertEmbeddings(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        E = config.E
        self.word_embeddings = nn.Embedding(config.vocab_size, E, padding_idx=config.pad_token_id)  # V x E
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, E)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, E)
        # XLM: which language each token is in (only when the config asks for it)
        self.language_embeddings = nn.Embedding(config.num_languages, E) if config.num_languages else None
        self.norm = nn.LayerNorm(E, eps=config.layer_norm_eps)
        self.dropout = Dropout(config.hidden_dropout_prob)
        # E x H projection, only when E != H (otherwise BERT: the sum already has width H)
        self.projection = nn.Linear(E, config.hidden_size) if config.is_factorized else None
        self.max_positions = config.max_position_embeddings
        self.type_vocab_size = config.type_vocab_size
        self.vocab_size = config.vocab_size

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, language_ids: torch.Tensor | None = None) -> torch.Tensor:
        """``position_ids`` (B, T) or (T,): None = 0 … T-1 (UNILM's evaluation gives a [MASK] the position it
        predicts, ``bertlab.family.unilm.next_token_accuracy``; XLM's TLM restarts them in the second sentence).
        ``language_ids`` (B, T): XLM's language of each token; None = language 0. A model without language
        embeddings ignores them, so the same cross-lingual batches train models with and without."""
        B, T = input_ids.shape
        if position_ids is None and T > self.max_positions:
            raise ValueError(f"sequence length {T} exceeds max_position_embeddings {self.max_positions}: "
                             f"truncate the input or use a config with more positions")
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        positions = torch.arange(T, device=input_ids.device) if position_ids is None else position_ids  # (T,)
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions) \
            + self.token_type_embeddings(token_type_ids)  # (B, T, E)
        if self.language_embeddings is not None:
            x = x + self.language_embeddings(torch.zeros_like(input_ids) if language_ids is None else language_ids)
        x = self.dropout(self.norm(x))
        if self.projection is not None:
            x = self.projection(x)  # (B, T, H)
        return x

    def check_ids(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None,
                  language_ids: torch.Tensor | None = None) -> None:
        """Clear errors for ids outside the tables (instead of an index error deep inside torch)."""
        if input_ids.numel() and (input_ids.min() < 0 or input_ids.max() >= self.vocab_size):
            raise ValueError(f"input_ids contain {int(input_ids.max())}, outside the vocabulary of "
                             f"{self.vocab_size}: was the text tokenized with this model's tokenizer?")
        if token_type_ids is not None and token_type_ids.numel() and token_type_ids.max() >= self.type_vocab_size:
            raise ValueError(f"token_type_ids contain {int(token_type_ids.max())}, but type_vocab_size is "
                             f"{self.type_vocab_size}")
        table = self.language_embeddings
        if table is not None and language_ids is not None and language_ids.numel() \
                and (language_ids.min() < 0 or language_ids.max() >= table.num_embeddings):
            raise ValueError(f"language_ids contain {int(language_ids.max())}, but num_languages is "
                             f"{table.num_embeddings}")
