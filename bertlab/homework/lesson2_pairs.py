"""Lesson 2 checks: building a sentence-pair input, NSP examples and SOP examples (BERT §3.1, ALBERT §4.2)."""

from __future__ import annotations

import random

from bertlab.homework.grading import Report, hidden_random, register
from bertlab.homework.helpers import pct

IS_NEXT, NOT_NEXT = 0, 1
IN_ORDER, SWAPPED = 0, 1


@register("pair_input", 2, "[CLS] A [SEP] B [SEP] with segment ids",
          "my_pair_input(tokens_a, tokens_b) -> (tokens, token_type_ids)")
def check_pair_input(fn, r: Report) -> None:
    cases = [(["the", "man", "went", "to", "[MASK]", "store"], ["he", "bought", "a", "gallon", "of", "milk"]),
             (["penguins"], ["are", "flight", "##less", "birds"]),
             (["赶", "紧", "上", "号"], ["老", "师", "马", "上", "点", "名"])]
    outputs = []
    for a, b in cases:
        a_in, b_in = list(a), list(b)
        outputs.append((a, b, a_in, b_in, r.call(fn, a_in, b_in)))

    @r.rule("returns (tokens, token_type_ids), two lists of the same length", required=True)
    def _():
        for a, b, _, _, out in outputs:
            if not isinstance(out, (tuple, list)) or len(out) != 2:
                r.fail(f"expected a pair (tokens, token_type_ids), got {out!r:.80}")
            tokens, types = list(out[0]), [int(t) for t in out[1]]
            if len(tokens) != len(types):
                r.fail(f"for A={a} B={b}: {len(tokens)} tokens but {len(types)} segment ids; "
                       f"every token needs its token_type_id")

    def expected(a, b):
        return ["[CLS]", *a, "[SEP]", *b, "[SEP]"], [0] * (len(a) + 2) + [1] * (len(b) + 1)

    @r.rule("tokens are [CLS] A [SEP] B [SEP]")
    def _():
        for a, b, _, _, out in outputs:
            want, _ = expected(a, b)
            got = list(out[0])
            if got != want:
                hint = ""
                if got[:1] != ["[CLS]"]:
                    hint = " The input starts with [CLS]: its final vector is what the NSP classifier reads."
                elif got.count("[SEP]") != 2:
                    hint = f" There must be two [SEP]: one after A and one after B (you have {got.count('[SEP]')})."
                r.fail(f"for A={a}, B={b}\n  expected {want}\n  got      {got}.{hint}")

    @r.rule("token_type_ids: 0 for [CLS], A and the first [SEP]; 1 for B and the last [SEP]")
    def _():
        for a, b, _, _, out in outputs:
            _, want = expected(a, b)
            got = [int(t) for t in out[1]]
            if got != want:
                hint = ""
                if len(got) == len(want):
                    first_sep = len(a) + 1
                    if got[first_sep] == 1:
                        hint = " The [SEP] that closes A belongs to segment A (0)."
                    elif got[-1] == 0:
                        hint = " The final [SEP] closes B, so it belongs to segment B (1)."
                    elif got[0] == 1:
                        hint = " [CLS] is in segment A (0)."
                r.fail(f"for A={a}, B={b}\n  expected {want}\n  got      {got}.{hint}")

    @r.rule("the input lists are not modified")
    def _():
        for a, b, a_in, b_in, _ in outputs:
            if a_in != a or b_in != b:
                r.fail(f"tokens_a or tokens_b changed during the call (now {a_in} / {b_in}): build a new list")


def _documents():
    docs = [[f"d{d}s{s}" for s in range(4 + d % 3)] for d in range(12)]
    return docs


@register("nsp_example", 2, "next sentence prediction examples",
          "my_nsp_example(document, index, other_documents, rng) -> (sentence_a, sentence_b, label)")
def check_nsp_example(fn, r: Report) -> None:
    docs = _documents()
    doc, others = docs[0], docs[1:]
    rng = hidden_random(0)
    results = [(i, r.call(fn, doc, i, others, rng)) for i in (0, 1, 2) for _ in range(200)]
    sentences_elsewhere = {s for d in others for s in d}

    @r.rule("returns (sentence_a, sentence_b, label) with label 0 or 1", required=True)
    def _():
        for i, out in results[:5]:
            if not isinstance(out, (tuple, list)) or len(out) != 3:
                r.fail(f"expected a triple (sentence_a, sentence_b, label), got {out!r:.80}")
            if out[2] not in (0, 1):
                r.fail(f"label should be 0 (IsNext) or 1 (NotNext), got {out[2]!r}")

    @r.rule("sentence A is document[index]")
    def _():
        for i, (a, _, _) in results:
            if a != doc[i]:
                r.fail(f"for index {i} sentence A is {a!r}, expected document[{i}] = {doc[i]!r}")

    @r.rule("IsNext (label 0): B is the sentence that follows A")
    def _():
        for i, (a, b, label) in results:
            if label == IS_NEXT and b != doc[i + 1]:
                hint = ""
                if b in sentences_elsewhere:
                    hint = (" B comes from another document, which is NotNext: BERT labels 0 = IsNext, "
                            "1 = NotNext. Are your labels swapped?")
                r.fail(f"index {i}, label 0: B is {b!r}, expected document[{i + 1}] = {doc[i + 1]!r}.{hint}")

    @r.rule("NotNext (label 1): B is a sentence of another document")
    def _():
        for i, (a, b, label) in results:
            if label == NOT_NEXT and b not in sentences_elsewhere:
                hint = ""
                if b == doc[i + 1]:
                    hint = " That is the true next sentence, which is IsNext (label 0). Are your labels swapped?"
                elif b in doc:
                    hint = (" It comes from A's own document: NotNext sentences must come from a different "
                            "document, or the pair may still be related.")
                r.fail(f"index {i}, label 1: B is {b!r}, which is not a sentence of other_documents.{hint}")

    @r.rule("half of the examples are IsNext, half NotNext")
    def _():
        share = sum(out[2] == IS_NEXT for _, out in results) / len(results)
        if not 0.42 < share < 0.58:
            r.fail(f"{pct(share)} of {len(results)} examples are IsNext; expected about 50 % "
                   f"(rng.random() < 0.5 decides)")

    @r.rule("NotNext sentences are drawn at random from many documents")
    def _():
        chosen = [out[1] for _, out in results if out[2] == NOT_NEXT]
        docs_used = {s.split("s")[0] for s in chosen}
        if chosen and (len(set(chosen)) < 10 or len(docs_used) < 5):
            r.fail(f"{len(chosen)} NotNext examples used only {len(set(chosen))} different sentences from "
                   f"{len(docs_used)} documents: pick a random document, then a random sentence in it")

    @r.rule("NotNext sentences come from anywhere in their document, not only its start")
    def _():
        chosen = [out[1] for _, out in results if out[2] == NOT_NEXT and out[1] in sentences_elsewhere]
        positions = [int(s.split("s")[1]) for s in chosen]  # "d3s2": sentence 2 of document 3
        if len(positions) < 50:
            return  # too few NotNext examples to judge; the 50 % rule reports it
        first = positions.count(0) / len(positions)  # a random sentence: ~1 in 5 (these documents have 4-6)
        if first > 0.5 or len(set(positions)) < 3:
            r.fail(f"{pct(first)} of {len(positions)} NotNext sentences are the first sentence of their document "
                   f"(positions used: {sorted(set(positions))}): pick a random sentence in the random document "
                   f"(rng.choice(other)), not other[0]. Openings of documents read differently from the rest "
                   f"(names, no pronouns), a cue the model could learn instead of the relation between A and B")

    @r.rule("all randomness comes from `rng` (the same seed gives the same examples)")
    def _():
        def run(seed: int) -> list[tuple]:
            rng_run = hidden_random(seed)
            return [tuple(r.call(fn, doc, i % 3, others, rng_run)) for i in range(30)]

        first = run(11)
        random.seed(456)  # a correct answer does not read the global random state
        if first != run(11):
            r.fail("two runs with random.Random(11) gave different examples: use rng.random(), rng.randrange(), "
                   "rng.choice() instead of the random module's global functions")


@register("sop_example", 2, "sentence order prediction examples",
          "my_sop_example(segment_a, segment_b, rng) -> (first, second, label)")
def check_sop_example(fn, r: Report) -> None:
    a, b = "the man went to the store .", "he bought a gallon of milk ."
    rng = hidden_random(0)
    results = [r.call(fn, a, b, rng) for _ in range(400)]

    @r.rule("returns (first, second, label) with label 0 or 1", required=True)
    def _():
        for out in results[:5]:
            if not isinstance(out, (tuple, list)) or len(out) != 3:
                r.fail(f"expected a triple (first, second, label), got {out!r:.80}")
            if out[2] not in (0, 1):
                r.fail(f"label should be 0 (in order) or 1 (swapped), got {out[2]!r}")

    @r.rule("the two segments are A and B themselves (SOP never draws from another document)")
    def _():
        for first, second, _ in results:
            if {first, second} != {a, b}:
                r.fail(f"got ({first!r}, {second!r}); SOP always uses the same two consecutive segments, in "
                       f"order or swapped. Drawing another sentence would be NSP.")

    @r.rule("label 0 = in order (A, B); label 1 = swapped (B, A)")
    def _():
        for first, second, label in results:
            want = (a, b) if label == IN_ORDER else (b, a)
            if (first, second) != want:
                r.fail(f"label {label} came with ({first!r}, {second!r}); expected {want}. "
                       + ("Swap the segments AND set label 1 together." if label == IN_ORDER
                          else "Label 1 means the order was swapped."))

    @r.rule("half of the examples are swapped")
    def _():
        share = sum(out[2] == SWAPPED for out in results) / len(results)
        if not 0.42 < share < 0.58:
            r.fail(f"{pct(share)} of {len(results)} examples are swapped; expected about 50 %")

    @r.rule("all randomness comes from `rng`")
    def _():
        def run(seed: int) -> list[tuple]:
            rng_run = hidden_random(seed)
            return [tuple(r.call(fn, a, b, rng_run)) for _ in range(20)]

        first = run(3)
        random.seed(99)
        if first != run(3):
            r.fail("two runs with random.Random(3) gave different examples: use rng.random(), not random.random()")
