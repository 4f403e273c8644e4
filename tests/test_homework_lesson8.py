"""Lesson 8 check (XLM's TLM input) against a correct, typically wrong, and crashing solutions."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from homework_helpers import crashes, fails, passes

from bertlab.data.tokenizer import CLS_ID, MASK_ID, SEP_ID


def my_tlm_example(first, second, first_language, second_language, chosen):
    ids = torch.tensor([CLS_ID, *first, SEP_ID, *second, SEP_ID])
    n, m = len(first), len(second)
    specials = {0, n + 1, n + m + 2}
    if any(p in specials for p in chosen):
        raise ValueError("a special token is never masked")
    positions = torch.cat([torch.arange(n + 2), torch.arange(1, m + 2)])
    languages = torch.tensor([first_language] * (n + 2) + [second_language] * (m + 1))
    labels = torch.full_like(ids, -100)
    chosen = torch.tensor(chosen, dtype=torch.long)
    labels[chosen] = ids[chosen]
    masked = ids.clone()
    masked[chosen] = MASK_ID
    return masked, positions, languages, labels


def test_correct_solution_passes():
    passes("tlm_example", my_tlm_example)


def positions_not_restarted(*args):
    masked, positions, languages, labels = my_tlm_example(*args)
    return masked, torch.arange(len(masked)), languages, labels


def test_positions_that_run_on_fail_with_a_hint():
    fails("tlm_example", positions_not_restarted, "position_ids restart", "resets them")


def restarted_at_zero(*args):
    masked, positions, languages, labels = my_tlm_example(*args)
    n = len(args[0])
    return masked, torch.cat([positions[:n + 2], positions[n + 2:] - 1]), languages, labels


def test_second_half_from_zero_fails():
    fails("tlm_example", restarted_at_zero, "position_ids restart", "first word should take position 1")


def labels_are_masks(*args):
    masked, positions, languages, labels = my_tlm_example(*args)
    return masked, positions, languages, torch.where(labels != -100, MASK_ID, -100)


def test_labels_holding_mask_fail():
    fails("tlm_example", labels_are_masks, "labels", "there before masking")


def sep_in_second_language(first, second, a, b, chosen):
    masked, positions, languages, labels = my_tlm_example(first, second, a, b, chosen)
    languages = languages.clone()
    languages[len(first) + 1] = b
    return masked, positions, languages, labels


def test_first_sep_in_the_wrong_language_fails():
    fails("tlm_example", sep_in_second_language, "language_ids", "closes the first half")


def no_special_check(first, second, a, b, chosen):
    ids = torch.tensor([CLS_ID, *first, SEP_ID, *second, SEP_ID])
    n, m = len(first), len(second)
    labels = torch.full_like(ids, -100)
    c = torch.tensor(chosen, dtype=torch.long)
    labels[c] = ids[c]
    masked = ids.clone()
    masked[c] = MASK_ID
    return masked, torch.cat([torch.arange(n + 2), torch.arange(1, m + 2)]), \
        torch.tensor([a] * (n + 2) + [b] * (m + 1)), labels


def test_masking_a_sep_must_raise():
    fails("tlm_example", no_special_check, "ValueError", "instead of raising")


def test_crash_and_unwritten_are_explained():
    crashes("tlm_example", lambda first, second, a, b, chosen: torch.tensor(first) + torch.tensor(second),
            "RuntimeError")

    def unwritten(first, second, a, b, chosen):
        raise NotImplementedError

    crashes("tlm_example", unwritten, "not written yet")


def my_ranking_loss(u, v, scale):
    scores = scale * F.normalize(u, dim=-1) @ F.normalize(v, dim=-1).T
    target = torch.arange(len(u))
    return 0.5 * (F.cross_entropy(scores, target) + F.cross_entropy(scores.T, target))


def test_ranking_loss_correct_passes():
    passes("ranking_loss", my_ranking_loss)


def test_ranking_loss_one_direction_and_dot_products_fail_with_hints():
    def one_way(u, v, scale):
        return F.cross_entropy(scale * F.normalize(u, dim=-1) @ F.normalize(v, dim=-1).T, torch.arange(len(u)))

    def dot(u, v, scale):
        s = scale * u @ v.T
        return 0.5 * (F.cross_entropy(s, torch.arange(len(u))) + F.cross_entropy(s.T, torch.arange(len(u))))

    fails("ranking_loss", one_way, "equals", "only one direction")
    fails("ranking_loss", dot, "equals", "normalise u and v")
    fails("ranking_loss", lambda u, v, scale: float(my_ranking_loss(u, v, scale)), "one number", ".item()")


def test_ranking_loss_crash_is_explained():
    crashes("ranking_loss", lambda u, v, scale: u @ v, "RuntimeError")
