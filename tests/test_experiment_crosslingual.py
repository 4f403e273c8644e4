"""`bertlab experiment cross-lingual` in its quick (FAST) mode, and its retrieval scoring."""

from __future__ import annotations

import json

import torch

from bertlab.cli import main
from bertlab.experiments import cross_lingual


def test_quick_experiment_writes_table_figure_and_reuses_its_runs(tmp_path, capsys):
    assert main(["experiment", "cross-lingual", "--quick", "--out", str(tmp_path), "--quiet"]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["entries"] == 50 and results["vocab_size"] == 16384
    assert results["summary"]["chance"]["zh→en"]["1"]["mean"] == 1 / 50
    for row in cross_lingual.ROWS + ("mlm+tlm centred",):
        for direction in cross_lingual.DIRECTIONS:
            s = results["summary"][row][direction]
            assert 0 <= s["1"]["worst"] <= s["1"]["mean"] <= s["10"]["mean"] <= 1
    table = (tmp_path / "results.md").read_text()
    assert "| MLM + TLM (XLM) |" in table and "| LASER-style (translation ranking) |" in table
    assert "| model (centred) |" in table and "Translation cloze" in table
    for row in cross_lingual.CLOZE_ROWS:
        assert all(0 <= v <= 1 for side in ("zh", "en") for v in results["cloze"][row][side].values())
    assert results["figure_error"] is not None or (tmp_path / "retrieval.png").stat().st_size > 1000
    config = json.loads((tmp_path / "mlm-tlm-seed0" / "config.json").read_text())
    assert config["model"]["num_languages"] == 2 and config["options"]["objective"] == "xlm-mlm+tlm"
    laser = json.loads((tmp_path / "laser-seed0" / "config.json").read_text())
    assert laser["model"]["num_languages"] == 0 and laser["baselines"]["rank_chance"] == 1 / 64
    before = (tmp_path / "mlm-seed0" / "model.safetensors").stat().st_mtime
    capsys.readouterr()
    assert main(["experiment", "cross-lingual", "--quick", "--out", str(tmp_path), "--quiet"]) == 0
    assert (tmp_path / "mlm-seed0" / "model.safetensors").stat().st_mtime == before  # reused, not retrained


def test_bad_options_are_one_line_errors(capsys):
    assert main(["experiment", "cross-lingual", "--quick", "--steps", "0"]) == 2
    assert "--steps must be positive" in capsys.readouterr().err


class _Lookup(torch.nn.Module):
    """A stand-in encoder whose pooled embedding is one learned vector per token id (shaped like a BertModel:
    ``embeddings`` and an ``encoder`` that passes them through)."""

    def __init__(self, vocab_size: int):
        super().__init__()
        self.embeddings = torch.nn.Embedding(vocab_size, 8)
        self.encoder = torch.nn.Identity()

    def forward(self, input_ids, attention_mask=None, **_):
        from types import SimpleNamespace

        return SimpleNamespace(last_hidden_state=self.encoder(self.embeddings(input_ids)))


def test_retrieval_scores_count_ranks_both_ways(news_tokenizer):
    pairs = [("cat", "cat"), ("dog", "dog"), ("bank", "bank"), ("river", "river")]  # identical sides: perfect
    model = _Lookup(news_tokenizer.get_vocab_size())
    scores = cross_lingual.retrieval_scores(model, news_tokenizer, pairs, ks=(1, 2))
    assert scores == {"zh→en": {1: 1.0, 2: 1.0}, "en→zh": {1: 1.0, 2: 1.0}}
    shifted = [(zh, pairs[(i + 1) % 4][1]) for i, (zh, _) in enumerate(pairs)]  # every answer wrong
    assert cross_lingual.retrieval_scores(model, news_tokenizer, shifted, ks=(1,))["zh→en"][1] == 0.0
