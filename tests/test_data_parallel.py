"""The cedict-zh-en parallel corpus: the cleaning rule, the held-out split, the corpus commands."""

from __future__ import annotations

import json

import pytest

from bertlab.cli import main
from bertlab.data import load_corpus
from bertlab.data.parallel import (clean_entries, clean_gloss, english_side, is_held_out, load_parallel, parse_line,
                                   split_pairs)

LINES = [
    "# CC-CEDICT comment line",
    "王 王 [Wang2] /surname Wang/",
    "王 王 [wang2] /king or monarch/best or strongest of its type/",
    "杆 杆 [gan1] /pole/",
    "桿 杆 [gan3] /variant of 杆[gan1]/",  # merges into 杆, adds nothing
    "個 个 [ge4] /classifier for people or objects in general/",  # classifier only: dropped
    "葡 葡 [pu2] /see 葡萄[pu2 tao5]/",  # "see …" only: dropped
    "3C 3C [san1 C] /computers, communications, and consumer electronics/",  # not Chinese characters: dropped
    "拜拜 拜拜 [bai2 bai2] /(loanword) bye-bye/also pr. [bai1 bai1] etc/",
    "一石二鳥 一石二鸟 [yi1 shi2 er4 niao3] /lit. to kill two birds with one stone (idiom)/",
    "書 书 [shu1] /book/letter/CL:本[ben3]/",
]


def test_cleaning_rule_drops_notes_and_keeps_translations():
    pairs, report = clean_entries(LINES)
    assert dict(pairs) == {"王": "king or monarch; best or strongest of its type", "杆": "pole",
                           "拜拜": "bye-bye", "一石二鸟": "to kill two birds with one stone", "书": "book; letter"}
    # dropped: 王's surname line, 桿's variant line, 个 (classifier) and 葡 (see …); nothing left to merge
    assert report.entries == 10 and report.bad_headword == 1 and report.no_gloss_left == 4
    assert report.merged == 0 and report.pairs == 5


def test_clean_gloss_and_english_side():
    assert clean_gloss("surname Li") == "" and clean_gloss("old variant of 杆[gan1]") == ""
    assert clean_gloss("CL:個|个[ge4]") == "" and clean_gloss("see also 葡萄[pu2 tao5]") == ""
    assert clean_gloss("(slang) threesome") == "threesome"
    assert clean_gloss("bye-bye (alternative for 拜拜[bai2 bai2])") == "bye-bye"
    assert parse_line("not a dictionary line") is None
    long = ["one two three four five six seven eight nine ten", "eleven twelve thirteen", "a b c d e f"]
    assert english_side(long) == "one two three four five six seven eight nine ten; eleven twelve thirteen"


def test_split_is_by_headword_and_deterministic():
    pairs = [(f"词{i}", f"word {i}") for i in range(2000)] + [("重复", "word 5")]
    train, held = split_pairs(pairs)
    assert not set(train) & set(held) and 50 < len(held) < 150  # about 5 %
    assert all(is_held_out(pairs[i][0]) for i in held) and not any(is_held_out(pairs[i][0]) for i in train)
    reordered = list(reversed(pairs[:2000]))  # the rule reads only the headword, never the order
    assert {reordered[i][0] for i in split_pairs(reordered)[1]} == {pairs[i][0] for i in held if i < 2000}


def test_cedict_corpus_from_the_package():
    corpus = load_parallel("cedict-zh-en")
    assert 100_000 < len(corpus.pairs) < 122_143 and corpus.licence.startswith("CC BY-SA 4.0")
    train_words = {corpus.pairs[i][0] for i in corpus.train}
    held = corpus.held_out_pairs()
    assert 4000 < len(held) < 7000 and not train_words & {zh for zh, _ in held}
    assert len({en for _, en in held}) == len(held)  # one right answer when retrieving from English
    assert dict(corpus.pairs)["中国"] == "china"
    assert load_parallel("cedict-zh-en") is corpus  # parsed once


def test_corpus_commands_show_the_parallel_corpus_and_its_licence(capsys):
    assert main(["corpus", "list"]) == 0
    out = capsys.readouterr().out
    assert "cedict-zh-en" in out and "CC BY-SA 4.0" in out
    assert main(["corpus", "stats", "cedict-zh-en", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["kind"] == "parallel" and stats["held_out_never_in_train"]
    assert stats["cleaning"]["no_gloss_left"] > 1000


def test_a_parallel_corpus_is_not_a_document_corpus():
    with pytest.raises(ValueError, match="cedict-zh-en is a parallel corpus.*--objective tlm"):
        load_corpus("cedict-zh-en")
