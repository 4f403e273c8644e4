"""Helpers the checks share: hidden test inputs, tensor coercion, and "which mistake is this?" diagnosis."""

from __future__ import annotations

import math

import torch

from bertlab.homework.grading import Report, hidden_generator


def as_tensor(value, report: Report, what: str, shape: tuple | None = None, dtype_kind: str | None = None):
    """Coerce a returned value to a tensor or fail the current rule with a precise message."""
    if not isinstance(value, torch.Tensor):
        report.fail(f"{what} should be a torch.Tensor, got {type(value).__name__}")
    if shape is not None and tuple(value.shape) != tuple(shape):
        report.fail(f"{what} should have shape {tuple(shape)}, got {tuple(value.shape)}")
    if dtype_kind == "int" and (value.dtype.is_floating_point or value.dtype == torch.bool):
        report.fail(f"{what} should hold integer token ids, got dtype {value.dtype}")
    return value


def scalar(value, report: Report, what: str = "the loss") -> torch.Tensor:
    """A returned loss must be a one-number tensor (so that ``.backward()`` works)."""
    if isinstance(value, (float, int)):
        report.fail(f"{what} should be a torch.Tensor so it can be back-propagated; got a Python "
                    f"{type(value).__name__} ({value!r}). Do not call .item() or float() on it.")
    if not isinstance(value, torch.Tensor):
        report.fail(f"{what} should be a scalar torch.Tensor, got {type(value).__name__}")
    if value.numel() != 1:
        report.fail(f"{what} should be one number (a scalar tensor), got shape {tuple(value.shape)}: "
                    f"average over every position and example")
    return value.reshape(())


def needs_gradient(report: Report, value: torch.Tensor, what: str, source: str) -> None:
    """Fail the current rule when ``value`` (computed from ``source``) carries no gradient."""
    if not value.requires_grad:
        report.fail(f"{what} has no gradient: compute it from {source} with torch operations "
                    f"(no .item(), .detach(), numpy or torch.no_grad())")


def must_raise_value_error(r: Report, call, what: str, instead: str, why: str) -> None:
    """A rule body: ``call()`` must raise ValueError — bad input is an error, not a silent other behaviour.
    ``what`` names the call in messages ("my_set_mode(model, 'frozen')"), ``instead`` what the error should say,
    ``why`` what goes wrong when it does not raise."""
    try:
        value = call()
    except ValueError:
        return
    except Exception as err:  # noqa: BLE001 - a student's function may raise anything
        r.fail(f"{what} raised {type(err).__name__}: {err}; raise ValueError {instead}")
    r.fail(f"{what} returned {value!r:.60} instead of raising ValueError: {why}")


def close(a: float, b: float, rel: float = 1e-4, abs_: float = 1e-6) -> bool:
    return math.isfinite(a) and math.isfinite(b) and abs(a - b) <= max(abs_, rel * max(abs(a), abs(b)))


def diagnose(value: float, candidates: dict[str, float], rel: float = 1e-3) -> str | None:
    """The explanation of the first wrong-but-typical answer whose value ``value`` matches."""
    for explanation, candidate in candidates.items():
        if close(value, float(candidate), rel=rel, abs_=1e-7):
            return explanation
    return None


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def token_batch(batch_size: int = 256, length: int = 64, vocab_size: int = 1000, seed: int = 123):
    """Hidden MLM test data: rows ``[CLS] A [SEP] B [SEP] [PAD]…`` with real ids in [5, vocab_size).

    Returns (input_ids (B, T) long, special_tokens_mask (B, T) bool).
    """
    g = hidden_generator(seed)
    ids = torch.randint(5, vocab_size, (batch_size, length), generator=g)
    special = torch.zeros(batch_size, length, dtype=torch.bool)
    lengths = torch.randint(length // 2, length + 1, (batch_size,), generator=g)
    for row in range(batch_size):
        n = int(lengths[row])
        sep = int(torch.randint(2, n - 2, (1,), generator=g))
        ids[row, 0] = 2  # [CLS]
        ids[row, sep] = 3  # [SEP] after segment A
        ids[row, n - 1] = 3  # [SEP] at the end
        ids[row, n:] = 0  # [PAD]
        special[row, [0, sep, n - 1]] = True
        special[row, n:] = True
    return ids, special


def word_batch(batch_size: int = 200, length: int = 64, seed: int = 7, max_pieces: int = 4):
    """Hidden whole-word test data: word ids per position (-1 on specials), words of 1…max_pieces pieces.

    Returns (word_ids (B, T) long, special_tokens_mask (B, T) bool, pieces (B, T) long: pieces of the word).
    """
    g = hidden_generator(seed)
    word_ids = torch.full((batch_size, length), -1, dtype=torch.long)
    pieces = torch.zeros(batch_size, length, dtype=torch.long)
    for row in range(batch_size):
        n = int(torch.randint(length // 2, length + 1, (1,), generator=g))
        t, word = 1, 0  # position 0 is [CLS]
        while t < n - 1:
            k = min(int(torch.randint(1, max_pieces + 1, (1,), generator=g)), n - 1 - t)
            word_ids[row, t:t + k] = word
            pieces[row, t:t + k] = k
            t, word = t + k, word + 1
    return word_ids, word_ids < 0, pieces
