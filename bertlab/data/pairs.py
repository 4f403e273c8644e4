"""Pre-training inputs from a tokenized corpus: sentence pairs for NSP / SOP, or full sentences.

- NSP (BERT §3.1, Task #2; ``create_pretraining_data.py``): fill a chunk of consecutive sentences up to
  the target length, cut it at a random sentence boundary into A and B. Half the time B is replaced by
  text from a *different* document (NotNext, label 1); otherwise B is A's true continuation (IsNext, 0).
  The sentences a NotNext pair did not use are put back, so no text is wasted.
- SOP (ALBERT §4.2): A and B are always consecutive; half the time they are swapped (label 1). A model
  cannot solve this from topic alone, unlike NotNext.
- Full sentences (RoBERTa §4.2, FULL-SENTENCES): no pairs, no second objective: consecutive whole
  sentences packed up to ``max_seq_length``, crossing document boundaries with an extra [SEP].

Segments are token ranges ``[start, end)`` into ``TokenizedCorpus.ids``. Like BERT, 10 % of the
documents get a shorter random target length (``short_seq_prob``) so the model also sees short inputs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from bertlab.data.tokenized import TokenizedCorpus

IS_NEXT, NOT_NEXT = 0, 1  # next_sentence_label for NSP (as in BERT and Hugging Face)
IN_ORDER, SWAPPED = 0, 1  # the same label slot for SOP


@dataclass(frozen=True)
class Instance:
    """One input: ``[CLS] seg_1 [SEP] seg_2 [SEP] …``."""

    segments: tuple[tuple[int, int], ...]  # token ranges [start, end) into the tokenized corpus
    token_types: tuple[int, ...]  # token_type_id of each segment: 0 for A, 1 for B
    documents: tuple[int, ...]  # the document each segment comes from
    label: int | None = None  # next_sentence_label; None for full sentences

    @property
    def num_tokens(self) -> int:
        return sum(end - start for start, end in self.segments) + len(self.segments) + 1


def truncate_pair(a: tuple[int, int], b: tuple[int, int], max_num_tokens: int, rng: random.Random):
    """BERT's ``truncate_seq_pair``: drop one token at a time from the longer segment, from its front or
    its back at random (so the model does not learn that text always ends cleanly), until both fit.
    Both sides keep at least one token."""
    (a0, a1), (b0, b1) = a, b
    while (a1 - a0) + (b1 - b0) > max_num_tokens:
        if (a1 - a0) > (b1 - b0):
            if rng.random() < 0.5:
                a0 += 1
            else:
                a1 -= 1
        elif rng.random() < 0.5:
            b0 += 1
        else:
            b1 -= 1
    return (a0, a1), (b0, b1)


def pair_instances(tokens: TokenizedCorpus, max_seq_length: int, objective: str, rng: random.Random,
                   short_seq_prob: float = 0.1) -> list[Instance]:
    """NSP (``objective="nsp"``) or SOP (``"sop"``) pairs from every document, in document order."""
    if objective not in ("nsp", "sop"):
        raise ValueError(f"objective must be 'nsp' or 'sop', got {objective!r}")
    if objective == "nsp" and tokens.num_documents < 2:
        raise ValueError("NSP needs at least 2 documents to draw NotNext segments from another document")
    instances = []
    for doc in range(tokens.num_documents):
        instances.extend(_document_pairs(tokens, doc, max_seq_length, objective, rng, short_seq_prob))
    return instances


def _document_pairs(tokens, doc, max_seq_length, objective, rng, short_seq_prob) -> list[Instance]:
    max_num_tokens = max_seq_length - 3  # room for [CLS] A [SEP] B [SEP]
    target = max_num_tokens
    if rng.random() < short_seq_prob:
        target = rng.randint(2, max_num_tokens)
    sentences = tokens.sentence_ranges(doc)
    instances, chunk, length, i = [], [], 0, 0
    while i < len(sentences):
        chunk.append(sentences[i])
        length += sentences[i][1] - sentences[i][0]
        last = i == len(sentences) - 1
        if last or (length >= target and len(chunk) >= 2):
            # A lone sentence at the end of a document cannot be cut into A and B. (BERT pairs it with a
            # random B, forcing NotNext, which tilts the labels away from 50/50; we leave it out.)
            if len(chunk) >= 2:
                a_end = rng.randint(1, len(chunk) - 1)  # A = the first a_end sentences of the chunk
                a = (chunk[0][0], chunk[a_end - 1][1])
                if objective == "nsp" and rng.random() < 0.5:
                    # NotNext: B starts at a random sentence of a random *other* document.
                    other = rng.randrange(tokens.num_documents - 1)
                    other += other >= doc  # skip A's own document
                    b = _fill_from(tokens.sentence_ranges(other), target - (a[1] - a[0]), rng)
                    label, docs = NOT_NEXT, (doc, other)
                    i -= len(chunk) - a_end  # put the unused sentences back for the next chunk
                else:
                    # IsNext: B is the rest of the chunk, the true continuation of A.
                    b = (chunk[a_end][0], chunk[-1][1])
                    label, docs = IS_NEXT, (doc, doc)
                    if objective == "sop" and rng.random() < 0.5:
                        a, b, label = b, a, SWAPPED  # SOP: same two segments, order swapped
                a, b = truncate_pair(a, b, max_num_tokens, rng)
                instances.append(Instance((a, b), (0, 1), docs, label))
            chunk, length = [], 0
        i += 1
    return instances


def _fill_from(sentences: list[tuple[int, int]], target_length: int, rng: random.Random) -> tuple[int, int]:
    """Consecutive sentences from a random start until ``target_length`` tokens (at least one sentence)."""
    start = rng.randrange(len(sentences))
    end = start
    while end < len(sentences):
        end += 1
        if sentences[end - 1][1] - sentences[start][0] >= target_length:
            break
    return sentences[start][0], sentences[end - 1][1]


def full_sentence_instances(tokens: TokenizedCorpus, max_seq_length: int) -> list[Instance]:
    """RoBERTa FULL-SENTENCES: pack whole consecutive sentences into ``[CLS] … [SEP]`` inputs of at most
    ``max_seq_length`` tokens; at a document boundary the next document starts after an extra [SEP].
    A sentence longer than the whole input is cut to fit (its head is kept)."""
    instances, segments, documents, used = [], [], [], 1  # used counts [CLS] and one [SEP] per segment
    for doc in range(tokens.num_documents):
        for start, end in tokens.sentence_ranges(doc):
            end = min(end, start + max_seq_length - 2)
            new_segment = not segments or documents[-1] != doc or segments[-1][1] != start
            need = (end - start) + (1 if new_segment else 0)
            if segments and used + need > max_seq_length:
                instances.append(Instance(tuple(segments), (0,) * len(segments), tuple(documents)))
                segments, documents, used = [], [], 1
                new_segment, need = True, (end - start) + 1
            if new_segment:
                segments.append((start, end))
                documents.append(doc)
            else:
                segments[-1] = (segments[-1][0], end)
            used += need
    if segments:
        instances.append(Instance(tuple(segments), (0,) * len(segments), tuple(documents)))
    return instances
