"""XLM's TLM inputs, language embeddings, the cross-lingual dataset and the translation-ranking loss."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bertlab.config import BertConfig
from bertlab.data import CLS_ID, IGNORE_INDEX, MASK_ID, SEP_ID, load_corpus
from bertlab.data.crosslingual import LANGUAGE_IDS, CrossLingualDataset, side_batch, tlm_example
from bertlab.model import BertForPreTraining, BertModel
from bertlab.train.ranking import mean_pool, ranking_loss, sentence_embeddings

EN, ZH = LANGUAGE_IDS["en"], LANGUAGE_IDS["zh"]
PAIRS = [("中国", "china"), ("猫", "cat"), ("狗", "dog"), ("书", "book; letter"), ("天气", "weather"),
         ("今天", "today"), ("报纸", "newspaper"), ("银行", "bank"), ("人民", "the people"), ("经济", "economy")] * 4


def test_tlm_example_positions_restart_and_languages_per_half():
    ex = tlm_example([10, 11, 12], [20, 21], ZH, EN)
    assert ex["input_ids"].tolist() == [CLS_ID, 10, 11, 12, SEP_ID, 20, 21, SEP_ID]
    assert ex["position_ids"].tolist() == [0, 1, 2, 3, 4, 1, 2, 3]  # the translation starts again at 1
    assert ex["language_ids"].tolist() == [ZH] * 5 + [EN] * 3
    assert ex["special_tokens_mask"].tolist() == [True, False, False, False, True, False, False, True]


def test_tlm_example_cuts_the_longer_side_to_fit():
    ex = tlm_example(list(range(10, 14)), list(range(20, 40)), EN, ZH, max_seq_length=12)
    assert len(ex["input_ids"]) == 12
    assert ex["input_ids"].tolist()[:6] == [CLS_ID, 10, 11, 12, 13, SEP_ID]  # the short side is kept whole
    assert ex["position_ids"].tolist()[5:] == [5, 1, 2, 3, 4, 5, 6]


@pytest.fixture(scope="module")
def tlm_data(news_tokenizer):
    return CrossLingualDataset("tlm", news_tokenizer, pairs=PAIRS, seed=3)


def test_tlm_batches_mask_both_halves_and_are_seeded(tlm_data):
    first_half = second_half = 0
    for step in range(40):
        batch = tlm_data.batch(step, 16)
        real = batch["attention_mask"] == 1
        half = ((batch["position_ids"] == 1) & real).long().cumsum(1) - 1  # (B, T): 0 first half, 1 second
        chosen = batch["labels"] != IGNORE_INDEX
        first_half += int((chosen & (half == 0)).sum())
        second_half += int((chosen & (half == 1)).sum())
        assert not chosen[batch["input_ids"] == CLS_ID].any() and (batch["token_type_ids"] == 0).all()
        for row in range(16):  # each half in one language, the two halves in different ones
            first, second = (batch["language_ids"][row][real[row] & (half[row] == h)] for h in (0, 1))
            assert len(set(first.tolist())) == len(set(second.tolist())) == 1 and first[0] != second[0]
    assert first_half > 20 and second_half > 20
    again = tlm_data.batch(7, 16)
    assert torch.equal(again["input_ids"], tlm_data.batch(7, 16)["input_ids"])
    assert (again["input_ids"] == MASK_ID).any() or (again["labels"] != IGNORE_INDEX).any()


def test_mlm_plus_tlm_alternates_and_mlm_batches_are_one_language(news_tokenizer):
    news = load_corpus("news-en")
    data = CrossLingualDataset("xlm-mlm+tlm", news_tokenizer, {"en": news}, PAIRS, max_seq_length=32)
    assert [data.kind_of_step(s) for s in range(4)] == ["mlm", "tlm", "mlm", "tlm"]
    mlm = data.batch(0, 8)
    assert (mlm["language_ids"] == EN).all() and "position_ids" not in mlm
    assert "position_ids" in data.batch(1, 8)
    assert abs(sum(data.language_probabilities.values()) - 1) < 1e-9


def test_language_embeddings_off_by_default_and_saved_in_the_config(tmp_path):
    off = BertConfig(vocab_size=100, hidden_size=16, num_attention_heads=2, intermediate_size=32)
    assert off.num_languages == 0 and BertModel(off).embeddings.language_embeddings is None
    on = off.replace(num_languages=2)
    on.to_json(tmp_path / "config.json")
    assert json.loads((tmp_path / "config.json").read_text())["num_languages"] == 2
    assert BertConfig.from_json(tmp_path / "config.json") == on
    assert BertConfig.from_dict({k: v for k, v in off.to_dict().items() if k != "num_languages"}) == off
    with pytest.raises(ValueError, match="num_languages"):
        off.replace(num_languages=-1)


def test_language_ids_change_the_output_only_with_language_embeddings():
    config = BertConfig(vocab_size=100, hidden_size=16, num_attention_heads=2, intermediate_size=32,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    ids = torch.randint(5, 100, (2, 6))
    for languages, differs in ((0, False), (2, True)):
        torch.manual_seed(0)
        model = BertModel(config.replace(num_languages=languages)).eval()
        a = model(ids, language_ids=torch.zeros_like(ids)).last_hidden_state
        b = model(ids, language_ids=torch.ones_like(ids)).last_hidden_state
        assert torch.allclose(a, model(ids).last_hidden_state)  # None means language 0
        assert (not torch.allclose(a, b)) == differs
    with pytest.raises(ValueError, match="num_languages is 2"):
        model(ids, language_ids=torch.full_like(ids, 2))


def test_pretraining_model_takes_tlm_batches(tlm_data):
    config = BertConfig(vocab_size=tlm_data.collator.vocab_size, hidden_size=16, num_attention_heads=2,
                        intermediate_size=32, num_languages=2)
    batch = tlm_data.batch(0, 8)
    out = BertForPreTraining(config)(**{k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids",
                                                              "labels", "position_ids", "language_ids")})
    assert out.mlm_loss is not None and torch.isfinite(out.mlm_loss)


def test_ranking_loss_rewards_aligned_pairs():
    torch.manual_seed(0)
    u = torch.randn(16, 8)
    aligned, scores = ranking_loss(u, u + 0.01 * torch.randn(16, 8))
    shuffled, _ = ranking_loss(u, u[torch.randperm(16)])
    assert scores.shape == (16, 16) and (scores.argmax(1) == torch.arange(16)).all()
    assert aligned < 0.1 < np.log(16) / 2 < shuffled
    v = torch.randn(16, 8, requires_grad=True)
    ranking_loss(u, v)[0].backward()
    assert v.grad.abs().sum() > 0


def test_mean_pool_leaves_out_special_tokens_and_padding():
    ids = torch.tensor([[CLS_ID, 7, 8, SEP_ID, 0]])
    hidden = torch.arange(5.0).view(1, 5, 1).expand(1, 5, 3)
    pooled = mean_pool(hidden, ids, torch.tensor([[1, 1, 1, 1, 0]]))
    assert pooled.tolist() == [[1.5, 1.5, 1.5]]


def test_ranking_batches_and_sentence_embeddings(news_tokenizer):
    data = CrossLingualDataset("translation-ranking", news_tokenizer, pairs=PAIRS)
    batch = data.batch(0, 8)
    assert batch["input_ids"].shape == batch["pair_input_ids"].shape
    assert (batch["language_ids"][batch["attention_mask"] == 1] == ZH).all()
    assert (batch["pair_language_ids"][batch["pair_attention_mask"] == 1] == EN).all()
    model = BertForPreTraining(BertConfig(vocab_size=news_tokenizer.get_vocab_size(), hidden_size=16,
                                          num_attention_heads=2, intermediate_size=32))
    emb = sentence_embeddings(model, news_tokenizer, ["cat", "the dog", "a bank"], "en")
    assert emb.shape == (3, 16) and torch.allclose(emb.norm(dim=1), torch.ones(3))
    assert side_batch(news_tokenizer, ["cat"], "en")["input_ids"][0, 0] == CLS_ID


def test_export_to_transformers_refuses_language_embeddings():
    from bertlab.interop.transformers import transformers_family

    with pytest.raises(ValueError, match="num_languages=2: XLM's language embeddings"):
        transformers_family(BertConfig(vocab_size=100, hidden_size=16, num_attention_heads=2, num_languages=2))
