"""What every fine-tuning task is made of, built in or the user's own: labelled examples and their splits."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

KINDS = ("single", "pair", "token")


@dataclass
class Example:
    """One labelled input. Sequence tasks: ``text`` (and ``text_pair``) strings, ``label`` a string.
    Token tasks: ``text`` is the list of words and ``label`` one tag per word (None = not scored)."""

    text: str | list[str]
    label: str | list[str | None]
    text_pair: str | None = None
    source: str = ""  # where it came from, e.g. "train.csv:17"


@dataclass
class TaskData:
    name: str
    train: list[Example]
    dev: list[Example]
    test: list[Example]
    labels: list[str]  # label names; a label's id is its index
    kind: str  # "single" | "pair" | "token"
    language: str  # "en" | "zh"
    description: str = ""
    info: dict = field(default_factory=dict)  # how the data was built: sources, dropped duplicates, ...

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"task kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if len(self.labels) < 2:
            raise ValueError(f"task {self.name!r} has {len(self.labels)} label(s) ({', '.join(self.labels)}); "
                             f"classification needs at least 2")
        for split in ("train", "dev", "test"):
            if not getattr(self, split):
                raise ValueError(f"task {self.name!r}: the {split} split is empty")

    def __repr__(self) -> str:
        return (f"TaskData({self.name!r}, kind={self.kind!r}, language={self.language!r}, labels={self.labels}, "
                f"train={len(self.train)}, dev={len(self.dev)}, test={len(self.test)})")

    def label_counts(self, split: str = "train") -> dict[str, int]:
        counts = Counter()
        for example in getattr(self, split):
            counts.update([example.label] if self.kind != "token" else [t for t in example.label if t is not None])
        return {label: counts.get(label, 0) for label in self.labels}

    def summary(self) -> dict:
        """What config.json records about the task."""
        return {"name": self.name, "kind": self.kind, "language": self.language, "labels": self.labels,
                "sizes": {s: len(getattr(self, s)) for s in ("train", "dev", "test")},
                "train_label_counts": self.label_counts("train"), "description": self.description, **self.info}

    def limit(self, max_train: int | None = None, max_eval: int | None = None, seed: int = 0) -> "TaskData":
        """A copy with at most ``max_train`` training and ``max_eval`` dev / test examples (seeded sample)."""
        def cut(examples, n):
            if n is None or len(examples) <= n:
                return examples
            keep = sorted(random.Random(seed).sample(range(len(examples)), n))
            return [examples[i] for i in keep]
        return TaskData(self.name, cut(self.train, max_train), cut(self.dev, max_eval), cut(self.test, max_eval),
                        self.labels, self.kind, self.language, self.description,
                        {**self.info, "limited_to": {"train": max_train, "eval": max_eval}})


def split_examples(examples: list, seed: int, dev_fraction: float = 0.1,
                   test_fraction: float = 0.1) -> tuple[list, list, list]:
    """A seeded shuffle cut into (train, dev, test)."""
    if not (0 < dev_fraction < 1 and 0 < test_fraction < 1 and dev_fraction + test_fraction < 1):
        raise ValueError(f"dev_fraction {dev_fraction} and test_fraction {test_fraction} must be in (0, 1) "
                         f"and leave some training data")
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    n_dev, n_test = max(1, round(dev_fraction * len(order))), max(1, round(test_fraction * len(order)))
    if n_dev + n_test >= len(order):
        raise ValueError(f"{len(examples)} examples are too few to split into train, dev and test")
    pick = lambda idx: [examples[i] for i in idx]  # noqa: E731
    return pick(order[n_dev + n_test:]), pick(order[:n_dev]), pick(order[n_dev:n_dev + n_test])


__all__ = ["KINDS", "Example", "TaskData", "split_examples"]
