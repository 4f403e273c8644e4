"""Fine-tuning and feature extraction with the shared training loop: the task, and the glue around it.

    from bertlab.finetune.loop import FinetuneOptions, finetune
    result = finetune(FinetuneOptions(task="reviews-zh", from_run="runs/zh", mode="features",
                                      pooling="scalar-mix", steps=300, out="runs/zh-reviews"))
    result.test["accuracy"], result.test["macro_f1"], result.mix_weights

The run folder is a pre-training run folder with ``kind: "finetune"``: ``config.json`` (task, mode,
pooling, ``model_class``/``model_kwargs`` for ``load_run``), ``tokenizer.json``, ``metrics.jsonl`` (train
lines: loss, accuracy; eval lines on dev: loss, accuracy, macro_f1; one last "test" line), ``best.safetensors``
and ``model.safetensors`` (both the best-by-dev weights) and ``results.json``.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from bertlab.config import IGNORE_INDEX, check_field_types, get_preset
from bertlab.data import load_tokenizer, train_tokenizer
from bertlab.finetune.data import EncodedSplit, EncodedTask, encode_task
from bertlab.finetune.metrics import classification_metrics, confusion_matrix
from bertlab.finetune.tasks import TaskData, load_task
from bertlab.io import atomic_write_json
from bertlab.model.classifier import BertForClassification, load_encoder_weights
from bertlab.model.pooling import check_pooling
from bertlab.train.checkpoint import save_weights
from bertlab.train.loop import TrainResult, TrainSettings, train
from bertlab.train.run import load_run, open_run, start_run

MODES = ("finetune", "features")
SELECT_METRICS = ("macro_f1", "accuracy")
# Peak learning rates. BERT-base fine-tunes at 2e-5…5e-5; a 2-layer, 128-wide encoder trained for a few
# hundred steps wants far larger steps, and a linear head alone on frozen features larger still. Chosen on
# reviews-zh *dev* accuracy after 250 steps from a tiny encoder pre-trained on peoples-daily-zh:
# finetune 1e-4 / 3e-4 / 1e-3 → 68 / 75 / 79 %; features 3e-3 / 1e-2 / 3e-2 → 60 / 64 / 64 %.
DEFAULT_LR = {"finetune": 1e-3, "features": 1e-2}
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "labels")


class FinetuneTask:
    """The ``Task`` of ``bertlab.train.loop.train`` for classification: cross-entropy normalised by the
    step's scored labels (examples, or labelled tokens), accuracy on train lines, and on dev evaluations
    accuracy and macro-F1, keeping the best weights by ``select_metric`` (``best_state``; and
    ``best.safetensors`` in ``run_dir``). Pass ``task.on_record`` to ``train(callbacks=...)`` so the task
    learns the step of each evaluation (``best_step``)."""

    def __init__(self, dev: EncodedSplit, num_labels: int, select_metric: str = "macro_f1",
                 run_dir: str | Path | None = None, eval_batch_size: int = 128):
        if select_metric not in SELECT_METRICS:
            raise ValueError(f"select_metric must be one of {', '.join(SELECT_METRICS)}, got {select_metric!r}")
        self.dev, self.num_labels, self.select_metric = dev, num_labels, select_metric
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.eval_batch_size = eval_batch_size
        self.best_score, self.best_step, self.best_state, self.best_metrics = float("-inf"), None, None, {}
        self._improved = False

    def counts(self, batch) -> dict[str, float]:
        return {"scored": float((batch["labels"] != IGNORE_INDEX).sum())}

    def step(self, model: nn.Module, batch, totals: dict[str, float]):
        out = model(**{k: batch[k] for k in MODEL_INPUTS})
        scored = batch["labels"] != IGNORE_INDEX
        n = float(scored.sum())
        predictions = out.logits.argmax(-1)
        stats = {"tokens": float(batch["attention_mask"].sum()), "scored": n,
                 "loss_sum": float(out.loss.detach()) * n,
                 "correct": float(((predictions == batch["labels"]) & scored).sum())}
        # this micro-batch's mean loss × its share of the step's scored labels = its part of the global mean
        return out.loss * (n / max(totals["scored"], 1.0)), stats

    def summarize(self, sums: dict[str, float]) -> dict[str, float]:
        n = max(sums.get("scored", 0.0), 1.0)
        return {"loss": sums.get("loss_sum", 0.0) / n, "accuracy": sums.get("correct", 0.0) / n}

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        metrics = evaluate_split(model, self.dev, self.num_labels, self.eval_batch_size)
        score = metrics[self.select_metric]
        self._improved = score > self.best_score
        if self._improved:
            self.best_score, self.best_metrics = score, metrics
            self.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            if self.run_dir is not None:
                save_weights(model, self.run_dir / "best.safetensors")  # atomic: never half a file
        return {**metrics, f"best_{self.select_metric}": self.best_score}

    def on_record(self, record: dict) -> None:
        """A loop callback: an improving evaluation's step becomes ``best_step``."""
        if record.get("split") == "eval" and self._improved:
            self.best_step, self._improved = record["step"], False
            if self.run_dir is not None:
                atomic_write_json(self.run_dir / "best.json", {"step": self.best_step, "metric": self.select_metric,
                                                               "score": self.best_score})


@torch.no_grad()
def evaluate_split(model: nn.Module, split: EncodedSplit, num_labels: int, batch_size: int = 128) -> dict:
    """loss, accuracy, macro_f1 (and per-label F1) of ``model`` on an encoded split."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    confusion = torch.zeros(num_labels, num_labels, dtype=torch.long)
    loss_sum = 0.0
    for batch in split.eval_batches(batch_size):
        batch = {k: v.to(device) for k, v in batch.items()}
        out = model(**{k: batch[k] for k in MODEL_INPUTS})
        labels = batch["labels"]
        loss_sum += float(out.loss) * float((labels != IGNORE_INDEX).sum())
        confusion += confusion_matrix(out.logits.argmax(-1).cpu(), labels.cpu(), num_labels)
    model.train(was_training)
    scored = max(int(confusion.sum()), 1)
    return {"loss": loss_sum / scored, **classification_metrics(confusion), "examples": len(split),
            "scored": int(confusion.sum())}


@dataclass
class FinetuneOptions(TrainSettings):
    """What to fine-tune on which task, on top of ``TrainSettings`` (the schedule and the bookkeeping, declared
    there once); fine-tuning changes only some defaults."""

    # what to fine-tune
    task: str = "reviews-zh"  # built-in task name or the user's file / folder (see tasks.load_task)
    from_run: str | None = None  # pre-trained run folder; None = a randomly initialised encoder
    preset: str = "tiny"  # the random encoder's shape (ignored with from_run)
    tokenizer: str | None = None  # random encoder: tokenizer.json or run folder (None: train one on the task)
    vocab_size: int = 8192  # for a tokenizer trained on the task
    mode: str = "finetune"  # finetune (all weights) | features (frozen encoder, only the head trains)
    pooling: str | None = None  # cls | mean | scalar-mix (sequence tasks); top | scalar-mix (token tasks)
    max_seq_length: int = 128
    # user data (None = the reader's default)
    format: str | None = None
    text_column: str | None = None
    text_pair_column: str | None = None
    label_column: str | None = None
    dev_file: str | None = None
    test_file: str | None = None
    max_train_examples: int | None = None
    max_eval_examples: int | None = None
    select_metric: str = "macro_f1"  # dev score that picks the kept weights
    out: str | None = None  # run folder to create
    # fine-tuning's defaults for TrainSettings' fields
    steps: int = 300  # optimizer steps
    learning_rate: float | None = None  # peak learning rate (None: DEFAULT_LR[mode])
    warmup: float = 0.1  # warm-up: a fraction of the steps (< 1) or a number of steps (>= 1)
    eval_every: int | None = None  # dev evaluation interval (None: 5 evaluations over the run)
    checkpoint_every: int = 0  # checkpoint interval (0: one checkpoint at the end)
    # checkpoints kept; 0: delete checkpoints/ and best.safetensors at the end (model.safetensors holds the best
    # weights), which saves disk in experiments with many runs
    keep_checkpoints: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.keep_checkpoints, bool):  # runs before 0.1 saved it as true / false
            self.keep_checkpoints = int(self.keep_checkpoints)
        check_field_types(FinetuneOptions, asdict(self), "options")
        super().__post_init__()
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.select_metric not in SELECT_METRICS:
            raise ValueError(f"select_metric must be one of {', '.join(SELECT_METRICS)}, got {self.select_metric!r}")
        self.train_settings()  # learning rate, device, intervals: refused now, before the task is read

    def train_settings(self) -> TrainSettings:
        eval_every = self.eval_every if self.eval_every is not None else max(1, self.steps // 5)
        lr = self.learning_rate if self.learning_rate is not None else DEFAULT_LR[self.mode]
        # checkpoints/ stays until the end; then finetune() deletes it and best.safetensors when keep_checkpoints=0
        return super().train_settings(learning_rate=lr, eval_every=eval_every,
                                      keep_checkpoints=max(1, self.keep_checkpoints))

    def user_options(self) -> dict:
        return {k: getattr(self, k) for k in ("format", "text_column", "text_pair_column", "label_column",
                                              "dev_file", "test_file")}


@dataclass
class EncoderSource:
    """Where the encoder comes from: its shape, its tokenizer, and pre-trained weights (None = random)."""

    config: object  # BertConfig
    tokenizer: object
    weights: nn.Module | None = None  # a model with .bert (BertForPreTraining, a fine-tuned model, ...)
    description: str = "random initialisation"
    pretrained_options: dict | None = None  # the pre-training run's options (to hold its documents out)

    def random(self) -> "EncoderSource":
        """The same shape and tokenizer without the pre-trained weights: what pre-training bought."""
        return EncoderSource(self.config, self.tokenizer, None, "random initialisation (same shape and tokenizer)",
                             None)


def resolve_source(options: FinetuneOptions, task: TaskData | None = None) -> EncoderSource:
    """The encoder of ``options``: a pre-trained run, or a preset with random weights."""
    if options.from_run:
        run = load_run(options.from_run)
        if not hasattr(run.model, "bert"):
            raise ValueError(f"{options.from_run}: its model ({type(run.model).__name__}) has no .bert encoder")
        return EncoderSource(run.model_config, run.tokenizer, run.model, f"pre-trained run {options.from_run}",
                             run.config.get("options"))
    if options.tokenizer:
        tokenizer = load_tokenizer(options.tokenizer)
        where = f"tokenizer {options.tokenizer}"
    else:
        if task is None:
            raise ValueError("a random encoder without --tokenizer trains its tokenizer on the task: load the task first")
        tokenizer = task_tokenizer(task, options.vocab_size)
        where = f"WordPiece {options.vocab_size} trained on the task's training text"
    config = get_preset(options.preset)
    config = config.replace(vocab_size=tokenizer.get_vocab_size(),
                            max_position_embeddings=max(config.max_position_embeddings, options.max_seq_length))
    return EncoderSource(config, tokenizer, None, f"random {options.preset} encoder, {where}")


def task_tokenizer(task: TaskData, vocab_size: int):
    def texts():
        for e in task.train:
            yield " ".join(e.text) if task.kind == "token" else e.text
            if e.text_pair:
                yield e.text_pair
    return train_tokenizer(texts(), vocab_size=vocab_size)


@dataclass
class FinetuneResult:
    train: TrainResult
    dev: dict  # best-by-dev weights on dev
    test: dict  # the same weights on test
    best_step: int | None
    mode: str
    pooling: str
    task: dict  # TaskData.summary()
    mix_weights: list[float] | None = None  # scalar-mix softmax weights, embeddings first
    mix_gamma: float | None = None
    run_dir: str | None = None
    seconds: float = 0.0
    model: nn.Module | None = field(default=None, repr=False)

    def to_json(self) -> dict:
        data = {k: v for k, v in asdict(self).items() if k not in ("train", "model")}
        data["train"] = {"status": self.train.status, "step": self.train.step, "seconds": round(self.train.seconds, 2),
                         "last_train": self.train.last_train}
        return data


def build_model(source: EncoderSource, task: TaskData, mode: str, pooling: str | None, seed: int = 0):
    torch.manual_seed(seed)
    model = BertForClassification(source.config, len(task.labels), pooling, task.kind, task.labels)
    if source.weights is not None:
        load_encoder_weights(model, source.weights)
    if mode == "features":
        model.freeze_encoder()
    return model


def finetune(options: FinetuneOptions, task: TaskData | None = None, source: EncoderSource | None = None,
             encoded: EncodedTask | None = None, callbacks=()) -> FinetuneResult:
    """Load the task and encoder (unless given), train, keep the best-by-dev weights, score them on test.

    The run folder is locked from the start (one writer per run: ``bertlab.train.runlock``)."""
    with open_run(options.out, holds_run_file="config.json", hint="choose another --out or delete it") as run_dir:
        return _finetune(options, run_dir, task, source, encoded, callbacks)


def _finetune(options: FinetuneOptions, run_dir: Path | None, task: TaskData | None, source: EncoderSource | None,
              encoded: EncodedTask | None, callbacks) -> FinetuneResult:
    began = time.time()
    if source is None and options.from_run:
        source = resolve_source(options)
    if task is None:
        task = load_task(options.task, seed=options.seed,
                         pretrained_options=source.pretrained_options if source else None, **options.user_options())
        task = task.limit(options.max_train_examples, options.max_eval_examples, options.seed)
    check_pooling(options.pooling, task.kind)  # before any slow step
    source = source or resolve_source(options, task)
    if options.max_seq_length > source.config.max_position_embeddings:
        raise ValueError(f"max_seq_length {options.max_seq_length} exceeds the encoder's "
                         f"{source.config.max_position_embeddings} positions")
    encoded = encoded or encode_task(task, source.tokenizer, options.max_seq_length)
    model = build_model(source, task, options.mode, options.pooling, options.seed)
    settings = options.train_settings()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    summary = (f"{task!r}\nencoder: {source.description}; mode {options.mode}, pooling {model.pooling}; "
               f"{trainable:,} of {model.num_parameters():,} parameters train") if options.progress else None
    start_run(run_dir, "finetune", source.config, source.tokenizer, summary=summary,
              model_class=type(model).__name__, model_kwargs=model.model_kwargs,
              task=task.summary(), encoded=encoded.stats(),
              finetune={"mode": options.mode, "pooling": model.pooling, "encoder": source.description,
                        "from_run": options.from_run, "select_metric": options.select_metric},
              options=asdict(options), train=asdict(settings))
    ft_task = FinetuneTask(encoded.dev, len(task.labels), options.select_metric, run_dir)
    result = train(model, ft_task, lambda step: encoded.train.batch(step, options.batch_size, options.seed), settings,
                   run_dir, callbacks=(ft_task.on_record, *callbacks))
    if ft_task.best_state is not None:
        model.load_state_dict(ft_task.best_state)
    dev = ft_task.best_metrics or evaluate_split(model, encoded.dev, len(task.labels))
    test = evaluate_split(model, encoded.test, len(task.labels))
    mix = model.scalar_mix
    with torch.no_grad():
        weights = [round(float(w), 6) for w in mix.weights] if mix is not None else None
        gamma = round(float(mix.gamma), 6) if mix is not None else None
    out = FinetuneResult(result, dev, test, ft_task.best_step, options.mode, model.pooling, task.summary(),
                         weights, gamma, str(run_dir) if run_dir else None, time.time() - began, model)
    if run_dir is not None:
        save_weights(model, run_dir / "model.safetensors")  # the best-by-dev weights (the loop wrote the last)
        with open(run_dir / "metrics.jsonl", "a", encoding="utf-8") as handle:
            record = {"split": "test", "step": ft_task.best_step, **{k: test[k] for k in ("loss", "accuracy",
                                                                                        "macro_f1", "examples")}}
            handle.write(json.dumps(record) + "\n")
        atomic_write_json(run_dir / "results.json", out.to_json())
        if options.keep_checkpoints == 0:
            shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
            (run_dir / "best.safetensors").unlink(missing_ok=True)
    return out


def summary_line(result: FinetuneResult) -> str:
    t = result.test
    line = (f"{result.train.status} at step {result.train.step} in {result.seconds:.0f} s; best dev "
            f"{result.dev['macro_f1']:.3f} macro-F1 at step {result.best_step}; test accuracy {t['accuracy']:.1%}, "
            f"macro-F1 {t['macro_f1']:.3f}")
    if result.mix_weights:
        line += f"; scalar mix s = [{', '.join(f'{w:.2f}' for w in result.mix_weights)}], γ = {result.mix_gamma:.2f}"
    return line


def options_from_dict(values: dict) -> FinetuneOptions:
    known = {f.name for f in dataclasses.fields(FinetuneOptions)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown fine-tuning option(s): {', '.join(unknown)}")
    return FinetuneOptions(**values)


__all__ = ["FinetuneTask", "FinetuneOptions", "FinetuneResult", "EncoderSource", "finetune", "evaluate_split",
           "resolve_source", "build_model", "summary_line", "DEFAULT_LR", "MODES"]
