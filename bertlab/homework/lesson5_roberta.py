"""Lesson 5 checks: what dynamic masking buys, and RoBERTa's full-sentence inputs (RoBERTa §4.1–4.2)."""

from __future__ import annotations

from bertlab.homework.grading import Report, hidden_cases, register
from bertlab.homework.helpers import close, diagnose


@register("mask_coverage", 5, "how many tokens static and dynamic masking ever hide",
          "my_mask_coverage(epochs, p, masking, dupe_factor=1) -> float")
def check_mask_coverage(fn, r: Report) -> None:
    cases = hidden_cases([(e, p, m, d) for e in (1, 3, 10, 40) for p in (0.15, 0.3) for m, d in
                          (("static", 1), ("static", 10), ("dynamic", 1))],
                         lambda g: (g.randrange(1, 60), g.choice((0.1, 0.2, 0.25)), g.choice(("static", "dynamic")),
                                    g.randrange(1, 12)), 6)
    got = {case: r.call(fn, case[0], case[1], case[2], dupe_factor=case[3]) for case in cases}

    def want(epochs, p, masking, dupe):
        draws = epochs if masking == "dynamic" else min(epochs, dupe)
        return 1 - (1 - p) ** draws

    @r.rule("returns a number between 0 and 1", required=True)
    def _():
        for case, value in got.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "item"):
                r.fail(f"my_mask_coverage{case} returned {type(value).__name__} {value!r:.40}; expected a fraction")
            if not 0 <= float(value) <= 1:
                hint = " Multiplying p by the number of epochs counts some tokens twice." if float(value) > 1 else ""
                r.fail(f"my_mask_coverage{case} returned {float(value):.3f}, not a fraction between 0 and 1.{hint}")

    def compare(masking):
        for (e, p, m, d), value in got.items():
            if m != masking:
                continue
            value, expected = float(value), want(e, p, m, d)
            if close(value, expected, rel=1e-6):
                continue
            draws = e if m == "dynamic" else min(e, d)
            hint = diagnose(value, {
                "that is p × (number of masks): masks overlap, so count the tokens NEVER chosen, (1 − p)^n, "
                "and take the rest.": min(1.0, p * draws) if p * draws <= 1 else -1,
                f"static masking has only dupe_factor = {d} different masks: after they are used up, epochs "
                "repeat them and hide nothing new.": 1 - (1 - p) ** e,
                "that is the share of tokens never chosen: the coverage is 1 minus it.": (1 - p) ** draws,
                "dynamic masking draws a new mask every epoch, whatever dupe_factor is.": 1 - (1 - p) ** min(e, d),
            }, rel=1e-6) or "after n independent masks a token has been chosen at least once with probability 1 − (1 − p)^n."
            r.fail(f"for epochs={e}, p={p}, masking={m!r}, dupe_factor={d}: expected {expected:.4f}, got {value:.4f}: "
                   f"{hint}")

    @r.rule("static masking: 1 − (1 − p)^min(epochs, dupe_factor)")
    def _():
        compare("static")

    @r.rule("dynamic masking: 1 − (1 − p)^epochs")
    def _():
        compare("dynamic")


@register("pack_sentences", 5, "RoBERTa's FULL-SENTENCES inputs",
          "my_pack_sentences(sentence_lengths, max_seq_length) -> list of lists of sentence indices")
def check_pack_sentences(fn, r: Report) -> None:
    cases = hidden_cases([([5, 7, 3, 9, 2, 8, 4], 16), ([10, 10, 10], 12), ([3] * 12, 20), ([1, 30, 2, 2], 16),
                          ([6], 8)], lambda g: ([g.randrange(1, 14) for _ in range(g.randrange(3, 12))], 16))
    got = [(lengths, limit, r.call(fn, list(lengths), limit)) for lengths, limit in cases]

    @r.rule("returns a list of inputs, each a list of sentence indices", required=True)
    def _():
        for lengths, limit, packs in got:
            try:
                [int(i) for pack in packs for i in pack]
            except (TypeError, ValueError):
                r.fail(f"for lengths {lengths}: expected lists of sentence indices, got {packs!r:.80}")

    @r.rule("every sentence is used exactly once, in order")
    def _():
        for lengths, limit, packs in got:
            flat = [int(i) for pack in packs for i in pack]
            if flat != list(range(len(lengths))):
                r.fail(f"for lengths {lengths}, max_seq_length {limit}: the inputs hold sentences {flat}, expected "
                       f"{list(range(len(lengths)))} once each and in order (consecutive text, nothing dropped)")
            if any(len(pack) == 0 for pack in packs):
                r.fail(f"for lengths {lengths}: an input is empty")

    @r.rule("each input fits: [CLS] + its sentences + [SEP] ≤ max_seq_length (a too-long sentence goes alone)")
    def _():
        for lengths, limit, packs in got:
            for pack in packs:
                size = 2 + sum(lengths[int(i)] for i in pack)
                if size > limit and len(pack) > 1:
                    hint = " Count [CLS] and [SEP] too: 2 tokens per input." if size - 2 <= limit else ""
                    r.fail(f"for lengths {lengths}, max_seq_length {limit}: input {list(pack)} needs {size} tokens.{hint}")

    @r.rule("inputs are filled greedily: the next sentence starts a new input only when it does not fit")
    def _():
        for lengths, limit, packs in got:
            for pack, following in zip(packs, packs[1:]):
                size = 2 + sum(lengths[int(i)] for i in pack)
                nxt = lengths[int(following[0])]
                if size + nxt <= limit:
                    r.fail(f"for lengths {lengths}, max_seq_length {limit}: input {list(pack)} ({size} tokens) had room "
                           f"for sentence {following[0]} ({nxt} tokens), but it started a new input. RoBERTa packs "
                           f"inputs as full as possible, so no compute is spent on padding.")
