"""Whole distillation objectives: every loss component of a batch, and their weighted total.

Both functions take a student and a teacher output from ``BertForPreTraining`` on the *same* batch (same
tokenizer, same ``labels``), the batch's ``attention_mask``, and weights; they return a dict of scalar
tensors: ``"loss"`` (the weighted total to back-propagate) and one ``"loss_<name>"`` per component, ready to
be logged to ``metrics.jsonl``. Call the teacher in ``eval()`` mode under ``torch.no_grad()``.

Components with weight 0 are still computed (without gradient) when their inputs are present, so a run
can watch, say, the attention gap it is not training on; with weight 0 and inputs absent they are left out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch

from bertlab.distill.losses import (attention_loss, check_head_counts, cosine_hidden_loss, embedding_loss,
                                    hidden_loss, soft_cross_entropy)
from bertlab.distill.mapping import Projections, validate_layer_map

# TinyBERT (§3.1, Eq. 11): λ = 1 for every layer; the prediction layer is distilled at t = 1 (§4.2).
# "pred" = the masked-LM logits, "pred_nsp" = the sentence-pair (NSP/SOP) logits, off by default.
TINYBERT_WEIGHTS = {"emb": 1.0, "attn": 1.0, "hidn": 1.0, "pred": 1.0, "pred_nsp": 0.0}
# DistilBERT: the official training command (--alpha_ce 5.0 --alpha_mlm 2.0 --alpha_cos 1.0, temperature 2.0).
DISTILBERT_WEIGHTS = {"ce": 5.0, "mlm": 2.0, "cos": 1.0, "pred_nsp": 0.0}


def loss_weights(method: str, weights: Mapping[str, float] | None = None) -> dict[str, float]:
    """The weights ``tinybert_losses`` / ``distilbert_losses`` will use: the defaults updated by ``weights``."""
    if method == "tinybert":
        return _weights(weights, TINYBERT_WEIGHTS, "TinyBERT")
    if method == "distilbert":
        return _weights(weights, DISTILBERT_WEIGHTS, "DistilBERT")
    raise ValueError(f"distillation method must be 'tinybert' or 'distilbert', got {method!r}")


def _weights(given: Mapping[str, float] | None, defaults: dict[str, float], who: str) -> dict[str, float]:
    weights = dict(defaults)
    for name, value in (given or {}).items():
        if name not in defaults:
            raise ValueError(f"unknown {who} loss weight {name!r}; known: {', '.join(defaults)}")
        if value < 0:
            raise ValueError(f"{who} loss weight {name!r} must be >= 0, got {value}")
        weights[name] = float(value)
    return weights


class _Components:
    """Collects components: with gradient when weighted, for logging only when the weight is 0."""

    def __init__(self, weights: dict[str, float]):
        self.weights, self.values, self.total = weights, {}, None

    def add(self, name: str, compute: Callable[[], torch.Tensor], available: bool, needs: str) -> None:
        w = self.weights[name]
        if not available:
            if w > 0:
                raise ValueError(f"loss_{name} has weight {w} but {needs}")
            return
        if w > 0:
            value = compute()
            self.total = value * w if self.total is None else self.total + value * w
        else:
            with torch.no_grad():
                value = compute()
        self.values[f"loss_{name}"] = value

    def result(self, reference: torch.Tensor) -> dict[str, torch.Tensor]:
        total = self.total if self.total is not None else reference.sum() * 0.0
        return {"loss": total, **self.values}


def _prediction_logits(student_out, teacher_out, attention_mask) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Matching rows of MLM logits: every real token ((B,T,V) outputs) or the masked positions ((N,V))."""
    s_all, t_all = student_out.prediction_logits, teacher_out.prediction_logits
    if s_all is not None and t_all is not None:
        if attention_mask is None:
            return s_all.reshape(-1, s_all.shape[-1]), t_all.reshape(-1, t_all.shape[-1])
        real = attention_mask.bool()
        return s_all[real], t_all[real]  # (n_real, V)
    s_m, t_m = student_out.masked_lm_logits, teacher_out.masked_lm_logits
    if s_m is not None and t_m is not None:
        if s_m.shape[0] != t_m.shape[0]:
            raise ValueError(f"student has {s_m.shape[0]} masked positions and teacher {t_m.shape[0]}: "
                             f"call both models with the same labels")
        return s_m, t_m  # (N, V)
    return None


def _sequence_length_check(student_out, teacher_out) -> None:
    s, t = student_out.last_hidden_state, teacher_out.last_hidden_state
    if s is not None and t is not None and s.shape[:2] != t.shape[:2]:
        raise ValueError(f"student batch {tuple(s.shape[:2])} and teacher batch {tuple(t.shape[:2])} differ: "
                         f"both models must read the same tokenized batch (same tokenizer)")


def tinybert_losses(student_out, teacher_out, attention_mask: torch.Tensor | None,
                    layer_map: Sequence[int] | str = "uniform", projections: Projections | None = None,
                    weights: Mapping[str, float] | None = None, attention_on: str = "scores",
                    temperature: float = 1.0, pred_loss: str = "kl") -> dict[str, torch.Tensor]:
    """TinyBERT's layer-to-layer objective (§3.1, Eq. 11): Σ_m λ_m L_layer(S_m, T_g(m)).

    - ``loss_emb`` = MSE(E_S W_e, E_T) on ``hidden_states[0]``;
    - ``loss_attn`` = Σ_{m=1..M} L_attn(student layer m, teacher layer g(m)), on ``attention_scores``
      (``attention_on="scores"``, the paper's choice) or ``attentions`` (``"probs"``);
    - ``loss_hidn`` = Σ_{m=1..M} MSE(H_S^m W_h, H_T^g(m));
    - ``loss_pred`` = soft cross-entropy of the MLM logits at temperature t (``pred_loss="ce"``) or the
      equivalent-gradient KL (``"kl"``, default: 0 when the student matches the teacher);
    - ``loss_pred_nsp`` = the same on the sentence-pair logits.
    Layers are summed, as in the paper and its code, so ``loss_attn`` and ``loss_hidn`` grow with M.
    Models must be called with ``output_hidden_states=True`` (emb, hidn) and ``output_attentions=True`` (attn).
    ``layer_map`` is ``"uniform"`` or a list (see ``validate_layer_map``); ``projections`` are needed when
    the widths differ (None = identity).
    """
    w = _weights(weights, TINYBERT_WEIGHTS, "TinyBERT")
    if attention_on not in ("scores", "probs"):
        raise ValueError(f"attention_on must be 'scores' or 'probs', got {attention_on!r}")
    if pred_loss not in ("kl", "ce"):
        raise ValueError(f"pred_loss must be 'kl' or 'ce', got {pred_loss!r}")
    _sequence_length_check(student_out, teacher_out)
    attn_field = "attention_scores" if attention_on == "scores" else "attentions"
    s_hid, t_hid = student_out.hidden_states, teacher_out.hidden_states
    s_att, t_att = getattr(student_out, attn_field), getattr(teacher_out, attn_field)
    has_hidden = s_hid is not None and t_hid is not None
    has_attn = s_att is not None and t_att is not None
    if has_hidden:
        M, N = len(s_hid) - 1, len(t_hid) - 1
    elif has_attn:
        M, N = len(s_att), len(t_att)
    else:
        M = N = None
    g = validate_layer_map(layer_map, M, N) if M is not None else None
    if has_hidden and s_hid[0].shape[-1] != t_hid[0].shape[-1] and projections is None:
        raise ValueError(f"student width {s_hid[0].shape[-1]} differs from teacher width {t_hid[0].shape[-1]}: "
                         f"pass projections=Projections.from_configs(student.config, teacher.config) and "
                         f"train them with the student")
    if projections is not None and M is not None and projections.num_student_layers != M:
        raise ValueError(f"projections were built for {projections.num_student_layers} student layers, "
                         f"the student output has {M}")
    if has_attn:
        check_head_counts(s_att[0].shape[1], t_att[0].shape[1])  # clear error before any work

    W_e = projections.W_e if projections is not None else None  # noqa: N806 - the paper's symbols
    W_h = (lambda m: projections.hidden_projection(m)) if projections is not None else (lambda m: None)  # noqa: E731
    parts = _Components(w)
    need_hid = "the outputs carry no hidden_states (call both models with output_hidden_states=True)"
    need_att = f"the outputs carry no {attn_field} (call both models with output_attentions=True)"
    parts.add("emb", lambda: embedding_loss(s_hid[0], t_hid[0], attention_mask, W_e), has_hidden, need_hid)
    parts.add("attn", lambda: sum(attention_loss(s_att[m - 1], t_att[g[m] - 1], attention_mask, attention_on)
                                  for m in range(1, M + 1)), has_attn, need_att)
    parts.add("hidn", lambda: sum(hidden_loss(s_hid[m], t_hid[g[m]], attention_mask, W_h(m))
                                  for m in range(1, M + 1)), has_hidden, need_hid)
    pairs = _prediction_logits(student_out, teacher_out, attention_mask)
    relative = pred_loss == "kl"
    parts.add("pred", lambda: soft_cross_entropy(*pairs, temperature, subtract_teacher_entropy=relative),
              pairs is not None, "the outputs carry no matching MLM logits (pass the same labels to both models, "
                                 "or mlm_positions='all' to both)")
    _add_nsp(parts, student_out, teacher_out, temperature, relative)
    return parts.result(student_out.last_hidden_state)


def distilbert_losses(student_out, teacher_out, attention_mask: torch.Tensor | None,
                      weights: Mapping[str, float] | None = None, temperature: float = 2.0,
                      pred_loss: str = "kl") -> dict[str, torch.Tensor]:
    """DistilBERT's triple loss (§2): α_ce L_ce + α_mlm L_mlm + α_cos L_cos.

    - ``loss_ce`` = soft cross-entropy of the MLM logits against the teacher's at temperature T, × T²
      (``pred_loss="kl"``, default, subtracts the teacher's entropy: same gradient, 0 at a perfect copy);
      rows are every real token when both outputs have ``prediction_logits`` (``mlm_positions="all"``, as
      DistilBERT's code), else the masked positions;
    - ``loss_mlm`` = the student's own masked-LM loss against the true tokens (call it with ``labels``);
    - ``loss_cos`` = mean over real tokens of 1 − cos(h_S, h_T) on the last hidden states;
    - ``loss_pred_nsp`` = the soft loss on the sentence-pair logits (weight 0 by default: DistilBERT drops NSP).
    """
    w = _weights(weights, DISTILBERT_WEIGHTS, "DistilBERT")
    if pred_loss not in ("kl", "ce"):
        raise ValueError(f"pred_loss must be 'kl' or 'ce', got {pred_loss!r}")
    _sequence_length_check(student_out, teacher_out)
    parts = _Components(w)
    pairs = _prediction_logits(student_out, teacher_out, attention_mask)
    relative = pred_loss == "kl"
    parts.add("ce", lambda: soft_cross_entropy(*pairs, temperature, scale_by_t2=True,
                                               subtract_teacher_entropy=relative),
              pairs is not None, "the outputs carry no matching MLM logits (pass the same labels to both models, "
                                 "or mlm_positions='all' to both)")
    parts.add("mlm", lambda: student_out.mlm_loss, student_out.mlm_loss is not None,
              "the student output has no mlm_loss (call the student with labels)")
    s_last, t_last = student_out.last_hidden_state, teacher_out.last_hidden_state
    if s_last is not None and t_last is not None and s_last.shape[-1] != t_last.shape[-1] and w["cos"] > 0:
        raise ValueError(f"the cosine loss compares hidden vectors, but the student's width {s_last.shape[-1]} "
                         f"differs from the teacher's {t_last.shape[-1]}: DistilBERT keeps the teacher's width; "
                         f"use TinyBERT distillation (learned projections) for a narrower student, or set the "
                         f"cos weight to 0")
    parts.add("cos", lambda: cosine_hidden_loss(s_last, t_last, attention_mask),
              s_last is not None and t_last is not None and s_last.shape[-1] == t_last.shape[-1],
              "the outputs carry no last_hidden_state")
    _add_nsp(parts, student_out, teacher_out, temperature, relative, scale_by_t2=True)
    return parts.result(student_out.last_hidden_state)


def _add_nsp(parts: _Components, student_out, teacher_out, temperature: float, relative: bool,
             scale_by_t2: bool = False) -> None:
    s, t = student_out.seq_relationship_logits, teacher_out.seq_relationship_logits
    parts.add("pred_nsp", lambda: soft_cross_entropy(s, t, temperature, scale_by_t2=scale_by_t2,
                                                     subtract_teacher_entropy=relative),
              s is not None and t is not None, "the outputs carry no seq_relationship_logits")


__all__ = ["tinybert_losses", "distilbert_losses", "loss_weights", "TINYBERT_WEIGHTS", "DISTILBERT_WEIGHTS"]
