"""``PretrainingDataset``: a corpus turned into BERT / ALBERT / RoBERTa pre-training batches.

Objectives: ``"mlm+nsp"`` (BERT §3.1), ``"mlm+sop"`` (ALBERT §4.2), ``"mlm"`` (RoBERTa §4.2, full
sentences). Masking unit (``masking_unit``): ``"token"`` (BERT), ``"word"`` (whole-word masking),
``"knowledge"`` (whole entities and phrases, ERNIE 1.0 §3.2; ``bertlab.data.knowledge``).
Masking (RoBERTa §4.1): ``"static"`` masks each example once, when the data is built, in ``dupe_factor``
copies with different masks (BERT used 10) served in rotation, one copy per epoch; ``"dynamic"`` draws a
new mask every time a batch is served.

Everything is a pure function of ``seed``: epoch ``e``'s pairs come from (seed, e) (static: from the
copy e mod dupe_factor), its order from a seeded permutation, and a dynamic mask from (seed, step). So
``dataset.batch(step, batch_size)`` is the same batch in every run, and a resumed run sees the same data.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch

from bertlab.config import IGNORE_INDEX
from bertlab.data.collator import PretrainingCollator
from bertlab.data.corpus import load_corpus
from bertlab.data.knowledge import knowledge_units
from bertlab.data.masking import mask_tokens
from bertlab.data.pairs import Instance, full_sentence_instances, pair_instances
from bertlab.data.tokenized import TokenizedCorpus, tokenize_corpus
from bertlab.data.tokenizer import CLS_ID, MASK_ID, NUM_SPECIAL_TOKENS, PAD_ID, SEP_ID, get_tokenizer

OBJECTIVES = ("mlm+nsp", "mlm+sop", "mlm")
MASKINGS = ("dynamic", "static")
MASKING_UNITS = ("token", "word", "knowledge")
_PAIRS, _ORDER, _DYNAMIC_MASK, _STATIC_MASK = 1, 2, 3, 4  # streams of randomness derived from the seed


def resolve_masking_unit(masking_unit: str | None, whole_word: bool = False) -> str:
    """``masking_unit``, with ``whole_word=True`` as the older spelling of ``masking_unit="word"``."""
    if masking_unit is None:
        return "word" if whole_word else "token"
    if masking_unit not in MASKING_UNITS:
        raise ValueError(f"masking_unit must be one of {', '.join(MASKING_UNITS)}; got {masking_unit!r}")
    if whole_word and masking_unit != "word":
        raise ValueError(f"whole_word=True means masking_unit='word', but masking_unit={masking_unit!r} was given; "
                         "give only one of them (--whole-word is --masking-unit word)")
    return masking_unit


def derive_seed(seed: int, stream: int, index: int) -> int:
    """An independent 63-bit seed for (seed, stream, index), e.g. the mask of step 1234."""
    return int(np.random.SeedSequence([seed, stream, index]).generate_state(1, np.uint64)[0] >> np.uint64(1))


@dataclass
class Examples:
    """One epoch's examples as padded arrays: row n is example n, padded to ``max_seq_length``."""

    instances: list[Instance]
    input_ids: np.ndarray  # (N, L) int32 ([PAD]=0 after the end; masked already when labels is set)
    token_type_ids: np.ndarray  # (N, L) int8
    special_tokens_mask: np.ndarray  # (N, L) bool: [CLS], [SEP], [PAD]
    word_ids: np.ndarray  # (N, L) int32: word (knowledge masking: unit) number inside the example, -1 on specials
    lengths: np.ndarray  # (N,) int64
    next_sentence_label: np.ndarray | None  # (N,) int64, or None for full sentences
    labels: np.ndarray | None = None  # (N, L) int64 for static masking: original token or -100

    def __len__(self) -> int:
        return len(self.instances)

    def __getitem__(self, n: int) -> dict:
        k = int(self.lengths[n])
        example = {"input_ids": self.input_ids[n, :k], "token_type_ids": self.token_type_ids[n, :k],
                   "special_tokens_mask": self.special_tokens_mask[n, :k], "word_ids": self.word_ids[n, :k],
                   "next_sentence_label": None if self.next_sentence_label is None
                   else int(self.next_sentence_label[n])}
        if self.labels is not None:
            example["labels"] = self.labels[n, :k]
        return example

    def rows(self, index: np.ndarray) -> dict:
        """Padded arrays of some rows, cut to the longest of them (for ``collate_arrays``)."""
        T = int(self.lengths[index].max())
        out = {name: getattr(self, name)[index, :T] for name in
               ("input_ids", "token_type_ids", "special_tokens_mask", "word_ids")}
        out["lengths"] = self.lengths[index]
        out["next_sentence_label"] = None if self.next_sentence_label is None else self.next_sentence_label[index]
        out["labels"] = None if self.labels is None else self.labels[index, :T]
        return out


def pack_instances(instances: list[Instance], tokens: TokenizedCorpus, max_seq_length: int,
                   word_index: np.ndarray | None = None) -> Examples:
    """Lay each instance out as ``[CLS] A [SEP] B [SEP]`` with its token_type_ids and word ids.

    ``word_index`` (N,) groups tokens instead of ``tokens.word_index``, e.g. knowledge units."""
    word_index = tokens.word_index if word_index is None else word_index
    N, L = len(instances), max_seq_length
    input_ids = np.full((N, L), PAD_ID, dtype=np.int32)
    token_type_ids = np.zeros((N, L), dtype=np.int8)
    special = np.ones((N, L), dtype=bool)
    word_ids = np.full((N, L), -1, dtype=np.int32)
    lengths = np.zeros(N, dtype=np.int64)
    for n, instance in enumerate(instances):
        input_ids[n, 0] = CLS_ID
        pos, next_word = 1, 0
        for (start, end), token_type in zip(instance.segments, instance.token_types):
            k = end - start
            input_ids[n, pos:pos + k] = tokens.ids[start:end]
            special[n, pos:pos + k] = False
            words = word_index[start:end]
            word_ids[n, pos:pos + k] = words - words[0] + next_word  # renumber words from 0 per example
            next_word += int(words[-1] - words[0]) + 1
            token_type_ids[n, pos:pos + k + 1] = token_type  # the segment and its closing [SEP]
            input_ids[n, pos + k] = SEP_ID
            pos += k + 1
        lengths[n] = pos
    labels = [i.label for i in instances]
    nsp = None if not instances or labels[0] is None else np.asarray(labels, dtype=np.int64)
    return Examples(instances, input_ids, token_type_ids, special, word_ids, lengths, nsp)


class PretrainingDataset:
    """Seeded pre-training data: ``dataset[i]`` an example of epoch 0, ``dataset.batch(step, B)`` a batch."""

    def __init__(self, corpus, tokenizer=None, max_seq_length: int = 128, objective: str = "mlm+nsp",
                 masking: str = "dynamic", whole_word: bool = False, seed: int = 0, dupe_factor: int = 10,
                 mlm_probability: float = 0.15, short_seq_prob: float = 0.1, masking_unit: str | None = None):
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}; got {objective!r}")
        if masking not in MASKINGS:
            raise ValueError(f"masking must be 'dynamic' or 'static'; got {masking!r}")
        if max_seq_length < 8:
            raise ValueError(f"max_seq_length {max_seq_length} is too short; use at least 8 (BERT used 128 and 512)")
        if dupe_factor < 1:
            raise ValueError(f"dupe_factor must be at least 1, got {dupe_factor}")
        masking_unit = resolve_masking_unit(masking_unit, whole_word)

        self.corpus = load_corpus(corpus)
        self.tokenizer = tokenizer if tokenizer is not None else get_tokenizer(self.corpus)
        self.max_seq_length, self.objective, self.masking = max_seq_length, objective, masking
        self.masking_unit, self.seed, self.dupe_factor = masking_unit, seed, dupe_factor
        self.whole_word = masking_unit != "token"  # word and knowledge units both mask whole groups of tokens
        self.short_seq_prob = short_seq_prob
        self.collator = PretrainingCollator(self.tokenizer, mlm_probability, self.whole_word, seed=seed)
        self.tokens = tokenize_corpus(self.corpus, self.tokenizer)
        self.units = None  # knowledge masking: each token's entity / phrase / word unit
        if masking_unit == "knowledge":
            self.units = knowledge_units(self.corpus, self.tokens)
        self._check_pairs_possible()
        self._cache: dict[int, Examples] = {}
        self.epoch_size = len(self.examples(0))

    def __repr__(self) -> str:
        return (f"PretrainingDataset({self.corpus.name!r}, objective={self.objective!r}, masking={self.masking!r}, "
                f"masking_unit={self.masking_unit!r}, max_seq_length={self.max_seq_length}, "
                f"examples={self.epoch_size})")

    def _check_pairs_possible(self) -> None:
        if self.objective == "mlm":
            return
        tokens, corpus = self.tokens, self.corpus
        first = corpus.source(int(tokens.document_map[0]))
        if np.diff(tokens.document_starts).max() < 2:
            raise ValueError(
                f"{corpus.name}: every document has fewer than 2 sentences (e.g. {first}), so no sentence pair can "
                f"be formed for {self.objective}; give documents of several sentences separated by blank lines, "
                "or use objective='mlm'")
        if self.objective == "mlm+nsp" and tokens.num_documents < 2:
            raise ValueError(
                f"{corpus.name}: NSP needs at least 2 documents (NotNext segments come from another document), "
                f"this corpus has 1 ({first}); separate documents with blank lines or use objective='mlm+sop'")

    # ------------------------------------------------------------------------------------------ epochs
    def copy_for_epoch(self, epoch: int) -> int:
        """Static masking serves copy ``epoch % dupe_factor``; dynamic builds fresh pairs every epoch."""
        return epoch % self.dupe_factor if self.masking == "static" else epoch

    def examples(self, epoch: int = 0) -> Examples:
        """The examples of ``epoch`` (unshuffled); built once per copy and kept for reuse."""
        copy = self.copy_for_epoch(epoch)
        if self.objective == "mlm" and self.masking == "dynamic":
            copy = 0  # full-sentence packing has no randomness: the same examples every epoch
        if copy not in self._cache:
            if len(self._cache) >= 2:
                self._cache.pop(next(iter(self._cache)))
            self._cache[copy] = self._build(copy)
        return self._cache[copy]

    def _build(self, copy: int) -> Examples:
        if self.objective == "mlm":
            instances = full_sentence_instances(self.tokens, self.max_seq_length)
        else:
            rng = random.Random(derive_seed(self.seed, _PAIRS, copy))
            instances = pair_instances(self.tokens, self.max_seq_length, self.objective[4:], rng,
                                       self.short_seq_prob)
        examples = pack_instances(instances, self.tokens, self.max_seq_length,
                                  None if self.units is None else self.units.unit_index)
        if self.masking == "static":  # mask once, now; every epoch that serves this copy sees these masks
            generator = torch.Generator().manual_seed(derive_seed(self.seed, _STATIC_MASK, copy))
            masked, labels = mask_tokens(
                torch.from_numpy(examples.input_ids.astype(np.int64)), torch.from_numpy(examples.special_tokens_mask),
                self.collator.vocab_size, MASK_ID, self.collator.mlm_probability,
                word_ids=torch.from_numpy(examples.word_ids) if self.whole_word else None, generator=generator)
            examples.input_ids, examples.labels = masked.numpy().astype(np.int32), labels.numpy()
        return examples

    def __len__(self) -> int:
        return self.epoch_size

    def __getitem__(self, index: int) -> dict:
        return self.examples(0)[index]

    def __iter__(self):
        examples = self.examples(0)
        return (examples[i] for i in range(len(examples)))

    # ----------------------------------------------------------------------------------------- batches
    def steps_per_epoch(self, batch_size: int) -> int:
        """Every epoch has the same number of steps (epochs differ by a few examples under NSP)."""
        return max(1, self.epoch_size // batch_size)

    def batch_indices(self, step: int, batch_size: int) -> tuple[int, np.ndarray]:
        """(epoch, example indices) of global step ``step``: a seeded permutation per epoch."""
        per_epoch = self.steps_per_epoch(batch_size)
        epoch, k = divmod(step, per_epoch)
        n = len(self.examples(epoch))
        order = np.random.default_rng(derive_seed(self.seed, _ORDER, epoch)).permutation(n)
        return epoch, order[np.arange(k * batch_size, (k + 1) * batch_size) % n]

    def batch(self, step: int, batch_size: int = 32) -> dict:
        """The batch of global step ``step``: a pure function of (seed, step, batch_size)."""
        epoch, index = self.batch_indices(step, batch_size)
        generator = torch.Generator().manual_seed(derive_seed(self.seed, _DYNAMIC_MASK, step))
        return self.collator.collate_arrays(**self.examples(epoch).rows(index), generator=generator)

    def batches(self, batch_size: int = 32, start_step: int = 0, num_steps: int | None = None):
        """Batches from ``start_step`` on (for ever when ``num_steps`` is None)."""
        step = start_step
        while num_steps is None or step < start_step + num_steps:
            yield self.batch(step, batch_size)
            step += 1


@dataclass
class UnigramBaseline:
    token_id: int  # the most frequent real token
    accuracy: float  # MLM accuracy of always predicting it
    num_labels: int


def most_frequent_token(data) -> int:
    """The most frequent real (non-special) token of a PretrainingDataset or CrossLingualDataset's text: the
    unigram guess, counted once over its token ids (no batches built)."""
    counts = np.bincount(data.tokens.ids, minlength=data.collator.vocab_size)
    counts[:NUM_SPECIAL_TOKENS] = 0
    return int(counts.argmax())


def unigram_baseline(data, token_id: int | None = None, num_batches: int = 20,
                     batch_size: int = 32) -> UnigramBaseline:
    """MLM accuracy of always predicting the most frequent non-special token: the score to beat.

    ``data`` is a PretrainingDataset or a CrossLingualDataset (its first ``num_batches`` batches are scored), or a tensor / array
    of labels (-100 ignored). ``token_id`` fixes the prediction, e.g. the most frequent token of the
    *training* data when scoring held-out data; by default it is the most frequent token of ``data``.
    """
    if hasattr(data, "batch") and hasattr(data, "tokens"):  # a PretrainingDataset, or a CrossLingualDataset
        if token_id is None:
            token_id = most_frequent_token(data)
        labels = torch.cat([data.batch(s, batch_size)["labels"].flatten() for s in range(num_batches)])
    else:
        labels = torch.as_tensor(np.asarray(data)).flatten().long()
    labels = labels[labels != IGNORE_INDEX]
    if token_id is None:
        counts = torch.bincount(labels)
        counts[:NUM_SPECIAL_TOKENS] = 0
        token_id = int(counts.argmax())
    if len(labels) == 0:
        raise ValueError("unigram_baseline: no masked labels to score (every label is -100)")
    return UnigramBaseline(token_id, float((labels == token_id).float().mean()), len(labels))
