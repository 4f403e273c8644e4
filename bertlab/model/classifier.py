"""One classification model for every application mode: sequence or token task, any pooling, frozen or not.

``BertForClassification(config, num_labels, pooling, task_kind)`` = encoder (``model.bert``) + pooling
(``pooling.py``) + dropout + a linear head. Two ways to use the pre-trained encoder (BERT §5.3):

- fine-tuning: every weight trains;
- feature extraction: ``model.freeze_encoder()`` sets ``requires_grad=False`` on the encoder (the training
  loop's optimizer then skips it) and keeps it in eval mode (no dropout), so the features a head sees
  for a sentence are the same at every step; only the head (and the scalar mix) learns.

``BertForSequenceClassification`` (BERT §4.1) and ``BertForTokenClassification`` (§4.3) are this model with
"cls" pooling of a sequence task and the top layer of a token task. Hidden states and attention scores come
on request, so a fine-tuned model can teach a TinyBERT student (task-specific distillation, TinyBERT §3.2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bertlab.config import IGNORE_INDEX, BertConfig
from bertlab.model.bert import BertModel, BertPreTrainedModel
from bertlab.model.outputs import ClassifierOutput
from bertlab.model.pooling import ScalarMix, check_pooling, masked_mean


class BertForClassification(BertPreTrainedModel):
    """Encoder + pooling + linear head. ``task_kind``: "single" / "pair" (one label per input) or "token"."""

    def __init__(self, config: BertConfig, num_labels: int = 2, pooling: str | None = None,
                 task_kind: str = "single", labels: list[str] | None = None):
        super().__init__()
        if num_labels < 2:
            raise ValueError(f"a classifier needs at least 2 labels, got {num_labels}")
        if labels is not None and len(labels) != num_labels:
            raise ValueError(f"{len(labels)} label names given for num_labels={num_labels}")
        self.config = config
        self.num_labels, self.task_kind = num_labels, task_kind
        self.pooling = check_pooling(pooling, task_kind)
        self.labels = list(labels) if labels is not None else [str(i) for i in range(num_labels)]
        # the pooler (tanh(W h_[CLS])) exists only where it is read, so no parameter sits without a gradient
        self.bert = BertModel(config, add_pooler=self.pooling == "cls")
        self.scalar_mix = ScalarMix(config.num_hidden_layers + 1) if self.pooling == "scalar-mix" else None
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, num_labels)
        self.init_weights()
        # what load_run needs to rebuild this module (config.json "model_kwargs")
        self.model_kwargs = dict(num_labels=num_labels, pooling=self.pooling, task_kind=task_kind,
                                 labels=self.labels)

    # ----------------------------------------------------------------------------- feature extraction
    @property
    def encoder_frozen(self) -> bool:
        return not any(p.requires_grad for p in self.bert.parameters())

    def freeze_encoder(self) -> "BertForClassification":
        """Feature extraction: the encoder stops learning and runs without dropout."""
        self.bert.requires_grad_(False)
        self.bert.eval()
        return self

    def train(self, mode: bool = True) -> "BertForClassification":
        super().train(mode)
        if self.encoder_frozen:
            self.bert.eval()  # a frozen encoder is a fixed feature extractor: no dropout noise
        return self

    def head_parameters(self) -> list[nn.Parameter]:
        """What trains in feature extraction: the classifier and the scalar mix."""
        return [p for name, p in self.named_parameters() if not name.startswith("bert.")]

    # ------------------------------------------------------------------------------------------ forward
    def features(self, input_ids, attention_mask=None, token_type_ids=None, output_attentions=False,
                 output_hidden_states=False):
        """(vectors the head reads: (B, H) or (B, T, H), the encoder output)."""
        need_layers = output_hidden_states or self.scalar_mix is not None
        if self.encoder_frozen:
            with torch.no_grad():  # nothing below needs a gradient: skip building the graph
                enc = self.bert(input_ids, attention_mask, token_type_ids, output_attentions, need_layers)
        else:
            enc = self.bert(input_ids, attention_mask, token_type_ids, output_attentions, need_layers)
        if self.pooling == "cls":
            vectors = enc.pooler_output  # (B, H)
        elif self.pooling == "top":
            vectors = enc.last_hidden_state  # (B, T, H)
        else:
            layer = enc.last_hidden_state if self.pooling == "mean" else self.scalar_mix(enc.hidden_states)
            vectors = layer if self.task_kind == "token" else masked_mean(layer, attention_mask)
        return vectors, enc

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None,
                output_attentions=False, output_hidden_states=False) -> ClassifierOutput:
        """``labels``: (B,) for sequence tasks, (B, T) with -100 on unscored tokens for token tasks.
        Returns logits (B, num_labels) or (B, T, num_labels) and the mean cross-entropy."""
        vectors, enc = self.features(input_ids, attention_mask, token_type_ids, output_attentions,
                                     output_hidden_states)
        logits = self.classifier(self.dropout(vectors))
        loss = None
        if labels is not None:
            flat = logits.reshape(-1, self.num_labels).float()
            if (labels != IGNORE_INDEX).any():
                loss = F.cross_entropy(flat, labels.reshape(-1), ignore_index=IGNORE_INDEX)
            else:
                loss = flat.sum() * 0.0  # nothing scored in this batch: a zero that keeps the graph
        return ClassifierOutput(loss, logits, enc.hidden_states if output_hidden_states else None,
                                enc.attentions, enc.attention_scores)


def load_encoder_weights(model: BertForClassification, source: nn.Module) -> None:
    """Copy a trained encoder (``source.bert`` or a ``BertModel``) into ``model.bert``.

    The pooler is copied when both have one; a model without a pooler simply leaves it out.
    """
    encoder = getattr(source, "bert", source)
    if not isinstance(encoder, BertModel):
        raise TypeError(f"expected a model with a BertModel encoder (.bert), got {type(source).__name__}")
    if encoder.config.to_dict() != model.config.to_dict():
        raise ValueError("the pre-trained encoder's config differs from the model's; build the model with "
                         "the pre-trained run's BertConfig")
    state = {k: v for k, v in encoder.state_dict().items()
             if not k.startswith("pooler.") or model.bert.pooler is not None}
    missing, unexpected = model.bert.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("pooler.")]  # a pooler NSP never trained stays random
    if missing or unexpected:
        raise ValueError(f"pre-trained encoder does not fit: missing {missing[:4]}, unexpected {unexpected[:4]}")


class BertForSequenceClassification(BertForClassification):
    """[CLS] pooled vector -> dropout -> linear (BERT §4.1): ``BertForClassification`` with "cls" pooling."""

    def __init__(self, config: BertConfig, num_labels: int = 2):
        super().__init__(config, num_labels, pooling="cls", task_kind="single")
        self.model_kwargs = dict(num_labels=num_labels)


class BertForTokenClassification(BertForClassification):
    """A label per token from the top layer (BERT §4.3, e.g. NER): ``BertForClassification`` of a token task."""

    def __init__(self, config: BertConfig, num_labels: int = 2):
        super().__init__(config, num_labels, pooling="top", task_kind="token")
        self.model_kwargs = dict(num_labels=num_labels)


FINETUNE_MODEL_CLASSES = {"BertForClassification": BertForClassification}

__all__ = ["BertForClassification", "BertForSequenceClassification", "BertForTokenClassification",
           "load_encoder_weights", "FINETUNE_MODEL_CLASSES"]
