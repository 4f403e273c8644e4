"""Distillation in the training loop: losses fall, components and teacher metrics are logged, accumulation is exact."""

import json

import pytest
import torch

from bertlab.config import get_preset
from bertlab.distill.trainer import BertForDistillation, DistillationTask, make_student
from bertlab.model import BertForPreTraining
from bertlab.train.checkpoint import load_weights
from bertlab.train.loop import TrainSettings, train

from train_helpers import T, V, assert_ddp_matches, synthetic_batch

FAST = dict(progress=False, device="cpu", precision="fp32", log_every=5, learning_rate=3e-3, warmup=2)
NO_DROPOUT = dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def config(**kw):
    base = dict(vocab_size=V, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                max_position_embeddings=T)
    base.update(kw)
    return get_preset("tiny", **base)


def teacher_model(seed=0, **kw):
    torch.manual_seed(seed)
    return BertForPreTraining(config(num_hidden_layers=4, hidden_size=48, num_attention_heads=4, **kw)).eval()


def test_tinybert_distillation_learns_and_logs_components(tmp_path):
    teacher = teacher_model()
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    torch.manual_seed(1)
    student = make_student(config(hidden_size=16), teacher, "tinybert", share_hidden=False)
    task = DistillationTask(teacher, student, "tinybert", weights={"pred_nsp": 1.0},
                            eval_batches=[synthetic_batch(999)])
    result = train(student, task, lambda s: synthetic_batch(s, fixed=True), TrainSettings(steps=30, **FAST),
                   tmp_path / "run")
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    trains = [r for r in records if r["split"] == "train"]
    evals = [r for r in records if r["split"] == "eval"]
    assert result.status == "finished" and trains[-1]["loss"] < 0.7 * trains[0]["loss"]
    for key in ("loss_emb", "loss_attn", "loss_hidn", "loss_pred", "loss_pred_nsp", "mlm_acc", "nsp_acc"):
        assert key in trains[0] and key in evals[-1], key
    parts = sum(trains[-1][f"loss_{k}"] for k in ("emb", "attn", "hidn", "pred", "pred_nsp"))
    assert trains[-1]["loss"] == pytest.approx(parts)
    assert {"teacher_mlm_acc", "teacher_nsp_acc"} <= set(evals[-1])
    assert all(torch.equal(v, before[k]) for k, v in teacher.state_dict().items())  # the teacher never moves
    # the run folder's weights load back into the same class (what load_run will rebuild)
    again = BertForDistillation(student.config, **student.model_kwargs)
    load_weights(again, tmp_path / "run" / "model.safetensors")
    assert torch.equal(again.projections.W_h[1].weight, student.projections.W_h[1].weight)


def test_distilbert_student_starts_from_every_other_teacher_layer_and_learns():
    torch.manual_seed(0)
    teacher = BertForPreTraining(config(num_hidden_layers=4)).eval()
    student = make_student(config(), teacher, "distilbert")
    s, t = student.bert.encoder, teacher.bert.encoder
    assert torch.equal(s.ffn_blocks[1].output.weight, t.ffn_blocks[2].output.weight)
    assert isinstance(student.projections.W_e, torch.nn.Identity)  # same width: nothing to learn
    task = DistillationTask(teacher, student, "distilbert")
    result = train(student, task, lambda s: synthetic_batch(s, fixed=True), TrainSettings(steps=20, **FAST))
    last = result.last_train
    assert last["loss"] == pytest.approx(5 * last["loss_ce"] + 2 * last["loss_mlm"] + last["loss_cos"])
    assert last["loss_mlm"] == last["mlm_loss"]  # the hard MLM loss is the student's own


@pytest.mark.parametrize("method", ["tinybert", "distilbert"])
def test_gradient_accumulation_equals_one_big_batch(method):
    """Each component is rescaled by its micro-batch's share of real tokens / attention pairs / masked tokens."""
    teacher = teacher_model(**NO_DROPOUT) if method == "tinybert" else \
        BertForPreTraining(config(num_hidden_layers=4, **NO_DROPOUT)).eval()
    models = []
    for accumulation in (1, 4):
        torch.manual_seed(1)
        student = make_student(config(**NO_DROPOUT), teacher, method)
        task = DistillationTask(teacher, student, method, weights={"pred_nsp": 1.0})
        train(student, task, synthetic_batch, TrainSettings(steps=3, grad_accumulation=accumulation, **FAST))
        models.append(student)
    for key, value in models[0].state_dict().items():
        assert torch.allclose(value, models[1].state_dict()[key], atol=1e-5), key


def test_task_refuses_incompatible_pairs():
    teacher = teacher_model()
    with pytest.raises(ValueError, match="vocabulary 50 differs"):
        DistillationTask(teacher, make_student(config(vocab_size=50, hidden_size=16), teacher), "tinybert")
    with pytest.raises(ValueError, match="3 heads and the teacher 4"):
        DistillationTask(teacher, make_student(config(hidden_size=24, num_attention_heads=3), teacher))
    assert DistillationTask(teacher, make_student(config(hidden_size=24, num_attention_heads=3), teacher),
                            weights={"attn": 0})  # no attention loss: head counts do not matter
    with pytest.raises(ValueError, match="every tinybert loss weight is 0"):
        DistillationTask(teacher, make_student(config(), teacher),
                         weights={"emb": 0, "attn": 0, "hidn": 0, "pred": 0})
    with pytest.raises(ValueError, match="explicit layer map"):
        DistillationTask(teacher, make_student(config(num_hidden_layers=3), teacher))
    other = BertForDistillation(config(), teacher_hidden_size=64)
    with pytest.raises(ValueError, match="make_student"):
        DistillationTask(teacher, other)
    with pytest.raises(TypeError, match="BertForDistillation"):
        DistillationTask(teacher, BertForPreTraining(config()))


DDP_SCRIPT = """
import sys; sys.path.insert(0, {tests!r})
from safetensors.torch import save_file
import torch.distributed as dist
from bertlab.train.loop import TrainSettings, train
from test_distill_trainer import FAST, distilbert_pair
from train_helpers import synthetic_batch
teacher, student, task = distilbert_pair()
train(student, task, synthetic_batch, TrainSettings(steps=3, **FAST))
if dist.get_rank() == 0:
    save_file({{k: v.contiguous() for k, v in student.state_dict().items()}}, {out!r})
from bertlab.train.distributed import cleanup
cleanup()
"""


def distilbert_pair():
    torch.manual_seed(0)
    teacher = BertForPreTraining(config(num_hidden_layers=4, **NO_DROPOUT)).eval()
    student = make_student(config(**NO_DROPOUT), teacher, "distilbert")
    return teacher, student, DistillationTask(teacher, student, "distilbert")


def test_unused_heads_are_frozen_and_ddp_matches_one_process(tmp_path):
    """DistilBERT trains no NSP head: it is frozen, else DDP would wait for its gradient forever."""
    _, single, task = distilbert_pair()
    assert task.frozen == ["projections.W_e", "projections.W_h", "nsp", "bert.pooler"]
    assert not single.nsp.classifier.weight.requires_grad and single.mlm.dense.weight.requires_grad
    train(single, task, synthetic_batch, TrainSettings(steps=3, **FAST))
    assert_ddp_matches(single, DDP_SCRIPT, tmp_path)
