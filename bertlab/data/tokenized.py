"""A corpus tokenized once into flat arrays, so examples are built from token ranges, never re-tokenized.

All tokens of all sentences of all documents lie end to end in ``ids``; a sentence, a run of consecutive
sentences, or a segment of a document is then a range ``[start, end)``. ``word_index[t]`` is the position
of token t's word among all words of the corpus (``corpus.sentences()`` laid end to end), so the pieces of
one word (hair ##y, or 中 国 of 中国) share one number, and word-level annotations (ERNIE's entity and
phrase spans, ``bertlab.data.knowledge``) can be looked up per token.
Results are cached in memory and under ``cache_dir()/tokenized`` keyed by corpus and tokenizer.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import numpy as np
from tokenizers import Tokenizer

from bertlab.data.tokenizer import encode_words
from bertlab.io import atomic_path
from bertlab.paths import cache_dir

_MEMORY: dict[str, "TokenizedCorpus"] = {}  # the most recently used tokenized corpora of this process
_MEMORY_SIZE = 8
WORD_INDEX_VERSION = 2  # 2: word_index counts every word of the corpus, also those that tokenize to nothing


@dataclass
class TokenizedCorpus:
    ids: np.ndarray  # (N,) int32: token ids of the whole corpus, no special tokens
    word_index: np.ndarray  # (N,) int32: position of each token's word in the corpus' word stream
    sentence_starts: np.ndarray  # (S + 1,) int64: sentence s is ids[sentence_starts[s]:sentence_starts[s + 1]]
    document_starts: np.ndarray  # (D + 1,) int64: document d is sentences document_starts[d] … [d + 1] - 1
    document_map: np.ndarray  # (D,) int64: index of each document in the Corpus (empty ones are dropped)

    @property
    def num_tokens(self) -> int:
        return len(self.ids)

    @property
    def num_documents(self) -> int:
        return len(self.document_starts) - 1

    def sentence_ranges(self, document: int) -> list[tuple[int, int]]:
        """Token ranges ``(start, end)`` of the sentences of one document, in order."""
        s0, s1 = self.document_starts[document], self.document_starts[document + 1]
        starts = self.sentence_starts[s0:s1 + 1].tolist()
        return list(zip(starts[:-1], starts[1:]))

    def document_of_token(self, token: int) -> int:
        sentence = int(np.searchsorted(self.sentence_starts, token, side="right")) - 1
        return int(np.searchsorted(self.document_starts, sentence, side="right")) - 1


def tokenizer_fingerprint(tokenizer: Tokenizer) -> str:
    return hashlib.sha256(tokenizer.to_str().encode("utf-8")).hexdigest()[:16]


def tokenize_corpus(corpus, tokenizer: Tokenizer, cache: bool = True) -> TokenizedCorpus:
    """Batch-encode every sentence once (the tokenizers library runs on all cores)."""
    key = (f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', corpus.name)}-{corpus.fingerprint}-{tokenizer_fingerprint(tokenizer)}"
           f"-w{WORD_INDEX_VERSION}")
    if key in _MEMORY:
        _MEMORY[key] = _MEMORY.pop(key)  # now the most recent
        return _MEMORY[key]
    path = cache_dir() / "tokenized" / f"{key}.npz"
    if cache and path.exists():
        try:
            with np.load(path) as data:
                result = TokenizedCorpus(**{name: data[name] for name in TokenizedCorpus.__dataclass_fields__})
            return _remember(key, result)
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache file: tokenize again
    result = _tokenize(corpus, tokenizer)
    if cache:
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:  # arrays only: no pickle
            np.savez(handle, **{name: getattr(result, name) for name in TokenizedCorpus.__dataclass_fields__})
    return _remember(key, result)


def _remember(key: str, result: TokenizedCorpus) -> TokenizedCorpus:
    _MEMORY[key] = result
    while len(_MEMORY) > _MEMORY_SIZE:
        _MEMORY.pop(next(iter(_MEMORY)))
    return result


def _tokenize(corpus, tokenizer: Tokenizer) -> TokenizedCorpus:
    sentences = list(corpus.sentences())
    encodings = encode_words(tokenizer, sentences)
    ids, words, sentence_lengths, doc_sentence_counts, document_map = [], [], [], [], []
    word_offset, s = 0, 0
    for d, document in enumerate(corpus.documents):
        kept = 0
        for sentence in document:
            enc = encodings[s]
            s += 1
            word_offset += len(sentence)  # count every word, so word_index is a position in the word stream
            if not enc.ids:  # every word normalised away (e.g. only control characters)
                continue
            ids.append(np.asarray(enc.ids, dtype=np.int32))
            words.append(np.asarray(enc.word_ids, dtype=np.int32) + word_offset - len(sentence))
            sentence_lengths.append(len(enc.ids))
            kept += 1
        if kept:
            doc_sentence_counts.append(kept)
            document_map.append(d)
    if not ids:
        raise ValueError(f"corpus {corpus.name!r}: the tokenizer produced no tokens from it")
    return TokenizedCorpus(
        ids=np.concatenate(ids), word_index=np.concatenate(words),
        sentence_starts=np.concatenate([[0], np.cumsum(sentence_lengths)]).astype(np.int64),
        document_starts=np.concatenate([[0], np.cumsum(doc_sentence_counts)]).astype(np.int64),
        document_map=np.asarray(document_map, dtype=np.int64))
