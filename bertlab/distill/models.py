"""The models a distillation run trains: a student plus TinyBERT's projections to the teacher's width (§3.1).

``BertForDistillation`` (general distillation) is a ``BertForPreTraining``, ``BertForClassificationDistillation``
(task-specific distillation) a ``BertForClassification``; each also owns the projections W_e / W_h, so the
optimizer, checkpoints and DDP see them, and a run folder loads back as the ordinary model (the projections are
simply unused). ``model_kwargs`` rebuilds the same module (what a run folder's config.json stores).
"""

from __future__ import annotations

from collections.abc import Callable

from bertlab.config import BertConfig
from bertlab.distill.mapping import Projections
from bertlab.model import BertForPreTraining
from bertlab.model.classifier import BertForClassification


class BertForDistillation(BertForPreTraining):
    """A student ``BertForPreTraining`` plus the projections W_e, W_h to the teacher's width (TinyBERT §3.1).

    ``forward`` is BertForPreTraining's; with ``distill=f`` it returns ``(output, f(output, self.projections))``.
    ``model_kwargs`` rebuilds the same module (what a run folder's config.json stores).
    """

    def __init__(self, config: BertConfig, teacher_hidden_size: int | None = None, share_hidden: bool = True,
                 learn_when_equal: bool = False, bias: bool = False):
        super().__init__(config)
        teacher_hidden_size = teacher_hidden_size or config.hidden_size
        self.model_kwargs = dict(teacher_hidden_size=teacher_hidden_size, share_hidden=share_hidden,
                                 learn_when_equal=learn_when_equal, bias=bias)
        self.projections = Projections(config.hidden_size, teacher_hidden_size, config.num_hidden_layers,
                                       share_hidden=share_hidden, learn_when_equal=learn_when_equal, bias=bias)

    def forward(self, *args, distill: Callable | None = None, **kwargs):
        out = super().forward(*args, **kwargs)
        if distill is None:
            return out
        return out, distill(out, self.projections)


class BertForClassificationDistillation(BertForClassification):
    """A student classifier plus TinyBERT's projections W_e, W_h to the teacher's width (§3.1).

    ``forward`` is BertForClassification's; with ``distill=f`` it returns ``(output, f(output, projections))``.
    """

    def __init__(self, config: BertConfig, num_labels: int = 2, pooling: str | None = None, task_kind: str = "single",
                 labels: list[str] | None = None, teacher_hidden_size: int | None = None, share_hidden: bool = True,
                 learn_when_equal: bool = False, bias: bool = False):
        super().__init__(config, num_labels, pooling, task_kind, labels)
        teacher_hidden_size = teacher_hidden_size or config.hidden_size
        self.projections = Projections(config.hidden_size, teacher_hidden_size, config.num_hidden_layers,
                                       share_hidden=share_hidden, learn_when_equal=learn_when_equal, bias=bias)
        self.model_kwargs.update(teacher_hidden_size=teacher_hidden_size, share_hidden=share_hidden,
                                 learn_when_equal=learn_when_equal, bias=bias)

    def forward(self, *args, distill=None, **kwargs):
        out = super().forward(*args, **kwargs)
        if distill is None:
            return out
        return out, distill(out, self.projections)


# what a run folder's config.json may name as its model_class (bertlab.train.run.load_run)
DISTILL_MODEL_CLASSES = {"BertForDistillation": BertForDistillation,
                         "BertForClassificationDistillation": BertForClassificationDistillation}

__all__ = ["BertForDistillation", "BertForClassificationDistillation", "DISTILL_MODEL_CLASSES"]
