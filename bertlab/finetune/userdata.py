"""The user's own labelled data: CSV / TSV / JSON Lines (single text or text pair, or token lists) and CoNLL.

    task = load_user_task("data/")                       # data/train.csv (+ dev.csv, test.csv)
    task = load_user_task("reviews.jsonl", text_column="review", label_column="stars")
    task = load_user_task("ner/train.conll", dev_file="ner/dev.conll")

- CSV / TSV: a header row names the columns; ``text_column`` (default "text"), ``label_column`` (default
  "label"), and ``text_pair_column`` for sentence-pair tasks. TSV fields are not quoted.
- JSON Lines: one object per line with the same keys. A list of words under ``text_column`` with a list
  of tags under ``label_column`` makes a token task.
- CoNLL: one token per line, the token first and its label last (whitespace-separated; other columns
  are ignored), a blank line between sentences; ``-DOCSTART-`` and ``#`` comment lines are skipped.

A folder holds ``train.*`` and optionally ``dev.*`` (or ``valid.*`` / ``validation.*``) and ``test.*``. A
missing dev or test split is cut from the training file (10 % each, seeded). Every problem is reported
with the file and line: a missing column (and the columns that exist), an empty text or label, a label in
dev / test that the training file never uses, a malformed CoNLL line, an empty file.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from bertlab.data.corpus import read_text_lines
from bertlab.data.text import is_chinese
from bertlab.finetune.examples import Example, TaskData, split_examples

FORMATS = ("csv", "tsv", "jsonl", "conll")
EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
              ".json": "jsonl", ".conll": "conll", ".conll03": "conll", ".bio": "conll", ".iob": "conll"}
DEV_NAMES = ("dev", "valid", "validation")


def detect_format(path: Path, format: str | None = None) -> str:
    if format is not None:
        if format not in FORMATS:
            raise ValueError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
        return format
    if path.suffix.lower() in EXTENSIONS:
        return EXTENSIONS[path.suffix.lower()]
    raise ValueError(f"{path}: cannot tell the format from the extension {path.suffix!r}; "
                     f"give --format {' | '.join(FORMATS)}")


def _label_text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def read_table(path: str | Path, delimiter: str = ",", text_column: str = "text",
               text_pair_column: str | None = None, label_column: str = "label") -> list[Example]:
    """Rows of a CSV (``delimiter=","``) or TSV (``"\\t"``, unquoted) file with a header row."""
    path = Path(path)
    text = "\n".join(read_text_lines(path))
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, quoting=quoting, strict=True)
    try:
        header = next(reader)
    except csv.Error as err:
        raise ValueError(f"{path}:1: not valid {'TSV' if delimiter == chr(9) else 'CSV'} ({err})") from None
    header = [h.strip() for h in header]
    wanted = {"--text-column": text_column, "--label-column": label_column}
    if text_pair_column:
        wanted["--text-pair-column"] = text_pair_column
    for flag, column in wanted.items():
        if column not in header:
            raise ValueError(f"{path}: no column {column!r} ({flag}); the header (line 1) has the columns: "
                             f"{', '.join(repr(h) for h in header)}")
    index = {column: header.index(column) for column in wanted.values()}
    examples, line = [], reader.line_num + 1
    try:
        for row in reader:
            start, line = line, reader.line_num + 1  # a quoted field may span several lines
            if not any(field.strip() for field in row):
                continue
            if len(row) != len(header):
                raise ValueError(f"{path}:{start}: {len(row)} fields, but the header has {len(header)}")
            where = f"{path}:{start}"
            example = Example(_required(row[index[text_column]], where, text_column),
                              _required(row[index[label_column]], where, label_column),
                              _required(row[index[text_pair_column]], where, text_pair_column)
                              if text_pair_column else None, where)
            examples.append(example)
    except csv.Error as err:
        raise ValueError(f"{path}:{reader.line_num}: not valid CSV ({err})") from None
    if not examples:
        raise ValueError(f"{path}: no examples, only a header line")
    return examples


def _required(value: str, where: str, column: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError(f"{where}: the {column!r} field is empty")
    return value


def read_jsonl(path: str | Path, text_column: str = "text", text_pair_column: str | None = None,
               label_column: str = "label") -> list[Example]:
    """One JSON object per line; a list of words + a list of tags makes a token example."""
    path = Path(path)
    examples = []
    for n, line in enumerate(read_text_lines(path), 1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{where}: not valid JSON ({err.msg} at column {err.colno})") from None
        if not isinstance(record, dict):
            raise ValueError(f"{where}: expected a JSON object like {{\"{text_column}\": ..., \"{label_column}\": ...}}")
        for flag, key in (("--text-column", text_column), ("--label-column", label_column),
                          ("--text-pair-column", text_pair_column)):
            if key is not None and key not in record:
                raise ValueError(f"{where}: no key {key!r} ({flag}); keys found: "
                                 f"{', '.join(repr(k) for k in record)}")
        text, label = record[text_column], record[label_column]
        if isinstance(text, list):  # a token example
            if not isinstance(label, list) or len(label) != len(text):
                raise ValueError(f"{where}: {text_column!r} is a list of {len(text)} words, so {label_column!r} "
                                 f"must be a list of as many tags")
            if not text:
                raise ValueError(f"{where}: the {text_column!r} list is empty")
            examples.append(Example([str(w) for w in text], [_label_text(t) for t in label], source=where))
            continue
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{where}: {text_column!r} must be a non-empty string, got {text!r}")
        pair = record[text_pair_column] if text_pair_column else None
        if text_pair_column and (not isinstance(pair, str) or not pair.strip()):
            raise ValueError(f"{where}: {text_pair_column!r} must be a non-empty string, got {pair!r}")
        if label is None or _label_text(label).strip() == "":
            raise ValueError(f"{where}: the {label_column!r} value is empty")
        examples.append(Example(text.strip(), _label_text(label), pair.strip() if pair else None, where))
    if not examples:
        raise ValueError(f"{path}: no examples in the file")
    kinds = {isinstance(e.text, list) for e in examples}
    if len(kinds) > 1:
        raise ValueError(f"{path}: mixes token examples (lists of words) with text examples")
    return examples


def read_conll(path: str | Path) -> list[Example]:
    """Sentences of ``token ... label`` lines separated by blank lines."""
    path = Path(path)
    examples, words, tags, start = [], [], [], 0
    for n, line in enumerate(read_text_lines(path), 1):
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-" or line.startswith("#"):
            if words:
                examples.append(Example(words, tags, source=f"{path}:{start}"))
                words, tags = [], []
            continue
        if len(fields) < 2:
            raise ValueError(f"{path}:{n}: expected a token and its label separated by whitespace "
                             f"(e.g. 'Paris B-LOC'), found {line.strip()!r}")
        if not words:
            start = n
        words.append(fields[0])
        tags.append(fields[-1])
    if words:
        examples.append(Example(words, tags, source=f"{path}:{start}"))
    if not examples:
        raise ValueError(f"{path}: no sentences (only blank, comment or -DOCSTART- lines)")
    return examples


def read_examples(path: str | Path, format: str | None = None, text_column: str = "text",
                  text_pair_column: str | None = None, label_column: str = "label") -> list[Example]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    format = detect_format(path, format)
    if format == "conll":
        return read_conll(path)
    if format == "jsonl":
        return read_jsonl(path, text_column, text_pair_column, label_column)
    return read_table(path, "," if format == "csv" else "\t", text_column, text_pair_column, label_column)


def _find_split_files(folder: Path) -> tuple[Path, Path | None, Path | None]:
    files = [p for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")]

    def named(stems):
        found = [p for p in files if p.stem.lower() in stems]
        if len(found) > 1:
            raise ValueError(f"{folder}: several files for one split: {', '.join(p.name for p in found)}")
        return found[0] if found else None
    train = named(("train",))
    if train is None:
        raise ValueError(f"{folder}: no train.* file (found: {', '.join(p.name for p in files) or 'nothing'}); "
                         f"name the training file train.csv / train.tsv / train.jsonl / train.conll")
    return train, named(DEV_NAMES), named(("test",))


def _check_labels(examples: list[Example], labels: set[str], train_path, kind: str) -> None:
    for example in examples:
        found = example.label if kind == "token" else [example.label]
        for label in found:
            if label is not None and label not in labels:
                raise ValueError(f"{example.source}: label {label!r} does not occur in the training file "
                                 f"{train_path} (its labels: {', '.join(sorted(labels))})")


def _kind(examples: list[Example]) -> str:
    if isinstance(examples[0].text, list):
        return "token"
    return "pair" if examples[0].text_pair is not None else "single"


def load_user_task(spec: str | Path, seed: int = 0, format: str | None = None, text_column: str = "text",
                   text_pair_column: str | None = None, label_column: str = "label",
                   dev_file: str | Path | None = None, test_file: str | Path | None = None,
                   language: str | None = None) -> TaskData:
    """A task from a file (plus optional ``dev_file`` / ``test_file``) or a folder of train/dev/test files."""
    path = Path(spec).expanduser()
    if path.is_dir():
        if dev_file or test_file:
            raise ValueError(f"{path} is a folder: its dev.* / test.* files are used; --dev / --test apply to a "
                             f"single training file")
        train_path, dev_path, test_path = _find_split_files(path)
    else:
        train_path = path
        dev_path, test_path = (Path(p) if p else None for p in (dev_file, test_file))
    options = dict(format=format, text_column=text_column, text_pair_column=text_pair_column,
                   label_column=label_column)
    train = read_examples(train_path, **options)
    kind = _kind(train)
    labels = sorted({t for e in train for t in (e.label if kind == "token" else [e.label]) if t is not None})
    if len(labels) < 2:
        raise ValueError(f"{train_path}: every example has the label {labels[0]!r}; a classifier needs at "
                         f"least 2 different labels")
    dev = read_examples(dev_path, **options) if dev_path else None
    test = read_examples(test_path, **options) if test_path else None
    for split, examples in (("dev", dev), ("test", test)):
        if examples is not None:
            if _kind(examples) != kind:
                raise ValueError(f"{examples[0].source}: the {split} file holds {_kind(examples)} examples but the "
                                 f"training file {train_path} holds {kind} examples")
            _check_labels(examples, set(labels), train_path, kind)
    carved = [split for split, examples in (("dev", dev), ("test", test)) if examples is None]
    if carved:  # cut the missing split(s) from the training file, 10 % each
        rest, dev_part, test_part = split_examples(train, seed, 0.1, 0.1)
        train = rest + (dev_part if dev is not None else []) + (test_part if test is not None else [])
        dev = dev if dev is not None else dev_part
        test = test if test is not None else test_part
    sample = " ".join(" ".join(e.text) if kind == "token" else e.text for e in train[:200])
    language = language or ("zh" if is_chinese(sample) else "en")
    info = {"files": {"train": str(train_path), "dev": str(dev_path) if dev_path else None,
                      "test": str(test_path) if test_path else None},
            "format": detect_format(train_path, format), "split_seed": seed}
    if carved:
        info["carved_from_train"] = carved
    return TaskData(train_path.parent.name if path.is_dir() else train_path.stem, train, dev, test, labels, kind,
                    language, f"user data from {path}", info)


__all__ = ["load_user_task", "read_examples", "read_table", "read_jsonl", "read_conll", "detect_format", "FORMATS"]
