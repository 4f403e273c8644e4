"""`bertlab corpus list | stats | mask`."""

from __future__ import annotations

import json
import re

from bertlab.cli import main


def test_corpus_list(capsys):
    assert main(["corpus", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("wiki-en *", "news-en", "peoples-daily-zh"):
        assert name in out
    assert main(["corpus", "list", "--json"]) == 0
    rows = [r for r in json.loads(capsys.readouterr().out) if r.get("kind") != "parallel"]
    assert {r["name"] for r in rows} == {"wiki-en", "news-en", "peoples-daily-zh"}
    assert all(r["documents"] > 0 and r["words"] > r["sentences"] > 0 for r in rows)


def test_corpus_stats_json(capsys):
    assert main(["corpus", "stats", "news-en", "--json", "--vocab-size", "4096"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["documents"] == 293 and stats["tokens"] > stats["words"] * 0.9
    assert stats["vocab_size"] == 4096
    example = stats["masked_example"]
    assert example["input"][0] == "[CLS]" and example["input"][-1] == "[SEP]"
    assert any(t is not None for t in example["targets"])
    assert example["next_sentence_label"] in (0, 1)


def test_corpus_stats_text_for_a_user_file(tmp_path, capsys):
    path = tmp_path / "mine.txt"
    path.write_text("The cat sat on the mat. It was warm.\n\nA dog barked at night. Nobody slept.\n",
                    encoding="utf-8")
    assert main(["corpus", "stats", str(path), "--vocab-size", "200"]) == 0
    out = capsys.readouterr().out
    assert "documents:  2" in out and "sentences:  4" in out and "masked example" in out


def test_corpus_stats_bad_file_exits_2(tmp_path, capsys):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"ok\n\xc3\x28 broken\n")
    assert main(["corpus", "stats", str(path)]) == 2
    assert "bad.txt:2: bytes 0xc3 are not UTF-8" in capsys.readouterr().err


def test_corpus_mask_chinese(capsys):
    assert main(["corpus", "mask", "今天我玩DOTA"]) == 0
    out = capsys.readouterr().out
    assert "words:  今天 / 我 / 玩 / DOTA" in out
    assert re.search(r"input: .*\S\(", out)  # a chosen token with its target in brackets
