"""WordPiece tokenizers: special tokens, caching, word ids for whole-word masking, Chinese by character."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tokenizers import Tokenizer, models

from bertlab.data import (SPECIAL_TOKENS, Corpus, get_tokenizer, load_tokenizer, save_tokenizer, tokenize_corpus,
                          train_tokenizer)
from bertlab.data.tokenizer import encode_words, tokenizer_cache_path


def test_special_tokens_are_fixed(news_tokenizer, zh_tokenizer):
    for tok in (news_tokenizer, zh_tokenizer):
        assert [tok.token_to_id(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    enc = news_tokenizer.encode("my dog is hairy", "he bought a gallon of milk")
    assert enc.tokens[0] == "[CLS]" and enc.tokens.count("[SEP]") == 2
    sep = enc.tokens.index("[SEP]")
    assert set(enc.type_ids[:sep + 1]) == {0} and set(enc.type_ids[sep + 1:]) == {1}


def test_vocab_size_and_lowercase(news_corpus):
    lower = train_tokenizer((" ".join(s) for s in news_corpus.sentences()), vocab_size=1000, lowercase=True)
    cased = train_tokenizer((" ".join(s) for s in news_corpus.sentences()), vocab_size=1000, lowercase=False)
    assert lower.get_vocab_size() == 1000 == cased.get_vocab_size()
    assert lower.encode("Sydney").tokens == lower.encode("sydney").tokens
    assert cased.encode("Sydney").tokens != cased.encode("sydney").tokens
    assert any(t.startswith("##") for t in lower.get_vocab())  # WordPiece continuations


def test_cache_is_keyed_by_corpus_and_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("BERTLAB_CACHE", str(tmp_path))
    corpus = Corpus("tiny", "en", [[["the", "cat", "sat", "on", "the", "mat"]] * 3, [["a", "dog", "ran"]]])
    tok = get_tokenizer(corpus, vocab_size=60)
    path = tokenizer_cache_path(corpus, 60, True)
    assert path.exists() and path.parent == tmp_path / "tokenizers"
    assert corpus.fingerprint in path.name and "v60" in path.name and "lower" in path.name
    assert get_tokenizer(corpus, vocab_size=60).to_str() == tok.to_str()
    assert tokenizer_cache_path(corpus, 60, False) != path
    other = Corpus("tiny", "en", [[["another", "text"]]])
    assert tokenizer_cache_path(other, 60, True) != path  # same name, different content


def test_save_and_load_round_trip(tmp_path, news_tokenizer):
    path = save_tokenizer(news_tokenizer, tmp_path / "run" / "tokenizer.json")
    loaded = load_tokenizer(tmp_path / "run")
    assert loaded.encode("a test sentence").ids == news_tokenizer.encode("a test sentence").ids
    assert json.loads(path.read_text(encoding="utf-8"))["model"]["type"] == "WordPiece"
    bad = Tokenizer(models.WordPiece({"[UNK]": 0, "[PAD]": 1, "a": 2}, unk_token="[UNK]"))
    bad.save(str(tmp_path / "bad.json"))
    with pytest.raises(ValueError, match=r"bad.json: \[PAD\] has id 1, expected 0"):
        load_tokenizer(tmp_path / "bad.json")


def test_word_ids_group_wordpieces(news_tokenizer):
    words = ["the", "government", "is", "antidisestablishmentarianism"]
    enc = encode_words(news_tokenizer, [words])[0]
    assert sorted(set(enc.word_ids)) == [0, 1, 2, 3] and enc.word_ids == sorted(enc.word_ids)
    for w, word in enumerate(words):
        pieces = [t for t, i in zip(enc.tokens, enc.word_ids) if i == w]
        assert not pieces[0].startswith("##") and all(p.startswith("##") for p in pieces[1:])
        assert "".join(pieces).replace("##", "") == word
    assert len([i for i in enc.word_ids if i == 3]) > 1  # a long word: several WordPieces, one word id


def test_chinese_is_tokenized_by_character_keeping_words(zh_tokenizer):
    enc = encode_words(zh_tokenizer, [["今天", "我", "玩", "DOTA"]])[0]
    assert enc.tokens[:4] == ["今", "天", "我", "玩"]
    assert enc.word_ids[:4] == [0, 0, 1, 2]  # 今 and 天 belong to one word
    assert all(w == 3 for w in enc.word_ids[4:]) and "".join(enc.tokens[4:]).replace("##", "") == "dota"
    assert zh_tokenizer.encode("１９９８年").tokens[1] == "1998"  # NFKC: full-width digits


def test_tokenized_corpus_is_flat_and_consistent(news_corpus, news_tokenizer):
    tokens = tokenize_corpus(news_corpus, news_tokenizer)
    assert tokens.num_documents == news_corpus.num_documents
    assert tokens.sentence_starts[-1] == tokens.num_tokens == len(tokens.ids) == len(tokens.word_index)
    assert tokens.ids.min() >= 5  # no special tokens inside the corpus
    assert np.all(np.diff(tokens.word_index) >= 0)  # words numbered in order
    first = news_corpus.documents[0][0]
    start, end = tokens.sentence_ranges(0)[0]
    expected = encode_words(news_tokenizer, [first])[0].ids
    assert tokens.ids[start:end].tolist() == expected
    assert tokens.document_of_token(int(tokens.sentence_starts[tokens.document_starts[5]])) == 5
