"""Pre-train a BERT / ALBERT model on a corpus: the glue between data, model and training loop.

    from bertlab.pretrain import PretrainOptions, pretrain
    result = pretrain(PretrainOptions(preset="tiny", corpus="wiki-en", steps=500, out="runs/tiny"))

``bertlab pretrain`` is a thin command-line wrapper around ``pretrain``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from bertlab.config import SHARE_MODES, BertConfig, check_field_types, check_overrides, get_preset
from bertlab.data import PretrainingDataset, get_tokenizer, load_corpus, most_frequent_token
from bertlab.data.attention_masks import check_objective, prepare_batch
from bertlab.data.crosslingual import CROSSLINGUAL_OBJECTIVES, LANGUAGES, RANKING_OBJECTIVE, crosslingual_data
from bertlab.data.datasets import OBJECTIVES as DOCUMENT_OBJECTIVES
from bertlab.data.datasets import resolve_masking_unit
from bertlab.model import BertForPreTraining
from bertlab.train.loop import TrainResult, TrainSettings, train
from bertlab.train.pretraining import PretrainingTask
from bertlab.train.ranking import RankingTask
from bertlab.train.run import open_run, resumed_options, start_run



# BERT / ALBERT / RoBERTa on documents, then XLM's and the LASER-style ones on a parallel corpus
OBJECTIVES = DOCUMENT_OBJECTIVES + CROSSLINGUAL_OBJECTIVES


@dataclass
class PretrainOptions(TrainSettings):
    """What to pre-train and on what: the model, the data and the objective, on top of ``TrainSettings`` (the
    schedule and the bookkeeping, declared there once)."""

    # model
    preset: str = "tiny"
    embedding_size: int | None = None  # E (ALBERT factorization); None keeps the preset's
    share_layers: str | None = None  # ALBERT sharing mode; None keeps the preset's
    model_overrides: dict = dataclasses.field(default_factory=dict)  # any other BertConfig fields
    # data
    corpus: str = "wiki-en"
    objective: str = "mlm+nsp"
    # UNILM's self-attention mask (bertlab/data/attention_masks.py): bidirectional (BERT), left-to-right, seq2seq
    attention_mask_kind: str = "bidirectional"
    masking: str = "dynamic"
    # XLM §3.1 language embeddings (BertConfig.num_languages = 2: en, zh) for the cross-lingual objectives
    language_embeddings: bool = False
    # what one masking draw covers: token (BERT), word (whole-word masking), knowledge (whole entities and
    # phrases, ERNIE 1.0 §3.2, bertlab/data/knowledge.py); whole_word=True is the older spelling of "word"
    masking_unit: str = "token"
    whole_word: bool = False
    # the share of tokens chosen for prediction (BERT §3.1: 15 %, then 80/10/10); held-out evaluation always uses
    # BERT's 15 %, so runs with other rates are scored on the same masks
    mlm_probability: float = 0.15
    # the masking rate of the sequence-length warm-up's short inputs; None = mlm_probability. Fast-cpu masks 40 %:
    # more predictions per token while the model learns its words (Wettig et al. 2023; docs/recipe.md)
    warmup_mlm_probability: float | None = None
    vocab_size: int = 8192
    lowercase: bool = True
    max_seq_length: int = 128
    # sequence-length warm-up: the first warmup_seq_steps steps (a fraction of steps if < 1) train on inputs of
    # warmup_seq_length tokens, with a batch that keeps the tokens per step; 0 = off (docs/recipe.md)
    warmup_seq_length: int = 0
    warmup_seq_steps: float = 0.0
    # objective of those short inputs: None = the run's. "mlm" leaves out the sentence pairs: NSP on two
    # ~6-token segments teaches little that carries over and slows MLM's start (docs/recipe.md)
    warmup_seq_objective: str | None = None
    held_out_fraction: float = 0.1  # documents kept out of training for evaluation
    eval_examples: int = 1024
    nsp_weight: float = 1.0  # weight of the NSP/SOP loss
    split_seed: int | None = None  # seed of the train / held-out document split (and held-out masks); None = seed
    out: str | None = "runs/tiny"  # run folder
    resume: bool = False  # continue the run in out from its last checkpoint

    def __post_init__(self) -> None:
        check_field_types(PretrainOptions, dataclasses.asdict(self), "options")
        super().__post_init__()
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}")
        check_objective(self.attention_mask_kind, self.objective)
        self.masking_unit = resolve_masking_unit(None if self.masking_unit == "token" else self.masking_unit,
                                                 self.whole_word)
        self.whole_word = self.masking_unit == "word"  # the two fields always agree in a saved run
        if self.share_layers is not None and self.share_layers not in SHARE_MODES:
            raise ValueError(f"share_layers must be one of {', '.join(SHARE_MODES)}, got {self.share_layers!r}")
        if self.warmup_seq_length and not 8 <= self.warmup_seq_length <= self.max_seq_length:
            raise ValueError(f"warmup_seq_length must be between 8 and max_seq_length ({self.max_seq_length}), "
                             f"got {self.warmup_seq_length}")
        if self.warmup_seq_objective is not None and self.warmup_seq_objective not in OBJECTIVES:
            raise ValueError(f"warmup_seq_objective must be one of {', '.join(OBJECTIVES)} (or None: the run's "
                             f"objective), got {self.warmup_seq_objective!r}")
        if self.warmup_seq_length and self.warmup_seq_objective is not None:
            check_objective(self.attention_mask_kind, self.warmup_seq_objective, option="--warmup-seq-objective")
        if self.warmup_mlm_probability is None:  # resolved now, so a saved run names the rate it trained with
            self.warmup_mlm_probability = self.mlm_probability
        for name in ("mlm_probability", "warmup_mlm_probability"):
            rate = getattr(self, name)
            if not 0 < rate < 1:
                flag = "--" + name.replace("_", "-")
                raise ValueError(f"{name} ({flag}) must be between 0 and 1 (a share of the tokens), got {rate}")
        if self.warmup_seq_steps < 0:
            raise ValueError(f"warmup_seq_steps (--warmup-seq-steps) must be >= 0, got {self.warmup_seq_steps}")
        if not 0 < self.held_out_fraction < 1:
            raise ValueError(f"held_out_fraction must be between 0 and 1, got {self.held_out_fraction}")
        check_overrides(self.model_overrides)
        self.train_settings()  # learning rate, device, intervals: refused now, before any data is built
        if self.objective in CROSSLINGUAL_OBJECTIVES:
            self._check_crosslingual()

    def _check_crosslingual(self) -> None:
        """The cross-lingual objectives take token masking, dynamic masks and BERT's attention, nothing else."""
        unsupported = {"--masking static": self.masking != "dynamic", "--masking-unit": self.masking_unit != "token",
                       "--attention-mask": self.attention_mask_kind != "bidirectional",
                       "--warmup-seq-length": bool(self.warmup_seq_length)}
        for flag, given in unsupported.items():
            if given:
                raise ValueError(f"{flag} is not available with --objective {self.objective}; leave it out")

    @property
    def warmup_seq_step_count(self) -> int:
        """Steps on short inputs (0 without sequence-length warm-up)."""
        if not self.warmup_seq_length:
            return 0
        count = self.warmup_seq_steps * self.steps if self.warmup_seq_steps < 1 else self.warmup_seq_steps
        return min(self.steps, int(count))

    @property
    def warmup_batch_size(self) -> int:
        """Batch size on short inputs: the same number of tokens per step, a multiple of grad_accumulation."""
        size = self.batch_size * self.max_seq_length // max(1, self.warmup_seq_length)
        return max(self.grad_accumulation, size - size % self.grad_accumulation)


def model_config(options: PretrainOptions, vocab_size: int) -> BertConfig:
    overrides = dict(options.model_overrides)
    if options.embedding_size is not None:
        overrides["embedding_size"] = options.embedding_size
    if options.share_layers is not None:
        overrides["share_layers"] = options.share_layers
    if options.language_embeddings:
        overrides["num_languages"] = len(LANGUAGES)
    config = get_preset(options.preset, **overrides)
    return config.replace(vocab_size=vocab_size,
                          max_position_embeddings=max(config.max_position_embeddings, options.max_seq_length))


@dataclass
class PretrainData:
    train: object  # PretrainingDataset
    held_out: object  # PretrainingDataset
    tokenizer: object
    eval_batches: list
    warmup_train: object = None  # PretrainingDataset of short inputs for sequence-length warm-up, or None


def build_data(options: PretrainOptions, tokenizer=None) -> PretrainData:
    """Split by document, train the tokenizer on the training part (unless ``tokenizer`` is given, e.g. a
    teacher's for distillation), build both datasets."""
    if options.objective in CROSSLINGUAL_OBJECTIVES:
        return build_crosslingual_data(options, tokenizer)
    corpus = load_corpus(options.corpus)
    split_seed = options.seed if options.split_seed is None else options.split_seed
    train_corpus, held_out_corpus = corpus.split(options.held_out_fraction, seed=split_seed)
    if tokenizer is None:
        tokenizer = get_tokenizer(train_corpus, vocab_size=options.vocab_size, lowercase=options.lowercase)
    common = dict(max_seq_length=options.max_seq_length, objective=options.objective,
                  masking_unit=options.masking_unit)
    train_data = PretrainingDataset(train_corpus, tokenizer, masking=options.masking, seed=options.seed,
                                    mlm_probability=options.mlm_probability, **common)
    if options.batch_size > len(train_data):
        raise ValueError(f"batch size {options.batch_size} is larger than the {len(train_data)} training examples "
                         f"of {corpus.name}; use a smaller --batch-size or a larger corpus")
    held_out = PretrainingDataset(held_out_corpus, tokenizer, masking="static", dupe_factor=1,
                                  seed=split_seed + 1, **common)  # the same held-out masks for every seed
    eval_size = min(64, len(held_out))
    n_batches = max(1, min(options.eval_examples, len(held_out)) // eval_size)
    eval_batches = [prepare_batch(held_out.batch(i, eval_size), options.attention_mask_kind)
                    for i in range(n_batches)]
    warmup = None
    if options.warmup_seq_length and options.warmup_seq_step_count:
        warmup = PretrainingDataset(train_corpus, tokenizer, masking=options.masking, seed=options.seed,
                                    mlm_probability=options.warmup_mlm_probability, **{**common, "max_seq_length": options.warmup_seq_length,
                                       "objective": options.warmup_seq_objective or options.objective})
    return PretrainData(train_data, held_out, tokenizer, eval_batches, warmup)


def build_crosslingual_data(options: PretrainOptions, tokenizer=None) -> PretrainData:
    """XLM's MLM / TLM or translation-ranking data on a parallel corpus (``bertlab.data.crosslingual``)."""
    split_seed = options.seed if options.split_seed is None else options.split_seed
    data = crosslingual_data(options.objective, options.corpus, options.vocab_size, options.lowercase,
                             options.max_seq_length, options.held_out_fraction, options.seed, split_seed, tokenizer)
    eval_size = 64
    n_batches = max(1, min(options.eval_examples, len(data.held_out.pair_ids) or len(data.held_out)) // eval_size)
    eval_batches = [data.held_out.batch(i, eval_size) for i in range(n_batches)]
    return PretrainData(data.train, data.held_out, data.tokenizer, eval_batches)


def batch_function(options: PretrainOptions, data: PretrainData):
    """``batch_fn(step)`` for the training loop: short inputs during sequence-length warm-up, then full ones.

    Still a pure function of the step, so ``--resume`` stays exact."""
    short_steps = options.warmup_seq_step_count if data.warmup_train is not None else 0

    def batch_fn(step: int):
        if step < short_steps:
            batch = data.warmup_train.batch(step, options.warmup_batch_size)
        else:
            batch = data.train.batch(step - short_steps, options.batch_size)
        return prepare_batch(batch, options.attention_mask_kind)  # UNILM: what this mask trains on

    return batch_fn


def seconds_for_steps(options: PretrainOptions, step_seconds: dict[str, float]) -> float:
    """Seconds of ``options.steps`` steps at the given speeds: ``step_seconds`` has "long" (full-length inputs)
    and, for a sequence-length warm-up, "short" (its inputs, with their bigger batch: a different speed)."""
    short = options.warmup_seq_step_count if "short" in step_seconds else 0
    return short * step_seconds.get("short", 0.0) + (options.steps - short) * step_seconds["long"]


def steps_for_seconds(options: PretrainOptions, seconds: float, step_seconds: dict[str, float]) -> int:
    """The step count whose short and long phases together take ``seconds`` at the speeds ``step_seconds``
    (``seconds_for_steps`` inverted): with a warm-up over a fraction f of the steps,
    steps × (f × short + (1 − f) × long) = seconds; with a fixed number k of short steps,
    k × short + (steps − k) × long = seconds. At least 1."""
    long_s = step_seconds["long"]
    if not options.warmup_seq_length or "short" not in step_seconds:
        return max(1, int(seconds / long_s))
    short_s = step_seconds["short"]
    if options.warmup_seq_steps < 1:
        f = options.warmup_seq_steps
        return max(1, int(seconds / (f * short_s + (1 - f) * long_s)))
    short = int(options.warmup_seq_steps)
    return max(1, short + int(max(0.0, seconds - short * short_s) / long_s))


def task_and_baselines(options: PretrainOptions, data: PretrainData) -> tuple[PretrainingTask | RankingTask, dict]:
    """The task that trains and evaluates a run, and the baselines its config.json records: always predicting the
    training text's most frequent token, scored on the held-out batches overall and at [MASK] positions (for
    translation ranking: picking one of an evaluation batch's pairs at random)."""
    if options.objective == RANKING_OBJECTIVE:
        return RankingTask(data.eval_batches), {"rank_chance": 1 / data.eval_batches[0]["input_ids"].shape[0]}
    token_id = most_frequent_token(data.train)
    task = PretrainingTask(data.eval_batches, nsp_weight=options.nsp_weight,
                           attention_mask_kind=options.attention_mask_kind, unigram_token_id=token_id)
    return task, {"unigram_mlm_acc": task.unigram["unigram_acc"],
                  "unigram_mlm_acc_mask": task.unigram.get("unigram_acc_mask"), "unigram_token_id": token_id,
                  "nsp_chance": 0.5 if options.objective in ("mlm+nsp", "mlm+sop") else None}


def options_for_resume(out: str | Path, steps: int | None = None, changes: dict | None = None) -> PretrainOptions:
    """The options a run was started with (from its config.json), to continue it; ``changes`` are flags given with
    --resume: --steps, --device, intervals apply, any other that differs from the saved run is refused."""
    changes = {**(changes or {}), **({"steps": steps} if steps is not None else {})}
    return resumed_options(PretrainOptions, out, "pretrain", changes)


def pretrain(options: PretrainOptions, callbacks=(), model=None) -> TrainResult:
    """Build data and model, write the run folder, train. Returns the loop's ``TrainResult``.

    The run folder is locked from the start (one writer per run: ``bertlab.train.runlock``)."""
    with open_run(options.out, options.resume) as run_dir:
        return _pretrain(options, run_dir, callbacks, model)


def _pretrain(options: PretrainOptions, run_dir: Path | None, callbacks, model) -> TrainResult:
    data = build_data(options)
    config = model_config(options, data.tokenizer.get_vocab_size())
    if model is None:
        import torch

        torch.manual_seed(options.seed)  # the initial weights depend on --seed (and only on it)
        model = BertForPreTraining(config)
    task, baselines = task_and_baselines(options, data)
    held_out = sum(int(b["input_ids"].shape[0]) for b in data.eval_batches)
    score = f"in-batch chance {baselines['rank_chance']:.1%}" if "rank_chance" in baselines else (
        f"unigram baseline (always the most frequent token) {baselines['unigram_mlm_acc_mask']:.1%} at [MASK], "
        f"{baselines['unigram_mlm_acc']:.1%} overall")
    summary = (f"{data.train!r}\nheld-out: {held_out} examples; {score}; model: {model.num_parameters():,} "
               f"parameters") if options.progress else None
    start_run(run_dir, "pretrain", config, data.tokenizer, options.resume, summary,
              options=asdict(options),
              data={"corpus": options.corpus, "train_examples": len(data.train),
                    "held_out_examples": held_out, "vocab_size": config.vocab_size},
              baselines=baselines)
    return train(model, task, batch_function(options, data), options.train_settings(), run_dir, resume=options.resume,
                 callbacks=callbacks)


def mlm_summary(e: dict) -> str:
    """Held-out masked-LM accuracy in words, [MASK] accuracy first (copying an unchanged token is no understanding):
    "held-out [MASK] acc 22.0% (unigram 5.6%; overall 28.0%, copying unchanged 87.5%)"."""
    if "mlm_acc_mask" not in e:  # a run logged before the split existed
        return f"held-out MLM acc {e.get('mlm_acc', 0):.1%}"
    unigram = f"unigram {e['unigram_acc_mask']:.1%}; " if "unigram_acc_mask" in e else ""
    unchanged = f", copying unchanged {e['mlm_acc_unchanged']:.1%}" if "mlm_acc_unchanged" in e else ""
    return f"held-out [MASK] acc {e['mlm_acc_mask']:.1%} ({unigram}overall {e['mlm_acc']:.1%}{unchanged})"


def summary_line(result: TrainResult) -> str:
    e = result.last_eval
    parts = [f"{result.status} at step {result.step} in {result.seconds:.0f} s"]
    if e:
        if "mlm_acc" in e:
            parts.append(mlm_summary(e))
        if "rank_acc" in e:
            parts.append(f"held-out in-batch translation ranking acc {e['rank_acc']:.1%}")
        if "nsp_acc" in e:
            parts.append(f"NSP/SOP acc {e['nsp_acc']:.1%}")
    return ", ".join(parts)


def load_options_file(path: str | Path) -> dict:
    """``--config FILE``: JSON with PretrainOptions fields, and/or a "model" object of BertConfig fields."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"--config {path} is a folder; give a JSON file of options")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"--config {path}: no such file") from None
    except UnicodeDecodeError:
        raise ValueError(f"--config {path}: not UTF-8 text; give a JSON file of options") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    known = {f.name for f in dataclasses.fields(PretrainOptions)}
    model_fields = {f.name for f in dataclasses.fields(BertConfig)}
    options, model = {}, dict(check_overrides(data.pop("model", None) or {}, f"--config {path}: model"))
    for key, value in data.items():
        if key in known:
            options[key] = value
        elif key in model_fields:
            model[key] = value
        else:
            raise ValueError(f"{path}: unknown setting {key!r}; options: {', '.join(sorted(known))}; "
                             f"model fields: {', '.join(sorted(model_fields))}")
    check_field_types(PretrainOptions, options, f"--config {path}")
    check_overrides(model, f"--config {path}: model")
    check_overrides(options.get("model_overrides", {}), f"--config {path}: model_overrides")
    if model:
        options["model_overrides"] = {**options.get("model_overrides", {}), **model}
    return options
