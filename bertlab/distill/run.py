"""Distil a student from a teacher's run folder: the glue between teacher, data, student and training loop.

    from bertlab.distill.run import DistillOptions, distill
    result = distill(DistillOptions(teacher="runs/small", student_preset="tiny", steps=500, out="runs/student"))

General distillation (TinyBERT §3.2) reads the teacher's pre-training corpus, split and tokenizer from its
run folder: the student's held-out documents are the teacher's, and both models read the same tokens.
``bertlab distill`` is a thin command-line wrapper around ``distill``.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bertlab.config import BertConfig, check_field_types, check_overrides, get_preset
from bertlab.distill.objectives import loss_weights
from bertlab.train.loop import TrainResult, TrainSettings, train
from bertlab.train.run import resumed_options, write_run_config
from bertlab.train.runlock import holds_run, run_lock

METHODS = ("tinybert", "distilbert")
STAGES = ("general", "task")
INITS = ("auto", "random", "every-other")
# settings that default to the teacher's pre-training options when left at None
FROM_TEACHER = ("corpus", "max_seq_length", "batch_size", "learning_rate", "warmup")


@dataclass
class DistillOptions:
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
    # training (None = the teacher's)
    steps: int = 1000
    batch_size: int | None = None
    learning_rate: float | None = None
    warmup: float | None = None
    precision: str = "auto"
    device: str = "auto"
    grad_accumulation: int = 1
    compile: bool = False
    eval_every: int = 0
    checkpoint_every: int = 200
    log_every: int = 10
    seed: int = 0
    out: str | None = "runs/student"
    resume: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        check_field_types(DistillOptions, asdict(self), "options")
        check_overrides(self.model_overrides)
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
        if self.steps <= 0:
            raise ValueError(f"steps must be positive, got {self.steps}")
        loss_weights(self.method, self.weights)  # unknown names / negative weights fail here, before any work
        names = {f.name for f in dataclasses.fields(TrainSettings)}  # the given training values, checked now
        TrainSettings(**{k: v for k, v in asdict(self).items() if k in names and v is not None})


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


# --- the teacher -----------------------------------------------------------------------------------------------

@dataclass
class Teacher:
    path: Path
    config: dict  # its config.json
    model: object  # BertForPreTraining (general stage) or a fine-tuned model (task stage)
    tokenizer: object
    data_options: dict  # the PretrainOptions it was trained with (data part), {} when unknown

    @property
    def sentence_pairs(self) -> bool:
        """Was the teacher trained with a sentence-pair objective (NSP or SOP)?"""
        return self.data_options.get("objective", "mlm+nsp") != "mlm"


def load_teacher(path: str | Path) -> Teacher:
    """The teacher's model, tokenizer and data options; clear errors for a path that is not a run."""
    from bertlab.data.tokenizer import check_special_tokens
    from bertlab.train.run import load_run

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"--teacher {path}: no such folder; make a teacher first, e.g. "
                                f"`bertlab pretrain --preset small --out {path}`")
    try:
        run = load_run(path)
    except FileNotFoundError as err:
        raise FileNotFoundError(f"--teacher {path} is not a finished bertlab run: {err}") from None
    tokenizer = check_special_tokens(run.tokenizer, f"{path}/tokenizer.json")
    if tokenizer.get_vocab_size() != run.model_config.vocab_size:
        raise ValueError(f"--teacher {path}: its tokenizer has {tokenizer.get_vocab_size()} tokens but its model "
                         f"{run.model_config.vocab_size}; the run folder is inconsistent")
    config = run.config
    data_options = dict(config.get("options") or {}) if config.get("kind") == "pretrain" else \
        dict(config.get("data_options") or {})
    return Teacher(path, config, run.model, tokenizer, data_options)


def check_same_tokenizer(teacher: Teacher, tokenizer_path: str | None) -> None:
    """``--tokenizer`` may only name the teacher's own vocabulary: distillation compares token by token."""
    if tokenizer_path is None:
        return
    from bertlab.data.tokenizer import load_tokenizer

    given = load_tokenizer(tokenizer_path)
    if given.get_vocab() != teacher.tokenizer.get_vocab():
        raise ValueError(
            f"--tokenizer {tokenizer_path} differs from the teacher's ({teacher.path}/tokenizer.json: "
            f"{given.get_vocab_size()} vs {teacher.tokenizer.get_vocab_size()} tokens"
            f"{'' if given.get_vocab_size() != teacher.tokenizer.get_vocab_size() else ', other pieces'}). "
            f"Teacher and student must share one tokenizer, because every distillation loss compares the two "
            f"models position by position and the prediction loss vocabulary entry by entry; leave --tokenizer "
            f"out and the teacher's is used")


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


def resolve_weights(options: DistillOptions, teacher: Teacher) -> dict[str, float]:
    """The method's default weights, with pred_nsp on when the teacher learnt NSP/SOP (else the student's
    sentence-pair head is never trained and stays at chance), then the user's weights."""
    weights = {}
    if teacher.sentence_pairs and options.stage == "general":
        weights["pred_nsp"] = 1.0
    weights.update(options.weights)
    return loss_weights(options.method, weights)


def _init(options: DistillOptions):
    return None if options.init == "random" else options.init


# --- general distillation ----------------------------------------------------------------------------------------

def data_options(options: DistillOptions, teacher: Teacher):
    """PretrainOptions for the distillation data: the teacher's corpus, split, objective and sequence length,
    the student's seed (batch order, masks) and batch size."""
    from bertlab.pretrain import PretrainOptions

    known = {f.name for f in dataclasses.fields(PretrainOptions)}
    base = {k: v for k, v in teacher.data_options.items() if k in known}
    if not base and options.corpus is None:
        raise ValueError(f"--teacher {teacher.path} records no pre-training data options (it is a "
                         f"{teacher.config.get('kind')!r} run); name the corpus with --corpus")
    split_seed = base.get("split_seed")
    split_seed = base.get("seed", 0) if split_seed is None else split_seed
    base.update(vocab_size=teacher.tokenizer.get_vocab_size(), seed=options.seed, split_seed=split_seed,
                eval_examples=options.eval_examples, out=None, resume=False, progress=False, steps=options.steps)
    for name in FROM_TEACHER:
        if getattr(options, name) is not None:
            base[name] = getattr(options, name)
    return PretrainOptions(**base)


def resolved_options(options: DistillOptions, teacher: Teacher) -> DistillOptions:
    """``options`` with every None that means "the teacher's" filled in (what config.json records)."""
    data = data_options(options, teacher)
    return dataclasses.replace(options, **{name: getattr(data, name) for name in FROM_TEACHER})


def options_for_resume(out: str | Path, steps: int | None = None, changes: dict | None = None) -> DistillOptions:
    """The options a distillation run was started with (from its config.json), to continue it; ``changes`` as in
    ``bertlab.pretrain.options_for_resume``."""
    changes = {**(changes or {}), **({"steps": steps} if steps is not None else {})}
    return resumed_options(DistillOptions, out, "distill", changes)


def distill(options: DistillOptions, callbacks=()) -> TrainResult:
    """Load the teacher, build data and student, write the run folder, train. Returns the ``TrainResult``.

    The run folder is locked from the start (one writer per run: ``bertlab.train.runlock``)."""
    with run_lock(options.out):
        if options.out and not options.resume and holds_run(options.out):
            raise ValueError(f"{options.out} already holds a run; continue it with --resume or choose another --out")
        return _distill(options, callbacks)


def _distill(options: DistillOptions, callbacks) -> TrainResult:
    import torch

    from bertlab.analysis.params import count_parameters
    from bertlab.data import save_tokenizer, unigram_baseline
    from bertlab.distill.trainer import DistillationTask, make_student
    from bertlab.pretrain import build_data

    if options.stage == "task":
        return _task_stage(options, callbacks)
    if options.student_run or options.augment or options.task:
        raise ValueError("--student, --task and --augment belong to --stage task (general distillation starts a "
                         "new student from the shape options)")
    teacher = load_teacher(options.teacher)
    check_same_tokenizer(teacher, options.tokenizer)
    if teacher.config.get("kind") == "finetune" or not hasattr(teacher.model, "mlm"):
        raise ValueError(f"--teacher {teacher.path} is a {teacher.config.get('kind')!r} run without a masked-LM "
                         f"head; general distillation needs a pre-trained teacher (bertlab pretrain); for a "
                         f"fine-tuned teacher use --stage task")
    data_opts = data_options(options, teacher)
    options = resolved_options(options, teacher)
    data = build_data(data_opts, tokenizer=teacher.tokenizer)
    config = student_config(options, teacher.model.config, data_opts.max_seq_length)
    weights = resolve_weights(options, teacher)
    torch.manual_seed(options.seed)  # the student's initial weights depend on --seed
    student = make_student(config, teacher.model, options.method, init=_init(options))
    task = DistillationTask(teacher.model, student, options.method, layer_map=options.layer_map, weights=weights,
                            attention_on=options.attention_on, temperature=options.temperature,
                            pred_loss=options.pred_loss, eval_batches=data.eval_batches,
                            unigram_token_id=unigram_baseline(data.train).token_id)
    settings = TrainSettings(**{k: v for k, v in asdict(options).items()
                                if k in {f.name for f in dataclasses.fields(TrainSettings)}})
    run_dir = Path(options.out) if options.out else None
    teacher_params = count_parameters(teacher.model).unique
    student_params = count_parameters(config).unique  # without the projections W_e, W_h (thrown away after)
    if run_dir is not None and not options.resume:
        save_tokenizer(teacher.tokenizer, run_dir / "tokenizer.json")
        write_run_config(
            run_dir, "distill", config, model_class="BertForDistillation", model_kwargs=student.model_kwargs,
            teacher=str(options.teacher),
            distill={"method": options.method, "stage": options.stage, "layer_map": task.layer_map,
                     "weights": task.weights, "temperature": task.temperature, "attention_on": options.attention_on,
                     "pred_loss": options.pred_loss, "init": options.init, "frozen": task.frozen},
            options=asdict(options), data_options=asdict(data_opts),
            data={"corpus": data_opts.corpus, "train_examples": len(data.train),
                  "held_out_examples": sum(int(b["input_ids"].shape[0]) for b in data.eval_batches),
                  "vocab_size": config.vocab_size},
            parameters={"teacher": teacher_params, "student": student_params,
                        "ratio": round(student_params / teacher_params, 4)})
    if options.progress:
        print(f"{data.train!r}\nteacher {teacher.path}: {teacher_params:,} parameters; student: {student_params:,} "
              f"({student_params / teacher_params:.0%}); {options.method} weights {task.weights}", file=sys.stderr)
    return train(student, task, lambda step: data.train.batch(step, options.batch_size), settings, run_dir,
                 resume=options.resume, callbacks=callbacks)


def _task_stage(options: DistillOptions, callbacks) -> TrainResult:
    try:
        from bertlab.distill.task_stage import distill_task
    except ImportError as err:
        if err.name and not err.name.startswith(("bertlab.distill.task_stage", "bertlab.finetune")):
            raise
        raise ValueError("--stage task is not available yet: it distils from a fine-tuned teacher (a run made by "
                         "`bertlab finetune`), which this installation cannot make yet; use --stage general") from None
    return distill_task(options, callbacks)


def summary_line(result: TrainResult) -> str:
    e = result.last_eval
    parts = [f"{result.status} at step {result.step} in {result.seconds:.0f} s"]
    if e:
        if "mlm_acc_mask" in e:  # [MASK] accuracy first: the unchanged case rewards copying
            parts.append(f"held-out [MASK] acc {e['mlm_acc_mask']:.1%} (teacher "
                         f"{e.get('teacher_mlm_acc_mask', float('nan')):.1%}; overall {e['mlm_acc']:.1%}, teacher "
                         f"{e.get('teacher_mlm_acc', float('nan')):.1%})")
        elif "mlm_acc" in e:
            parts.append(f"held-out MLM acc {e['mlm_acc']:.1%} (teacher {e.get('teacher_mlm_acc', float('nan')):.1%})")
        if "nsp_acc" in e:
            parts.append(f"NSP/SOP acc {e['nsp_acc']:.1%} (teacher {e.get('teacher_nsp_acc', float('nan')):.1%})")
        if "accuracy" in e:
            parts.append(f"accuracy {e['accuracy']:.1%}" + (f" (teacher {e['teacher_accuracy']:.1%})"
                                                           if "teacher_accuracy" in e else ""))
    return ", ".join(parts)


__all__ = ["DistillOptions", "distill", "load_teacher", "student_config", "parse_weights", "parse_layers",
           "options_for_resume", "summary_line"]
