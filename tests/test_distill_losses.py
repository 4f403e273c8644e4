"""Distillation losses (bertlab.distill): zero for a perfect copy, padding ignored, formulas checked by hand."""

import copy
import math

import pytest
import torch
from torch import nn

from bertlab.config import get_preset
from bertlab.distill import (Projections, attention_loss, check_head_counts, cosine_hidden_loss,
                             distilbert_losses, embedding_loss, hidden_loss, init_student_from_teacher,
                             match_heads, soft_cross_entropy, tinybert_losses, uniform_layer_map,
                             validate_layer_map)
from bertlab.model import BertForPreTraining

V = 120


def config(**kw):
    base = dict(vocab_size=V, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                max_position_embeddings=32)
    base.update(kw)
    return get_preset("tiny", **base)


def model(seed=0, **kw):
    torch.manual_seed(seed)
    return BertForPreTraining(config(**kw)).eval()


def batch(B=3, T=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, V, (B, T), generator=g)
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, 8:] = 0  # padding in two rows
    mask[2, 5:] = 0
    ids[mask == 0] = 0
    types = torch.zeros(B, T, dtype=torch.long)
    labels = torch.full((B, T), -100)
    labels[0, 2], labels[1, 4], labels[2, 1], labels[0, 7] = ids[0, 2], ids[1, 4], ids[2, 1], ids[0, 7]
    return ids, mask, types, labels


def run(m, ids, mask, types, labels, **kw):
    return m(ids, mask, types, labels=labels, next_sentence_label=torch.tensor([0, 1, 0]),
             output_hidden_states=True, output_attentions=True, **kw)


# --- layer mapping ----------------------------------------------------------------------------------------

def test_uniform_map_picks_documented_layers():
    assert uniform_layer_map(4, 12) == [0, 3, 6, 9, 12]  # 0 = embeddings
    assert uniform_layer_map(6, 12) == [0, 2, 4, 6, 8, 10, 12]
    assert uniform_layer_map(2, 2) == [0, 1, 2]
    with pytest.raises(ValueError, match=r"explicit layer map.*\[0, 2, 5, 7, 10, 12\]"):
        uniform_layer_map(5, 12)
    with pytest.raises(ValueError, match="more layers"):
        uniform_layer_map(6, 4)


def test_user_layer_map_validation():
    assert validate_layer_map([4, 8, 12], 3, 12) == [0, 4, 8, 12]  # g(1..M) given: embeddings prepended
    assert validate_layer_map([0, 1, 12], 2, 12) == [0, 1, 12]
    assert validate_layer_map("uniform", 3, 12) == [0, 4, 8, 12]
    for bad, msg in [([4, 8], "needs 3"), ([1, 4, 8, 12], "embeddings"), ([4, 13, 12], "in 1..12"),
                     ([8, 4, 12], "strictly increase"), ([0, 4, 4, 12], "strictly increase")]:
        with pytest.raises(ValueError, match=msg):
            validate_layer_map(bad, 3, 12)


# --- a perfect copy has zero loss --------------------------------------------------------------------------

@pytest.mark.parametrize("learn_when_equal", [False, True])
@pytest.mark.parametrize("attention_on", ["scores", "probs"])
def test_tinybert_losses_are_zero_for_an_exact_copy(learn_when_equal, attention_on):
    teacher = model(embedding_size=16)
    student = copy.deepcopy(teacher)
    ids, mask, types, labels = batch()
    t_out, s_out = run(teacher, ids, mask, types, labels), run(student, ids, mask, types, labels)
    proj = Projections.from_configs(student.config, teacher.config, learn_when_equal=learn_when_equal)
    assert isinstance(proj.W_e, nn.Linear if learn_when_equal else nn.Identity)
    losses = tinybert_losses(s_out, t_out, mask, "uniform", proj, attention_on=attention_on,
                             weights={"pred_nsp": 1.0})
    assert set(losses) == {"loss", "loss_emb", "loss_attn", "loss_hidn", "loss_pred", "loss_pred_nsp"}
    for name, value in losses.items():
        assert abs(value.item()) < 1e-6, name
    # the paper's soft cross-entropy is not 0 for a copy: it equals the teacher's entropy (CE = H + KL)
    ce = tinybert_losses(s_out, t_out, mask, "uniform", proj, pred_loss="ce")["loss_pred"]
    p = t_out.masked_lm_logits.softmax(-1)
    assert torch.allclose(ce, -(p * p.log()).sum(-1).mean(), atol=1e-5)


def test_distilbert_losses_are_zero_for_an_exact_copy():
    teacher = model()
    student = copy.deepcopy(teacher)
    ids, mask, types, labels = batch()
    t_out = run(teacher, ids, mask, types, labels, mlm_positions="all")
    s_out = run(student, ids, mask, types, labels, mlm_positions="all")
    losses = distilbert_losses(s_out, t_out, mask)
    assert abs(losses["loss_ce"].item()) < 1e-6 and abs(losses["loss_cos"].item()) < 1e-6
    assert abs(losses["loss_pred_nsp"].item()) < 1e-6
    assert torch.equal(losses["loss_mlm"], s_out.mlm_loss)  # the hard MLM loss is the copy's own, not 0
    assert torch.allclose(losses["loss"], 5.0 * losses["loss_ce"] + 2.0 * losses["loss_mlm"]
                          + 1.0 * losses["loss_cos"])


# --- projections --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("share_hidden", [True, False])
def test_gradients_reach_projections_when_widths_differ(share_hidden):
    teacher, student = model(seed=1, hidden_size=48, num_hidden_layers=4), model(seed=2, hidden_size=32)
    ids, mask, types, labels = batch()
    with torch.no_grad():
        t_out = run(teacher, ids, mask, types, labels)
    s_out = run(student, ids, mask, types, labels)
    proj = Projections.from_configs(student.config, teacher.config, share_hidden=share_hidden)
    assert len(proj.W_h) == (1 if share_hidden else 2) and proj.W_e.weight.shape == (48, 32)
    losses = tinybert_losses(s_out, t_out, mask, [0, 2, 4], proj)
    losses["loss"].backward()
    assert proj.W_e.weight.grad.abs().sum() > 0
    for W_h in proj.W_h:
        assert W_h.weight.grad.abs().sum() > 0
    assert student.bert.embeddings.word_embeddings.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in teacher.parameters())


def test_width_mismatch_without_projections_is_a_clear_error():
    teacher, student = model(hidden_size=48), model(hidden_size=32)
    ids, mask, types, labels = batch()
    t_out, s_out = run(teacher, ids, mask, types, labels), run(student, ids, mask, types, labels)
    with pytest.raises(ValueError, match="Projections"):
        tinybert_losses(s_out, t_out, mask)
    with pytest.raises(ValueError, match="DistilBERT keeps the teacher's width"):
        distilbert_losses(s_out, t_out, mask)


def test_mapping_sends_each_student_layer_to_teacher_layer_g_m():
    """Hidden loss with g = [0, 2, 4] equals the hand-picked pairs (1 ← 2, 2 ← 4); attention uses layer g(m)."""
    teacher, student = model(seed=1, num_hidden_layers=4), model(seed=2)
    ids, mask, types, labels = batch()
    t_out, s_out = run(teacher, ids, mask, types, labels), run(student, ids, mask, types, labels)
    losses = tinybert_losses(s_out, t_out, mask, "uniform")
    hand_h = hidden_loss(s_out.hidden_states[1], t_out.hidden_states[2], mask) \
        + hidden_loss(s_out.hidden_states[2], t_out.hidden_states[4], mask)
    hand_a = attention_loss(s_out.attention_scores[0], t_out.attention_scores[1], mask) \
        + attention_loss(s_out.attention_scores[1], t_out.attention_scores[3], mask)
    assert torch.allclose(losses["loss_hidn"], hand_h) and torch.allclose(losses["loss_attn"], hand_a)
    other = tinybert_losses(s_out, t_out, mask, [1, 3])
    assert not torch.allclose(other["loss_hidn"], hand_h)


# --- padding ------------------------------------------------------------------------------------------------

def test_padding_never_contributes_to_the_attention_loss():
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(2, 4, 6, 6, generator=g), torch.randn(2, 4, 6, 6, generator=g)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]])
    base = attention_loss(s, t, mask)
    # by hand: mean over heads and over (query, key) pairs that are both real
    terms = [(s[b, h, i, j] - t[b, h, i, j]) ** 2 for b in range(2) for h in range(4) for i in range(6)
             for j in range(6) if mask[b, i] and mask[b, j]]
    assert torch.allclose(base, torch.stack(terms).mean())
    for padded in [(1, slice(None), slice(3, None), slice(None)),  # padding queries
                   (1, slice(None), slice(None), slice(3, None))]:  # padding keys
        s2, t2 = s.clone(), t.clone()
        s2[padded] = 1e4
        t2[padded] = float("inf")
        assert torch.equal(attention_loss(s2, t2, mask), base)
        assert torch.equal(attention_loss(s2, t2, mask, use="probs"), attention_loss(s, t, mask, use="probs"))
    s2 = s.clone().requires_grad_()
    attention_loss(s2, t, mask).backward()
    assert s2.grad[1, :, 3:].abs().max() == 0 and s2.grad[1, :, :, 3:].abs().max() == 0


def test_padding_never_contributes_to_token_losses():
    g = torch.Generator().manual_seed(0)
    h_s, h_t = torch.randn(2, 5, 8, generator=g), torch.randn(2, 5, 8, generator=g)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]])
    h_s2, h_t2 = h_s.clone(), h_t.clone()
    h_s2[1, 2:], h_t2[1, 2:] = 100.0, -3.0
    real = mask.bool()
    for loss in (hidden_loss, embedding_loss):
        assert torch.allclose(loss(h_s, h_t, mask), ((h_s[real] - h_t[real]) ** 2).mean())
        assert torch.equal(loss(h_s2, h_t2, mask), loss(h_s, h_t, mask))
    cos = 1 - torch.cosine_similarity(h_s[real], h_t[real], dim=-1)
    assert torch.allclose(cosine_hidden_loss(h_s, h_t, mask), cos.mean())
    assert torch.equal(cosine_hidden_loss(h_s2, h_t2, mask), cosine_hidden_loss(h_s, h_t, mask))


def test_changing_padded_tokens_changes_no_loss_component():
    teacher, student = model(seed=1, num_hidden_layers=4), model(seed=2)
    ids, mask, types, labels = batch()
    ids2 = ids.clone()
    ids2[mask == 0] = 7  # different tokens where the mask says padding
    for on in ("scores", "probs"):
        a = tinybert_losses(run(student, ids, mask, types, labels), run(teacher, ids, mask, types, labels),
                            mask, attention_on=on, weights={"pred_nsp": 1})
        b = tinybert_losses(run(student, ids2, mask, types, labels), run(teacher, ids2, mask, types, labels),
                            mask, attention_on=on, weights={"pred_nsp": 1})
        for name in a:
            assert torch.allclose(a[name], b[name], atol=1e-6), (on, name)


# --- temperature ---------------------------------------------------------------------------------------------

def test_soft_cross_entropy_matches_the_formula_at_temperature():
    g = torch.Generator().manual_seed(0)
    z_s, z_t = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g) * 3
    for t in (1.0, 2.0, 4.0):
        expected = 0.0
        for row in range(5):
            p_t = [math.exp(z / t) for z in z_t[row].tolist()]
            p_t = [p / sum(p_t) for p in p_t]
            log_norm = math.log(sum(math.exp(z / t) for z in z_s[row].tolist()))
            expected += -sum(p * (z / t - log_norm) for p, z in zip(p_t, z_s[row].tolist())) / 5
        assert soft_cross_entropy(z_s, z_t, t).item() == pytest.approx(expected, rel=1e-5)
        assert soft_cross_entropy(z_s, z_t, t, scale_by_t2=True).item() == pytest.approx(expected * t * t, rel=1e-5)
        kl = torch.nn.functional.kl_div((z_s / t).log_softmax(-1), (z_t / t).softmax(-1), reduction="batchmean")
        assert torch.allclose(soft_cross_entropy(z_s, z_t, t, subtract_teacher_entropy=True), kl, atol=1e-6)
    # leading dimensions are rows; the KL form has the same gradient as the cross-entropy
    a = z_s.clone().requires_grad_()
    b = z_s.clone().requires_grad_()
    soft_cross_entropy(a, z_t, 2.0).backward()
    soft_cross_entropy(b, z_t, 2.0, subtract_teacher_entropy=True).backward()
    assert torch.allclose(a.grad, b.grad, atol=1e-7)
    with pytest.raises(ValueError, match="positive"):
        soft_cross_entropy(z_s, z_t, 0.0)


def test_distilbert_ce_uses_temperature_squared():
    teacher, student = model(seed=1), model(seed=2)
    ids, mask, types, labels = batch()
    t_out, s_out = run(teacher, ids, mask, types, labels), run(student, ids, mask, types, labels)
    losses = distilbert_losses(s_out, t_out, mask, temperature=3.0, pred_loss="ce")
    expected = soft_cross_entropy(s_out.masked_lm_logits, t_out.masked_lm_logits, 3.0) * 9
    assert torch.allclose(losses["loss_ce"], expected)


# --- heads ------------------------------------------------------------------------------------------------

def test_head_count_matching_and_errors():
    assert check_head_counts(4, 12) == 3 and check_head_counts(2, 2) == 1
    t = torch.arange(4.0).reshape(1, 4, 1, 1).expand(2, 4, 3, 3)  # head i holds the value i
    assert match_heads(t, 2)[0, :, 0, 0].tolist() == [0.5, 2.5]  # heads (0, 1) and (2, 3) averaged
    with pytest.raises(ValueError, match=r"student has 3 heads and the teacher 4.*\[1, 2, 4\]"):
        check_head_counts(3, 4)
    with pytest.raises(ValueError, match="student has 4 heads and the teacher 2"):
        check_head_counts(4, 2)
    teacher, student = model(seed=1, num_attention_heads=4), model(seed=2, hidden_size=24, num_attention_heads=3)
    ids, mask, types, labels = batch()
    t_out, s_out = run(teacher, ids, mask, types, labels), run(student, ids, mask, types, labels)
    with pytest.raises(ValueError, match="3 heads and the teacher 4"):
        tinybert_losses(s_out, t_out, mask, projections=Projections.from_configs(student.config, teacher.config))
    two = run(model(seed=3, num_attention_heads=2), ids, mask, types, labels)
    assert tinybert_losses(two, t_out, mask)["loss_attn"] > 0  # 4 teacher heads -> 2 student heads works


# --- DistilBERT initialisation -------------------------------------------------------------------------------

def test_every_other_layer_init_copies_the_right_weights():
    teacher, student = model(seed=1, num_hidden_layers=4), model(seed=2)
    assert init_student_from_teacher(student, teacher) == [0, 2]
    s, t = student.bert.encoder, teacher.bert.encoder
    for i, j in [(0, 0), (1, 2)]:
        assert torch.equal(s.attention_blocks[i].attention.query.weight, t.attention_blocks[j].attention.query.weight)
        assert torch.equal(s.ffn_blocks[i].output.weight, t.ffn_blocks[j].output.weight)
    assert not torch.equal(s.attention_blocks[1].attention.query.weight, t.attention_blocks[1].attention.query.weight)
    assert torch.equal(student.bert.embeddings.word_embeddings.weight, teacher.bert.embeddings.word_embeddings.weight)
    assert torch.equal(student.mlm.bias, teacher.mlm.bias)
    assert torch.equal(student.nsp.classifier.weight, teacher.nsp.classifier.weight)
    assert student.bert.embeddings.word_embeddings.weight is not teacher.bert.embeddings.word_embeddings.weight
    assert init_student_from_teacher(student, teacher, [1, 3]) == [1, 3]
    assert torch.equal(s.ffn_blocks[1].output.weight, t.ffn_blocks[3].output.weight)
    # copying every layer makes an exact copy: DistilBERT's distillation losses vanish
    full = model(seed=3, num_hidden_layers=4)
    init_student_from_teacher(full, teacher, [0, 1, 2, 3])
    ids, mask, types, labels = batch()
    losses = distilbert_losses(run(full, ids, mask, types, labels), run(teacher, ids, mask, types, labels), mask)
    assert abs(losses["loss_ce"].item()) < 1e-6 and abs(losses["loss_cos"].item()) < 1e-6


def test_init_from_a_shared_teacher_and_errors():
    albert = model(seed=1, num_hidden_layers=4, share_layers="all")
    student = model(seed=2)
    init_student_from_teacher(student, albert)
    for block in student.bert.encoder.attention_blocks:  # every teacher layer is the one shared block
        assert torch.equal(block.attention.key.weight, albert.bert.encoder.attention_blocks[0].attention.key.weight)
    with pytest.raises(ValueError, match="hidden_size: student 32 vs teacher 48"):
        init_student_from_teacher(model(), model(hidden_size=48, num_hidden_layers=4))
    with pytest.raises(ValueError, match="at least 5 layers"):
        init_student_from_teacher(model(num_hidden_layers=3), model(num_hidden_layers=4))
    with pytest.raises(ValueError, match=r"0\.\.3"):
        init_student_from_teacher(student, model(num_hidden_layers=4), [0, 4])
    with pytest.raises(ValueError, match="shares layers"):
        init_student_from_teacher(model(share_layers="all"), model(num_hidden_layers=4))


# --- objective plumbing --------------------------------------------------------------------------------------

def test_weights_and_missing_outputs():
    teacher, student = model(seed=1), model(seed=2)
    ids, mask, types, labels = batch()
    t_out, s_out = run(teacher, ids, mask, types, labels), run(student, ids, mask, types, labels)
    losses = tinybert_losses(s_out, t_out, mask, weights={"emb": 2.0, "attn": 0.0, "pred": 0.5})
    assert not losses["loss_attn"].requires_grad  # weight 0: logged, not trained
    expected = 2 * losses["loss_emb"] + losses["loss_hidn"] + 0.5 * losses["loss_pred"]
    assert torch.allclose(losses["loss"], expected)
    with pytest.raises(ValueError, match="unknown TinyBERT loss weight 'hidden'"):
        tinybert_losses(s_out, t_out, mask, weights={"hidden": 1.0})
    plain_t = teacher(ids, mask, types, labels=labels)
    plain_s = student(ids, mask, types, labels=labels)
    with pytest.raises(ValueError, match="output_hidden_states=True"):
        tinybert_losses(plain_s, plain_t, mask)
    only_pred = tinybert_losses(plain_s, plain_t, mask, weights={"emb": 0, "attn": 0, "hidn": 0})
    assert set(only_pred) == {"loss", "loss_pred", "loss_pred_nsp"}
    with pytest.raises(ValueError, match="same labels"):
        tinybert_losses(plain_s, teacher(ids, mask, types), mask, weights={"emb": 0, "attn": 0, "hidn": 0})
