"""Compression (bertlab.family.compression): int8 quantization, magnitude and head pruning, save / load."""

from __future__ import annotations

import copy
import json

import pytest
import torch
import torch.nn.functional as F

from bertlab.config import get_preset
from bertlab.family import compression as c
from bertlab.model import BertForPreTraining


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    config = get_preset("tiny", vocab_size=300, hidden_size=48, num_attention_heads=4, intermediate_size=96,
                        num_hidden_layers=3)
    m = BertForPreTraining(config).eval()
    with torch.no_grad():  # larger biases than the init's zeros, so a lost bias would show
        for name, p in m.named_parameters():
            if name.endswith("bias"):
                p.normal_(0, 0.1)
    return m


def make_batch(seed: int = 0, B: int = 5, T: int = 14) -> dict:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 300, (B, T), generator=g)
    mask = torch.ones(B, T, dtype=torch.long)
    mask[0, 9:] = 0  # one padded example
    labels = torch.full((B, T), -100)
    labels[:, 2::4] = ids[:, 2::4]
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids), "labels": labels,
            "next_sentence_label": torch.zeros(B, dtype=torch.long)}


@pytest.fixture(scope="module")
def batch():
    return make_batch()


def logits(model, batch) -> torch.Tensor:
    with torch.no_grad():
        return model(**{k: v for k, v in batch.items() if k != "next_sentence_label"}).masked_lm_logits


def roundtrip(model, path, batch, weights="dense"):
    """Save, load back, and check the loaded model gives the very same outputs."""
    sizes = c.save_compressed(model, path)
    back = c.load_compressed(path, weights=weights)
    assert torch.equal(logits(back, batch), logits(model, batch))
    return back, sizes


def test_int8_is_close_smaller_and_loads_back(model, batch, tmp_path):
    q = c.quantize_int8(model)
    assert not any(isinstance(m, torch.nn.Linear) for m in q.modules())  # every Linear replaced
    assert any(isinstance(m, torch.nn.Linear) for m in model.modules())  # the original untouched
    ref, out = logits(model, batch), logits(q, batch)
    assert not torch.equal(out, ref)
    assert (out - ref).abs().max() < 0.05 * ref.abs().max()  # small error, relative to the logits' scale
    back, sizes = roundtrip(q, tmp_path / "q", batch)
    dense = c.save_compressed(model, tmp_path / "fp32")[c.DENSE_FILE]
    assert sizes[c.DENSE_FILE] == (tmp_path / "q" / c.DENSE_FILE).stat().st_size  # sizes are the real files
    assert sizes[c.DENSE_FILE] < 0.75 * dense
    assert c.count_weights(back)["total"] == model.num_parameters()  # same numbers, stored smaller
    assert json.loads((tmp_path / "q" / "compression.json").read_text())["steps"] == [{"method": "int8-dynamic"}]


def test_zero_sparsity_is_identical(model, batch):
    assert torch.equal(logits(c.prune_unstructured(model, 0.0), batch), logits(model, batch))


@pytest.mark.parametrize("sparsity", [0.3, 0.7])
def test_reported_sparsity_is_the_real_share_of_zeros(model, batch, sparsity, tmp_path):
    pruned = c.prune_unstructured(model, sparsity)
    weights = [m.weight for m in c.encoder_linears(pruned).values()]
    zeros = sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)
    assert c.sparsity_of(pruned) == pytest.approx(zeros)
    assert zeros == pytest.approx(sparsity, abs=1e-3)
    assert c.sparsity_of(model) == 0.0
    # global, by magnitude: every weight kept is at least as large as every weight removed
    kept = torch.cat([w[w != 0].abs() for w in weights])
    removed = torch.cat([o.weight[w == 0].abs() for o, w in zip(c.encoder_linears(model).values(), weights)])
    assert kept.min() >= removed.max()
    # heads and embeddings untouched
    assert torch.equal(pruned.bert.embeddings.word_embeddings.weight, model.bert.embeddings.word_embeddings.weight)
    back, sizes = roundtrip(pruned, tmp_path / "p", batch)
    assert c.sparsity_of(back) == c.sparsity_of(pruned)
    c.load_compressed(tmp_path / "p", weights="sparse")  # the CSR copy loads to the same numbers
    assert torch.equal(logits(c.load_compressed(tmp_path / "p", weights="sparse"), batch), logits(pruned, batch))
    fp32 = c.save_compressed(model, tmp_path / "fp32")[c.DENSE_FILE]
    assert sizes[c.DENSE_FILE] == fp32  # a dense file does not shrink
    if sparsity == 0.7:
        assert sizes[c.SPARSE_FILE] < fp32  # CSR does, well above 1/3 sparsity


def test_head_pruning_removes_exactly_those_heads_and_matches_masking(model, batch, tmp_path):
    heads = {0: [1, 3], 2: [0]}
    pruned = c.prune_heads(model, heads)
    assert c.heads_left(pruned) == [2, 4, 3] and c.heads_left(model) == [4, 4, 4]
    d = model.config.head_dim
    for b, left in enumerate(c.heads_left(pruned)):
        block, original = pruned.bert.encoder.attention_blocks[b], model.bert.encoder.attention_blocks[b]
        for name in ("query", "key", "value"):
            assert getattr(block.attention, name).weight.shape == (left * d, 48)
        assert block.output.weight.shape == (48, left * d)
    # the rows kept are the other heads' rows, in order
    q0, q0_orig = pruned.bert.encoder.attention_blocks[0].attention.query.weight, \
        model.bert.encoder.attention_blocks[0].attention.query.weight
    assert torch.equal(q0, torch.cat([q0_orig[0:d], q0_orig[2 * d:3 * d]]))
    assert pruned.num_parameters() == model.num_parameters() - 3 * (4 * 48 * d + 3 * d)
    with c.mask_heads(model, heads):
        reference = logits(model, batch)
    assert torch.allclose(logits(pruned, batch), reference, atol=1e-5)
    assert not torch.allclose(logits(model, batch), reference, atol=1e-3)  # masking does change the output
    with torch.no_grad():  # the eager attention path (attention maps asked for) agrees as well
        out = pruned(batch["input_ids"], batch["attention_mask"], output_attentions=True)
    assert [a.shape[1] for a in out.attentions] == [2, 4, 3]
    back, _ = roundtrip(pruned, tmp_path / "h", batch)
    assert c.heads_left(back) == [2, 4, 3]
    hq = c.quantize_int8(pruned)  # steps compose: heads, then int8
    back, _ = roundtrip(hq, tmp_path / "hq", batch)
    assert [s["method"] for s in back.compression_steps] == ["heads", "int8-dynamic"]


def test_head_importance_is_the_gate_gradient(model):
    batch = make_batch(1)
    scores = c.head_importance(model, [batch], normalize=False)
    assert [s.shape for s in scores] == [(4,)] * 3
    # finite difference of example 0's summed MLM loss in the gate of block 1, head 2 (Michel et al. §3.1)
    single = {k: v[:1] for k, v in batch.items()}

    double = copy.deepcopy(model).double()

    def loss(xi: float) -> float:
        gates = [torch.ones(4, dtype=torch.float64) for _ in range(3)]
        gates[1][2] = xi
        with torch.no_grad(), c.head_gates(double, gates):
            out = double(single["input_ids"], single["attention_mask"], labels=single["labels"])
        # summed over the masked tokens, in float64 (the model's own loss is computed in float32)
        return float(F.cross_entropy(out.masked_lm_logits, out.masked_lm_labels, reduction="sum"))

    eps = 1e-5
    derivative = (loss(1 + eps) - loss(1 - eps)) / (2 * eps)
    per_example = c.head_importance(model, [single], normalize=False)
    assert per_example[1][2].item() == pytest.approx(abs(derivative), rel=1e-3)
    normalized = c.head_importance(model, [batch])
    assert all(torch.linalg.norm(s).item() == pytest.approx(1.0) for s in normalized)


def test_select_heads_is_global_lowest_and_keeps_one_per_block():
    scores = [torch.tensor([0.1, 0.2, 0.9]), torch.tensor([0.05, 0.06, 0.07]), torch.tensor([0.8, 0.7, 0.6])]
    assert c.select_heads(scores, 3 / 9) == {0: [0], 1: [0, 1]}
    chosen = c.select_heads(scores, 0.6)  # 5 heads; block 1 keeps its best head
    assert chosen == {0: [0, 1], 1: [0, 1], 2: [2]}
    with pytest.raises(ValueError, match="fraction"):
        c.select_heads(scores, 1.0)


def test_bad_input_is_a_clear_error(model):
    with pytest.raises(ValueError, match="sparsity"):
        c.prune_unstructured(model, 1.5)
    with pytest.raises(ValueError, match="at least one"):
        c.prune_heads(model, {0: [0, 1, 2, 3]})
    with pytest.raises(ValueError, match="block 7"):
        c.prune_heads(model, {7: [0]})
    with pytest.raises(ValueError, match="before quantizing"):
        c.prune_heads(c.quantize_int8(model), {0: [0]})


def test_a_file_that_does_not_fit_is_refused(model, tmp_path):
    c.save_compressed(c.prune_heads(model, {0: [0]}), tmp_path / "h")
    data = json.loads((tmp_path / "h" / "config.json").read_text())
    data["compression"] = []  # the steps no longer describe the weights
    (tmp_path / "h" / "config.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="does not fit"):
        c.load_compressed(tmp_path / "h")


def test_cpu_latency_times_every_model(model, batch):
    times = c.cpu_latency({"a": model, "b": c.quantize_int8(model)}, batch, repeats=2, warmup=1)
    assert set(times) == {"a", "b"} and all(t > 0 for t in times.values())


def test_experiment_quick_runs_end_to_end(tmp_path, capsys):
    from bertlab.cli import main

    assert main(["experiment", "compression", "--quick", "--out", str(tmp_path), "--quiet",
                 "--sparsities", "0.5", "--head-fractions", "0.5", "--teacher-steps", "10", "--student-steps", "5",
                 "--repeats", "1"]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    methods = [r["method"] for r in results["rows"]]
    assert methods[0] == "original" and "int8 dynamic" in methods and "TinyBERT student" in methods
    rows = {r["method"]: r for r in results["rows"]}
    for r in rows.values():
        assert r["size_bytes"] == (tmp_path / "models" / r["folder"].split("/")[-1] / c.DENSE_FILE).stat().st_size
        assert 0.0 <= r["mlm_acc"] <= 1.0 and 0.0 <= r["mlm_acc_mask"] <= 1.0 and r["latency_ms"] > 0
    assert rows["int8 dynamic"]["size_bytes"] < rows["original"]["size_bytes"]
    assert rows["pruned 50% (unstructured)"]["sparsity"] == pytest.approx(0.5, abs=1e-3)
    assert "| method | parameters | size on disk (MiB)" in capsys.readouterr().out
    assert (tmp_path / "results.md").exists()


def test_shared_layers_prune_the_shared_block_once(batch):
    """ALBERT (§3.1): one attention block applied at every layer; removing its head removes it everywhere."""
    torch.manual_seed(1)
    albert = BertForPreTraining(get_preset("tiny", vocab_size=300, hidden_size=48, num_attention_heads=4,
                                           intermediate_size=96, num_hidden_layers=3, share_layers="all")).eval()
    pruned = c.prune_heads(albert, {0: [2]})
    assert c.heads_left(pruned) == [3]
    with c.mask_heads(albert, {0: [2]}):
        reference = logits(albert, batch)
    assert torch.allclose(logits(pruned, batch), reference, atol=1e-5)
    assert [s.shape for s in c.head_importance(albert, [batch])] == [(4,)]


def test_bad_sparsities_are_refused_before_anything_trains():
    import argparse

    from bertlab.experiments import compression

    parser = argparse.ArgumentParser()
    compression.add_arguments(parser)
    with pytest.raises(ValueError, match=r"--sparsities: every value must be in \[0, 1\)"):
        compression.plan_from_args(parser.parse_args(["--quick", "--sparsities", "0.5,1.5"]))
    assert compression.plan_from_args(parser.parse_args(["--quick", "--sparsities", "0.5"])).sparsities == (0.5,)
