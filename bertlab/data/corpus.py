"""A corpus is documents of sentences of words: what BERT's pre-training data is made of (BERT §3.1).

Documents matter because Next Sentence Prediction draws NotNext segments from a *different* document;
sentences matter because segments are built from whole sentences; words matter for whole-word masking.

``load_corpus`` accepts a built-in name (``wiki-en``, ``news-en``, ``peoples-daily-zh``), a UTF-8 text
file (documents separated by blank lines, one or more sentences per line), a folder (one document per
file), or a Hugging Face ``datasets.Dataset`` / a folder written by ``Dataset.save_to_disk``.
Parsed corpora are cached as JSON under ``cache_dir()/corpora``.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from bertlab.data.builtin import BUILTIN_CORPORA, DEFAULT_CORPUS
from bertlab.data.parallel import PARALLEL_CORPORA
from bertlab.data.text import is_chinese, join_words_en, split_sentences_zh, text_to_sentences
from bertlab.io import atomic_write_text
from bertlab.paths import cache_dir

Sentence = list[str]  # words
CACHE_FORMAT = 1
_SEGMENTED_ZH = re.compile(r"[\u4e00-\u9fff][\u3000 \t]+[\u4e00-\u9fff]")


@dataclass
class Corpus:
    """``documents[d][s]`` is sentence ``s`` of document ``d``, a list of words."""

    name: str
    language: str  # "en" | "zh"
    documents: list[list[Sentence]]
    description: str = ""
    sources: list[str] | None = None  # where each document starts, e.g. "corpus.txt:17"
    _fingerprint: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.language not in ("en", "zh"):
            raise ValueError(f"corpus language must be 'en' or 'zh', got {self.language!r}")
        self.documents = [[s for s in doc if s] for doc in self.documents]
        keep = [i for i, doc in enumerate(self.documents) if doc]
        if len(keep) < len(self.documents):
            self.documents = [self.documents[i] for i in keep]
            self.sources = [self.sources[i] for i in keep] if self.sources else None
        if not self.documents:
            raise ValueError(f"corpus {self.name!r} is empty: it has no words; give a file with text in it")

    def __repr__(self) -> str:
        return (f"Corpus({self.name!r}, language={self.language!r}, documents={self.num_documents}, "
                f"sentences={self.num_sentences}, words={self.num_words})")

    @property
    def fingerprint(self) -> str:
        """A hash of the content: the tokenizer cache key uses it."""
        if self._fingerprint is None:
            blob = json.dumps([self.language, self.documents], ensure_ascii=False).encode("utf-8")
            self._fingerprint = hashlib.sha256(blob).hexdigest()[:16]
        return self._fingerprint

    @property
    def num_documents(self) -> int:
        return len(self.documents)

    @property
    def num_sentences(self) -> int:
        return sum(len(doc) for doc in self.documents)

    @property
    def num_words(self) -> int:
        return sum(len(s) for doc in self.documents for s in doc)

    def sentences(self) -> Iterator[Sentence]:
        for doc in self.documents:
            yield from doc

    def sentence_text(self, sentence: Sentence) -> str:
        """Words joined for reading: without spaces in Chinese, with English spacing rules otherwise."""
        return "".join(sentence) if self.language == "zh" else join_words_en(sentence)

    def source(self, document: int) -> str:
        return self.sources[document] if self.sources else f"{self.name}: document {document + 1}"

    def subset(self, indices: list[int], suffix: str) -> "Corpus":
        fp = hashlib.sha256(f"{self.fingerprint}/{suffix}/{indices}".encode()).hexdigest()[:16]
        return Corpus(f"{self.name}[{suffix}]", self.language, [self.documents[i] for i in indices],
                      self.description, [self.sources[i] for i in indices] if self.sources else None, fp)

    def split(self, held_out_fraction: float = 0.1, seed: int = 0) -> tuple["Corpus", "Corpus"]:
        """(train, held_out), split by *document* so held-out text never appears in training."""
        if not 0.0 < held_out_fraction < 1.0:
            raise ValueError(f"held_out_fraction must be between 0 and 1, got {held_out_fraction}")
        if self.num_documents < 2:
            raise ValueError(f"corpus {self.name!r} has 1 document; a split by document needs at least 2 "
                             "(separate documents with blank lines)")
        # Identical documents count as one, so a held-out text can never also be a training text.
        groups: dict[str, list[int]] = {}
        for i, doc in enumerate(self.documents):
            groups.setdefault(json.dumps(doc, ensure_ascii=False), []).append(i)
        order = list(groups.values())
        random.Random(seed).shuffle(order)
        n_held = min(len(order) - 1, max(1, round(held_out_fraction * len(order))))
        if n_held < 1:
            raise ValueError(f"corpus {self.name!r} has only one distinct document; a split needs at least 2")
        held = sorted(i for group in order[:n_held] for i in group)
        train = sorted(i for group in order[n_held:] for i in group)
        return self.subset(train, "train"), self.subset(held, "held-out")

    def to_json_dict(self) -> dict:
        return {"format": CACHE_FORMAT, "name": self.name, "language": self.language,
                "description": self.description, "fingerprint": self.fingerprint,
                "sources": self.sources, "documents": self.documents}

    @classmethod
    def from_json_dict(cls, data: dict) -> "Corpus":
        return cls(data["name"], data["language"], data["documents"], data.get("description", ""),
                   data.get("sources"), data.get("fingerprint"))


def list_corpora() -> dict[str, str]:
    """Built-in corpus names and one-line descriptions."""
    return {name: c.description for name, c in BUILTIN_CORPORA.items()}


def load_corpus(name_or_path=DEFAULT_CORPUS, *, language: str | None = None, text_column: str = "text",
                cache: bool = True) -> Corpus:
    """A built-in corpus, a text file or folder, or a Hugging Face dataset, as a ``Corpus``."""
    if isinstance(name_or_path, Corpus):
        return name_or_path
    if hasattr(name_or_path, "column_names") and hasattr(name_or_path, "__getitem__"):
        return corpus_from_dataset(name_or_path, text_column=text_column, language=language)
    key = str(name_or_path)
    if key in BUILTIN_CORPORA:
        return _load_builtin(key, cache)
    path = Path(key).expanduser()
    if path.is_dir() and any((path / f).exists() for f in ("dataset_info.json", "state.json", "dataset_dict.json")):
        try:
            import datasets
        except ImportError:
            raise ValueError(f"{path} is a Hugging Face dataset folder; pip install datasets to read it") from None
        return corpus_from_dataset(datasets.load_from_disk(str(path)), text_column=text_column,
                                   language=language, name=path.name)
    if path.is_dir():
        return corpus_from_folder(path, language=language)
    if path.is_file():
        return corpus_from_file(path, language=language)
    if key in PARALLEL_CORPORA:
        raise ValueError(f"{key} is a parallel corpus of translation pairs, not documents: pre-train on it with "
                         "--objective tlm, xlm-mlm+tlm or translation-ranking (bertlab.data.crosslingual)")
    raise ValueError(f"unknown corpus {key!r}: not a built-in corpus ({', '.join(BUILTIN_CORPORA)}) "
                     f"and no such file or folder")


def _load_builtin(name: str, cache: bool) -> Corpus:
    spec = BUILTIN_CORPORA[name]
    path = cache_dir() / "corpora" / f"{name}-v{spec.version}.json"
    if cache and path.exists():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") == CACHE_FORMAT:
                corpus = Corpus.from_json_dict(data)
                corpus.description = spec.description
                return corpus
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache: rebuild it
    documents, sources = spec.build()
    corpus = Corpus(name, spec.language, documents, spec.description, sources)
    if cache:
        atomic_write_text(path, json.dumps(corpus.to_json_dict(), ensure_ascii=False, separators=(",", ":")))
    return corpus


# ---------------------------------------------------------------------------------------------- user text

def read_text_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 text file, or a ValueError naming the file and line and saying what to do."""
    data = path.read_bytes()
    utf16 = _utf16_kind(data)
    if utf16:
        kind, encoding = utf16
        raise ValueError(f"{path}: the file is {kind} text, not UTF-8; convert it, e.g. "
                         f"`iconv -f {encoding} -t UTF-8 {path} > {path.with_suffix('.utf8' + path.suffix)}` (or "
                         f"save it as UTF-8 from your editor)")
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise ValueError(f"{path}:{line}: contains a NUL byte, so it looks like a binary file, not text; "
                         "give a UTF-8 text file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        start = err.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        line = data.count(b"\n", 0, start) + 1
        run = data[start:start + 4]
        run = run[:next((i for i, b in enumerate(run) if b < 0x80 and i > 0), len(run))]  # the non-ASCII run
        bad = " ".join(f"0x{b:02x}" for b in run)
        raise ValueError(f"{path}:{line}: bytes {bad} are not UTF-8; re-save the file as UTF-8") from None
    if not text.strip():
        raise ValueError(f"{path}: the file is empty (no text, only blank lines); give a file with text in it")
    return text.splitlines()


def _utf16_kind(data: bytes) -> tuple[str, str] | None:
    """(description, iconv's name) when ``data`` starts with a UTF-16 byte-order mark, or (without one) when every
    other byte of its start is NUL, as in UTF-16 text of Latin letters; else None. (A binary file has NULs, but
    not in that rhythm.)"""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) and not data.startswith(b"\xff\xfe\x00\x00"):
        return "UTF-16 (" + ("little" if data[0] == 0xFF else "big") + "-endian)", "UTF-16"
    head = data[:2000]
    if len(head) >= 8:
        even, odd = head[0::2], head[1::2]
        for nuls, other, order in ((odd, even, "LE"), (even, odd, "BE")):
            if nuls.count(0) >= 0.9 * len(nuls) and other.count(0) <= 0.1 * len(other):
                return f"UTF-16{order} (no byte-order mark)", f"UTF-16{order}"
    return None


def _detect_language(samples: list[str], language: str | None) -> str:
    if language is not None:
        if language not in ("en", "zh"):
            raise ValueError(f"language must be 'en' or 'zh', got {language!r}")
        return language
    return "zh" if is_chinese("".join(samples)[:20000]) else "en"


def _paragraph_sentences(line: str, language: str, segmented: bool) -> list[Sentence]:
    if language == "zh" and segmented:  # words already separated by spaces: keep that segmentation
        return split_sentences_zh(line.split())
    return text_to_sentences(line, language)


def _is_segmented(lines: list[str]) -> bool:
    """Chinese text is taken as word-segmented when most lines have spaces between Chinese characters."""
    lines = [ln for ln in lines if ln.strip()][:2000]
    return bool(lines) and sum(bool(_SEGMENTED_ZH.search(ln)) for ln in lines) > len(lines) / 2


def corpus_from_file(path: str | Path, language: str | None = None) -> Corpus:
    """Documents separated by blank lines; each line holds one or more sentences (BERT's input format)."""
    path = Path(path)
    lines = read_text_lines(path)
    language = _detect_language(lines[:500], language)
    segmented = language == "zh" and _is_segmented(lines)
    documents, sources, current = [], [], []
    for line_no, line in enumerate(lines, 1):
        if not line.strip():
            if current:
                documents.append(current)
                current = []
            continue
        if not current:
            sources.append(f"{path}:{line_no}")
        current.extend(_paragraph_sentences(line.strip(), language, segmented))
    if current:
        documents.append(current)
    return _user_corpus(path.stem or path.name, language, documents, sources, f"text file {path}")


def corpus_from_folder(path: str | Path, language: str | None = None) -> Corpus:
    """One document per file (hidden files skipped), files in sorted order."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(path).parts))
    if not files:
        raise ValueError(f"{path}: the folder has no files; put one UTF-8 text file per document in it")
    texts = [(f, read_text_lines(f)) for f in files]
    language = _detect_language([ln for _, lines in texts[:20] for ln in lines[:50]], language)
    segmented = language == "zh" and _is_segmented([ln for _, lines in texts for ln in lines])
    documents, sources = [], []
    for f, lines in texts:
        documents.append([s for ln in lines if ln.strip() for s in _paragraph_sentences(ln.strip(), language,
                                                                                        segmented)])
        sources.append(f"{f}:1")
    return _user_corpus(path.name, language, documents, sources, f"folder {path}")


def corpus_from_dataset(dataset, text_column: str = "text", language: str | None = None,
                        name: str | None = None) -> Corpus:
    """Each row of a Hugging Face ``datasets.Dataset`` is a document; newlines separate paragraphs.
    A ``DatasetDict`` contributes its "train" split."""
    if isinstance(dataset.column_names, dict):  # a DatasetDict: {split: columns}
        if "train" not in dataset:
            raise ValueError(f"the dataset has splits {', '.join(dataset)} but no 'train' split; pass one split, "
                             "e.g. load_corpus(dataset['validation'])")
        dataset = dataset["train"]
    if text_column not in dataset.column_names:
        raise ValueError(f"the dataset has no column {text_column!r}; its columns are "
                         f"{', '.join(dataset.column_names)} (pass text_column=...)")
    texts = [t if isinstance(t, str) else "" for t in dataset[text_column]]
    language = _detect_language(texts[:200], language)
    lines = [ln for t in texts for ln in t.splitlines()]
    segmented = language == "zh" and _is_segmented(lines)
    name = name or getattr(getattr(dataset, "info", None), "dataset_name", None) or "dataset"
    documents, sources = [], []
    for row, text in enumerate(texts):
        documents.append([s for ln in text.splitlines() if ln.strip()
                          for s in _paragraph_sentences(ln.strip(), language, segmented)])
        sources.append(f"{name}[row {row}]")
    return _user_corpus(name, language, documents, sources, f"Hugging Face dataset {name}")


def _user_corpus(name: str, language: str, documents, sources, description: str) -> Corpus:
    if not any(documents):
        raise ValueError(f"{description}: no words found; give UTF-8 text with at least one sentence")
    return Corpus(name, language, documents, description, sources)
