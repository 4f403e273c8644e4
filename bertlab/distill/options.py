"""What a distillation run is asked to do: ``DistillOptions``, and the student's shape it implies.

General distillation (TinyBERT §3.2, DistilBERT §3) and the task-specific stage (TinyBERT §3.2) read the same
options; ``bertlab distill`` builds them from its flags.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from bertlab.config import BertConfig, check_field_types, check_overrides, get_preset
from bertlab.distill.objectives import loss_weights
from bertlab.train.loop import TrainSettings

METHODS = ("tinybert", "distilbert")
STAGES = ("general", "task")
INITS = ("auto", "random", "every-other")
# settings that default to the teacher's pre-training options when left at None
FROM_TEACHER = ("corpus", "max_seq_length", "batch_size", "learning_rate", "warmup")


@dataclass
class DistillOptions(TrainSettings):
    """What to distil into what, on top of ``TrainSettings`` (the schedule and the bookkeeping, declared there)."""

    teacher: str = "runs/tiny"  # the teacher's run folder
    # student shape: a preset (None = the teacher's shape with half its layers, DistilBERT's recipe), then
    # these overrides; vocab_size is always the teacher's
    student_preset: str | None = None
    student_layers: int | None = None  # L
    student_hidden: int | None = None  # H (FFN becomes 4H and heads stay unless given)
    student_heads: int | None = None  # A
    student_intermediate: int | None = None
    student_embedding_size: int | None = None  # E (ALBERT factorization)
    model_overrides: dict = field(default_factory=dict)  # any other BertConfig fields
    # distillation
    method: str = "tinybert"
    stage: str = "general"
    layer_map: str | list = "uniform"  # "uniform" or teacher layers [g(1), …, g(M)] (TinyBERT)
    attention_on: str = "scores"  # TinyBERT's attention loss on pre-softmax scores or probabilities
    temperature: float | None = None  # None = 1 (TinyBERT) / 2 (DistilBERT)
    weights: dict = field(default_factory=dict)  # loss weights over the method's defaults
    pred_loss: str = "kl"  # "kl" or "ce" (same gradient; kl reads 0 at a perfect copy)
    init: str | list = "auto"  # auto (DistilBERT copies layers, TinyBERT random) | random | every-other | [layers]
    # data (None = the teacher's)
    corpus: str | None = None
    tokenizer: str | None = None  # only checked: the student always uses the teacher's tokenizer
    max_seq_length: int | None = None
    eval_examples: int = 1024
    # task-specific stage
    task: str | None = None  # None = the fine-tuned teacher's task
    student_run: str | None = None  # the general student to continue (None = a random student of the shape above)
    intermediate_fraction: float = 0.5  # share of the steps on intermediate layers, then the prediction layer
    augment: int = 0  # augmented copies of each training example (TinyBERT §3.3)
    augment_with: str | None = None  # the masked-LM run that proposes words (None = the teacher's pre-trained run)
    # training: TrainSettings' fields; these three default to the teacher's (None until resolved)
    batch_size: int | None = None  # global batch (default: the teacher's)
    learning_rate: float | None = None  # peak learning rate (default: the teacher's)
    warmup: float | None = None  # warm-up: a fraction of the steps (< 1) or a number of steps (default: the teacher's)
    out: str | None = "runs/student"  # the student's run folder
    resume: bool = False  # continue the run in out from its last checkpoint

    def __post_init__(self) -> None:
        check_field_types(DistillOptions, asdict(self), "options")
        check_overrides(self.model_overrides)
        super().__post_init__()  # the given training values (None: the teacher's, checked once resolved)
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.stage not in STAGES:
            raise ValueError(f"stage must be one of {', '.join(STAGES)}, got {self.stage!r}")
        if self.attention_on not in ("scores", "probs"):
            raise ValueError(f"attention_on must be 'scores' or 'probs', got {self.attention_on!r}")
        if isinstance(self.init, str) and self.init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)} or a list of teacher layers, got {self.init!r}")
        if self.temperature is not None and self.temperature <= 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")
        if not 0 <= self.intermediate_fraction <= 1:
            raise ValueError(f"intermediate_fraction must be between 0 and 1, got {self.intermediate_fraction}")
        loss_weights(self.method, self.weights)  # unknown names / negative weights fail here, before any work


def parse_weights(text: str) -> dict[str, float]:
    """``"emb=1,attn=0.5"`` -> {"emb": 1.0, "attn": 0.5}."""
    weights = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            weights[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"--weights {text!r}: expected name=number pairs separated by commas, "
                             f"e.g. emb=1,attn=1,hidn=1,pred=1,pred_nsp=1") from None
    return weights


def parse_layers(text: str) -> str | list[int]:
    """``"uniform"`` or ``"0,3,6"`` -> [0, 3, 6]."""
    if text in ("uniform", "every-other", "auto", "random"):
        return text
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"expected 'uniform' or comma-separated layer numbers such as 0,3,6, got {text!r}") from None



# --- the student -----------------------------------------------------------------------------------------------

def student_config(options: DistillOptions, teacher_config: BertConfig, max_seq_length: int) -> BertConfig:
    """The preset (or the teacher's shape with half its layers) with the --student-* overrides; the
    vocabulary is always the teacher's."""
    overrides = dict(options.model_overrides)
    if overrides.get("vocab_size", teacher_config.vocab_size) != teacher_config.vocab_size:
        raise ValueError(f"the student's vocab_size {overrides['vocab_size']} differs from the teacher's "
                         f"{teacher_config.vocab_size}: the student uses the teacher's tokenizer")
    if options.student_preset is None:
        preset = teacher_config.replace(num_hidden_layers=max(1, teacher_config.num_hidden_layers // 2))
    else:
        preset = get_preset(options.student_preset)
    if options.student_hidden is not None:
        overrides.setdefault("hidden_size", options.student_hidden)
        overrides.setdefault("intermediate_size", 4 * options.student_hidden)
    for name, value in (("num_hidden_layers", options.student_layers), ("num_attention_heads", options.student_heads),
                        ("intermediate_size", options.student_intermediate),
                        ("embedding_size", options.student_embedding_size)):
        if value is not None:
            overrides[name] = value
    overrides["vocab_size"] = teacher_config.vocab_size
    overrides["max_position_embeddings"] = max(overrides.get("max_position_embeddings", preset.max_position_embeddings),
                                               max_seq_length)
    return preset.replace(**overrides)


__all__ = ["DistillOptions", "METHODS", "STAGES", "INITS", "FROM_TEACHER", "parse_weights", "parse_layers",
           "student_config"]
