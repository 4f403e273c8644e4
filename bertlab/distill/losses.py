"""Distillation losses, one small function per formula (DistilBERT, Sanh et al. 2019; TinyBERT, Jiao et al. 2020).

Symbols: S = student, T = teacher; B batch, T_len sequence length, H width, A heads, V vocabulary.
``mask`` is always the batch's ``attention_mask`` (B, T_len): 1 = real token, 0 = padding; ``None`` = no padding.
Every loss that looks at token positions averages over real tokens only, so padding never contributes
(and a batch's loss does not depend on how much padding it carries).

The teacher's tensors are detached here: the teacher only ever supplies targets.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _real(mask: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    """(B, T_len) float mask of real tokens (all ones when ``mask`` is None)."""
    if mask is None:
        return torch.ones(like.shape[:2], dtype=like.dtype, device=like.device)
    if mask.shape != like.shape[:2]:
        raise ValueError(f"attention_mask has shape {tuple(mask.shape)} but the tensors are "
                         f"{tuple(like.shape)}: expected (batch, sequence) = {tuple(like.shape[:2])}")
    return mask.to(like.dtype)


def _check_same_shape(s: torch.Tensor, t: torch.Tensor, what: str) -> None:
    if s.shape != t.shape:
        raise ValueError(f"{what}: student shape {tuple(s.shape)} differs from teacher shape {tuple(t.shape)}"
                         + (" (project the student first: widths differ)" if s.shape[:-1] == t.shape[:-1] else ""))


# --- outputs: soft targets (Hinton et al. 2015; DistilBERT §2; TinyBERT §3.1 Eq. 10) -------------------------

def soft_cross_entropy(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0,
                       scale_by_t2: bool = False, subtract_teacher_entropy: bool = False) -> torch.Tensor:
    """Soft cross-entropy against the teacher's softened distribution, averaged over rows.

        p_T = softmax(z_T / t),   L = mean_rows( − Σ_v p_T[v] · log_softmax(z_S / t)[v] )   (× t² if scale_by_t2)

    Logits are (..., V); every leading position is one row (pass only the rows that count, e.g. real tokens).
    TinyBERT's prediction loss (§3.1, Eq. 10) is this with t = 1. DistilBERT (§2) uses temperature T for
    both softmaxes and multiplies by T² so the gradient keeps its size as T grows (Hinton et al. 2015 §2).

    ``subtract_teacher_entropy=True`` returns KL(p_T ‖ p_S) = L − H(p_T) instead: the same gradient for the
    student (H(p_T) does not depend on it), but 0 when the student matches the teacher, which makes a
    logged value readable. DistilBERT's code computes this KL (``nn.KLDivLoss``).
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    _check_same_shape(student_logits, teacher_logits, "soft_cross_entropy")
    V = student_logits.shape[-1]
    log_p_s = F.log_softmax(student_logits.float().reshape(-1, V) / temperature, dim=-1)  # (rows, V)
    log_p_t = F.log_softmax(teacher_logits.detach().float().reshape(-1, V) / temperature, dim=-1)
    p_t = log_p_t.exp()
    if log_p_s.shape[0] == 0:
        return student_logits.sum() * 0.0  # no rows: a zero that keeps the graph
    per_row = -(p_t * log_p_s).sum(-1)  # (rows,)
    if subtract_teacher_entropy:
        per_row = per_row + (p_t * log_p_t).sum(-1)  # − H(p_T): now KL(p_T ‖ p_S) ≥ 0
    loss = per_row.mean()
    return loss * temperature ** 2 if scale_by_t2 else loss


# --- hidden states -------------------------------------------------------------------------------------------

def cosine_hidden_loss(h_s: torch.Tensor, h_t: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """DistilBERT's cosine loss (§2): L_cos = mean over real tokens of (1 − cos(h_S, h_T)).

    h_s, h_t (B, T_len, H), same width (DistilBERT keeps the teacher's width). It aligns the *directions*
    of the student's and teacher's hidden-state vectors; the official code applies it to the last layer.
    """
    _check_same_shape(h_s, h_t, "cosine_hidden_loss")
    real = _real(mask, h_s)  # (B, T_len)
    cos = F.cosine_similarity(h_s.float(), h_t.detach().float(), dim=-1)  # (B, T_len)
    return ((1 - cos) * real).sum() / real.sum().clamp(min=1)


def masked_mse(x: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """MSE over real tokens: Σ_{b,t real} ‖x − target‖² / (#real tokens · H), x and target (B, T_len, H)."""
    _check_same_shape(x, target, "masked_mse")
    real = _real(mask, x)
    sq = (x.float() - target.detach().float()).pow(2).sum(-1)  # (B, T_len)
    return (sq * real).sum() / (real.sum().clamp(min=1) * x.shape[-1])


def embedding_loss(e_s: torch.Tensor, e_t: torch.Tensor, mask: torch.Tensor | None = None,
                   W_e: torch.nn.Module | None = None) -> torch.Tensor:  # noqa: N803 - the paper's symbol
    """TinyBERT's embedding loss (§3.1, Eq. 9): L_emb = MSE(E_S W_e, E_T), over real tokens.

    e_s (B, T_len, H_S), e_t (B, T_len, H_T): the embedding layers' outputs (``hidden_states[0]``, i.e. after
    ALBERT's E→H projection when factorised). ``W_e`` maps H_S → H_T (None = identity, equal widths).
    """
    return masked_mse(W_e(e_s) if W_e is not None else e_s, e_t, mask)


def hidden_loss(h_s: torch.Tensor, h_t: torch.Tensor, mask: torch.Tensor | None = None,
                W_h: torch.nn.Module | None = None) -> torch.Tensor:  # noqa: N803 - the paper's symbol
    """TinyBERT's hidden-state loss (§3.1, Eq. 8): L_hidn = MSE(H_S W_h, H_T), over real tokens.

    h_s (B, T_len, H_S) is student layer m's output, h_t (B, T_len, H_T) teacher layer g(m)'s; ``W_h`` maps
    H_S → H_T (None = identity). Padding positions are left out: their vectors carry no meaning to copy.
    """
    return masked_mse(W_h(h_s) if W_h is not None else h_s, h_t, mask)


# --- attention -----------------------------------------------------------------------------------------------

def check_head_counts(student_heads: int, teacher_heads: int) -> int:
    """How many teacher heads one student head learns from; raise ValueError for impossible pairs.

    Equal counts: head i ← head i (TinyBERT's setting, §3.1: TinyBERT4 keeps 12 heads at H = 312).
    A_T a multiple of A_S: student head i ← the mean of teacher heads i·k … i·k + k − 1, k = A_T / A_S.
    Anything else has no natural pairing, so it is refused.
    """
    if teacher_heads == student_heads or (teacher_heads > student_heads and teacher_heads % student_heads == 0):
        return teacher_heads // student_heads
    ok = sorted(d for d in range(1, teacher_heads + 1) if teacher_heads % d == 0)
    raise ValueError(
        f"cannot match attention heads: the student has {student_heads} heads and the teacher {teacher_heads}. "
        f"The attention loss pairs each student head with one teacher head or with the mean of a group of "
        f"teacher heads, so the teacher's head count must equal or be a multiple of the student's: "
        f"give the student one of {ok} heads (its hidden_size must divide by it), or set the attention "
        f"loss weight to 0")


def match_heads(teacher_attn: torch.Tensor, student_heads: int) -> torch.Tensor:
    """Teacher maps (B, A_T, T, T) → (B, A_S, T, T) by averaging consecutive groups of A_T / A_S heads."""
    B, A_T, T, _ = teacher_attn.shape
    k = check_head_counts(student_heads, A_T)
    if k == 1:
        return teacher_attn
    return teacher_attn.reshape(B, student_heads, k, T, T).mean(2)  # (B, A_S, T, T)


def attention_loss(scores_s: torch.Tensor, scores_t: torch.Tensor, attention_mask: torch.Tensor | None = None,
                   use: str = "scores") -> torch.Tensor:
    """TinyBERT's attention loss (§3.1, Eq. 7): L_attn = (1/h) Σ_i MSE(A_i^S, A_i^T), over the h heads.

    scores_s (B, A_S, T, T) and scores_t (B, A_T, T, T) for one mapped layer pair; teacher heads are
    averaged in groups when A_T = k·A_S (see ``check_head_counts``). ``use="scores"`` (the paper's choice,
    faster to converge): the unnormalised QK^T/√d before softmax, as ``attention_scores``; ``use="probs"``:
    the softmax probabilities (``attentions``), the option the paper compared against.

    Padding: only pairs (query i, key j) where both i and j are real tokens count, and the mean is over
    those pairs, Σ_{b,h,i,j} m_i m_j (A^S − A^T)² / (h · Σ_{b,i,j} m_i m_j). TinyBERT's code instead sets
    masked entries (keys, via the −10000 mask) to 0 in both maps and averages over every entry, so
    padding queries still count and zeros dilute the mean with the amount of padding. Excluding padded
    keys and queries makes the loss exactly "how far apart are the maps over the real text": the same
    for a sentence whatever batch it is padded in, and untouched by whatever the model computes at
    padding (bertlab's scores are taken before the mask, so they are finite but meaningless there).
    """
    if use not in ("scores", "probs"):
        raise ValueError(f"attention_loss use must be 'scores' or 'probs', got {use!r}")
    if scores_s.dim() != 4 or scores_t.dim() != 4:
        raise ValueError(f"attention maps must be (batch, heads, seq, seq); got {tuple(scores_s.shape)} and "
                         f"{tuple(scores_t.shape)}")
    if scores_s.shape[2:] != scores_t.shape[2:] or scores_s.shape[0] != scores_t.shape[0]:
        raise ValueError(f"student maps {tuple(scores_s.shape)} and teacher maps {tuple(scores_t.shape)} differ "
                         f"in batch or sequence length: both models must read the same tokenized batch")
    target = match_heads(scores_t.detach().float(), scores_s.shape[1])  # (B, A_S, T, T)
    B, A, T, _ = scores_s.shape
    real = _real(attention_mask, scores_s[:, 0])  # (B, T)
    pairs = real[:, :, None] * real[:, None, :]  # (B, T, T): 1 where query and key are both real
    # zero both maps where query or key is padding (masked_fill, not multiplication, so that even an
    # inf/nan there could not leak into the loss or its gradient as 0·inf)
    padded = pairs[:, None] == 0  # (B, 1, T, T)
    s = scores_s.float().masked_fill(padded, 0.0)
    t = target.masked_fill(padded, 0.0)
    return (s - t).pow(2).sum() / (A * pairs.sum().clamp(min=1))


__all__ = ["soft_cross_entropy", "cosine_hidden_loss", "masked_mse", "embedding_loss", "hidden_loss",
           "check_head_counts", "match_heads", "attention_loss"]
