"""BERT / ALBERT models (bert.py: encoder and pre-training; classifier.py: classifiers) and their building blocks."""

from bertlab.model.bert import BertForPreTraining, BertModel, find_encoder, masked_lm_loss
from bertlab.model.classifier import BertForClassification, BertForSequenceClassification, BertForTokenClassification
from bertlab.model.encoder import layer_maps
from bertlab.model.outputs import ClassifierOutput, EncoderOutput, PreTrainingOutput

__all__ = ["BertModel", "BertForPreTraining", "BertForClassification", "BertForSequenceClassification",
           "BertForTokenClassification", "EncoderOutput", "PreTrainingOutput", "ClassifierOutput", "layer_maps",
           "masked_lm_loss", "find_encoder"]
