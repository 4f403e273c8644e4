"""BERT and ALBERT models: the encoder and the pre-training model (the classifiers are in classifier.py).

Forward signatures follow transformers' ``BertModel`` / ``BertForPreTraining`` so tests and users can
swap one for the other (``tests/test_interop.py`` checks the numbers agree).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bertlab.config import IGNORE_INDEX, BertConfig
from bertlab.model.cross_entropy import labelled_cross_entropy
from bertlab.model.embeddings import BertEmbeddings
from bertlab.model.encoder import Encoder
from bertlab.model.heads import MaskedLMHead, Pooler, SentencePairHead
from bertlab.model.outputs import EncoderOutput, PreTrainingOutput


def find_encoder(model: nn.Module) -> "BertModel":
    """The ``BertModel`` inside a task model (``model.bert``), or the model itself if it is one."""
    inner = getattr(model, "bert", model)
    if not hasattr(inner, "encoder") or not hasattr(inner, "embeddings"):
        raise TypeError(f"expected a bertlab BertModel or a model with .bert, got {type(model).__name__}")
    return inner


class BertPreTrainedModel(nn.Module):
    """Shared initialisation (BERT's truncated-normal-like N(0, 0.02)) and helpers."""

    config: BertConfig

    def init_weights(self) -> None:
        std = self.config.initializer_range
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, std=std)
                if module.padding_idx is not None:
                    with torch.no_grad():
                        module.weight[module.padding_idx].zero_()
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def num_parameters(self) -> int:
        """Unique parameters (shared layers counted once)."""
        return sum(p.numel() for p in self.parameters())


class BertModel(BertPreTrainedModel):
    def __init__(self, config: BertConfig, add_pooler: bool = True):
        super().__init__()
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.encoder = Encoder(config)
        self.pooler = Pooler(config) if add_pooler else None
        self.init_weights()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False, position_ids: torch.Tensor | None = None,
                language_ids: torch.Tensor | None = None) -> EncoderOutput:
        """input_ids, token_type_ids, position_ids (None = 0 … T-1), language_ids (XLM; None = 0): (B, T).

        attention_mask: (B, T) with 1 = real token, 0 = padding, or (B, T, T) with 1 where query row i may attend
        key column j (UNILM's masks, ``bertlab.family.unilm``; transformers takes the same as an additive
        (B, 1, T, T) mask, ``tests/test_family_unilm.py`` checks the outputs agree)."""
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must have shape (batch, sequence), got {tuple(input_ids.shape)}")
        B, T = input_ids.shape
        if attention_mask is not None and tuple(attention_mask.shape) not in ((B, T), (B, T, T)):
            raise ValueError(f"attention_mask must have shape (batch, sequence) = {(B, T)} or (batch, query, key) "
                             f"= {(B, T, T)}, got {tuple(attention_mask.shape)}")
        if input_ids.device.type == "cpu":
            self.embeddings.check_ids(input_ids, token_type_ids, language_ids)
        limit = self.config.max_position_embeddings
        if position_ids is not None and position_ids.numel() and position_ids.max() >= limit:
            raise ValueError(f"position_ids contain {int(position_ids.max())}, beyond max_position_embeddings {limit}")
        x = self.embeddings(input_ids, token_type_ids, position_ids, language_ids)  # (B, T, H)
        mask = None
        if attention_mask is not None and not (input_ids.device.type == "cpu" and bool(attention_mask.all())):
            # added to the attention scores: 0 where a key may be attended, the most negative float elsewhere
            allowed = attention_mask[:, None, None, :] if attention_mask.dim() == 2 \
                else attention_mask[:, None, :, :]  # (B, 1, 1, T) for padding only, (B, 1, T, T) per query row
            mask = (1.0 - allowed.to(x.dtype)) * torch.finfo(x.dtype).min
        x, hidden_states, scores, attentions = self.encoder(x, mask, output_attentions, output_hidden_states)
        pooled = self.pooler(x) if self.pooler is not None else None
        return EncoderOutput(x, pooled, hidden_states, attentions, scores)


def masked_lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the positions whose label is not -100 (BERT §3.1 Task #1)."""
    labelled = labels != IGNORE_INDEX
    if not labelled.any():
        return logits.sum() * 0.0  # no masked token in the batch: a zero that keeps the graph
    if logits.dim() == 2 and bool(labelled.all()):  # the masked positions only: every row has a label
        return labelled_cross_entropy(logits.float(), labels)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1), ignore_index=IGNORE_INDEX)


class BertForPreTraining(BertPreTrainedModel):
    """Encoder + masked-LM head (tied to the word embeddings) + NSP/SOP head on the pooled [CLS]."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.bert = BertModel(config)
        self.mlm = MaskedLMHead(config)
        self.nsp = SentencePairHead(config)
        self.init_weights()

    def mlm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.mlm(hidden, self.bert.embeddings.word_embeddings.weight)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                next_sentence_label: torch.Tensor | None = None, output_attentions: bool = False,
                output_hidden_states: bool = False, mlm_positions: str = "masked",
                position_ids: torch.Tensor | None = None, language_ids: torch.Tensor | None = None
                ) -> PreTrainingOutput:
        """``labels`` (B, T): the original token where masked, -100 elsewhere. ``next_sentence_label`` (B,):
        0 = B follows A (IsNext / in order), 1 = NotNext / swapped; None trains MLM only (RoBERTa).

        ``mlm_positions="masked"`` runs the V-sized projection only at the N labelled positions, which is
        most of the saving in pre-training (15 % of positions); the loss is the same as computing all.
        ``position_ids`` and ``language_ids`` (B, T): XLM's TLM inputs (``bertlab.data.crosslingual``).
        """
        if mlm_positions not in ("masked", "all"):
            raise ValueError(f"mlm_positions must be 'masked' or 'all', got {mlm_positions!r}")
        enc = self.bert(input_ids, attention_mask, token_type_ids, output_attentions, output_hidden_states,
                        position_ids, language_ids)
        out = PreTrainingOutput(last_hidden_state=enc.last_hidden_state, hidden_states=enc.hidden_states,
                                attentions=enc.attentions, attention_scores=enc.attention_scores)
        if labels is not None and mlm_positions == "masked":
            selected = labels != IGNORE_INDEX  # (B, T)
            out.masked_lm_logits = self.mlm_logits(enc.last_hidden_state[selected])  # (N, V)
            out.masked_lm_labels = labels[selected]  # (N,)
            out.mlm_loss = masked_lm_loss(out.masked_lm_logits, out.masked_lm_labels)
        else:
            out.prediction_logits = self.mlm_logits(enc.last_hidden_state)  # (B, T, V)
            if labels is not None:
                out.mlm_loss = masked_lm_loss(out.prediction_logits, labels)
        out.seq_relationship_logits = self.nsp(enc.pooler_output)
        if next_sentence_label is not None:
            out.nsp_loss = F.cross_entropy(out.seq_relationship_logits.float(), next_sentence_label.reshape(-1),
                                           ignore_index=IGNORE_INDEX)
        losses = [loss for loss in (out.mlm_loss, out.nsp_loss) if loss is not None]
        out.loss = sum(losses) if losses else None
        return out
