"""Lesson 4 checks against correct, typically wrong, and crashing solutions."""

from __future__ import annotations

import pytest
import torch.nn.functional as F

from bertlab.distill.losses import attention_loss
from bertlab.distill.mapping import uniform_layer_map
from homework_helpers import crashes, fails, passes


def my_uniform_layer_map(M, N):  # noqa: N803
    if M > N or N % M:
        raise ValueError(f"{N} teacher layers cannot be mapped uniformly onto {M} student layers")
    return [m * N // M for m in range(M + 1)]


def test_layer_map_correct_passes():
    passes("layer_map", my_uniform_layer_map)
    passes("layer_map", uniform_layer_map)


@pytest.mark.parametrize("wrong, rule, words", [
    (lambda M, N: [m * N // M for m in range(1, M + 1)], "M + 1", ["g(0) = 0 comes first"]),
    (lambda M, N: [max(0, m * N // M - 1) for m in range(M + 1)], "g(m) = m·N/M", ["counted teacher layers from 0"]),
    (lambda M, N: [m * (N // M) for m in range(M + 1)], "raises ValueError", ["instead of raising"]),
])
def test_layer_map_typical_mistakes(wrong, rule, words):
    fails("layer_map", wrong, rule, *words)


def my_attention_loss(scores_s, scores_t, attention_mask):
    return attention_loss(scores_s, scores_t, attention_mask, use="scores")


def by_hand_attention_loss(scores_s, scores_t, attention_mask):
    real = attention_mask.float()
    pairs = (real[:, :, None] * real[:, None, :])[:, None]  # (B, 1, T, T)
    sq = (scores_s - scores_t.detach()).pow(2) * pairs
    return sq.sum() / (scores_s.shape[1] * pairs.sum())


def test_attention_loss_correct_passes():
    passes("attention_loss", my_attention_loss)
    passes("attention_loss", by_hand_attention_loss)


def after_softmax(scores_s, scores_t, attention_mask):
    keys = attention_mask[:, None, None, :].bool()
    p_s = scores_s.masked_fill(~keys, -1e9).softmax(-1)
    p_t = scores_t.masked_fill(~keys, -1e9).softmax(-1)
    return by_hand_attention_loss(p_s, p_t, attention_mask)


def with_padding(scores_s, scores_t, attention_mask):
    return F.mse_loss(scores_s, scores_t.detach())


def summed_heads(scores_s, scores_t, attention_mask):
    return by_hand_attention_loss(scores_s, scores_t, attention_mask) * scores_s.shape[1]


def teacher_not_detached(scores_s, scores_t, attention_mask):
    real = attention_mask.float()
    pairs = (real[:, :, None] * real[:, None, :])[:, None]
    return ((scores_s - scores_t).pow(2) * pairs).sum() / (scores_s.shape[1] * pairs.sum())


@pytest.mark.parametrize("wrong, rule, words", [
    (after_softmax, "on the scores", ["before softmax"]),
    (with_padding, "on the scores", ["padding included"]),
    (summed_heads, "on the scores", ["mean"]),
    (teacher_not_detached, "teacher's do not", ["detach"]),
])
def test_attention_loss_typical_mistakes(wrong, rule, words):
    fails("attention_loss", wrong, rule, *words)


def my_hidden_loss(h_s, h_t, W_h, attention_mask):  # noqa: N803
    real = attention_mask.bool()
    return (h_s @ W_h - h_t.detach())[real].pow(2).mean()


def test_hidden_loss_correct_passes():
    passes("hidden_loss", my_hidden_loss)


def hidden_with_padding(h_s, h_t, W_h, attention_mask):  # noqa: N803
    return F.mse_loss(h_s @ W_h, h_t.detach())


def hidden_sum_features(h_s, h_t, W_h, attention_mask):  # noqa: N803
    real = attention_mask.bool()
    return (h_s @ W_h - h_t.detach())[real].pow(2).sum(-1).mean()


def hidden_teacher_not_detached(h_s, h_t, W_h, attention_mask):  # noqa: N803
    real = attention_mask.bool()
    return (h_s @ W_h - h_t)[real].pow(2).mean()  # the right value, but a gradient flows into the teacher


def hidden_no_projection(h_s, h_t, W_h, attention_mask):  # noqa: N803
    return (h_s - h_t).pow(2).mean()  # widths differ: RuntimeError


@pytest.mark.parametrize("wrong, rule, words", [
    (hidden_with_padding, "real tokens", ["padding"]),
    (hidden_sum_features, "real tokens", ["divide by h_t"]),
    (hidden_teacher_not_detached, "the teacher's states do not", ["h_t.detach()"]),
])
def test_hidden_loss_typical_mistakes(wrong, rule, words):
    fails("hidden_loss", wrong, rule, *words)


def test_hidden_loss_without_projection_crashes_with_the_shapes():
    crashes("hidden_loss", hidden_no_projection, "RuntimeError", "called as")


def my_soft_cross_entropy(student_logits, teacher_logits, temperature):
    p_t = F.softmax(teacher_logits.detach() / temperature, -1)
    return -(p_t * F.log_softmax(student_logits / temperature, -1)).sum(-1).mean()


def test_soft_cross_entropy_correct_passes():
    passes("soft_cross_entropy", my_soft_cross_entropy)


def hard_labels(z_s, z_t, t):
    return F.cross_entropy(z_s / t, z_t.argmax(-1))


def kl(z_s, z_t, t):
    return F.kl_div(F.log_softmax(z_s / t, -1), F.softmax(z_t / t, -1), reduction="batchmean")


def t_squared(z_s, z_t, t):
    return my_soft_cross_entropy(z_s, z_t, t) * t * t


def student_only(z_s, z_t, t):
    return -(F.softmax(z_t, -1) * F.log_softmax(z_s / t, -1)).sum(-1).mean()


def soft_teacher_not_detached(z_s, z_t, t):
    return -(F.softmax(z_t / t, -1) * F.log_softmax(z_s / t, -1)).sum(-1).mean()  # right value, gradient into z_t


def swapped_roles(z_s, z_t, t):
    return -(F.softmax(z_s / t, -1) * F.log_softmax(z_t / t, -1)).sum(-1).mean()


@pytest.mark.parametrize("wrong, rule, words", [
    (hard_labels, "temperature 1", ["hard label"]),
    (kl, "temperature 1", ["kl(p_t‖p_s)"]),
    (t_squared, "softened by the temperature", ["distilbert's scaling"]),
    (student_only, "softened by the temperature", ["only the student's"]),
    (swapped_roles, "temperature 1", ["swapped student and teacher"]),
    (soft_teacher_not_detached, "the teacher's do not", ["teacher_logits.detach()"]),
])
def test_soft_cross_entropy_typical_mistakes(wrong, rule, words):
    fails("soft_cross_entropy", wrong, rule, *words)


def test_tinybert_checks_report_unfinished_work():
    def unfinished(*args):
        raise NotImplementedError

    for name in ("layer_map", "attention_loss", "hidden_loss", "soft_cross_entropy"):
        crashes(name, unfinished, "not written yet")


def test_unknown_check_name_lists_the_available_ones():
    from bertlab.homework import check

    with pytest.raises(KeyError, match="attention_loss"):
        check("attention", lambda: None)


def test_check_prints_feedback_and_returns_result(capsys):
    from bertlab.homework import check

    result = check("layer_map", my_uniform_layer_map)
    assert result.passed and bool(result)
    assert "layer_map" in capsys.readouterr().out
    assert "passed" in repr(result)
    bad = check("layer_map", "not a function")
    assert not bad.passed and "needs your function itself" in bad.error
