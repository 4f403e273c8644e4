"""Lesson 1 checks: BERT's masking rule, whole-word masking, and the masked-LM loss (BERT §3.1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from bertlab.config import IGNORE_INDEX
from bertlab.homework.grading import Report, hidden_generator, register
from bertlab.homework.helpers import as_tensor, close, diagnose, needs_gradient, pct, scalar, token_batch, word_batch

MASK_ID = 4
NUM_SPECIAL = 5  # [PAD] [UNK] [CLS] [SEP] [MASK]
CHANGED_ONLY = ("No labelled token reached the model unchanged: your labels are set only where the input changed. "
                "The 10 % of the chosen tokens left unchanged are still chosen and keep their label: the model must "
                "predict them too, and since it cannot tell which tokens were chosen it learns a representation of "
                "every input token (BERT §3.1). Set the labels from the choice, before deciding what the model sees.")


def labels_only_where_changed(masked: torch.Tensor, labels: torch.Tensor, original: torch.Tensor) -> bool:
    """The mistake of labelling only the tokens whose input changed: among many labels, some are random
    replacements but not one is unchanged (BERT's rule leaves ~10 % of them unchanged; an answer that makes every
    chosen token [MASK] has no unchanged ones either, and another hint)."""
    chosen = labels != IGNORE_INDEX
    seen, wanted = masked[chosen], original[chosen]
    random_replaced = (seen != MASK_ID) & (seen != wanted)
    return int(chosen.sum()) > 100 and bool(random_replaced.any()) and not bool((seen == wanted).any())


@register("mlm_masking", 1, "BERT's 80/10/10 masking",
          "my_mask_tokens(input_ids, special_tokens_mask, vocab_size, mask_token_id=4, mlm_probability=0.15, "
          "generator=None) -> (masked_input_ids, labels)")
def check_mlm_masking(fn, r: Report) -> None:
    V = 1000
    ids, special = token_batch(vocab_size=V)
    original = ids.clone()
    out = r.call(fn, ids, special, V, mask_token_id=MASK_ID, mlm_probability=0.15,
                 generator=hidden_generator(0))
    B, T = ids.shape
    result = {}

    @r.rule("returns (masked_input_ids, labels), two integer tensors shaped like input_ids", required=True)
    def _():
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            r.fail(f"expected a pair (masked_input_ids, labels), got {type(out).__name__}"
                   + (f" of length {len(out)}" if isinstance(out, (tuple, list)) else ""))
        result["masked"] = as_tensor(out[0], r, "masked_input_ids", (B, T), "int")
        result["labels"] = as_tensor(out[1], r, "labels", (B, T), "int")

    masked, labels = result.get("masked"), result.get("labels")

    @r.rule("input_ids is not modified in place")
    def _():
        changed = int((ids != original).sum())
        if changed:
            r.fail(f"{changed} entries of the input_ids tensor passed in were changed: work on a copy "
                   f"(input_ids.clone()) so the caller's tensor stays intact")

    real = ~special
    chosen = labels != IGNORE_INDEX if labels is not None else None

    @r.rule("labels are -100 or the original token (no other values)", required=True)
    def _():
        ok = (labels == IGNORE_INDEX) | (labels == original)
        if not ok.all():
            b, t = (~ok).nonzero()[0].tolist()
            hint = ""
            if int(labels[b, t]) == 0:
                hint = (" Positions the loss must skip are marked with -100 (PyTorch's ignore_index), "
                        "not 0 (0 is the [PAD] token id).")
            elif int(labels[b, t]) == int(masked[b, t]):
                hint = " The label must be the ORIGINAL token, not what the model sees after masking."
            r.fail(f"row {b}, position {t}: label {int(labels[b, t])}, but the original token is "
                   f"{int(original[b, t])}.{hint}")

    @r.rule("special tokens ([CLS], [SEP], [PAD]) are never chosen or changed")
    def _():
        bad_label = chosen & special
        bad_input = (masked != original) & special
        if bad_label.any() or bad_input.any():
            b, t = (bad_label | bad_input).nonzero()[0].tolist()
            name = {0: "[PAD]", 2: "[CLS]", 3: "[SEP]"}.get(int(original[b, t]), "special")
            r.fail(f"{int(bad_label.sum())} special positions got a label and {int(bad_input.sum())} were "
                   f"changed, e.g. row {b} position {t} ({name}): label {int(labels[b, t])}, input "
                   f"{int(original[b, t])} -> {int(masked[b, t])}. Exclude positions where "
                   f"special_tokens_mask is True before choosing.")

    @r.rule("about 15 % of the real tokens are chosen (labels set only there)")
    def _():
        rate = float(chosen[real].float().mean())
        if not abs(rate - 0.15) < 0.03:
            extra = ""
            if rate > 0.9:
                extra = (" Labels must be -100 at every position that was not chosen: the loss looks only "
                         "at the ~15 % chosen tokens.")
            elif rate < 0.13 and float(chosen.float().mean()) > 0:
                extra = " Did you apply mlm_probability twice, or choose only among the [MASK] replacements?"
            r.fail(f"{pct(rate)} of the real (non-special) tokens have a label; expected about 15 % "
                   f"(mlm_probability).{extra}")

    @r.rule("mlm_probability is respected (40 % when asked for 40 %)")
    def _():
        out40 = r.call(fn, original.clone(), special, V, mask_token_id=MASK_ID, mlm_probability=0.4,
                       generator=hidden_generator(1))
        rate = float((out40[1] != IGNORE_INDEX)[real].float().mean())
        if not abs(rate - 0.4) < 0.03:
            hint = (CHANGED_ONLY if labels_only_where_changed(out40[0], out40[1], original)
                    else "use the argument instead of a fixed 0.15")
            r.fail(f"with mlm_probability=0.4, {pct(rate)} of the real tokens were chosen; {hint}")

    @r.rule("tokens that are not chosen reach the model unchanged")
    def _():
        changed = (masked != original) & ~chosen & real
        if changed.any():
            b, t = changed.nonzero()[0].tolist()
            r.fail(f"{int(changed.sum())} real tokens without a label were changed, e.g. row {b} position {t}: "
                   f"{int(original[b, t])} -> {int(masked[b, t])}. The 80/10/10 split applies only to the "
                   f"chosen ~15 %; every other token must stay as it is.")

    @r.rule("of the chosen tokens about 80 % become [MASK], 10 % a random token, 10 % stay unchanged")
    def _():
        n = int(chosen.sum())
        if n == 0:
            r.fail("no token was chosen, so the split cannot be measured")
        m = float((masked[chosen] == MASK_ID).float().mean())
        keep = float((masked[chosen] == original[chosen]).float().mean())
        rnd = 1 - m - keep
        if not (abs(m - 0.8) < 0.05 and abs(rnd - 0.1) < 0.04 and abs(keep - 0.1) < 0.04):
            hint = ""
            if labels_only_where_changed(masked, labels, original):
                hint = " " + CHANGED_ONLY
            elif m > 0.97:
                hint = (" Every chosen token became [MASK]: BERT replaces only 80 % of them, so the model also "
                        "learns about real tokens ([MASK] never appears when it is fine-tuned).")
            elif abs(m - 0.72) < 0.04 or abs(m - 0.64) < 0.04:
                hint = (" Your random / unchanged choice overlaps the [MASK] choice, which changes the "
                        "proportions. Draw ONE random number u per chosen position and split it: u < 0.8 -> "
                        "[MASK], 0.8 <= u < 0.9 -> random token, u >= 0.9 -> unchanged.")
            elif m < 0.05 and rnd > 0.5:
                hint = " Most chosen tokens became random tokens: check the order of your comparisons."
            r.fail(f"of the {n} chosen tokens {pct(m)} became [MASK] (expected ~80 %), {pct(rnd)} a random "
                   f"token (~10 %), {pct(keep)} stayed unchanged (~10 %).{hint}")

    @r.rule("random replacements are real tokens: never special, never outside the vocabulary")
    def _():
        replaced = chosen & (masked != MASK_ID) & (masked != original)
        values = masked[replaced]
        bad = (values < NUM_SPECIAL) | (values >= V)
        if bad.any():
            r.fail(f"{int(bad.sum())} random replacements are {sorted(set(values[bad].tolist()))[:5]}: draw "
                   f"them from {NUM_SPECIAL} (the first real token) to vocab_size - 1 = {V - 1}, e.g. "
                   f"torch.randint({NUM_SPECIAL}, vocab_size, shape, generator=generator)")
        if len(values) >= 20 and len(set(values.tolist())) < 0.5 * len(values):
            r.fail(f"the {len(values)} random replacements use only {len(set(values.tolist()))} distinct tokens: "
                   f"draw a separate random token for each position, not one for all")

    @r.rule("all randomness comes from `generator` (the same seed gives the same masks)")
    def _():
        a = r.call(fn, original.clone(), special, V, mask_token_id=MASK_ID, mlm_probability=0.15,
                   generator=hidden_generator(42))
        torch.manual_seed(12345)  # perturb the global generator: a correct answer does not use it
        torch.rand(7)
        b = r.call(fn, original.clone(), special, V, mask_token_id=MASK_ID, mlm_probability=0.15,
                   generator=hidden_generator(42))
        if not (torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])):
            r.fail("two calls with torch.Generator().manual_seed(42) gave different results: pass "
                   "generator=generator to every torch.rand / torch.randint call, so masks are reproducible")


@register("whole_word_masking", 1, "whole-word masking: choose words, not pieces",
          "my_whole_word_choice(word_ids, special_tokens_mask, mlm_probability=0.15, generator=None) -> chosen")
def check_whole_word(fn, r: Report) -> None:
    word_ids, special, pieces = word_batch()
    original = word_ids.clone()
    out = r.call(fn, word_ids, special, mlm_probability=0.15, generator=hidden_generator(0))
    result = {}

    @r.rule("returns a boolean tensor shaped like word_ids", required=True)
    def _():
        value = as_tensor(out, r, "chosen", tuple(word_ids.shape))
        if value.dtype != torch.bool:
            if not ((value == 0) | (value == 1)).all():
                r.fail(f"chosen should be True/False per position, got values {sorted(set(value.flatten().tolist()))[:6]}")
            value = value.bool()
        result["chosen"] = value

    chosen = result.get("chosen")

    @r.rule("word_ids is not modified in place")
    def _():
        if not torch.equal(word_ids, original):
            r.fail("the word_ids tensor passed in was changed: work on a copy")

    @r.rule("special tokens are never chosen")
    def _():
        bad = chosen & special
        if bad.any():
            b, t = bad.nonzero()[0].tolist()
            r.fail(f"{int(bad.sum())} special positions were chosen, e.g. row {b} position {t} "
                   f"(word id -1). Leave out positions where special_tokens_mask is True.")

    @r.rule("all pieces of a word are chosen together")
    def _():
        for b in range(word_ids.shape[0]):
            for w in torch.unique(word_ids[b][word_ids[b] >= 0]).tolist():
                positions = (word_ids[b] == w).nonzero().flatten()
                values = chosen[b, positions]
                if values.any() and not values.all():
                    r.fail(f"row {b}, word {w} has {len(positions)} pieces at positions {positions.tolist()}, "
                           f"but only {positions[values].tolist()} were chosen. Whole-word masking chooses a word "
                           f"and then masks every piece of it (phil ##ha ##rm ##onic, or 今天 -> [MASK][MASK]).")

    @r.rule("each word is chosen with probability ~15 %, whatever its number of pieces")
    def _():
        first = torch.zeros_like(special)
        first[:, 1:] = (word_ids[:, 1:] != word_ids[:, :-1]) & (word_ids[:, 1:] >= 0)
        word_rate = float(chosen[first].float().mean())
        long_rate = float(chosen[first & (pieces == 4)].float().mean())
        if not (abs(word_rate - 0.15) < 0.03 and abs(long_rate - 0.15) < 0.05):
            hint = ""
            if long_rate > word_rate + 0.08:
                hint = (" Long words are chosen more often: choosing pieces and then growing them to whole words "
                        "gives a 4-piece word 1 - 0.85^4 = 48 % instead of 15 %. Draw one number per WORD "
                        "(e.g. give every piece the random number of its word's first piece).")
            r.fail(f"{pct(word_rate)} of the words were chosen (expected ~15 %), and {pct(long_rate)} of the "
                   f"4-piece words.{hint}")

    @r.rule("all randomness comes from `generator`")
    def _():
        a = r.call(fn, original.clone(), special, mlm_probability=0.15, generator=hidden_generator(5))
        torch.manual_seed(999)
        torch.rand(3)
        b = r.call(fn, original.clone(), special, mlm_probability=0.15, generator=hidden_generator(5))
        if not torch.equal(torch.as_tensor(a).bool(), torch.as_tensor(b).bool()):
            r.fail("two calls with torch.Generator().manual_seed(5) chose different words: pass "
                   "generator=generator to torch.rand")


def _mlm_case(seed: int = 3):
    g = hidden_generator(seed)
    B, T, V = 4, 12, 50
    logits = torch.randn(B, T, V, generator=g) * 2
    labels = torch.full((B, T), IGNORE_INDEX)
    # very different numbers of labelled positions per row, so the averaging is visible
    for row, count in enumerate((1, 6, 2, 9)):
        positions = torch.randperm(T, generator=g)[:count]
        labels[row, positions] = torch.randint(0, V, (count,), generator=g)
    return logits, labels


@register("mlm_loss", 1, "the masked-LM loss",
          "my_mlm_loss(logits (B, T, V), labels (B, T)) -> scalar tensor")
def check_mlm_loss(fn, r: Report) -> None:
    logits, labels = _mlm_case()
    B, T, V = logits.shape
    given = logits.clone().requires_grad_(True)
    labels_in = labels.clone()
    out = r.call(fn, given, labels_in)
    expected = F.cross_entropy(logits.reshape(-1, V), labels.reshape(-1), ignore_index=IGNORE_INDEX)
    holder = {}

    @r.rule("returns one number as a tensor", required=True)
    def _():
        holder["loss"] = scalar(out, r)

    @r.rule("equals the mean cross-entropy over the labelled positions only")
    def _():
        value = float(holder["loss"].detach())
        if not close(value, float(expected), rel=1e-4):
            sel = labels != IGNORE_INDEX
            per_pos = F.cross_entropy(logits.reshape(-1, V), labels.clamp(min=0).reshape(-1),
                                      reduction="none").reshape(B, T)
            n = int(sel.sum())
            row_means = torch.stack([per_pos[b][sel[b]].mean() for b in range(B)])
            candidates = {
                f"your value is the SUM over the {n} labelled positions: divide by their number (a mean).":
                    float(per_pos[sel].sum()),
                f"your value averages over all {B * T} positions, counting the unlabelled ones as 0: divide by "
                f"the {n} labelled positions instead (padding and unchosen tokens must not dilute the loss).":
                    float(per_pos[sel].sum() / (B * T)),
                "your value is the mean of per-row means: rows with 1 labelled token then weigh as much as rows "
                "with 9. Average over all labelled positions of the batch at once.": float(row_means.mean()),
                "your value includes the unlabelled positions (with label 0 or their -100 turned into a class): "
                "skip every position whose label is -100 (ignore_index=-100).":
                    float(per_pos.mean()),
            }
            hint = diagnose(value, candidates) or ("compute -log softmax(logits)[label] at each labelled position "
                                                   "and average; F.cross_entropy(logits.reshape(-1, V), "
                                                   "labels.reshape(-1), ignore_index=-100) does exactly this.")
            r.fail(f"got {value:.5f}, expected {float(expected):.5f} (mean over the {n} labelled positions). {hint}")

    @r.rule("gradients reach only the labelled positions")
    def _():
        loss = holder["loss"]
        needs_gradient(r, loss, "the returned loss", "`logits`")
        loss.backward()
        if given.grad is None:
            r.fail("backward() gave `logits` no gradient")
        leak = given.grad[labels == IGNORE_INDEX].abs().sum()
        if float(leak) > 1e-7:
            r.fail("positions with label -100 received gradient: they must not take part in the loss at all")

    @r.rule("labels are not modified in place")
    def _():
        if not torch.equal(labels_in, labels):
            r.fail("the labels tensor passed in was changed: work on a copy")

    @r.rule("a batch with nothing labelled gives 0, not nan")
    def _():
        empty = torch.full((B, T), IGNORE_INDEX)
        value = r.call(fn, logits.clone(), empty)
        value = float(scalar(value, r))
        if value != value or value != 0.0:
            r.fail(f"with every label -100 your loss is {value}; return 0 (e.g. logits.sum() * 0.0) when no "
                   f"position is labelled, so a batch without masks does not poison training with nan")
