"""BERT / ALBERT models (see bert.py) and their building blocks."""

from bertlab.model.bert import (BertForPreTraining, BertForSequenceClassification, BertForTokenClassification,
                                BertModel, masked_lm_loss)
from bertlab.model.encoder import layer_maps
from bertlab.model.outputs import ClassifierOutput, EncoderOutput, PreTrainingOutput

__all__ = ["BertModel", "BertForPreTraining", "BertForSequenceClassification", "BertForTokenClassification",
           "EncoderOutput", "PreTrainingOutput", "ClassifierOutput", "layer_maps", "masked_lm_loss"]
