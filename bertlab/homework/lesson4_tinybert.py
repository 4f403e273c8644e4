"""Lesson 4 checks: TinyBERT's layer mapping and its distillation losses (TinyBERT §3.1, Eqs. 7–10)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from bertlab.distill.losses import attention_loss
from bertlab.homework.grading import Report, hidden_cases, hidden_generator, register
from bertlab.homework.helpers import close, diagnose, must_raise_value_error, scalar


@register("layer_map", 4, "TinyBERT's uniform layer mapping g(m) = m·N/M",
          "my_uniform_layer_map(M, N) -> [g(0), g(1), ..., g(M)]")
def check_layer_map(fn, r: Report) -> None:
    cases = hidden_cases([(4, 12), (2, 4), (1, 6), (3, 12), (6, 12), (4, 4)],
                         lambda g: (lambda M: (M, M * g.randrange(1, 5)))(g.randrange(2, 9)))
    got = {case: r.call(fn, *case) for case in cases}

    @r.rule("returns a list of M + 1 whole numbers", required=True)
    def _():
        for (M, N), value in got.items():
            try:
                value = [int(x) for x in value]
            except (TypeError, ValueError):
                r.fail(f"my_uniform_layer_map({M}, {N}) returned {value!r:.60}; expected a list of teacher layers")
            if len(value) != M + 1:
                hint = " Entry 0 is the embedding layer: g(0) = 0 comes first." if len(value) == M else ""
                r.fail(f"my_uniform_layer_map({M}, {N}) returned {len(value)} entries {value}; a student with "
                       f"{M} layers needs M + 1 = {M + 1}: g(0) for the embeddings, then g(1) … g(M).{hint}")

    @r.rule("g(m) = m·N/M: [0, 3, 6, 9, 12] for M = 4, N = 12")
    def _():
        for (M, N), value in got.items():
            want = [m * N // M for m in range(M + 1)]
            value = [int(x) for x in value]
            if value != want:
                hint = ""
                if value == [max(0, g - 1) for g in want]:
                    hint = (" You counted teacher layers from 0; here layer 0 is the embeddings and Transformer "
                            "layers are 1 … N, so the last student layer learns from teacher layer N.")
                elif value[-1] != N:
                    hint = f" The last student layer must learn from the last teacher layer, N = {N}."
                r.fail(f"for M={M}, N={N}: expected {want}, got {value}.{hint}")

    @r.rule("raises ValueError when M does not divide N, or M > N")
    def _():
        for M, N, why in ((5, 12, "12 teacher layers cannot be split evenly into 5 student layers"),
                          (4, 2, "a 4-layer student cannot learn from a 2-layer teacher with one teacher layer each")):
            must_raise_value_error(r, lambda: fn(M, N), f"my_uniform_layer_map({M}, {N})",
                                   "with a message saying why", why)


def _attention_case(seed: int = 0):
    g = hidden_generator(seed)
    B, A, T = 3, 4, 7
    s = torch.randn(B, A, T, T, generator=g) * 3
    t = torch.randn(B, A, T, T, generator=g) * 3
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, 5:] = 0  # row 1 has two padding tokens
    mask[2, 3:] = 0  # row 2 has four
    # give the padded entries wild values, as real scores taken before the mask would have
    padded = (mask[:, None, :, None] * mask[:, None, None, :]) == 0
    s = s.masked_fill(padded, 50.0)
    t = t.masked_fill(padded, -50.0)
    return s, t, mask


@register("attention_loss", 4, "TinyBERT's attention loss on pre-softmax scores",
          "my_attention_loss(scores_s (B, A, T, T), scores_t (B, A, T, T), attention_mask (B, T)) -> scalar")
def check_attention_loss(fn, r: Report) -> None:
    s, t, mask = _attention_case()
    s_in = s.clone().requires_grad_(True)
    t_in = t.clone().requires_grad_(True)
    out = r.call(fn, s_in, t_in, mask.clone())
    expected = float(attention_loss(s, t, mask, use="scores"))
    holder = {}

    @r.rule("returns one number as a tensor", required=True)
    def _():
        holder["loss"] = scalar(out, r)

    @r.rule("(1/h) Σ_heads MSE over the (query, key) pairs where both tokens are real, on the scores")
    def _():
        value = float(holder["loss"].detach())
        if close(value, expected, rel=1e-4):
            return
        real = mask.float()
        pairs = (real[:, :, None] * real[:, None, :])[:, None]  # (B, 1, T, T)
        A = s.shape[1]
        sq = (s - t).pow(2)
        neg = torch.finfo(s.dtype).min
        p_s_masked = s.masked_fill(pairs == 0, neg).softmax(-1)
        p_t_masked = t.masked_fill(pairs == 0, neg).softmax(-1)
        candidates = {
            "your value is the MSE of the softmax PROBABILITIES: TinyBERT's attention loss compares the unnormalised "
            "scores, before softmax (the paper found them to converge faster). Do not apply softmax.":
                float(attention_loss(p_s_masked, p_t_masked, mask, use="probs")),
            "your value is the MSE of softmax probabilities (over all keys, padding included): TinyBERT's attention "
            "loss compares the scores before softmax. Do not apply softmax.":
                float(attention_loss(s.softmax(-1), t.softmax(-1), mask, use="probs")),
            "your value averages over every entry, padding included: only pairs where BOTH the query and the key "
            "are real tokens count (use attention_mask for queries and keys).": float(F.mse_loss(s, t)),
            "your value zeroes padded pairs but still divides by every entry: divide by the number of real "
            "(query, key) pairs times the number of heads.": float((sq * pairs).sum() / sq.numel()),
            "your value masks only the keys (columns): padding queries (rows) must be left out too.":
                float((sq * real[:, None, None, :]).sum() / (A * real[:, None, :].expand(-1, s.shape[2], -1).sum())),
            "your value sums over the heads: the loss is (1/h) Σ over heads, a mean.": expected * A,
        }
        hint = diagnose(value, candidates) or ("square the score differences, keep only entries where query and "
                                               "key are both real, sum, and divide by (heads × real pairs).")
        r.fail(f"got {value:.6f}, expected {expected:.6f}: {hint}")

    @r.rule("the student's scores get a gradient; the teacher's do not (it only supplies targets)")
    def _():
        loss = holder["loss"]
        if not loss.requires_grad:
            r.fail("the loss has no gradient: compute it from scores_s with torch operations (no .item())")
        loss.backward()
        if s_in.grad is None or float(s_in.grad.abs().sum()) == 0:
            r.fail("scores_s received no gradient")
        if t_in.grad is not None and float(t_in.grad.abs().sum()) > 0:
            r.fail("the teacher's scores received a gradient: use scores_t.detach() — the teacher is frozen, "
                   "and its targets must not move toward the student")

    @r.rule("is 0 when the student copies the teacher on the real tokens")
    def _():
        copy = t.clone()
        real = (mask[:, None, :, None] * mask[:, None, None, :]) == 1
        copy = torch.where(real, copy, torch.zeros_like(copy))  # differs from t only at padding
        value = float(scalar(r.call(fn, copy, t.clone(), mask.clone()), r))
        if abs(value) > 1e-6:
            r.fail(f"with student scores equal to the teacher's wherever query and key are real, the loss is "
                   f"{value:.4g}: what models compute at padding must not count")


@register("hidden_loss", 4, "TinyBERT's hidden-state loss with a width projection",
          "my_hidden_loss(h_s (B, T, H_S), h_t (B, T, H_T), W_h (H_S, H_T), attention_mask (B, T)) -> scalar")
def check_hidden_loss(fn, r: Report) -> None:
    g = hidden_generator(1)
    B, T, H_S, H_T = 3, 6, 8, 12
    h_s, h_t = torch.randn(B, T, H_S, generator=g), torch.randn(B, T, H_T, generator=g)
    W_h = torch.randn(H_S, H_T, generator=g) * 0.3  # noqa: N806
    mask = torch.ones(B, T, dtype=torch.long)
    mask[0, 4:] = 0
    mask[2, 2:] = 0
    given_s, given_w = h_s.clone().requires_grad_(True), W_h.clone().requires_grad_(True)
    given_t = h_t.clone().requires_grad_(True)  # as a teacher's states would, were it not run under no_grad
    out = r.call(fn, given_s, given_t, given_w, mask.clone())
    real = mask.bool()
    sq = ((h_s @ W_h) - h_t).pow(2)  # (B, T, H_T)
    expected = float(sq[real].sum() / (real.sum() * H_T))
    holder = {}

    @r.rule("returns one number as a tensor", required=True)
    def _():
        holder["loss"] = scalar(out, r)

    @r.rule("MSE(H_S W_h, H_T) averaged over the real tokens and the H_T features")
    def _():
        value = float(holder["loss"].detach())
        if close(value, expected, rel=1e-4):
            return
        candidates = {
            "your value averages over padding positions too: keep only real tokens (attention_mask == 1).":
                float(sq.mean()),
            "your value divides by H_S (the student's width): the squared errors live in the teacher's "
            "width H_T after the projection.": float(sq[real].sum() / (real.sum() * H_S)),
            "your value is a sum over the features, averaged over tokens: divide by H_T as well (a mean over "
            "every number).": float(sq[real].sum() / real.sum()),
            "your value is the SUM of squared errors: divide by (real tokens × H_T).": float(sq[real].sum()),
        }
        hint = diagnose(value, candidates) or "project with h_s @ W_h, subtract h_t, square, average over real tokens and features."
        r.fail(f"got {value:.6f}, expected {expected:.6f}: {hint}")

    @r.rule("the student and W_h get gradients; the teacher's states do not (it only supplies targets)")
    def _():
        loss = holder["loss"]
        if not loss.requires_grad:
            r.fail("the loss has no gradient: compute it with torch operations (no .item())")
        loss.backward()
        if given_s.grad is None or given_w.grad is None:
            r.fail("h_s or W_h received no gradient: W_h is learned together with the student")
        if given_t.grad is not None and float(given_t.grad.abs().sum()) > 0:
            r.fail("the teacher's states h_t received a gradient: use h_t.detach(). The teacher is frozen and only "
                   "supplies targets; a gradient into it would move the targets toward the student")


@register("soft_cross_entropy", 4, "the prediction-layer loss against the teacher's soft targets",
          "my_soft_cross_entropy(student_logits (N, V), teacher_logits (N, V), temperature) -> scalar")
def check_soft_cross_entropy(fn, r: Report) -> None:
    g = hidden_generator(2)
    N, V = 6, 11
    z_s, z_t = torch.randn(N, V, generator=g) * 2, torch.randn(N, V, generator=g) * 2
    results = {}
    teacher = z_t.clone().requires_grad_(True)  # as a teacher's logits would, were it not run under no_grad
    for temp in (1.0, 2.0):
        given = z_s.clone().requires_grad_(True)
        results[temp] = (given, r.call(fn, given, teacher if temp == 1.0 else z_t.clone(), temp))

    def reference(t: float) -> float:
        p_t = F.softmax(z_t / t, -1)
        return float(-(p_t * F.log_softmax(z_s / t, -1)).sum(-1).mean())

    @r.rule("returns one number as a tensor", required=True)
    def _():
        for temp, (_, out) in results.items():
            results[temp] = (results[temp][0], scalar(out, r))

    def compare(t: float):
        value, want = float(results[t][1].detach()), reference(t)
        if close(value, want, rel=1e-4):
            return
        p_t = F.softmax(z_t / t, -1)
        log_s = F.log_softmax(z_s / t, -1)
        entropy = float(-(p_t * F.log_softmax(z_t / t, -1)).sum(-1).mean())
        candidates = {
            "you used the teacher's argmax as a hard label: the point of distillation is the whole softened "
            "distribution softmax(z_T / t) as the target.":
                float(F.cross_entropy(z_s / t, z_t.argmax(-1))),
            f"you multiplied by t² = {t * t:g}: that is DistilBERT's scaling; this exercise asks for the plain soft "
            "cross-entropy (TinyBERT's L_pred).": want * t * t,
            "your value is lower by exactly the teacher's entropy, i.e. KL(p_T‖p_S): same gradient, but the "
            "exercise asks for the cross-entropy −Σ p_T log p_S.": want - entropy,
            "you divided only the student's logits by t: soften BOTH distributions with the same temperature.":
                float(-(F.softmax(z_t, -1) * log_s).sum(-1).mean()),
            "you divided only the teacher's logits by t: soften BOTH distributions with the same temperature.":
                float(-(p_t * F.log_softmax(z_s, -1)).sum(-1).mean()),
            "your value sums over the rows: average over them (one row per masked position).":
                float(-(p_t * log_s).sum()),
            "your value averages over the vocabulary too: sum over the vocabulary, average over rows.":
                float(-(p_t * log_s).mean()),
            "you swapped student and teacher: the TEACHER's probabilities weight the STUDENT's log-probabilities.":
                float(-(F.softmax(z_s / t, -1) * F.log_softmax(z_t / t, -1)).sum(-1).mean()),
        }
        hint = diagnose(value, candidates) or "compute −Σ_v softmax(z_T/t)[v] · log_softmax(z_S/t)[v] per row, then the mean over rows."
        r.fail(f"at temperature {t:g}: got {value:.6f}, expected {want:.6f}: {hint}")

    @r.rule("−mean_rows Σ_v softmax(z_T)[v] · log_softmax(z_S)[v] at temperature 1")
    def _():
        compare(1.0)

    @r.rule("both distributions are softened by the temperature (t = 2)")
    def _():
        compare(2.0)

    @r.rule("the student's logits get a gradient; the teacher's do not (it only supplies targets)")
    def _():
        given, loss = results[1.0]
        if not loss.requires_grad:
            r.fail("the loss has no gradient: compute it with torch operations on student_logits (no .item())")
        loss.backward()
        if given.grad is None:
            r.fail("student_logits received no gradient")
        if teacher.grad is not None and float(teacher.grad.abs().sum()) > 0:
            r.fail("teacher_logits received a gradient: use teacher_logits.detach(). The teacher is frozen; its "
                   "softened probabilities are the targets, which must not move toward the student")
