"""People's Daily named entities: spans from the annotators' tags, BIO characters, and span F1."""

import pytest

from bertlab.finetune.metrics import bio_spans, is_bio, span_f1
from bertlab.finetune.tasks import ENTITY_LABELS, bio_characters, entity_spans, load_task


def test_surname_and_given_name_form_one_person():
    words = ["江", "泽民", "李", "鹏", "克林顿", "叶利钦", "访问", "美国", "新华社", "北京"]
    tags = ["nr", "nr", "nr", "nr", "nr", "nr", "v", "ns", "nt", "ns"]
    assert entity_spans(words, tags) == [(0, 2, "PER"), (2, 4, "PER"), (4, 5, "PER"), (5, 6, "PER"),
                                         (7, 8, "LOC"), (8, 9, "ORG"), (9, 10, "LOC")]
    chars, labels = bio_characters(["江", "泽民", "访问", "美国"], ["nr", "nr", "v", "ns"])
    assert chars == list("江泽民访问美国")
    assert labels == ["B-PER", "I-PER", "I-PER", "O", "O", "B-LOC", "I-LOC"]


def test_bio_spans_read_as_conlleval():
    assert bio_spans(["B-PER", "I-PER", "O", "I-LOC"]) == {(0, 2, "PER"), (3, 4, "LOC")}
    assert bio_spans(["B-PER", "B-PER", "I-LOC", "I-LOC"]) == {(0, 1, "PER"), (1, 2, "PER"), (2, 4, "LOC")}
    assert bio_spans(["O", "O"]) == set()
    assert is_bio(ENTITY_LABELS) and not is_bio(["B", "M", "E", "S"]) and not is_bio(["negative", "positive"])


def test_span_f1_on_hand_made_sequences():
    gold = [["B-PER", "I-PER", "I-PER", "O", "B-LOC", "I-LOC"], ["B-ORG", "I-ORG", "O"]]
    # person right; place cut short (a miss and a false alarm); organisation right; one invented place
    predicted = [["B-PER", "I-PER", "I-PER", "O", "B-LOC", "O"], ["B-ORG", "I-ORG", "B-LOC"]]
    m = span_f1(gold, predicted)
    assert m["gold_spans"] == 3
    assert m["span_precision"] == pytest.approx(2 / 4) and m["span_recall"] == pytest.approx(2 / 3)
    assert m["span_f1"] == pytest.approx(2 * (1 / 2) * (2 / 3) / (1 / 2 + 2 / 3))
    assert span_f1(gold, gold)["span_f1"] == 1.0
    assert span_f1([["O", "O"]], [["O", "O"]])["span_f1"] == 0.0  # nothing to find, nothing found
    with pytest.raises(ValueError, match="2 gold sequences but 1"):
        span_f1(gold, predicted[:1])


def test_entities_zh_is_built_from_held_out_documents():
    task = load_task("entities-zh")
    assert task.kind == "token" and task.labels == ENTITY_LABELS and "holds out" in task.info["documents"]
    counts = task.label_counts("train")
    assert min(counts[f"B-{k}"] for k in ("PER", "LOC", "ORG")) > 50
    for example in task.train[:200]:
        assert len(example.text) == len(example.label) and all(len(c) == 1 for c in example.text)
        assert all(not t.startswith("I-") or i > 0 for i, t in enumerate(example.label))
