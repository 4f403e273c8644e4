"""Task examples → padded token arrays → batches (a pure function of the step, as the training loop needs).

Sequence tasks read ``[CLS] text [SEP]`` or ``[CLS] text [SEP] text_pair [SEP]`` (token_type_ids 0…0 1…1,
BERT §3 and Figure 2), cut to ``max_seq_length`` (the longer segment first). Token tasks label the first
WordPiece of each word and give the other pieces -100 (BERT §5.3): "hairy" → hair ##y is scored once.
Training batches group examples of similar length (a shuffle, then sorting within runs of 50 batches),
which halves the padding of a task like reviews-zh whose lengths vary from 5 to 128 tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from bertlab.config import IGNORE_INDEX
from bertlab.data.datasets import derive_seed
from bertlab.data.tokenizer import PAD_ID, UNK_ID
from bertlab.finetune.tasks import Example, TaskData

_ORDER = 11  # the randomness stream of the batch order (see bertlab.data.datasets.derive_seed)


@dataclass
class EncodedSplit:
    input_ids: np.ndarray  # (N, T) int32, [PAD] after each example's end
    token_type_ids: np.ndarray  # (N, T) int8
    lengths: np.ndarray  # (N,) real tokens per example
    labels: np.ndarray  # (N,) label ids, or (N, T) for token tasks with -100 where nothing is scored
    truncated: int = 0  # examples cut at max_seq_length
    lost_labels: int = 0  # token tasks: scored words that fell beyond the cut (they are not evaluated)
    _order_cache: tuple | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def unk_fraction(self) -> float:
        """Share of real tokens that are [UNK]: high when the tokenizer was trained on another language."""
        real = np.arange(self.input_ids.shape[1]) < self.lengths[:, None]
        return float((self.input_ids[real] == UNK_ID).mean()) if real.any() else 0.0

    @property
    def scored(self) -> int:
        """How many labels the split scores: examples, or labelled tokens for token tasks."""
        return len(self.labels) if self.labels.ndim == 1 else int((self.labels != IGNORE_INDEX).sum())

    def rows(self, index: np.ndarray) -> dict[str, torch.Tensor]:
        """A batch of the given rows, padded only to the longest of them."""
        T = int(self.lengths[index].max())
        batch = {"input_ids": torch.from_numpy(self.input_ids[index, :T].astype(np.int64)),
                 "attention_mask": torch.from_numpy((np.arange(T) < self.lengths[index, None]).astype(np.int64)),
                 "token_type_ids": torch.from_numpy(self.token_type_ids[index, :T].astype(np.int64))}
        labels = self.labels[index] if self.labels.ndim == 1 else self.labels[index, :T]
        batch["labels"] = torch.from_numpy(labels.astype(np.int64))
        return batch

    def epoch_order(self, epoch: int, batch_size: int, seed: int = 0, bucket: int = 50) -> np.ndarray:
        """Example indices of one epoch: a seeded shuffle, then within each run of ``bucket`` batches the
        examples are sorted by length (so a batch holds similar lengths and little padding) and the
        batches are shuffled again. ``bucket=1`` is a plain shuffle."""
        key = (epoch, batch_size, seed, bucket)
        if self._order_cache is not None and self._order_cache[0] == key:
            return self._order_cache[1]
        rng = np.random.default_rng(derive_seed(seed, _ORDER, epoch))
        order = rng.permutation(len(self))
        if bucket > 1:
            chunk = batch_size * bucket
            order = np.concatenate([c[np.argsort(self.lengths[c], kind="stable")]
                                    for c in np.split(order, list(range(chunk, len(order), chunk)))])
            batches = np.split(order, list(range(batch_size, len(order), batch_size)))
            order = np.concatenate([batches[i] for i in rng.permutation(len(batches))])
        self._order_cache = (key, order)
        return order

    def batch(self, step: int, batch_size: int, seed: int = 0, bucket: int = 50) -> dict[str, torch.Tensor]:
        """The training batch of optimizer step ``step``, a pure function of (step, batch_size, seed), so a
        resumed or repeated run sees the same data. Epochs follow ``epoch_order``."""
        n = len(self)
        per_epoch = max(1, n // batch_size)
        epoch, k = divmod(step, per_epoch)
        order = self.epoch_order(epoch, batch_size, seed, bucket)
        return self.rows(order[np.arange(k * batch_size, (k + 1) * batch_size) % n])

    def eval_batches(self, batch_size: int = 128):
        """The whole split, shortest examples first (less padding; the order does not change the metrics)."""
        order = np.argsort(self.lengths, kind="stable")
        for start in range(0, len(self), batch_size):
            yield self.rows(order[start:start + batch_size])


def _prepared(tokenizer, max_seq_length: int):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(tokenizer.to_str())  # a copy: the caller's tokenizer keeps its settings
    tok.no_padding()
    tok.enable_truncation(max_length=max_seq_length, strategy="longest_first")
    return tok


def encode_examples(examples: list[Example], tokenizer, kind: str, labels: list[str],
                    max_seq_length: int = 128) -> EncodedSplit:
    if max_seq_length < 8:
        raise ValueError(f"max_seq_length {max_seq_length} is too short; use at least 8")
    label_id = {label: i for i, label in enumerate(labels)}
    tok = _prepared(tokenizer, max_seq_length)
    if kind == "token":
        encodings = tok.encode_batch([e.text for e in examples], is_pretokenized=True)
    elif kind == "pair":
        encodings = tok.encode_batch([(e.text, e.text_pair) for e in examples])
    else:
        encodings = tok.encode_batch([e.text for e in examples])
    N, T = len(examples), max_seq_length
    input_ids = np.full((N, T), PAD_ID, dtype=np.int32)
    token_type_ids = np.zeros((N, T), dtype=np.int8)
    lengths = np.zeros(N, dtype=np.int64)
    targets = np.full((N, T), IGNORE_INDEX, dtype=np.int64) if kind == "token" else np.zeros(N, dtype=np.int64)
    truncated = lost = 0
    for n, (example, enc) in enumerate(zip(examples, encodings)):
        k = len(enc.ids)
        input_ids[n, :k], token_type_ids[n, :k], lengths[n] = enc.ids, enc.type_ids, k
        truncated += bool(enc.overflowing)
        if kind != "token":
            targets[n] = label_id[example.label]
            continue
        previous, placed = None, 0
        for t, word in enumerate(enc.word_ids):
            if word is not None and word != previous and example.label[word] is not None:
                targets[n, t] = label_id[example.label[word]]  # first piece of the word
                placed += 1
            previous = word
        lost += sum(tag is not None for tag in example.label) - placed
    return EncodedSplit(input_ids, token_type_ids, lengths, targets, truncated, lost)


@dataclass
class EncodedTask:
    train: EncodedSplit
    dev: EncodedSplit
    test: EncodedSplit
    max_seq_length: int

    def stats(self) -> dict:
        return {split: {"examples": len(s), "scored": s.scored, "truncated": s.truncated,
                        "lost_labels": s.lost_labels, "mean_tokens": round(float(s.lengths.mean()), 1),
                        "unk_fraction": round(s.unk_fraction, 4)}
                for split, s in (("train", self.train), ("dev", self.dev), ("test", self.test))}


def encode_task(task: TaskData, tokenizer, max_seq_length: int = 128) -> EncodedTask:
    parts = [encode_examples(getattr(task, s), tokenizer, task.kind, task.labels, max_seq_length)
             for s in ("train", "dev", "test")]
    return EncodedTask(*parts, max_seq_length=max_seq_length)


__all__ = ["EncodedSplit", "EncodedTask", "encode_examples", "encode_task"]
