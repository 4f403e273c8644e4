"""Lesson 1 checks against correct, typically wrong, and crashing solutions."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bertlab.data import mask_tokens
from homework_helpers import crashes, fails, passes

# --- mlm_masking ---------------------------------------------------------------------------------------------


def library_masking(input_ids, special_tokens_mask, vocab_size, mask_token_id=4, mlm_probability=0.15, generator=None):
    return mask_tokens(input_ids, special_tokens_mask, vocab_size, mask_token_id, mlm_probability, generator=generator)


def masking(choose_specials=False, mask_share=0.8, split_everywhere=False, labels="original", low=5,
            fixed_rate=None, use_generator=True, in_place=False, one_random=False, overlap=False):
    """A family of answers: the correct one with default arguments, a typical mistake with one changed."""

    def fn(input_ids, special_tokens_mask, vocab_size, mask_token_id=4, mlm_probability=0.15, generator=None):
        g = generator if use_generator else None
        p = fixed_rate if fixed_rate is not None else mlm_probability
        chosen = torch.rand(input_ids.shape, generator=g) < p
        if not choose_specials:
            chosen &= ~special_tokens_mask
        if labels == "original":
            lab = torch.where(chosen, input_ids, -100)
        elif labels == "everywhere":
            lab = input_ids.clone()
        elif labels == "zero":
            lab = torch.where(chosen, input_ids, 0)
        u = torch.rand(input_ids.shape, generator=g)
        where = torch.ones_like(chosen) if split_everywhere else chosen
        to_mask = where & (u < mask_share)
        if overlap:  # an independent draw for the random replacement that can overwrite [MASK]s
            to_random = where & (torch.rand(input_ids.shape, generator=g) < 0.1)
        else:
            to_random = where & (u >= mask_share) & (u < mask_share + 0.1)
        if one_random:
            rnd = torch.full_like(input_ids, int(torch.randint(low, vocab_size, (1,), generator=g)))
        else:
            rnd = torch.randint(low, vocab_size, input_ids.shape, generator=g)
        out = input_ids if in_place else input_ids.clone()
        out[to_mask] = mask_token_id
        out[to_random] = rnd[to_random]
        if labels == "masked":
            lab = torch.where(chosen, out, -100)
        elif labels == "changed":  # only where the model sees another token: the unchanged 10 % lose their label
            lab = torch.where(out != input_ids, input_ids, -100)
        return out, lab

    fn.__name__ = "my_mask_tokens"
    return fn


def test_masking_correct_solutions_pass():
    passes("mlm_masking", masking())
    passes("mlm_masking", library_masking)


@pytest.mark.parametrize("wrong, rule, words", [
    (masking(choose_specials=True), "special tokens", ["special_tokens_mask"]),
    (masking(mask_share=1.0), "80 %", ["every chosen token became [mask]"]),
    (masking(split_everywhere=True), "not chosen reach the model unchanged", ["only to the chosen"]),
    (masking(labels="everywhere"), "15 % of the real tokens", ["-100"]),
    (masking(labels="zero"), "labels are -100 or the original", ["not 0"]),
    (masking(labels="masked"), "labels are -100 or the original", ["original token"]),
    (masking(low=0), "random replacements are real tokens", ["torch.randint(5"]),
    (masking(fixed_rate=0.15), "mlm_probability is respected", ["instead of a fixed 0.15"]),
    (masking(use_generator=False), "randomness comes from `generator`", ["generator=generator"]),
    (masking(in_place=True), "not modified in place", ["clone"]),
    (masking(one_random=True), "random replacements", ["separate random token"]),
    (masking(overlap=True), "80 %", ["one random number"]),
    (masking(labels="changed"), "80 %", ["only where the input changed", "keep their label"]),
])
def test_masking_typical_mistakes_get_precise_feedback(wrong, rule, words):
    fails("mlm_masking", wrong, rule, *words)


def test_masking_labels_only_where_changed_is_not_told_to_use_the_argument():
    """Labelling only changed tokens chooses 0.9 x mlm_probability: the hint names the real mistake, not a fixed
    0.15."""
    feedback = fails("mlm_masking", masking(labels="changed"), "mlm_probability is respected", "keep their label")
    assert "fixed 0.15" not in feedback


def test_masking_crashing_and_unfinished():
    def raises(*args, **kwargs):
        raise NotImplementedError

    def broken(input_ids, *args, **kwargs):
        return input_ids[:, :, None].sum(3)  # IndexError

    crashes("mlm_masking", raises, "not written yet", "raise NotImplementedError")
    feedback = crashes("mlm_masking", broken, "IndexError", "called as")
    assert "line" in feedback


def test_masking_wrong_return_form_stops_early():
    def one_tensor(input_ids, special_tokens_mask, vocab_size, **kwargs):
        return input_ids.clone()

    feedback = fails("mlm_masking", one_tensor, "returns (masked_input_ids, labels)", "pair")
    assert "not checked" in feedback  # the rules after a failed requirement are reported as not run


# --- whole_word_masking ------------------------------------------------------------------------------------------


def whole_word(grow=False, per_piece=False, specials=False, use_generator=True):
    def fn(word_ids, special_tokens_mask, mlm_probability=0.15, generator=None):
        g = generator if use_generator else None
        B, T = word_ids.shape
        draws = torch.rand((B, T), generator=g)
        if per_piece:
            chosen = draws < mlm_probability
        elif grow:  # choose pieces, then extend the choice to every piece of a chosen word
            picked = (draws < mlm_probability) & (word_ids >= 0)
            chosen = torch.zeros_like(picked)
            for b in range(B):
                for w in word_ids[b][picked[b]].unique():
                    chosen[b] |= word_ids[b] == w
        else:
            starts = torch.ones((B, T), dtype=torch.bool)
            starts[:, 1:] = word_ids[:, 1:] != word_ids[:, :-1]
            first = torch.cummax(torch.where(starts, torch.arange(T).expand(B, T), 0), dim=1).values
            chosen = draws.gather(1, first) < mlm_probability
        return chosen if specials else chosen & ~special_tokens_mask

    fn.__name__ = "my_whole_word_choice"
    return fn


def test_whole_word_correct_passes():
    passes("whole_word_masking", whole_word())


@pytest.mark.parametrize("wrong, rule, words", [
    (whole_word(per_piece=True), "all pieces of a word", ["whole-word masking chooses a word"]),
    (whole_word(grow=True), "whatever its number of pieces", ["48 %", "one number per word"]),
    (whole_word(specials=True), "special tokens are never chosen", ["special_tokens_mask"]),
    (whole_word(use_generator=False), "randomness", ["generator=generator"]),
])
def test_whole_word_typical_mistakes(wrong, rule, words):
    fails("whole_word_masking", wrong, rule, *words)


# --- mlm_loss ------------------------------------------------------------------------------------------------------


def my_mlm_loss(logits, labels):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100) \
        if (labels != -100).any() else logits.sum() * 0.0


def test_mlm_loss_correct_passes():
    passes("mlm_loss", my_mlm_loss)


def loss_sum(logits, labels):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), reduction="sum")


def loss_all_positions(logits, labels):
    per = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), reduction="none")
    return per.sum() / labels.numel()


def loss_row_means(logits, labels):
    return torch.stack([F.cross_entropy(logits[b], labels[b]) for b in range(labels.shape[0])]).mean()


def loss_label_zero(logits, labels):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.clamp(min=0).reshape(-1))


def loss_item(logits, labels):
    return my_mlm_loss(logits, labels).item()


def loss_nan_when_empty(logits, labels):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))


@pytest.mark.parametrize("wrong, rule, words", [
    (loss_sum, "mean cross-entropy", ["sum", "divide by their number"]),
    (loss_all_positions, "mean cross-entropy", ["unlabelled ones as 0"]),
    (loss_row_means, "mean cross-entropy", ["per-row means"]),
    (loss_label_zero, "mean cross-entropy", ["-100"]),
    (loss_item, "returns one number as a tensor", [".item()"]),
    (loss_nan_when_empty, "nothing labelled gives 0", ["nan"]),
])
def test_mlm_loss_typical_mistakes(wrong, rule, words):
    fails("mlm_loss", wrong, rule, *words)
