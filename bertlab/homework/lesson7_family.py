"""Lesson 7 checks: UNILM's three self-attention masks (Dong et al. 2019 §2.2), MASS's encoder / decoder inputs
(Song et al. 2019 §2.1), and magnitude pruning (Han et al. 2015 §3)."""

from __future__ import annotations

import torch

from bertlab.config import IGNORE_INDEX
from bertlab.data.tokenizer import CLS_ID, MASK_ID, SEP_ID
from bertlab.family.mass import mass_inputs
from bertlab.family.unilm import MASK_KINDS, unilm_mask
from bertlab.homework.grading import Report, hidden_generator, register
from bertlab.homework.helpers import as_tensor, must_raise_value_error

# --- UNILM masks -----------------------------------------------------------------------------------------------


def _unilm_batch():
    """Three padded pairs ``[CLS] A [SEP] B [SEP] [PAD]…``: token_type_ids (B, T) and attention_mask (B, T)."""
    T = 11
    rows = [(4, 4), (3, 2), (2, 6)]  # (len A, len B) per row, without specials; row 2 has no padding
    types = torch.zeros(len(rows), T, dtype=torch.long)
    mask = torch.zeros(len(rows), T, dtype=torch.long)
    for b, (a, n) in enumerate(rows):
        source = 1 + a + 1  # [CLS] A [SEP]
        target = n + 1  # B [SEP]
        mask[b, :source + target] = 1
        types[b, source:source + target] = 1
    return types, mask


def _reference_masks(types: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    return {kind: unilm_mask(kind, mask, types) for kind in MASK_KINDS}


def _as_bool_mask(value, r: Report, shape: tuple) -> torch.Tensor:
    value = as_tensor(value, r, "the mask", shape=shape)
    if value.dtype != torch.bool:
        if not bool(((value == 0) | (value == 1)).all()):
            r.fail(f"the mask should be bool (True = may attend), got dtype {value.dtype} with values other than "
                   f"0 and 1")
        value = value.bool()
    return value


def _unilm_hint(kind: str, got: torch.Tensor, want: torch.Tensor, types, mask) -> str:
    """What went wrong, judged on the real query rows only (a padding row is never read)."""
    real = mask.bool()
    rows = real[:, :, None].expand_as(want)  # (B, T, T): query i is a real token
    keys = real[:, None, :].expand_as(want)
    source, target = real & (types == 0), real & (types != 0)
    src_q, tgt_q = source[:, :, None].expand_as(want), target[:, :, None].expand_as(want)
    src_k, tgt_k = source[:, None, :].expand_as(want), target[:, None, :].expand_as(want)
    T = want.shape[-1]
    eye = torch.eye(T, dtype=torch.bool).expand_as(want)
    future = torch.ones(T, T, dtype=torch.bool).triu(1).expand_as(want)  # key j > query i
    if (got & rows & ~keys).any():
        return ("a real token attends a padding key: [PAD] is no word, it must never be attended (and with "
                "padding a sentence's vectors would change with its neighbours in the batch). Combine (&) every row "
                "with attention_mask[:, None, :].")
    if (rows & keys & eye & ~got).any():
        return ("the diagonal is missing: a token always attends itself (in UNILM a [MASK] at position i "
                "needs its own position and segment to know where it is predicting).")
    if kind == "seq2seq":
        if (got & src_q & tgt_k).any():
            return ("a source token (segment 0) attends the target (segment 1): the source must be encoded "
                    "without the answer, or the target could be copied from it.")
        if (~got & tgt_q & src_k).any():
            return ("a target token cannot see the source: the target is generated *from* the source, so every "
                    "target row sees the whole source (plus its own left context).")
        if (got & tgt_q & tgt_k & future).any():
            return "a target token sees target tokens to its right: within the target the mask is causal (j ≤ i)."
    if kind == "left-to-right" and (got & rows & keys & future).any():
        return "token i sees tokens to its right: left-to-right means key j ≤ query i (a lower triangle)."
    if kind == "left-to-right" and (rows & keys & ~future & ~got).any():
        return "token i cannot see some tokens to its left: key j ≤ query i are all visible."
    if kind == "bidirectional" and (rows & keys & ~got).any():
        return "bidirectional means every real token sees every real token (BERT)."
    return ""


@register("unilm_mask", 7, "UNILM's three self-attention masks",
          "my_unilm_mask(kind, token_type_ids (B, T), attention_mask (B, T)) -> (B, T, T) bool")
def check_unilm_mask(fn, r: Report) -> None:
    types, mask = _unilm_batch()
    B, T = types.shape
    want = _reference_masks(types, mask)
    got = {kind: r.call(fn, kind, types.clone(), mask.clone()) for kind in want}
    real_rows = mask.bool()[:, :, None].expand(B, T, T)  # padding query rows are never read: not checked

    @r.rule("returns a (B, T, T) bool tensor for every kind (True = query row i may attend key column j)",
            required=True)
    def _():
        for kind in got:
            got[kind] = _as_bool_mask(got[kind], r, (B, T, T))

    for kind, title in (("bidirectional", "bidirectional: every real token sees every real token, never [PAD]"),
                        ("left-to-right", "left-to-right: token i sees tokens j ≤ i (itself too), never [PAD]"),
                        ("seq2seq", "seq2seq: the source sees the source; the target sees the source and "
                                    "its own left context")):
        @r.rule(title)
        def _(kind=kind):
            wrong = (got[kind] != want[kind]) & real_rows
            if not wrong.any():
                return
            b, i, j = (int(x) for x in wrong.nonzero()[0])
            segment = lambda t: "source" if int(types[b, t]) == 0 else "target"  # noqa: E731
            what = "[PAD]" if not mask[b, j] else f"{segment(j)} token {j}"
            hint = _unilm_hint(kind, got[kind], want[kind], types, mask)
            r.fail(f"row {b} ({int(mask[b].sum())} real tokens, target from position "
                   f"{int((types[b] == 1).int().argmax())}): query {i} ({segment(i)}) → key {j} ({what}) should be "
                   f"{bool(want[kind][b, i, j])}, got {bool(got[kind][b, i, j])}. " + hint)

    @r.rule("rejects an unknown kind with ValueError")
    def _():
        must_raise_value_error(r, lambda: fn("causal", types.clone(), mask.clone()), "my_unilm_mask('causal', …)",
                               "naming the three kinds, 'bidirectional', 'left-to-right' and 'seq2seq'",
                               "a typo would silently train with some other mask")


# --- MASS inputs -------------------------------------------------------------------------------------------------


def _sentences():
    """(ids (T,), start, k) cases: ``[CLS] x… [SEP]`` with distinct word ids, spans in the middle, at the ends,
    of one token and of the whole sentence."""
    ids = torch.tensor([CLS_ID, *range(101, 111), SEP_ID])  # 10 real tokens at positions 1…10
    return [(ids, 3, 4), (ids, 1, 1), (ids, 1, 10), (ids, 7, 4), (ids, 5, 2)]


def _mass_reference(ids: torch.Tensor, start: int, k: int):
    out = mass_inputs(ids[None], torch.tensor([start]), torch.tensor([start + k]))
    return out["input_ids"][0], out["decoder_input_ids"][0], out["labels"][0]


@register("mass_inputs", 7, "MASS: the encoder input, the decoder input and the labels of one span",
          "my_mass_inputs(ids (T,), start, k) -> (encoder_input (T,), decoder_input (k,), labels (k,))")
def check_mass_inputs(fn, r: Report) -> None:
    cases = _sentences()
    got = [r.call(fn, ids.clone(), start, k) for ids, start, k in cases]

    @r.rule("returns three tensors: encoder input (T,), decoder input (k,), labels (k,)", required=True)
    def _():
        for (ids, start, k), value in zip(cases, got):
            if not isinstance(value, (tuple, list)) or len(value) != 3:
                r.fail(f"return a tuple (encoder_input, decoder_input, labels); got {type(value).__name__}")
            as_tensor(value[0], r, "the encoder input", shape=tuple(ids.shape), dtype_kind="int")
            as_tensor(value[1], r, f"the decoder input (span of k = {k})", shape=(k,), dtype_kind="int")
            as_tensor(value[2], r, f"the labels (span of k = {k})", shape=(k,), dtype_kind="int")

    def describe(ids, start, k) -> str:
        return f"sentence {ids.tolist()}, start {start}, k {k}"

    @r.rule("encoder input: the span [start, start + k) is [MASK], every other token unchanged")
    def _():
        for (ids, start, k), (enc, _, _) in zip(cases, got):
            want = _mass_reference(ids, start, k)[0]
            if torch.equal(enc.long(), want):
                continue
            span = torch.zeros_like(ids, dtype=torch.bool)
            span[start:start + k] = True
            if torch.equal(enc.long(), ids):
                hint = "the span is still visible to the encoder: the decoder's answer would be in its input."
            elif (enc[span] != MASK_ID).any() and (enc == MASK_ID).sum() == k:
                hint = ("the [MASK]s are in the wrong place: positions start … start + k − 1 (start counts [CLS] "
                        "as 0).")
            elif (enc[span] != MASK_ID).any():
                hint = "some span tokens are still visible to the encoder."
            else:
                hint = "tokens outside the span changed: only the span is masked."
            r.fail(f"{describe(ids, start, k)}: expected {want.tolist()}, got {enc.tolist()}: {hint}")

    @r.rule("labels: the k span tokens, in order")
    def _():
        for (ids, start, k), (_, _, labels) in zip(cases, got):
            want = ids[start:start + k]
            if torch.equal(labels.long(), want):
                continue
            hint = ("that is one token too far to the right: the span starts at ids[start]."
                    if start + k < len(ids) and torch.equal(labels.long(), ids[start + 1:start + k + 1]) else
                    "-100 is for padding of a batch; one sentence's labels are just its span tokens."
                    if (labels == IGNORE_INDEX).any() else "")
            r.fail(f"{describe(ids, start, k)}: expected {want.tolist()}, got {labels.tolist()}. {hint}")

    @r.rule("decoder input: the span shifted right, [MASK] first (the decoder never sees the token it predicts)")
    def _():
        for (ids, start, k), (_, dec, labels) in zip(cases, got):
            want = _mass_reference(ids, start, k)[1]
            if torch.equal(dec.long(), want):
                continue
            span = ids[start:start + k]
            if torch.equal(dec.long(), span):
                hint = ("the decoder input equals the labels: at step t the decoder would read the token it must "
                        "predict. Shift right: [MASK], then the span without its last token.")
            elif k > 1 and torch.equal(dec.long(), ids[start - 1:start + k - 1]):
                hint = ("the first decoder input is the token before the span, which the encoder sees anyway; MASS "
                        "starts the decoder with [MASK] (§2.1: the decoder gets only the span's own tokens).")
            elif torch.equal(dec.long(), torch.full_like(span, MASK_ID)):
                hint = ("all [MASK]: the decoder then has no left context at all; feed it the span's previous "
                        "tokens (teacher forcing).")
            else:
                hint = "build [MASK] followed by span[:-1]."
            r.fail(f"{describe(ids, start, k)}: expected {want.tolist()}, got {dec.tolist()}: {hint}")

    @r.rule("does not change the ids passed in")
    def _():
        ids, start, k = cases[0]
        given = ids.clone()
        r.call(fn, given, start, k)
        if not torch.equal(given, ids):
            r.fail("after the call the caller's ids have [MASK]s in them: the labels and the next span rule read "
                   "them again. Work on a copy (ids.clone()).")


# --- magnitude pruning --------------------------------------------------------------------------------------------


def _weight(seed: int = 3, shape=(12, 10)) -> torch.Tensor:
    g = hidden_generator(seed)
    w = torch.randn(*shape, generator=g)
    w[0] *= 0.1  # row 0 is small everywhere: a global ranking prunes most of it, a per-row one only its share
    w[5] *= 3.0
    return w


def _pruned(w: torch.Tensor, n: int) -> torch.Tensor:
    out = w.clone()
    if n:
        out.view(-1)[w.abs().view(-1).argsort()[:n]] = 0.0
    return out


@register("magnitude_prune", 7, "unstructured magnitude pruning: zero the smallest |w| over the whole matrix",
          "my_magnitude_prune(weight (out, in), sparsity) -> pruned copy (out, in)")
def check_magnitude_prune(fn, r: Report) -> None:
    w = _weight()
    n = w.numel()
    sparsities = (0.33, 0.5, 0.9)  # 0.33 · 120 = 39.6: round → 40 zeros, int() → 39
    got = {s: r.call(fn, w.clone(), s) for s in sparsities}

    @r.rule("returns a tensor shaped like the weight", required=True)
    def _():
        for s, value in got.items():
            got[s] = as_tensor(value, r, "the pruned weight", shape=tuple(w.shape)).detach().float()

    @r.rule("zeroes exactly round(sparsity × number of weights) weights")
    def _():
        wrong = []
        for s, value in got.items():
            zeros, want = int((value == 0).sum()), round(s * n)
            if zeros == want:
                continue
            hint = (" That is int(sparsity × n), which rounds down: round it." if zeros == int(s * n) else
                    " One off: if you compare with the k-th smallest |w|, use <= (the k-th weight itself is pruned)."
                    if abs(zeros - want) == 1 else "")
            wrong.append(f"sparsity {s} of {n} weights: expected {want} zeros, got {zeros}.{hint}")
        if wrong:
            r.fail("\n".join(wrong))

    @r.rule("the zeros are the smallest |w| of the whole matrix (one global ranking), the rest unchanged")
    def _():
        for s, value in got.items():
            want = _pruned(w, round(s * n))
            if torch.equal(value, want):
                continue
            k = round(s * w.shape[1])
            per_row = w.clone()
            for row in per_row:
                row[row.abs().argsort()[:k]] = 0.0
            largest = w.clone()
            largest.view(-1)[w.abs().view(-1).argsort(descending=True)[:round(s * n)]] = 0.0
            signed = w.clone()
            signed.view(-1)[w.view(-1).argsort()[:round(s * n)]] = 0.0
            hint = ("you pruned the same share of every row: Han et al. rank all weights together, so a row of "
                    "small weights (row 0 here) loses more than a row of large ones." if torch.equal(value, per_row)
                    else "you zeroed the largest weights and kept the smallest: magnitude pruning keeps the large ones."
                    if torch.equal(value, largest) else
                    "you ranked by the signed value, so large negative weights were pruned: rank by |w|."
                    if torch.equal(value, signed) else
                    "the weights you kept changed: keep them exactly (no rescaling)."
                    if torch.equal(value == 0, want == 0) else "")
            wrong = (value == 0) != (want == 0)
            r.fail(f"sparsity {s}: {int(wrong.sum())} positions differ from zeroing the {round(s * n)} smallest |w| "
                   f"(row 0 should have {int((want[0] == 0).sum())} zeros, got {int((value[0] == 0).sum())}). {hint}")

    @r.rule("sparsity 0 returns the weight unchanged, and the input is never modified")
    def _():
        given = w.clone()
        r.call(fn, given, 0.5)
        if not torch.equal(given, w):
            r.fail("my_magnitude_prune changed the tensor passed in: return a pruned copy (w.clone()), the "
                   "original model's weights must survive for the next sparsity.")
        value = as_tensor(r.call(fn, w.clone(), 0.0), r, "the pruned weight", shape=tuple(w.shape))
        if not torch.equal(value.detach().float(), w):
            r.fail(f"sparsity 0 should change nothing, got {int((value == 0).sum())} zeros.")
