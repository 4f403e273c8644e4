"""Lesson 8 checks: one input of XLM's translation language model, with its masks and positions (Lample & Conneau
2019, §3.3), and the translation-ranking loss of the LASER-style encoder (``bertlab.train.ranking``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from bertlab.data.crosslingual import LANGUAGE_IDS, tlm_example
from bertlab.config import IGNORE_INDEX
from bertlab.data.tokenizer import CLS_ID, MASK_ID, SEP_ID
from bertlab.homework.grading import Report, register
from bertlab.homework.helpers import as_tensor, close, diagnose, must_raise_value_error, scalar
from bertlab.train.ranking import ranking_loss

ZH, EN = LANGUAGE_IDS["zh"], LANGUAGE_IDS["en"]
NAMES = ("input_ids", "position_ids", "language_ids", "labels")


def _cases() -> list[tuple[list[int], list[int], int, int, list[int]]]:
    """(first, second, first_language, second_language, chosen): chosen positions fall in both halves."""
    return [([101, 102], [201, 202, 203], ZH, EN, [1, 5]),  # [CLS] 101 102 [SEP] 201 202 203 [SEP]
            ([301, 302, 303, 304], [401], EN, ZH, [2, 4, 6]),
            ([501], [601, 602, 603, 604, 605], ZH, EN, [4, 6, 7, 1]),
            ([701, 702, 703], [801, 802], EN, ZH, [])]


def tlm_reference(first, second, first_language, second_language, chosen) -> dict[str, torch.Tensor]:
    """The library's layout (``tlm_example``) with every chosen position replaced by [MASK]."""
    example = {k: torch.as_tensor(v).long() for k, v in
               tlm_example(first, second, first_language, second_language, max_seq_length=10_000).items()}
    ids = example["input_ids"]
    chosen = torch.as_tensor(chosen, dtype=torch.long)
    labels = torch.full_like(ids, IGNORE_INDEX)
    labels[chosen] = ids[chosen]
    masked = ids.clone()
    masked[chosen] = MASK_ID
    return {"input_ids": masked, "position_ids": example["position_ids"], "language_ids": example["language_ids"],
            "labels": labels}


def _describe(case) -> str:
    first, second, a, b, chosen = case
    return f"first {first} (language {a}), second {second} (language {b}), chosen {chosen}"


@register("tlm_example", 8, "XLM's TLM input: a pair concatenated, masks in both halves, positions restarting",
          "my_tlm_example(first, second, first_language, second_language, chosen) -> (input_ids, position_ids, "
          "language_ids, labels), each (T,)")
def check_tlm_example(fn, r: Report) -> None:
    cases = _cases()
    got = [r.call(fn, list(first), list(second), a, b, list(chosen)) for first, second, a, b, chosen in cases]
    want = [tlm_reference(*case) for case in cases]

    @r.rule("returns four integer tensors (input_ids, position_ids, language_ids, labels) of length n + m + 3",
            required=True)
    def _():
        for case, value in zip(cases, got):
            if not isinstance(value, (tuple, list)) or len(value) != 4:
                r.fail(f"return a tuple (input_ids, position_ids, language_ids, labels); got {type(value).__name__}")
            T = len(case[0]) + len(case[1]) + 3
            for name, tensor in zip(NAMES, value):
                as_tensor(tensor, r, f"{name} ({_describe(case)}: [CLS] first [SEP] second [SEP] is {T} tokens)",
                          shape=(T,), dtype_kind="int")

    @r.rule("input_ids: [CLS] first [SEP] second [SEP], with [MASK] at every chosen position and nowhere else")
    def _():
        for case, value, ref in zip(cases, got, want):
            ids = value[0].long()
            if torch.equal(ids, ref["input_ids"]):
                continue
            unmasked = tlm_reference(*case[:4], [])["input_ids"]
            if torch.equal(ids, unmasked):
                hint = "nothing is masked: put MASK_ID at the chosen positions."
            elif ids[0] != CLS_ID or (ids == SEP_ID).sum() != 2:
                hint = "the layout is [CLS] first [SEP] second [SEP]: one [CLS] at the start, a [SEP] after each half."
            else:
                hint = "the [MASK]s are not exactly at the chosen positions (positions count [CLS] as 0)."
            r.fail(f"{_describe(case)}: expected {ref['input_ids'].tolist()}, got {ids.tolist()}: {hint}")

    @r.rule("labels: the original token at each chosen position, -100 everywhere else")
    def _():
        for case, value, ref in zip(cases, got, want):
            labels = value[3].long()
            if torch.equal(labels, ref["labels"]):
                continue
            if (labels == MASK_ID).any():
                hint = "a label holds MASK_ID: the label is the token that was there before masking."
            elif (labels != IGNORE_INDEX).sum() > len(case[4]):
                hint = "only the chosen positions carry a loss; every other label is -100 (IGNORE_INDEX)."
            else:
                hint = ""
            r.fail(f"{_describe(case)}: expected {ref['labels'].tolist()}, got {labels.tolist()}. {hint}")

    @r.rule("position_ids restart in the second half: 0 … n + 1, then 1 … m + 1 (XLM §3.3)")
    def _():
        for case, value, ref in zip(cases, got, want):
            positions = value[1].long()
            if torch.equal(positions, ref["position_ids"]):
                continue
            T = len(positions)
            if torch.equal(positions, torch.arange(T)):
                hint = ("the positions run on through the second half. TLM resets them, so the first word of the "
                        "translation has the same position (1) as the first word of the sentence.")
            elif positions[len(case[0]) + 2] == 0:
                hint = ("the second half starts at 0, the position of [CLS]; its first word should take position 1, "
                        "like the first half's first word.")
            else:
                hint = ""
            r.fail(f"{_describe(case)}: expected {ref['position_ids'].tolist()}, got {positions.tolist()}. {hint}")

    @r.rule("language_ids: the first language on [CLS] first [SEP], the second language on second [SEP]")
    def _():
        for case, value, ref in zip(cases, got, want):
            languages = value[2].long()
            if torch.equal(languages, ref["language_ids"]):
                continue
            n = len(case[0])
            hint = ("the [SEP] that closes the first half belongs to the first half."
                    if languages[n + 1] == case[3] else "")
            r.fail(f"{_describe(case)}: expected {ref['language_ids'].tolist()}, got {languages.tolist()}. {hint}")

    @r.rule("a chosen [CLS] or [SEP] is refused with ValueError (special tokens are never masked)")
    def _():
        must_raise_value_error(
            r, lambda: fn([11, 12], [21], ZH, EN, [3]), "my_tlm_example([11, 12], [21], zh, en, chosen=[3])",
            "that position 3 is a [SEP], which is never masked",
            "masking a [SEP] would hide where one sentence ends and its translation begins")


# --- the translation-ranking loss ----------------------------------------------------------------------------

@register("ranking_loss", 8, "translation ranking with in-batch negatives, both ways",
          "my_ranking_loss(u (B, H), v (B, H), scale) -> scalar loss")
def check_ranking_loss(fn, r: Report) -> None:
    generator = torch.Generator().manual_seed(8)
    u = torch.randn(6, 5, generator=generator)
    v = u + 0.7 * torch.randn(6, 5, generator=generator)
    v[2] *= 9.0  # a long vector: only cosine (not the dot product) ignores its length
    scale = 20.0
    got = r.call(fn, u.clone(), v.clone(), scale)

    @r.rule("returns one number, a tensor (so that .backward() works)", required=True)
    def _():
        scalar(got, r)

    @r.rule("equals ½ [CE(S, diagonal) + CE(Sᵀ, diagonal)] with S = scale · cos(u_i, v_j)")
    def _():
        want = float(ranking_loss(u, v, scale)[0])
        value = float(scalar(got, r))
        if close(value, want, rel=1e-4):
            return
        target = torch.arange(6)
        cos = F.normalize(u, dim=-1) @ F.normalize(v, dim=-1).T  # (B, B)
        dot = u @ v.T
        hint = diagnose(value, {
            "only one direction: also score each English side against every Chinese side (Sᵀ) and average the two":
                F.cross_entropy(scale * cos, target),
            "the scores are dot products: normalise u and v first, so a vector's length does not count":
                0.5 * (F.cross_entropy(scale * dot, target) + F.cross_entropy(scale * dot.T, target)),
            "the scale is missing: cosines only span [-1, 1], multiply them by scale before the softmax":
                0.5 * (F.cross_entropy(cos, target) + F.cross_entropy(cos.T, target)),
        }) or "compare your score matrix with scale · cos(u_i, v_j) and the targets 0, 1, …, B − 1"
        r.fail(f"expected {want:.5f}, got {value:.5f}: {hint}")
