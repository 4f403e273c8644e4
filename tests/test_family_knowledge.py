"""ERNIE 1.0 knowledge masking (bertlab.family.knowledge): entities and phrases masked whole, at ~15 % of tokens."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bertlab.data import IGNORE_INDEX, MASK_ID, PretrainingDataset, get_tokenizer, load_corpus
from bertlab.family.knowledge import (ENTITY, PHRASE, WORD, capitalised_spans, chinese_spans, english_spans,
                                      entity_cloze, knowledge_units, lay_out, span_statistics)


def _held_out(name: str):
    return load_corpus(name).split(0.1, seed=0)[1]


@pytest.fixture(scope="module")
def zh_data(zh_tokenizer):
    return PretrainingDataset(_held_out("peoples-daily-zh"), zh_tokenizer, max_seq_length=128, objective="mlm",
                              masking_unit="knowledge")


@pytest.fixture(scope="module")
def wiki_data():
    corpus = load_corpus("wiki-en")
    return PretrainingDataset(corpus.split(0.1, seed=0)[1], get_tokenizer(corpus, vocab_size=4096),
                              max_seq_length=128, objective="mlm+nsp", masking_unit="knowledge")


def _masks(data, draws: int, batch_size: int = 64):
    """(chosen, unit ids, kinds, special) of ``draws`` seeded batches, each (B, L)."""
    L = data.max_seq_length
    parts = []
    for step in range(draws):
        epoch, index = data.batch_indices(step, batch_size)
        examples = data.examples(epoch)  # NSP pairs differ between epochs
        kinds = lay_out(examples.instances, data.units.kind, L)
        rows = examples.rows(index)
        pad = L - rows["input_ids"].shape[1]
        chosen = data.batch(step, batch_size)["labels"] != IGNORE_INDEX
        parts.append((torch.nn.functional.pad(chosen, (0, pad)),
                      torch.nn.functional.pad(torch.from_numpy(rows["word_ids"]).long(), (0, pad), value=-1),
                      torch.from_numpy(kinds[index]).long(),
                      torch.nn.functional.pad(torch.from_numpy(rows["special_tokens_mask"]), (0, pad), value=True)))
    return [torch.cat(p) for p in zip(*parts)]


def _per_unit(chosen, units, kinds, special):
    """(tokens chosen, tokens, kind) of every unit of every row."""
    key = torch.where(special, -1, units + torch.arange(len(units))[:, None] * 100_000)  # unique per row
    real = ~special
    uniq, inverse = torch.unique(key[real], return_inverse=True)
    n_chosen = torch.zeros(len(uniq), dtype=torch.long).index_add_(0, inverse, chosen[real].long())
    size = torch.bincount(inverse)
    kind = torch.zeros(len(uniq), dtype=torch.long).scatter_(0, inverse, kinds[real])
    return n_chosen, size, kind


@pytest.mark.parametrize("which", ["zh_data", "wiki_data"])
def test_knowledge_masking_never_splits_an_entity(which, request):
    data = request.getfixturevalue(which)
    chosen, units, kinds, special = _masks(data, draws=12)
    assert not chosen[special].any()
    n_chosen, size, kind = _per_unit(chosen, units, kinds, special)
    assert torch.all((n_chosen == 0) | (n_chosen == size))  # every unit (entity, phrase, word) whole or not at all
    entities = kind == ENTITY
    long_entities = entities & (size > 1)
    assert long_entities.sum() > 500 and (n_chosen[long_entities] > 0).sum() > 50  # multi-token entities do get masked
    # the units really are the corpus' spans: kinds never change inside a unit
    same_unit = (units[:, 1:] == units[:, :-1]) & ~special[:, 1:]
    assert torch.equal(kinds[:, 1:][same_unit], kinds[:, :-1][same_unit])


@pytest.mark.parametrize("which", ["zh_data", "wiki_data"])
def test_token_rate_stays_near_15_percent_and_span_statistics_are_sane(which, request):
    data = request.getfixturevalue(which)
    chosen, units, kinds, special = _masks(data, draws=12)
    stats = span_statistics(chosen, units, kinds, special)
    # each unit is chosen with p = 0.15, so each token is too, whatever its unit's length (≈ 90k tokens: ±1 %)
    assert abs(stats["token_rate"] - 0.15) < 0.01, stats
    assert 0.02 < stats["entity_share"] < 0.2, stats
    assert stats["entity_mean_tokens"] > 1.5 and stats["mean_unit_tokens"] > 1.0, stats
    if which == "zh_data":  # noun-compound chunks: 2-4 words of 1-3 characters
        assert 0.03 < stats["phrase_share"] < 0.2 and 3 < stats["phrase_mean_tokens"] < 8, stats
    else:
        assert stats["phrase_share"] > 0 and 2 <= stats["phrase_mean_tokens"] < 5, stats
    assert abs(stats["word_share"] + stats["phrase_share"] + stats["entity_share"] - 1) < 1e-6


def test_units_line_up_with_the_packed_examples(zh_data):
    """pack_instances renumbers units per example: they must change exactly where the corpus units change."""
    examples = zh_data.examples(0)
    global_units = lay_out(examples.instances, zh_data.units.unit_index, zh_data.max_seq_length)
    local = examples.word_ids
    real = ~examples.special_tokens_mask
    both = real[:, 1:] & real[:, :-1]
    assert np.array_equal((np.diff(local, axis=1) != 0)[both], (np.diff(global_units, axis=1) != 0)[both])


def test_chinese_spans_find_known_entities(zh_corpus):
    from bertlab.data.builtin import peoples_daily_tags

    table = peoples_daily_tags()
    words, tags = zh_corpus.documents[0][1], table[zh_corpus.sources[0]][1]  # 中共中央 总书记 、 国家 主席 江 泽民
    assert tags == ["nt", "n", "w", "n", "n", "nr", "nr"]
    found = {"".join(words[a:b]): kind for a, b, kind in chinese_spans(tags)}
    assert found["江泽民"] == ENTITY  # a person (nr): surname and given name, one entity
    assert found["中共中央"] == ENTITY  # an organisation (nt)
    assert found["国家主席"] == PHRASE  # two nouns: one phrase
    places = set()  # places (ns) in the first real lines
    for d in range(3):
        for sentence, sentence_tags in zip(zh_corpus.documents[d], table[zh_corpus.sources[d]]):
            places |= {"".join(sentence[a:b]) for a, b, k in chinese_spans(sentence_tags)
                       if k == ENTITY and sentence_tags[a] == "ns"}
    assert {"中国", "香港", "澳门", "台湾"} <= places
    assert chinese_spans(["n", "vn", "n", "n", "n", "v"]) == [(0, 4, PHRASE)]  # the lone fifth noun stays a word
    assert chinese_spans(["nr", "nr", "ns", "w"]) == [(0, 2, ENTITY), (2, 3, ENTITY)]


def test_peoples_daily_tags_match_the_corpus_words(zh_corpus):
    from bertlab.data.builtin import _parse_peoples_daily, peoples_daily_tags

    table = peoples_daily_tags()
    documents, sources = _parse_peoples_daily()
    assert sources == zh_corpus.sources and len(table) == zh_corpus.num_documents
    for d in (0, 500, zh_corpus.num_documents - 1):
        assert [[w for w, _ in s] for s in documents[d]] == zh_corpus.documents[d]
        assert [[t for _, t in s] for s in documents[d]] == table[sources[d]]


def test_english_capitalised_span_rule():
    words = "Yesterday the Prime Minister of Australia , John Howard , visited New South Wales .".split()
    assert [" ".join(words[a:b]) for a, b in capitalised_spans(words)] == [
        "Prime Minister", "Australia", "John Howard", "New South Wales"]  # "Yesterday": a lone first word
    words = "The Beatles met Paul McCartney in Liverpool while I watched .".split()
    assert [" ".join(words[a:b]) for a, b in capitalised_spans(words)] == [
        "Beatles", "Paul McCartney", "Liverpool"]  # leading "The" and the pronoun "I" are stop words
    assert capitalised_spans("Paris is big .".split()) == []
    assert capitalised_spans("United Nations met .".split()) == [(0, 2)]  # a run at the start counts
    assert english_spans("He met John Smith .".split()) == [(2, 4, ENTITY)]  # phrases=None: entities only


def test_english_phrases_come_from_gensim_and_never_overlap_entities(wiki_data):
    from bertlab.family.knowledge import learn_phrases

    phrases = learn_phrases(list(load_corpus("wiki-en").sentences())[:5000])
    spans = english_spans("In the 19th century the French Revolution spread .".split(), phrases)
    assert (1, 3, PHRASE) not in spans  # "the 19th": starts with a stop word, never a phrase
    assert (2, 4, PHRASE) in spans and (5, 7, ENTITY) in spans  # "19th century"; "French Revolution"
    assert not any(k == PHRASE and a < 7 and b > 5 for a, b, k in spans)


def test_entity_cloze_masks_whole_entities_only(zh_data):
    examples = zh_data.examples(0)
    rows = examples.rows(np.arange(64))
    T = rows["input_ids"].shape[1]
    ids = torch.from_numpy(rows["input_ids"].astype(np.int64))
    special = torch.from_numpy(rows["special_tokens_mask"])
    units = torch.from_numpy(rows["word_ids"].astype(np.int64))
    kinds = torch.from_numpy(lay_out(examples.instances, zh_data.units.kind, zh_data.max_seq_length)[:64, :T]).long()
    masked, labels = entity_cloze(ids, special, units, kinds, 0.5, generator=torch.Generator().manual_seed(0))
    chosen = labels != IGNORE_INDEX
    assert chosen.any() and torch.all(kinds[chosen] == ENTITY)
    assert torch.all(masked[chosen] == MASK_ID) and torch.equal(masked[~chosen], ids[~chosen])
    n_chosen, size, kind = _per_unit(chosen, units, kinds, special)
    assert torch.all((n_chosen == 0) | (n_chosen == size))
    share = (n_chosen[kind == ENTITY] > 0).float().mean()
    assert 0.4 < share < 0.6  # about half of the entities


def test_masking_unit_options_and_cli_round_trip(tmp_path, capsys):
    from bertlab.cli import main
    from bertlab.pretrain import PretrainOptions

    assert PretrainOptions(whole_word=True).masking_unit == "word"  # the older flag is an alias
    assert PretrainOptions(masking_unit="word").whole_word
    assert not PretrainOptions(masking_unit="knowledge").whole_word
    with pytest.raises(ValueError, match="masking_unit must be one of"):
        PretrainOptions(masking_unit="entity")
    with pytest.raises(ValueError, match="give only one of them"):
        PretrainOptions(masking_unit="knowledge", whole_word=True)
    out = tmp_path / "run"
    code = main(["pretrain", "--corpus", "news-en", "--masking-unit", "knowledge", "--objective", "mlm",
                 "--steps", "2", "--batch-size", "8", "--max-seq-length", "32", "--vocab-size", "1024",
                 "--preset", "tiny", "--out", str(out), "--quiet"])
    assert code == 0, capsys.readouterr().err
    saved = json.loads((out / "config.json").read_text())["options"]
    assert saved["masking_unit"] == "knowledge" and saved["whole_word"] is False
    assert PretrainOptions(**saved).masking_unit == "knowledge"  # what --resume reads back
    code = main(["pretrain", "--corpus", "news-en", "--whole-word", "--steps", "1", "--out", str(tmp_path / "r2"),
                 "--masking-unit", "knowledge", "--quiet"])
    assert code == 2 and "give only one of them" in capsys.readouterr().err


def test_chinese_text_without_tags_is_refused_clearly(zh_tokenizer, tmp_path):
    path = tmp_path / "zh.txt"
    path.write_text("今天 天气 很 好 。\n我们 去 北京 。\n\n他 在 上海 工作 。\n", encoding="utf-8")
    with pytest.raises(ValueError, match="--masking-unit word"):
        PretrainingDataset(str(path), zh_tokenizer, objective="mlm", masking_unit="knowledge")


def test_word_units_are_plain_words():
    """Outside spans every word is its own unit: units == words when a sentence has no spans."""
    from bertlab.data import Corpus, tokenize_corpus

    corpus = Corpus("tiny", "en", [["the cat sat down".split(), "a dog ran off".split()]])
    tokenizer = get_tokenizer(load_corpus("news-en"), vocab_size=4096)
    tokens = tokenize_corpus(corpus, tokenizer, cache=False)
    units = knowledge_units(corpus, tokens)
    assert np.array_equal(units.unit_index, tokens.word_index) and np.all(units.kind == WORD)


@pytest.mark.slow
def test_experiment_quick_path_runs(tmp_path, capsys):
    from bertlab.cli import main

    assert main(["experiment", "knowledge-masking", "--quick", "--out", str(tmp_path), "--quiet"]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results["runs"]) == {"token", "word", "knowledge"}
    for row in results["runs"].values():
        assert 0 <= row["mlm_acc"] <= 1 and row["entities"] > 50 and row["mlm_tokens"] > 500
        assert 0 <= row["mlm_acc_mask"] <= 1 and 0 <= row["mlm_acc_unchanged"] <= 1
    assert results["runs"]["token"]["entities"] == results["runs"]["knowledge"]["entities"]  # the same cloze
    assert abs(results["knowledge_mask_statistics"]["token_rate"] - 0.15) < 0.03
    assert "| knowledge |" in (tmp_path / "results.md").read_text()
