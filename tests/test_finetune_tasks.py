"""Task loaders: built-in tasks (reviews-zh, sentence distance, capitalisation, word boundaries, word order) and
user files."""

import json
import random
from collections import Counter

import pytest
import torch

from bertlab.data import Corpus
from bertlab.finetune.data import encode_examples
from bertlab.finetune.tasks import (NEXT_SENTENCE_LABELS, SENTENCE_DISTANCE_LABELS, WORD_ORDER_WORDS, Example,
                                    TaskData, bmes_tags, capitalization_example, dedupe_labelled, load_task,
                                    reviews_zh, sample_examples, sentence_distance_pairs, shuffle_words)
from bertlab.finetune.userdata import load_user_task, read_conll, read_examples


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------- built-in

def test_dedupe_keeps_one_copy_and_drops_texts_with_two_labels():
    items = [("好书", "positive", "p:1"), ("好书", "positive", "p:2"), ("一般", "positive", "p:3"),
             ("一般", "negative", "n:1"), ("太差", "negative", "n:2"), ("  ", "negative", "n:3")]
    kept, stats = dedupe_labelled(items)
    assert [(e.text, e.label, e.source) for e in kept] == [("好书", "positive", "p:1"), ("太差", "negative", "n:2")]
    assert stats["conflicting_texts_dropped"] == 1


def test_reviews_zh_has_no_text_in_both_classes_and_disjoint_splits():
    task = reviews_zh(seed=0)
    assert task.kind == "single" and task.language == "zh" and task.labels == ["negative", "positive"]
    texts = {split: [e.text for e in getattr(task, split)] for split in ("train", "dev", "test")}
    everything = [t for split in texts.values() for t in split]
    assert len(everything) == len(set(everything))  # deduplicated, and no text in two splits
    assert task.info["conflicting_texts_dropped"] > 0 and task.info["duplicate_lines_dropped"] > 1000
    assert 0.4 < len(texts["dev"]) / len(texts["test"]) < 2.5 and len(texts["train"]) > 10000
    assert reviews_zh(seed=1).dev[0].text != task.dev[0].text  # the split follows the seed


def small_corpus():
    docs = [[[f"d{d}s{s}", "word"] for s in range(6)] for d in range(8)]
    return Corpus("toy", "en", docs)


def test_sentence_distance_labels_are_true_and_balanced():
    corpus = small_corpus()
    examples = sentence_distance_pairs(corpus, list(range(8)), random.Random(0))
    counts = {label: sum(e.label == label for e in examples) for label in SENTENCE_DISTANCE_LABELS}
    assert len(set(counts.values())) == 1 and counts["adjacent"] > 10
    for e in examples:
        (da, sa), (db, sb) = (map(int, x.split()[0][1:].split("s")) for x in (e.text, e.text_pair))
        relation = "other-document" if da != db else ("adjacent" if sb == sa + 1 else "same-document")
        assert relation == e.label and (e.label != "same-document" or abs(sb - sa) >= 2)


def test_sentence_distance_holds_out_the_pretraining_documents(news_corpus):
    options = {"corpus": "news-en", "held_out_fraction": 0.1, "seed": 0}
    task = load_task("sentence-distance:news-en", pretrained_options=options)
    _, held_out = news_corpus.split(0.1, seed=0)
    held = {news_corpus.sentence_text(s) for doc in held_out.documents for s in doc}
    assert all(e.text in held and e.text_pair in held for split in (task.train, task.dev, task.test) for e in split)
    assert "holds out" in task.info["documents"] and task.kind == "pair"


def test_corpus_tasks_do_not_depend_on_the_encoder():
    """A random encoder (no run) and a run pre-trained with the default split meet the same examples; a run
    whose pre-training saw some of them is refused, naming its split."""
    texts = lambda t: [(e.text, e.text_pair, e.label) for e in t.test]  # noqa: E731
    plain = load_task("sentence-distance:news-en")
    same = load_task("sentence-distance:news-en", pretrained_options={"corpus": "news-en", "seed": 3,
                                                                       "split_seed": 0})
    wider = load_task("sentence-distance:news-en", pretrained_options={"corpus": "news-en", "seed": 0,
                                                                        "held_out_fraction": 0.2})
    assert texts(plain) == texts(same) == texts(wider)
    with pytest.raises(ValueError, match="pre-trained on .* split seed 5"):
        load_task("sentence-distance:news-en", pretrained_options={"corpus": "news-en", "seed": 5})


def test_token_task_labels():
    assert bmes_tags(["中国", "人民", "站", "起来了"]) == (list("中国人民站起来了"),
                                                      ["B", "E", "B", "E", "S", "B", "M", "E"])
    example = capitalization_example(["The", "U.S", "army", ",", "1990", "NASA"], "x")
    assert example.text == ["the", "u.s", "army", ",", "1990", "nasa"]
    assert example.label == ["capitalized", "capitalized", "lower", None, None, "capitalized"]


def test_token_labels_go_to_the_first_wordpiece(news_tokenizer):
    from bertlab.finetune.tasks import Example

    example = Example(["unbelievably", "hairy", "dog"], ["a", None, "b"])
    enc = encode_examples([example], news_tokenizer, "token", ["a", "b"], max_seq_length=16)
    word_ids = news_tokenizer.encode(example.text, is_pretokenized=True).word_ids  # [CLS] ... [SEP]
    assert word_ids.count(0) > 1  # "unbelievably" is several WordPieces, so the rule matters
    first = {w: t for t, w in reversed(list(enumerate(word_ids))) if w is not None}
    labelled = [(t, int(label)) for t, label in enumerate(enc.labels[0]) if label != -100]
    assert labelled == [(first[0], 0), (first[2], 1)] and enc.lost_labels == 0


def test_batches_cover_each_epoch_once_and_group_similar_lengths():
    import numpy as np

    from bertlab.finetune.data import EncodedSplit

    rng = np.random.default_rng(0)
    n, T = 200, 40
    lengths = rng.integers(3, T + 1, size=n)
    ids = np.where(np.arange(T) < lengths[:, None], 7, 0).astype(np.int32)
    split = EncodedSplit(ids, np.zeros((n, T), dtype=np.int8), lengths, np.arange(n) % 2)
    order = split.epoch_order(0, 10, bucket=5)
    assert sorted(order) == list(range(n)) and not np.array_equal(order, split.epoch_order(1, 10, bucket=5))
    spread = lambda o: np.mean([np.ptp(lengths[o[i:i + 10]]) for i in range(0, n, 10)])  # noqa: E731
    assert spread(order) < 0.5 * spread(split.epoch_order(0, 10, bucket=1))
    first, again = split.batch(3, 10), EncodedSplit(ids, split.token_type_ids, lengths, split.labels).batch(3, 10)
    assert all(torch.equal(first[k], again[k]) for k in first)  # a pure function of the step
    assert first["input_ids"].shape[1] == int(first["attention_mask"].sum(1).max())  # padded to the longest only


def test_builtin_tasks_reject_user_file_options():
    with pytest.raises(ValueError, match="only to your own data files"):
        load_task("reviews-zh", text_column="x")
    with pytest.raises(ValueError, match="unknown task 'nope'"):
        load_task("nope")


# ------------------------------------------------------------------------------------------- user files

def test_csv_tsv_jsonl_and_conll_are_parsed(tmp_path):
    csv_file = write(tmp_path / "a.csv", 'review,stars\n"great, really",5\nbad,1\n"multi\nline",5\n')
    examples = read_examples(csv_file, text_column="review", label_column="stars")
    assert [(e.text, e.label) for e in examples] == [("great, really", "5"), ("bad", "1"), ("multi\nline", "5")]
    assert [e.source for e in examples] == [f"{csv_file}:2", f"{csv_file}:3", f"{csv_file}:4"]
    tsv_file = write(tmp_path / "p.tsv", 'q\ta\tlabel\nwho "is" it?\tme\tyes\nwhy\tno idea\tno\n')
    pairs = read_examples(tsv_file, text_column="q", text_pair_column="a")
    assert (pairs[0].text, pairs[0].text_pair, pairs[0].label) == ('who "is" it?', "me", "yes")
    jsonl_file = write(tmp_path / "t.jsonl", '{"text": "hi", "label": 1}\n\n{"text": "yo", "label": 0}\n'
                                             '{"text": ["a", "b"], "label": ["X", "Y"]}\n')
    with pytest.raises(ValueError, match="mixes token examples"):
        read_examples(jsonl_file)
    write(jsonl_file, '{"text": "hi", "label": 1}\n\n{"text": "yo", "label": 0}\n')
    assert [(e.text, e.label, e.source) for e in read_examples(jsonl_file)] == \
        [("hi", "1", f"{jsonl_file}:1"), ("yo", "0", f"{jsonl_file}:3")]
    conll = write(tmp_path / "n.conll", "-DOCSTART- O\n\nParis NNP B-LOC\nis VBZ O\n\n# comment\nYes UH O\n")
    sentences = read_conll(conll)
    assert [(s.text, s.label) for s in sentences] == [(["Paris", "is"], ["B-LOC", "O"]), (["Yes"], ["O"])]


def test_missing_column_names_the_file_and_the_columns_found(tmp_path):
    path = write(tmp_path / "train.csv", "sentence,label\nhello,1\n")
    with pytest.raises(ValueError, match=r"train\.csv: no column 'text' \(--text-column\).*'sentence', 'label'"):
        read_examples(path)
    jsonl = write(tmp_path / "train.jsonl", '{"text": "a", "label": 1}\n{"txt": "b", "label": 0}\n')
    with pytest.raises(ValueError, match=r"train\.jsonl:2: no key 'text'.*keys found: 'txt', 'label'"):
        read_examples(jsonl)


@pytest.mark.parametrize("name,content,message", [
    ("empty.csv", "", r"empty\.csv: the file is empty"),
    ("blank.jsonl", "\n\n", r"blank\.jsonl: the file is empty"),
    ("header.csv", "text,label\n", r"header\.csv: no examples, only a header"),
    ("fields.csv", "text,label\nok,1\ntoo,many,fields\n", r"fields\.csv:3: 3 fields, but the header has 2"),
    ("nolabel.csv", "text,label\nok,\n", r"nolabel\.csv:2: the 'label' field is empty"),
    ("broken.jsonl", '{"text": "a", "label": 1}\n{"text": "b", \n', r"broken\.jsonl:2: not valid JSON"),
    ("bad.conll", "Paris B-LOC\nis O\nlonely\n", r"bad\.conll:3: expected a token and its label"),
    ("only.conll", "-DOCSTART- O\n\n", r"only\.conll: no sentences"),
])
def test_bad_files_are_rejected_with_file_and_line(tmp_path, name, content, message):
    path = write(tmp_path / name, content)
    with pytest.raises(ValueError, match=message):
        read_examples(path)


def test_unknown_label_in_dev_names_the_file_and_line(tmp_path):
    write(tmp_path / "train.tsv", "text\tlabel\na\tpos\nb\tneg\nc\tpos\n")
    write(tmp_path / "dev.tsv", "text\tlabel\nd\tpos\ne\tneutral\n")
    write(tmp_path / "test.tsv", "text\tlabel\nf\tneg\n")
    with pytest.raises(ValueError, match=r"dev\.tsv:3: label 'neutral' does not occur in the training file"):
        load_user_task(tmp_path)
    write(tmp_path / "dev.tsv", "text\tlabel\nd\tpos\ne\tneg\n")
    task = load_user_task(tmp_path)
    assert (task.kind, task.labels, len(task.train), len(task.dev), len(task.test)) == \
        ("single", ["neg", "pos"], 3, 2, 1)


def test_missing_dev_and_test_are_cut_from_train_with_the_seed(tmp_path):
    lines = [json.dumps({"tokens": [f"w{i}", "x"], "tags": ["A" if i % 2 else "B", "O"]}) for i in range(40)]
    path = write(tmp_path / "data.jsonl", "\n".join(lines) + "\n")
    task = load_task(str(path), text_column="tokens", label_column="tags")
    assert task.kind == "token" and task.labels == ["A", "B", "O"]
    assert (len(task.train), len(task.dev), len(task.test)) == (32, 4, 4)
    assert task.info["carved_from_train"] == ["dev", "test"]
    seen = [tuple(e.text) for e in task.train + task.dev + task.test]
    assert len(seen) == len(set(seen)) == 40


def test_dev_of_another_kind_is_rejected(tmp_path):
    train = write(tmp_path / "train.csv", "text,label\na,1\nb,0\n")
    dev = write(tmp_path / "d.conll", "a 1\n")
    with pytest.raises(ValueError, match="holds token examples but the training file"):
        load_user_task(train, dev_file=dev, test_file=train)


def test_sample_is_stratified_seeded_and_leaves_test_alone():
    examples = [Example(f"t{i}", "a" if i % 10 < 6 else "b") for i in range(1000)]  # 60 % a, 40 % b
    sample = sample_examples(examples, 50, seed=1)
    assert len(sample) == 50 and sum(e.label == "a" for e in sample) == 30
    assert sample == sample_examples(examples, 50, seed=1) != sample_examples(examples, 50, seed=2)
    task = TaskData("toy", examples, examples[:300], examples[300:700], ["a", "b"], "single", "en")
    one, two = task.limit(50, 100, seed=1), task.limit(50, 100, seed=2)
    assert one.test == two.test and one.dev == two.dev and one.train != two.train


def test_next_sentence_pairs_are_balanced():
    examples = sentence_distance_pairs(small_corpus(), list(range(8)), random.Random(0), NEXT_SENTENCE_LABELS)
    assert {e.label for e in examples} == set(NEXT_SENTENCE_LABELS)
    assert sum(e.label == "adjacent" for e in examples) * 2 == len(examples)


def test_shuffle_words_moves_words_and_leaves_punctuation_in_place():
    rng = random.Random(0)
    words = ["The", "cat", ",", "sat", "on", "on", "mats", "."]
    for _ in range(50):
        shuffled = shuffle_words(words, rng)
        assert Counter(shuffled) == Counter(words) and shuffled != words  # the same words, another order
        assert shuffled[2] == "," and shuffled[7] == "."  # punctuation never moves
    assert shuffle_words(["Yes", "!"], rng) is None and shuffle_words(["so", "so", "."], rng) is None


def test_word_order_task_holds_each_held_out_sentence_once_as_written_or_swapped(news_corpus):
    """word-order: each held-out sentence once, labelled by what was done to it; labels near 50/50."""
    task = load_task("word-order:news-en")
    assert task.kind == "single" and task.labels == ["original", "shuffled"] and "holds out" in task.info["documents"]
    _, held_out = news_corpus.split(0.1, seed=0)
    written = {news_corpus.sentence_text(s) for doc in held_out.documents for s in doc
               if WORD_ORDER_WORDS[0] <= len(s) <= WORD_ORDER_WORDS[1]}
    examples = task.train + task.dev + task.test
    assert all((e.text in written) == (e.label == "original") for e in examples)  # a shuffle never reads as written
    assert 0.4 < sum(e.label == "original" for e in examples) / len(examples) < 0.6
    sources = [e.source for e in examples]
    assert len(sources) == len(set(sources))  # never both versions of one sentence
    assert [e.text for e in load_task("word-order:news-en").test] == [e.text for e in task.test]  # seeded


def test_word_order_without_long_enough_sentences_says_so(tmp_path):
    text = "\n\n".join(f"Hi there {d}.\nOk then {d}." for d in range(40))  # 40 documents of 3-word sentences
    with pytest.raises(ValueError, match="no sentence of the training documents has 5 to 48 words"):
        load_task(f"word-order:{write(tmp_path / 'short.txt', text)}")
