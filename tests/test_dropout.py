"""bertlab's CPU dropout: right drop rate and scale, reproducible, and the written-out CPU attention path
(used in training, where torch's SDPA would draw a slow mask) computes the same attention as SDPA."""

import pytest
import torch

import bertlab.model.attention as attention_module
from bertlab.config import get_preset
from bertlab.model import BertModel
from bertlab.model.dropout import Dropout, dropout, dropout_mask


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_mask_drops_p_and_scales_survivors(p):
    torch.manual_seed(0)
    mask = dropout_mask(torch.Size([200_000]), p, torch.float32, torch.device("cpu"))
    dropped = float((mask == 0).float().mean())
    assert abs(dropped - p) < 4 * (p * (1 - p) / 200_000) ** 0.5  # 4 standard errors
    assert torch.allclose(mask[mask != 0], torch.tensor(1 / (1 - p)))
    assert abs(float(mask.mean()) - 1.0) < 0.01  # expectation kept


def test_dropout_is_seeded_identity_in_eval_and_differentiable():
    x = torch.randn(4, 1000, requires_grad=True)
    torch.manual_seed(1)
    a = dropout(x, 0.1)
    torch.manual_seed(1)
    assert torch.equal(a, dropout(x, 0.1))  # torch.manual_seed makes it reproducible
    assert dropout(x, 0.1, training=False) is x and dropout(x, 0.0) is x
    a.sum().backward()
    assert torch.equal(x.grad, (a != 0).float() / 0.9)  # gradient flows through the kept elements only
    module = Dropout(0.1).eval()
    assert module(x) is x


def test_cpu_training_attention_path_matches_sdpa(monkeypatch):
    """With the dropout itself switched off, the written-out training path equals SDPA's result."""
    torch.manual_seed(0)
    config = get_preset("tiny", vocab_size=200, max_position_embeddings=64, hidden_dropout_prob=0.0)
    model = BertModel(config)
    ids = torch.randint(5, 200, (3, 20))
    mask = torch.ones(3, 20, dtype=torch.long)
    mask[1, 12:] = 0
    reference = model.eval()(ids, mask).last_hidden_state  # SDPA (no dropout at evaluation)
    monkeypatch.setattr(attention_module, "dropout", lambda x, p, training=True: x)
    written_out = model.train()(ids, mask).last_hidden_state  # attention dropout 0.1 > 0: the CPU path
    real = mask.bool()
    assert torch.allclose(reference[real], written_out[real], atol=1e-5)
