"""Held or not: comparisons of seeded measurements that count the seed spread as noise.

With two or more seeds, "A beats B" means the difference of the means exceeds the larger of the two
groups' spreads (max − min over seeds): a difference the seeds alone did not produce. With one seed the
spread is unknown (0) and only the direction is checked; the report says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


def mean(values) -> float:
    values = [float(v) for v in values]
    if not values:
        raise ValueError("no values to average")
    return sum(values) / len(values)


def spread(values) -> float:
    """max − min over seeds (0 for a single value)."""
    values = [float(v) for v in values]
    return max(values) - min(values) if len(values) > 1 else 0.0


@dataclass
class Comparison:
    a: list  # values of the first group, one per seed
    b: list
    mean_a: float
    mean_b: float
    difference: float  # mean_a - mean_b
    spread: float  # the larger of the two groups' spreads
    threshold: float  # what the difference had to exceed (or stay above)
    held: bool
    seeds_checked: bool  # False when either group has a single seed (direction only)

    def to_dict(self) -> dict:
        return asdict(self)


def _compare(a, b, threshold_of, held_of) -> Comparison:
    a, b = [float(v) for v in a], [float(v) for v in b]
    s = max(spread(a), spread(b))
    diff = mean(a) - mean(b)
    threshold = threshold_of(s)
    return Comparison(a, b, mean(a), mean(b), diff, s, threshold, bool(held_of(diff, threshold)),
                      len(a) > 1 and len(b) > 1)


def beats(a, b, margin: float = 0.0) -> Comparison:
    """A > B by more than the seed spread (and by more than ``margin``)."""
    return _compare(a, b, lambda s: max(s, margin), lambda d, t: d > t)


def not_worse(a, b, tolerance: float = 0.0) -> Comparison:
    """A ≥ B up to the seed spread plus ``tolerance``: held unless A is worse by more than that."""
    return _compare(a, b, lambda s: -(s + tolerance), lambda d, t: d >= t)


def word(held: bool | None) -> str:
    return {True: "held", False: "did not hold", None: "not run"}[held]


__all__ = ["Comparison", "beats", "not_worse", "mean", "spread", "word"]
