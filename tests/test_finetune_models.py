"""Fine-tuning models: frozen feature extraction, ELMo's scalar mix, pooling, loading weights, teacher outputs."""

import numpy as np
import pytest
import torch

from bertlab.config import get_preset
from bertlab.finetune.data import EncodedSplit
from bertlab.finetune.loop import FinetuneTask
from bertlab.model.classifier import BertForClassification, load_encoder_weights
from bertlab.model.pooling import ScalarMix, check_pooling, masked_mean
from bertlab.model import BertForPreTraining
from bertlab.train.loop import TrainSettings, train

V, T = 60, 12
FAST = dict(progress=False, device="cpu", precision="fp32", log_every=2, warmup=0, checkpoint_every=0)


def small_config(**kw):
    return get_preset("tiny", vocab_size=V, hidden_size=32, num_attention_heads=2, intermediate_size=64,
                      max_position_embeddings=T, **kw)


def toy_split(n=64, token=False, seed=0) -> EncodedSplit:
    """A learnable toy: label 1 when token 7 occurs in the input (token task: at that position)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, V, size=(n, T)).astype(np.int32)
    ids[:, 0] = 2
    has = rng.random(n) < 0.5
    ids[has, 3] = 7
    ids[~has] = np.where(ids[~has] == 7, 8, ids[~has])
    lengths = rng.integers(T // 2, T + 1, size=n)
    for i, k in enumerate(lengths):
        ids[i, k:] = 0
    if token:
        labels = np.where(ids == 7, 1, 0).astype(np.int64)
        labels[np.arange(T)[None, :] >= lengths[:, None]] = -100
    else:
        labels = has.astype(np.int64)
    return EncodedSplit(ids, np.zeros((n, T), dtype=np.int8), lengths, labels)


def test_scalar_mix_weights_sum_to_one_and_are_learned():
    mix = ScalarMix(3)
    assert torch.allclose(mix.weights.sum(), torch.tensor(1.0))
    layers = [torch.full((2, 4, 5), float(j)) for j in range(3)]  # layer j is constantly j
    assert torch.allclose(mix(layers), torch.full((2, 4, 5), 1.0))  # uniform start: the mean of 0, 1, 2
    optimizer = torch.optim.Adam(mix.parameters(), lr=0.1)
    for _ in range(20):  # ask for the top layer's value (2) at twice the scale
        loss = ((mix(layers) - 4.0) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        assert mix.scalar_parameters.grad is not None and mix.gamma.grad is not None
        optimizer.step()
    s = mix.weights.detach()
    assert torch.allclose(s.sum(), torch.tensor(1.0)) and bool((s >= 0).all())
    assert s[2] > s[1] > s[0]  # it learned to prefer the top layer
    assert float(mix.gamma.detach()) > 1.0


def test_masked_mean_ignores_padding():
    hidden = torch.tensor([[[1.0], [3.0], [100.0]]])
    assert masked_mean(hidden, torch.tensor([[1, 1, 0]])).item() == 2.0


def test_pooling_choices_depend_on_the_task_kind():
    assert check_pooling(None, "single") == "cls" and check_pooling(None, "token") == "top"
    with pytest.raises(ValueError, match="token task"):
        check_pooling("cls", "token")
    with pytest.raises(ValueError, match="one vector per input"):
        check_pooling("top", "pair")
    assert BertForClassification(small_config(), 2, "mean").bert.pooler is None  # no parameter without gradient


@pytest.mark.parametrize("pooling", ["cls", "scalar-mix"])
def test_frozen_mode_changes_no_encoder_weight(pooling):
    torch.manual_seed(0)
    model = BertForClassification(small_config(), 2, pooling).freeze_encoder()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    assert not model.bert.training and model.dropout.training  # the frozen encoder runs without dropout
    split = toy_split()
    train(model, FinetuneTask(split, 2), lambda step: split.batch(step, 16),
          TrainSettings(steps=8, learning_rate=1e-2, **FAST))
    after = model.state_dict()
    encoder = [k for k in before if k.startswith("bert.")]
    assert encoder and all(torch.equal(before[k], after[k]) for k in encoder)
    assert not torch.equal(before["classifier.weight"], after["classifier.weight"])
    if pooling == "scalar-mix":
        assert not torch.equal(before["scalar_mix.scalar_parameters"], after["scalar_mix.scalar_parameters"])
        assert torch.allclose(model.scalar_mix.weights.sum(), torch.tensor(1.0))


def test_finetune_mode_learns_and_changes_the_encoder():
    torch.manual_seed(0)
    model = BertForClassification(small_config(), 2, "mean")
    before = model.bert.embeddings.word_embeddings.weight.clone()
    split, dev = toy_split(256), toy_split(64, seed=1)
    task = FinetuneTask(dev, 2)
    train(model, task, lambda step: split.batch(step, 32), TrainSettings(steps=60, learning_rate=3e-3,
                                                                         eval_every=30, **FAST),
          callbacks=(task.on_record,))  # tells the task the step of each evaluation
    assert not torch.equal(before, model.bert.embeddings.word_embeddings.weight)
    assert task.best_score > 0.8 and task.best_step in (30, 60)


def test_token_task_model_scores_only_labelled_tokens():
    torch.manual_seed(0)
    model = BertForClassification(small_config(), 2, "scalar-mix", task_kind="token")
    batch = toy_split(8, token=True).rows(np.arange(8))
    out = model(**batch)
    assert out.logits.shape == (*batch["input_ids"].shape, 2)
    scored = batch["labels"] != -100
    expected = torch.nn.functional.cross_entropy(out.logits[scored], batch["labels"][scored])
    assert torch.allclose(out.loss, expected)


def test_encoder_weights_come_from_a_pretrained_model():
    torch.manual_seed(1)
    pretrained = BertForPreTraining(small_config())
    model = BertForClassification(small_config(), 3, "cls")
    load_encoder_weights(model, pretrained)
    for name, value in pretrained.bert.state_dict().items():
        assert torch.equal(value, model.bert.state_dict()[name]), name
    with pytest.raises(ValueError, match="config differs"):
        load_encoder_weights(BertForClassification(small_config(num_hidden_layers=3), 2), pretrained)


def test_fine_tuned_model_gives_what_a_tinybert_teacher_needs():
    model = BertForClassification(small_config(), 2, "cls").eval()
    batch = toy_split(4).rows(np.arange(4))
    out = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"], output_hidden_states=True,
                output_attentions=True)
    assert len(out.hidden_states) == 3 and len(out.attention_scores) == 2 and out.logits.shape == (4, 2)
