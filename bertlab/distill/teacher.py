"""The teacher of a distillation run: its model, tokenizer and the data options it was trained with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bertlab.data.tokenizer import check_special_tokens, load_tokenizer
from bertlab.train.run import load_run


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
    given = load_tokenizer(tokenizer_path)
    if given.get_vocab() != teacher.tokenizer.get_vocab():
        raise ValueError(
            f"--tokenizer {tokenizer_path} differs from the teacher's ({teacher.path}/tokenizer.json: "
            f"{given.get_vocab_size()} vs {teacher.tokenizer.get_vocab_size()} tokens"
            f"{'' if given.get_vocab_size() != teacher.tokenizer.get_vocab_size() else ', other pieces'}). "
            f"Teacher and student must share one tokenizer, because every distillation loss compares the two "
            f"models position by position and the prediction loss vocabulary entry by entry; leave --tokenizer "
            f"out and the teacher's is used")


__all__ = ["Teacher", "load_teacher", "check_same_tokenizer"]
