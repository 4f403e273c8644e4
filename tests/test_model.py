"""The model's behaviour: both attention paths agree, masked-only MLM equals the full loss, sharing is real."""

import pytest
import torch

from bertlab.config import get_preset
from bertlab.model import BertForPreTraining, BertForSequenceClassification, BertForTokenClassification, BertModel
from bertlab.model.cross_entropy import labelled_cross_entropy


def tiny(**kw):
    return get_preset("tiny", vocab_size=200, max_position_embeddings=64, **kw)


def batch(B=3, T=20, V=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, V, (B, T), generator=g)
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, 14:] = 0  # padding in one row
    types = torch.zeros(B, T, dtype=torch.long)
    types[:, 10:] = 1
    labels = torch.full((B, T), -100)
    chosen = torch.rand(B, T, generator=g) < 0.15
    chosen[0, 3] = True
    labels[chosen] = ids[chosen]
    return ids, mask, types, labels


@pytest.mark.parametrize("kw", [{}, {"embedding_size": 32}, {"share_layers": "all"}, {"norm_placement": "pre"}])
def test_sdpa_and_eager_paths_agree(kw):
    torch.manual_seed(0)
    model = BertModel(tiny(**kw)).eval()
    ids, mask, types, _ = batch()
    fast = model(ids, mask, types)
    eager = model(ids, mask, types, output_attentions=True)
    real = mask.bool()
    assert torch.allclose(fast.last_hidden_state[real], eager.last_hidden_state[real], atol=1e-5)
    assert fast.attentions is None and len(eager.attentions) == 2 and len(eager.attention_scores) == 2


def test_attention_outputs_are_probabilities_and_ignore_padding():
    model = BertModel(tiny()).eval()
    ids, mask, types, _ = batch()
    out = model(ids, mask, types, output_attentions=True, output_hidden_states=True)
    probs = out.attentions[0]  # (B, A, T, T)
    assert probs.shape == (3, 2, 20, 20)
    assert torch.allclose(probs.sum(-1), torch.ones(3, 2, 20), atol=1e-5)
    assert probs[1, :, :, 14:].abs().max() == 0  # nobody attends to padding
    assert len(out.hidden_states) == 3 and out.hidden_states[0].shape == (3, 20, 128)
    # scores are QK^T/sqrt(d) before the mask: softmax of the unmasked row reproduces the probabilities
    assert torch.allclose(out.attention_scores[0][0].softmax(-1), probs[0], atol=1e-5)


@pytest.mark.parametrize("kw", [{}, {"embedding_size": 32, "share_layers": "all"}])
def test_masked_only_mlm_loss_equals_full_computation(kw):
    torch.manual_seed(0)
    model = BertForPreTraining(tiny(**kw)).eval()
    ids, mask, types, labels = batch()
    nsp = torch.tensor([0, 1, 0])
    sparse = model(ids, mask, types, labels=labels, next_sentence_label=nsp)
    full = model(ids, mask, types, labels=labels, next_sentence_label=nsp, mlm_positions="all")
    assert sparse.prediction_logits is None and full.prediction_logits.shape == (3, 20, 200)
    assert sparse.masked_lm_logits.shape == (int((labels != -100).sum()), 200)
    assert torch.allclose(sparse.mlm_loss, full.mlm_loss, atol=1e-6)
    assert torch.allclose(sparse.loss, sparse.mlm_loss + sparse.nsp_loss)
    selected = labels != -100
    assert torch.allclose(sparse.masked_lm_logits, full.prediction_logits[selected], atol=1e-5)


def test_masked_only_mlm_gradients_equal_full_computation():
    """The masked-only loss's own backward (softmax - one-hot, in place) gives F.cross_entropy's gradients."""
    torch.manual_seed(0)
    model = BertForPreTraining(tiny()).eval()
    ids, mask, types, labels = batch()
    grads = []
    for positions in ("masked", "all"):
        model.zero_grad()
        model(ids, mask, types, labels=labels, mlm_positions=positions).loss.backward()
        grads.append([p.grad.clone() for p in model.parameters() if p.grad is not None])  # no NSP: no pooler
    assert len(grads[0]) == len(grads[1]) > 20
    for sparse, full in zip(*grads):
        assert torch.allclose(sparse, full, atol=1e-6)


def test_labelled_cross_entropy_matches_torch_and_refuses_a_second_backward():
    torch.manual_seed(0)
    logits = torch.randn(7, 50, requires_grad=True)
    labels = torch.randint(0, 50, (7,))
    ours = labelled_cross_entropy(logits, labels)
    (ours * 3).backward(retain_graph=True)
    leaf = logits.detach().requires_grad_()
    expected = torch.nn.functional.cross_entropy(leaf, labels)
    (expected * 3).backward()
    assert torch.allclose(ours, expected) and torch.allclose(logits.grad, leaf.grad, atol=1e-7)
    with pytest.raises(RuntimeError, match="backward ran twice"):
        ours.backward()
    with pytest.raises(ValueError, match=r"logits \(N, V\)"):
        labelled_cross_entropy(logits, labels[:, None])


def test_mlm_only_objective_and_empty_mask():
    model = BertForPreTraining(tiny()).eval()
    ids, mask, types, labels = batch()
    out = model(ids, mask, types, labels=labels)
    assert out.nsp_loss is None and torch.equal(out.loss, out.mlm_loss)
    nothing = model(ids, mask, types, labels=torch.full_like(labels, -100))
    assert nothing.mlm_loss.item() == 0.0 and nothing.mlm_loss.requires_grad


def test_mlm_head_is_tied_to_word_embeddings():
    model = BertForPreTraining(tiny(embedding_size=32))
    names = [n for n, _ in model.named_parameters()]
    assert not any("decoder" in n for n in names)  # the output matrix is the embedding itself
    ids, mask, types, labels = batch()
    model(ids, mask, types, labels=labels).loss.backward()
    assert model.bert.embeddings.word_embeddings.weight.grad[labels[labels != -100]].abs().sum() > 0


@pytest.mark.parametrize("mode,attention,ffn", [("none", 4, 4), ("all", 1, 1), ("attention", 1, 4), ("ffn", 4, 1)])
def test_sharing_is_an_index_map_over_fewer_blocks(mode, attention, ffn):
    model = BertModel(tiny(num_hidden_layers=4, share_layers=mode))
    assert len(model.encoder.attention_blocks) == attention and len(model.encoder.ffn_blocks) == ffn
    ids, mask, types, _ = batch()
    out = model(ids, mask, types, output_hidden_states=True)
    assert len(out.hidden_states) == 5  # still L applications


def test_training_lowers_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    model = BertForPreTraining(tiny())
    ids, mask, types, labels = batch()
    nsp = torch.tensor([0, 1, 0])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    first = None
    for _ in range(30):
        loss = model(ids, mask, types, labels=labels, next_sentence_label=nsp).loss
        first = first if first is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.5 * first


def test_classification_heads_shapes_and_loss():
    ids, mask, types, _ = batch()
    seq = BertForSequenceClassification(tiny(), num_labels=3)
    out = seq(ids, mask, types, labels=torch.tensor([0, 2, 1]))
    assert out.logits.shape == (3, 3) and out.loss.item() > 0
    tok = BertForTokenClassification(tiny(), num_labels=4)
    labels = torch.randint(0, 4, (3, 20))
    labels[1, 14:] = -100
    out = tok(ids, mask, types, labels=labels)
    assert out.logits.shape == (3, 20, 4) and out.loss.item() > 0


def test_bad_inputs_get_clear_errors():
    model = BertModel(tiny())
    with pytest.raises(ValueError, match="outside the vocabulary of 200"):
        model(torch.tensor([[5, 250]]))
    with pytest.raises(ValueError, match="exceeds max_position_embeddings 64"):
        model(torch.randint(5, 200, (1, 65)))
    with pytest.raises(ValueError, match=r"shape \(batch, sequence\)"):
        model(torch.randint(5, 200, (7,)))
    with pytest.raises(ValueError, match="type_vocab_size"):
        model(torch.tensor([[5, 6]]), token_type_ids=torch.tensor([[0, 2]]))
