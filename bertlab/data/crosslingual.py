"""Cross-lingual pre-training data: XLM's shared vocabulary, MLM streams, TLM pairs (Lample & Conneau 2019).

- **Shared vocabulary** (XLM §3.1): one WordPiece vocabulary learnt on the training text of every language:
  the English and Chinese monolingual corpora and both sides of the training pairs. Chinese is split into
  characters by BERT's normaliser, so its share of the vocabulary is its characters; English gets the rest.
  (XLM samples sentences with probabilities ∝ p_i^0.5 when learning BPE so that rare languages get enough
  merges; WordPiece here sees all of the text, which matters little for two corpora of similar size.)
- **MLM** (XLM §3.2): streams of monolingual text, no sentence pairs, no NSP; each batch is in one language,
  chosen with XLM's smoothed probabilities q_i = p_i^α / Σ_j p_j^α (p_i: language i's share of tokens, α = 0.5).
- **TLM** (XLM §3.3): a translation pair concatenated, ``[CLS] zh [SEP] en [SEP]`` (or en first, at random),
  15 % of the tokens of *both* halves masked (80/10/10, ``bertlab.data.masking``), so a masked Chinese word can
  be recovered from its English gloss and back. Positions restart in the second half (XLM: "we also reset the
  positions of target sentences"): the first token of each half has position 1. Every token carries its half's
  language id. Token types are all 0: XLM has no segment embeddings, the language embeddings mark the halves.
- **MLM + TLM** (XLM §4.1): the two alternate, MLM on even steps, TLM on odd steps.
- **Translation ranking** (the LASER-style encoder, ``bertlab.train.ranking``): each side of a pair encoded on
  its own, ``[CLS] side [SEP]``.

Every batch is a pure function of (seed, step), as in ``PretrainingDataset``, so ``--resume`` stays exact.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch
from tokenizers import Tokenizer

from bertlab.data.collator import PretrainingCollator
from bertlab.data.corpus import Corpus, load_corpus
from bertlab.data.datasets import PretrainingDataset, derive_seed
from bertlab.data.masking import mask_tokens
from bertlab.data.parallel import PARALLEL_CORPORA, load_parallel
from bertlab.data.tokenizer import CLS_ID, MASK_ID, PAD_ID, SEP_ID, save_tokenizer, train_tokenizer
from bertlab.paths import cache_dir

LANGUAGES = ("en", "zh")  # language id = index here (XLM's lang2id)
LANGUAGE_IDS = {language: i for i, language in enumerate(LANGUAGES)}
XLM_OBJECTIVES = ("xlm-mlm", "tlm", "xlm-mlm+tlm")
RANKING_OBJECTIVE = "translation-ranking"
CROSSLINGUAL_OBJECTIVES = XLM_OBJECTIVES + (RANKING_OBJECTIVE,)
XLM_ALPHA = 0.5  # XLM §3.1: language sampling exponent
_LANGUAGE, _PAIR_ORDER, _SWAP, _TLM_MASK = 11, 12, 13, 14  # streams of randomness derived from the seed


# ----------------------------------------------------------------------------------------------- vocabulary

def shared_tokenizer(monolingual: dict[str, Corpus], pairs: list[tuple[str, str]], vocab_size: int = 16384,
                     lowercase: bool = True, cache: bool = True):
    """One WordPiece vocabulary over the monolingual corpora and both sides of ``pairs`` (XLM §3.1)."""
    key = hashlib.sha256(repr(([c.fingerprint for c in monolingual.values()], pairs)).encode()).hexdigest()[:16]
    path = cache_dir() / "tokenizers" / f"shared-{'-'.join(monolingual)}-{key}-v{vocab_size}-{lowercase}.json"
    if cache and path.exists():
        return Tokenizer.from_file(str(path))
    texts = [" ".join(s) for corpus in monolingual.values() for s in corpus.sentences()]
    texts += [side for pair in pairs for side in pair]
    tokenizer = train_tokenizer(texts, vocab_size, lowercase)
    if tokenizer.get_vocab_size() > vocab_size:  # WordPiece keeps every character of the text, whatever the size
        raise ValueError(f"--vocab-size {vocab_size} is too small for a shared English-Chinese vocabulary: the "
                         f"characters alone take {tokenizer.get_vocab_size():,} entries, leaving English no "
                         "word pieces; use --vocab-size 16384")
    if cache:
        save_tokenizer(tokenizer, path)
    return tokenizer


# ----------------------------------------------------------------------------------------------- TLM inputs

def tlm_example(first: list[int], second: list[int], first_language: int, second_language: int,
                max_seq_length: int = 64) -> dict[str, np.ndarray]:
    """One TLM input (XLM §3.3) from the token ids of a sentence and its translation, unmasked.

    ``[CLS] first [SEP] second [SEP]``; position_ids restart in the second half (0 1 … n+1, then 1 … m+1);
    language_ids are ``first_language`` on ``[CLS] first [SEP]`` and ``second_language`` on ``second [SEP]``.
    The longer side loses its last token until both fit in ``max_seq_length``.
    """
    first, second = list(first), list(second)
    while len(first) + len(second) > max_seq_length - 3:
        (first if len(first) >= len(second) else second).pop()
    n, m = len(first), len(second)
    input_ids = [CLS_ID, *first, SEP_ID, *second, SEP_ID]
    position_ids = list(range(n + 2)) + list(range(1, m + 2))  # the second half starts again at 1
    language_ids = [first_language] * (n + 2) + [second_language] * (m + 1)
    special = [True] + [False] * n + [True] + [False] * m + [True]
    return {"input_ids": np.array(input_ids), "position_ids": np.array(position_ids),
            "language_ids": np.array(language_ids), "special_tokens_mask": np.array(special)}


def pad_examples(examples: list[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    """(B, T) tensors from examples of different lengths: [PAD] and position / language 0 after the end,
    ``special_tokens_mask`` True there, ``attention_mask`` 1 on real tokens, ``token_type_ids`` all 0."""
    lengths = torch.tensor([len(e["input_ids"]) for e in examples])
    B, T = len(examples), int(lengths.max())
    batch = {"input_ids": torch.full((B, T), PAD_ID), "position_ids": torch.zeros((B, T), dtype=torch.long),
             "language_ids": torch.zeros((B, T), dtype=torch.long),
             "special_tokens_mask": torch.ones((B, T), dtype=torch.bool)}
    for row, example in enumerate(examples):
        for name, tensor in batch.items():
            tensor[row, :lengths[row]] = torch.as_tensor(example[name])
    batch["attention_mask"] = (torch.arange(T)[None] < lengths[:, None]).long()  # (B, T)
    batch["token_type_ids"] = torch.zeros((B, T), dtype=torch.long)
    return batch


def side_batch(tokenizer, texts: list[str], language: str, max_seq_length: int = 64) -> dict[str, torch.Tensor]:
    """``[CLS] text [SEP]`` for each text, in ``language``: what retrieval and the ranking loss encode."""
    encodings = tokenizer.encode_batch(texts, add_special_tokens=False)
    lang = LANGUAGE_IDS[language]
    examples = []
    for enc in encodings:
        ids = enc.ids[:max_seq_length - 2]
        examples.append({"input_ids": np.array([CLS_ID, *ids, SEP_ID]), "position_ids": np.arange(len(ids) + 2),
                         "language_ids": np.full(len(ids) + 2, lang),
                         "special_tokens_mask": np.array([True] + [False] * len(ids) + [True])})
    batch = pad_examples(examples)
    batch.pop("special_tokens_mask")
    return batch


# ----------------------------------------------------------------------------------------------- datasets

@dataclass
class _TokenStream:
    ids: np.ndarray  # (N,) every token the dataset trains on: the unigram baseline counts them


class CrossLingualDataset:
    """XLM pre-training batches: ``batch(step, B)`` is an MLM batch in one language or a TLM batch of pairs.

    ``monolingual``: {language: Corpus} for MLM; ``pairs``: (zh, en) texts for TLM and translation ranking."""

    def __init__(self, objective: str, tokenizer, monolingual: dict[str, Corpus] | None = None,
                 pairs: list[tuple[str, str]] | None = None, max_seq_length: int = 64, seed: int = 0,
                 mlm_probability: float = 0.15, alpha: float = XLM_ALPHA):
        if objective not in CROSSLINGUAL_OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(CROSSLINGUAL_OBJECTIVES)}; got {objective!r}")
        self.objective, self.tokenizer, self.seed = objective, tokenizer, seed
        self.max_seq_length, self.mlm_probability = max_seq_length, mlm_probability
        self.collator = PretrainingCollator(tokenizer, mlm_probability, seed=seed)  # its vocab_size is the model's
        self.mlm: dict[str, PretrainingDataset] = {}
        if objective in ("xlm-mlm", "xlm-mlm+tlm"):
            self.mlm = {lang: PretrainingDataset(corpus, tokenizer, max_seq_length, objective="mlm", seed=seed)
                        for lang, corpus in (monolingual or {}).items()}
            if not self.mlm:
                raise ValueError(f"objective {objective} needs monolingual corpora for its MLM streams")
            share = np.array([d.tokens.num_tokens for d in self.mlm.values()], dtype=float)
            q = (share / share.sum()) ** alpha
            self.language_probabilities = dict(zip(self.mlm, q / q.sum()))  # XLM §3.1
        self.pair_ids: list[tuple[list[int], list[int]]] = []
        if objective != "xlm-mlm":
            if not pairs:
                raise ValueError(f"objective {objective} needs translation pairs")
            zh = tokenizer.encode_batch([p[0] for p in pairs], add_special_tokens=False)
            en = tokenizer.encode_batch([p[1] for p in pairs], add_special_tokens=False)
            keep = [i for i, (a, b) in enumerate(zip(zh, en)) if a.ids and b.ids]  # both sides have tokens
            self.pairs = [pairs[i] for i in keep]
            self.pair_ids = [(zh[i].ids, en[i].ids) for i in keep]
        streams = [d.tokens.ids for d in self.mlm.values()] + [np.array(a + b, dtype=np.int32)
                                                              for a, b in self.pair_ids]
        self.tokens = _TokenStream(np.concatenate(streams) if streams else np.zeros(0, dtype=np.int32))

    def __len__(self) -> int:
        return sum(len(d) for d in self.mlm.values()) + len(self.pair_ids)

    def __repr__(self) -> str:
        parts = [f"{lang}: {len(d)} MLM sequences (q={self.language_probabilities[lang]:.2f})"
                 for lang, d in self.mlm.items()]
        if self.pair_ids:
            parts.append(f"{len(self.pair_ids)} translation pairs")
        return f"CrossLingualDataset({self.objective!r}, {', '.join(parts)}, max_seq_length={self.max_seq_length})"

    def kind_of_step(self, step: int) -> str:
        """"mlm" or "tlm" / "ranking": what the batch of ``step`` trains (MLM + TLM alternate, XLM §4.1)."""
        if self.objective == "xlm-mlm" or (self.objective == "xlm-mlm+tlm" and step % 2 == 0):
            return "mlm"
        return "ranking" if self.objective == RANKING_OBJECTIVE else "tlm"

    def batch(self, step: int, batch_size: int = 32) -> dict[str, torch.Tensor]:
        kind = self.kind_of_step(step)
        if kind == "mlm":
            return self._mlm_batch(step, batch_size)
        index = self._pair_indices(step, batch_size)
        return self._tlm_batch(step, index) if kind == "tlm" else self._ranking_batch(index)

    def _mlm_batch(self, step: int, batch_size: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng(derive_seed(self.seed, _LANGUAGE, step))
        languages = list(self.language_probabilities)
        language = languages[rng.choice(len(languages), p=list(self.language_probabilities.values()))]
        batch = self.mlm[language].batch(step, batch_size)
        batch["language_ids"] = torch.full_like(batch["input_ids"], LANGUAGE_IDS[language])
        return batch

    def _pair_indices(self, step: int, batch_size: int) -> np.ndarray:
        n = len(self.pair_ids)
        per_epoch = max(1, n // batch_size)
        epoch, k = divmod(step // 2 if self.objective == "xlm-mlm+tlm" else step, per_epoch)
        order = np.random.default_rng(derive_seed(self.seed, _PAIR_ORDER, epoch)).permutation(n)
        return order[np.arange(k * batch_size, (k + 1) * batch_size) % n]

    def _tlm_batch(self, step: int, index: np.ndarray) -> dict[str, torch.Tensor]:
        swap = np.random.default_rng(derive_seed(self.seed, _SWAP, step)).random(len(index)) < 0.5
        zh, en = LANGUAGE_IDS["zh"], LANGUAGE_IDS["en"]
        examples = []
        for i, english_first in zip(index, swap):
            a, b = self.pair_ids[i]
            examples.append(tlm_example(b, a, en, zh, self.max_seq_length) if english_first
                            else tlm_example(a, b, zh, en, self.max_seq_length))
        batch = pad_examples(examples)
        generator = torch.Generator().manual_seed(derive_seed(self.seed, _TLM_MASK, step))
        batch["input_ids"], batch["labels"] = mask_tokens(  # masks fall in both halves
            batch["input_ids"], batch.pop("special_tokens_mask"), self.collator.vocab_size, MASK_ID,
            self.mlm_probability, generator=generator)
        return batch

    def _ranking_batch(self, index: np.ndarray) -> dict[str, torch.Tensor]:
        """Chinese sides as the batch's inputs, English sides under ``pair_*`` keys (the same rows)."""
        zh = side_batch(self.tokenizer, [self.pairs[i][0] for i in index], "zh", self.max_seq_length)
        en = side_batch(self.tokenizer, [self.pairs[i][1] for i in index], "en", self.max_seq_length)
        width = max(zh["input_ids"].shape[1], en["input_ids"].shape[1])  # one T for both, so the loop can split
        pad = {name: torch.nn.functional.pad(t, (0, width - t.shape[1])) for name, t in zh.items()}
        pad.update({f"pair_{name}": torch.nn.functional.pad(t, (0, width - t.shape[1])) for name, t in en.items()})
        return pad


@dataclass
class CrossLingualData:
    train: CrossLingualDataset
    held_out: CrossLingualDataset
    tokenizer: object
    parallel: object  # the ParallelCorpus


def crosslingual_data(objective: str, parallel: str = "cedict-zh-en", vocab_size: int = 16384,
                      lowercase: bool = True, max_seq_length: int = 64, held_out_fraction: float = 0.1,
                      seed: int = 0, split_seed: int = 0, tokenizer=None) -> CrossLingualData:
    """Training and held-out data for a cross-lingual objective: the parallel corpus' own split of pairs, a
    split by document of its monolingual corpora, and the shared vocabulary learnt on the training parts."""
    if parallel not in PARALLEL_CORPORA:
        raise ValueError(f"objective {objective} needs a parallel corpus: --corpus "
                         f"{' or '.join(PARALLEL_CORPORA)} (got {parallel!r})")
    corpus = load_parallel(parallel)
    splits = {lang: load_corpus(name).split(held_out_fraction, seed=split_seed)
              for lang, name in PARALLEL_CORPORA[parallel].monolingual.items()}
    if tokenizer is None:
        tokenizer = shared_tokenizer({lang: s[0] for lang, s in splits.items()}, corpus.train_pairs(), vocab_size,
                                     lowercase)
    common = dict(max_seq_length=max_seq_length)
    train = CrossLingualDataset(objective, tokenizer, {lang: s[0] for lang, s in splits.items()},
                                corpus.train_pairs(), seed=seed, **common)
    held_out = CrossLingualDataset(objective, tokenizer, {lang: s[1] for lang, s in splits.items()},
                                   corpus.held_out_pairs(), seed=split_seed + 1, **common)
    return CrossLingualData(train, held_out, tokenizer, corpus)
