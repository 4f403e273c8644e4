"""Raw text → sentences → words, with small readable rules and no downloads.

English sentences come from a rule-based splitter (a full stop, ``!`` or ``?`` followed by a capital
letter, a digit or an opening quote, unless the word before it is a known abbreviation or an initial).
English words are split on whitespace and punctuation, the units BERT's basic tokenizer uses before
WordPiece (BERT §3, Appendix A.2), so a "whole word" for whole-word masking is one of these.
Chinese words come from a segmenter (jieba) when the text has no segmentation of its own.
"""

from __future__ import annotations

import logging
import re
import unicodedata

# Words that end in a full stop without ending the sentence ("Dr. Smith", "e.g. this", "Jan. 5").
ABBREVIATIONS = frozenset("""
mr mrs ms dr prof sr jr st mt ft gen col lt sgt capt cmdr adm rev gov sen rep pres hon messrs
vs etc e.g i.e cf al inc ltd co corp bros no nos vol vols pp ed eds fig approx ca est dept univ
jan feb mar apr jun jul aug sep sept oct nov dec u.s u.k u.n a.d b.c
""".split())

# A sentence may end here: terminal punctuation, optional closing quotes/brackets, then whitespace and
# something that can start a sentence (capital letter, digit, opening quote or bracket).
_BOUNDARY = re.compile(r"""([.!?]+)(["'’”)\]]*)\s+(?=["'“‘(\[]?[A-Z0-9])""")
_WORD_BEFORE = re.compile(r"(\S+)$")
# Words: runs of letters/digits, or single punctuation characters (BERT's _is_punctuation splits on "_").
_WORD = re.compile(r"[^\W_]+|[^\w\s]|_")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Chinese sentence ends: 。！？ (full-width or not), "……", optionally followed by closing quotes/brackets.
ZH_SENTENCE_END = frozenset("。！？!?…")
ZH_CLOSERS = frozenset("”’」』）)》")


def split_sentences_en(text: str) -> list[str]:
    """Split English text into sentences. ``"Dr. Who came. He left."`` → 2 sentences."""
    text = " ".join(text.split())
    sentences, start = [], 0
    for match in _BOUNDARY.finditer(text):
        if match.group(1) == "." and _is_abbreviation(text[start:match.start()]):
            continue
        sentences.append(text[start:match.end(2)].strip())
        start = match.end()
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return [s for s in sentences if s]


def _is_abbreviation(before: str) -> bool:
    found = _WORD_BEFORE.search(before)
    if not found:
        return False
    word = found.group(1).lstrip("\"'“‘([").lower()
    if word in ABBREVIATIONS:
        return True
    if len(word) == 1 and word.isalpha():  # an initial: "J. R. R. Tolkien"
        return True
    return bool(re.fullmatch(r"(?:[a-z]\.)+[a-z]", word))  # dotted acronym: "U.S", "p.m"


def split_words_en(sentence: str) -> list[str]:
    """Whitespace and punctuation splitting: ``"it's U.S.-made"`` → it ' s U . S . - made."""
    return _WORD.findall(sentence)


def join_words_en(words: list[str]) -> str:
    """Words back to readable text: ``it ' s self - made .`` → ``it's self-made.`` (for display only)."""
    text = " ".join(words)
    text = re.sub(r"(\w) (['’-]) (\w)", r"\1\2\3", text)  # it's, self-made
    text = re.sub(r"(\d) ([.,:]) (\d)", r"\1\2\3", text)  # 3.5, 1,000, 4:00
    text = re.sub(r" ([.,;:!?%)\]}])", r"\1", text)  # no space before closing punctuation
    return re.sub(r"([(\[{$]) ", r"\1", text)  # nor after an opening bracket


def is_chinese(text: str, threshold: float = 0.3) -> bool:
    """True when at least ``threshold`` of the non-space characters are CJK ideographs."""
    chars = [c for c in text if not c.isspace()]
    return bool(chars) and sum(bool(_CJK.match(c)) for c in chars) / len(chars) >= threshold


def split_sentences_zh(words: list[str]) -> list[list[str]]:
    """Cut a paragraph of Chinese words after 。！？… (keeping closing quotes with their sentence)."""
    sentences, current, ended = [], [], False
    for i, word in enumerate(words):
        current.append(word)
        if word[-1:] in ZH_SENTENCE_END:
            ended = True
        elif not (ended and word[:1] in ZH_CLOSERS):  # a closing quote after 。 still belongs here
            ended = False
        next_closes = i + 1 < len(words) and words[i + 1][:1] in ZH_CLOSERS
        if ended and not next_closes:
            sentences.append(current)
            current, ended = [], False
    if current:
        sentences.append(current)
    return sentences


_jieba = None


def segment_zh(text: str) -> list[str]:
    """Words of raw Chinese text, by jieba (Sun Junyi's segmenter; BERT-wwm-Chinese used LTP)."""
    global _jieba
    if _jieba is None:
        import jieba  # loads its dictionary on first use (~1 s)
        jieba.setLogLevel(logging.WARNING)
        _jieba = jieba
    return [w for w in _jieba.lcut(text) if w.strip()]


def text_to_sentences(text: str, language: str) -> list[list[str]]:
    """One paragraph of raw text → sentences of words, for ``language`` "en" or "zh"."""
    text = unicodedata.normalize("NFC", text)
    if language == "zh":
        return split_sentences_zh(segment_zh(text))
    return [words for words in (split_words_en(s) for s in split_sentences_en(text)) if words]
