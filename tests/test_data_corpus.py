"""Corpora: built-in real text, user files and folders, Hugging Face datasets, and clear errors."""

from __future__ import annotations

import pytest

from bertlab.data import BUILTIN_CORPORA, Corpus, load_corpus
from bertlab.data.builtin import build_news_en, clean_wiki_article
from bertlab.data.text import join_words_en, split_sentences_en, split_sentences_zh, split_words_en, text_to_sentences


# ------------------------------------------------------------------------------------------ built-in corpora
def test_wiki_en_is_real_wikipedia():
    corpus = load_corpus("wiki-en")
    assert corpus.language == "en"
    assert 90 <= corpus.num_documents <= 110  # ~100 real articles; redirects dropped
    assert 400_000 <= corpus.num_words <= 600_000
    first = corpus.documents[0]
    assert corpus.sentence_text(first[0]).startswith("Anarchism is a political philosophy")
    text = " ".join(w for doc in corpus.documents for s in doc for w in s)
    for markup in ("[[", "]]", "{{", "}}", "'''", "<ref", "#REDIRECT"):
        assert markup not in text, markup
    assert all(len(doc) >= 2 for doc in corpus.documents)


def test_news_en_has_300_stories(news_corpus):
    assert news_corpus.num_documents == 293  # 300 stories, 7 of them repeated
    assert news_corpus.sources[0].endswith("lee_background.cor:1")


def test_peoples_daily_keeps_segmentation(zh_corpus):
    assert zh_corpus.language == "zh"
    assert zh_corpus.num_documents > 1000  # articles, found from headline lines
    assert 1_000_000 <= zh_corpus.num_words <= 1_200_000
    first = zh_corpus.documents[0][0]
    assert first[:3] == ["迈向", "充满", "希望"]  # the annotators' words, tags removed
    assert not any("/" in w for w in first)


def test_builtin_parsing_is_deterministic_and_cached_copy_matches():
    docs_a, _ = build_news_en()
    docs_b, _ = build_news_en()
    assert docs_a == docs_b
    assert load_corpus("news-en").documents == docs_a


def test_wiki_cleaning_drops_markup_lists_and_references():
    markup = ("'''Foo''' is a [[bar|thing]] used by many people in the world.{{cite}}\n"
              "* a list item that is long enough to count as a paragraph here\n"
              "==History==\nIt was invented in 1900 by somebody who liked it a great deal.\n"
              "==References==\nThis sentence is in the references section and must go away.\n")
    paragraphs = clean_wiki_article(markup)
    assert paragraphs == ["Foo is a thing used by many people in the world.",
                          "It was invented in 1900 by somebody who liked it a great deal."]


# --------------------------------------------------------------------------------------------- splitting
def test_english_sentence_splitter():
    text = ('Dr. Smith went to Washington in Jan. 1999. He said "Hi!" Then J. R. R. Tolkien wrote 3.5 books. '
            "The U.S. Army is big. It was e.g. fine.")
    assert split_sentences_en(text) == [
        "Dr. Smith went to Washington in Jan. 1999.", 'He said "Hi!"',
        "Then J. R. R. Tolkien wrote 3.5 books.", "The U.S. Army is big.", "It was e.g. fine."]


def test_english_words_split_like_bert_basic_tokenizer():
    assert split_words_en("it's self-made, 3.5%") == ["it", "'", "s", "self", "-", "made", ",", "3", ".", "5", "%"]
    assert join_words_en(["it", "'", "s", "self", "-", "made", "."]) == "it's self-made."


def test_chinese_sentences_and_jieba_segmentation():
    words = ["他", "说", "：", "“", "好", "。", "”", "我", "走", "了", "！", "再见"]
    assert split_sentences_zh(words) == [["他", "说", "：", "“", "好", "。", "”"],
                                         ["我", "走", "了", "！"], ["再见"]]
    assert text_to_sentences("今天我玩DOTA", "zh") == [["今天", "我", "玩", "DOTA"]]


# ------------------------------------------------------------------------------------------------- split
def test_split_by_document_is_disjoint_and_seeded(news_corpus):
    train, held = news_corpus.split(0.1, seed=0)
    assert held.num_documents == 29 and train.num_documents == 264
    train_docs = {tuple(map(tuple, d)) for d in train.documents}
    assert not any(tuple(map(tuple, d)) in train_docs for d in held.documents)
    assert news_corpus.split(0.1, seed=0)[1].documents == held.documents
    assert news_corpus.split(0.1, seed=1)[1].documents != held.documents
    assert train.fingerprint != held.fingerprint != news_corpus.fingerprint


def test_split_keeps_identical_documents_on_one_side():
    doc, other = [["Same", "text", "."]], [["Other", "text", "."]]
    corpus = Corpus("dups", "en", [doc, other, doc, [["Third", "."]]])
    for seed in range(5):
        train, held = corpus.split(0.3, seed=seed)
        assert not any(d in train.documents for d in held.documents)


# ------------------------------------------------------------------------------------------------ user text
def test_text_file_blank_lines_separate_documents(tmp_path):
    path = tmp_path / "story.txt"
    path.write_text("The cat sat. It was happy.\nThen it slept.\n\nA new story starts here. It ends.\n",
                    encoding="utf-8")
    corpus = load_corpus(path)
    assert corpus.name == "story" and corpus.language == "en"
    assert corpus.documents == [[["The", "cat", "sat", "."], ["It", "was", "happy", "."], ["Then", "it", "slept", "."]],
                                [["A", "new", "story", "starts", "here", "."], ["It", "ends", "."]]]
    assert corpus.sources == [f"{path}:1", f"{path}:4"]


def test_folder_is_one_document_per_file(tmp_path):
    (tmp_path / "b.txt").write_text("Second file. Two sentences.", encoding="utf-8")
    (tmp_path / "a.txt").write_text("First file.\n\nStill the first document.", encoding="utf-8")
    (tmp_path / ".hidden").write_text("ignored", encoding="utf-8")
    corpus = load_corpus(tmp_path)
    assert corpus.num_documents == 2
    assert corpus.documents[0] == [["First", "file", "."], ["Still", "the", "first", "document", "."]]


def test_chinese_text_file_raw_and_presegmented(tmp_path):
    raw = tmp_path / "raw.txt"
    raw.write_text("今天我玩DOTA。老师马上点名！\n", encoding="utf-8")
    expected = [[["今天", "我", "玩", "DOTA", "。"], ["老师", "马上", "点名", "！"]]]
    assert load_corpus(raw).documents == expected
    seg = tmp_path / "seg.txt"
    seg.write_text("今天 我 玩 DOTA 。 老师 马上 点 名 ！\n", encoding="utf-8")
    corpus = load_corpus(seg)
    assert corpus.language == "zh"
    assert corpus.documents == [[["今天", "我", "玩", "DOTA", "。"], ["老师", "马上", "点", "名", "！"]]]


def test_hugging_face_dataset_offline(tmp_path):
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"text": ["One doc here. With two sentences.", "", "Another doc. Fine."],
                                     "label": [0, 1, 2]})
    corpus = load_corpus(ds)
    assert corpus.num_documents == 2  # the empty row is dropped
    assert corpus.documents[1] == [["Another", "doc", "."], ["Fine", "."]]
    ds.save_to_disk(str(tmp_path / "saved"))
    assert load_corpus(tmp_path / "saved").documents == corpus.documents
    with pytest.raises(ValueError, match="no column 'body'.*text, label"):
        load_corpus(ds, text_column="body")
    datasets.DatasetDict({"train": ds, "test": ds}).save_to_disk(str(tmp_path / "dict"))
    assert load_corpus(tmp_path / "dict").documents == corpus.documents  # a DatasetDict gives its train split


# ---------------------------------------------------------------------------------------------------- errors
def test_non_utf8_names_file_line_and_bytes(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_bytes(b"fine line\nsecond line\n" + b"bad \xff\xfe here\n")
    with pytest.raises(ValueError, match=r"corpus.txt:3: bytes 0xff 0xfe are not UTF-8; re-save the file as UTF-8"):
        load_corpus(path)


def test_binary_file_is_rejected(tmp_path):
    path = tmp_path / "image.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(ValueError, match=r"image.png:3: .*binary file"):
        load_corpus(path)


def test_binary_file_in_a_folder_is_named(tmp_path):
    (tmp_path / "a.txt").write_text("Fine text. Two sentences.", encoding="utf-8")
    (tmp_path / "model.bin").write_bytes(b"weights\x00\x01\x02")
    with pytest.raises(ValueError, match=r"model.bin:1: .*binary file"):
        load_corpus(tmp_path)


def test_empty_file_and_unknown_name(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("\n   \n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="empty.txt: the file is empty"):
        load_corpus(path)
    with pytest.raises(ValueError, match="unknown corpus 'no-such-corpus'.*wiki-en"):
        load_corpus("no-such-corpus")
    with pytest.raises(ValueError, match="is empty"):
        Corpus("x", "en", [[], [[]]])


def test_builtin_registry_names():
    assert set(BUILTIN_CORPORA) == {"wiki-en", "news-en", "peoples-daily-zh"}
