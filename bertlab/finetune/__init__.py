"""Using a pre-trained encoder on labelled tasks: fine-tuning vs feature extraction, [CLS] vs layer fusion.

- ``tasks``: built-in tasks (reviews-zh, sentence-distance, capitalization, word-boundary) and ``TaskData``;
- ``userdata``: the user's CSV / TSV / JSON Lines / CoNLL files;
- ``pooling``: [CLS], token mean, ELMo's ``ScalarMix``;
- ``models``: ``BertForClassification`` (any pooling, sequence or token task, frozen or not);
- ``data``: examples → token arrays → batches; ``metrics``: accuracy, macro-F1;
- ``loop``: ``FinetuneTask`` for the shared training loop and ``finetune(options)``.
"""

from bertlab.finetune.tasks import BUILTIN_TASKS, Example, TaskData, load_task
from bertlab.model.classifier import FINETUNE_MODEL_CLASSES, BertForClassification, load_encoder_weights
from bertlab.model.pooling import POOLINGS, ScalarMix, masked_mean

__all__ = ["BertForClassification", "FINETUNE_MODEL_CLASSES", "load_encoder_weights", "ScalarMix", "masked_mean",
           "POOLINGS", "TaskData", "Example", "load_task", "BUILTIN_TASKS"]
