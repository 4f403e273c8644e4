"""Small tools the lessons look at models and data with.

- ``format_fill_mask``: the guesses of ``bertlab.analysis.fill_mask`` as text;
- ``mask_with_split`` / ``masked_html``: the masking demo with the 80/10/10 split as a parameter (the
  library's ``mask_tokens`` fixes it at BERT's values; positions are chosen by the library's
  ``choose_positions``);
- ``pair_html``: one NSP / SOP input with its [CLS]/[SEP], segment ids and positions made visible;
- ``pair_overlaps`` / ``threshold_accuracy``: how much a pair's two segments share in vocabulary, the topic
  signal that lets a model solve NSP without understanding order (ALBERT §4.2);
- ``nsp_scores`` / ``roc_auc``: a model's NSP scores on some pairs and how well they rank NotNext above IsNext
  (tells a head that learnt something from one stuck at chance accuracy by its bias);
- ``time_alternately``: seconds per training step of several models measured in alternation, so that the
  load of a shared machine affects them all alike.
"""

from __future__ import annotations

import html
import statistics
import time

import numpy as np
import torch

from bertlab.config import IGNORE_INDEX
from bertlab.data.demo import mask_text
from bertlab.data.masking import CASE_NAMES, choose_positions
from bertlab.data.tokenizer import CLS_ID, MASK_ID, NUM_SPECIAL_TOKENS, SEP_ID
from bertlab.train.pretraining import chosen_cases, correct_by_case

# --- fill-mask ---------------------------------------------------------------------------------------------


def format_fill_mask(text: str, predictions) -> str:
    """Readable lines for ``bertlab.analysis.fill_mask.fill_mask``'s result: each mask's top guesses."""
    lines = [text]
    for p in predictions:
        shown = ", ".join(f"{token} {prob:.1%}" for token, prob in p.candidates)
        lines.append(f"  [MASK] #{p.index + 1}: {shown}")
    if not predictions:
        lines.append("  (no [MASK] in the text: write [MASK] where the model should guess a word)")
    return "\n".join(lines)


# --- the masking demo ----------------------------------------------------------------------------------------

ACTIONS = ("mask", "random", "keep")


def mask_with_split(text: str, tokenizer, mlm_probability: float = 0.15, mask_fraction: float = 0.8,
                    random_fraction: float = 0.1, whole_word: bool = False, seed: int = 0,
                    language: str | None = None) -> dict:
    """Mask ``text`` like ``bertlab.data.mask_text`` but with the split of chosen tokens as parameters.

    Of the chosen positions, ``mask_fraction`` become [MASK], ``random_fraction`` a random real token and
    the rest stay unchanged (BERT: 0.8 / 0.1 / 0.1). Returns ``mask_text``'s dict plus ``"action"`` per
    position ("mask" / "random" / "keep", None when not chosen).
    """
    if not 0 <= mask_fraction <= 1 or not 0 <= random_fraction <= 1 or mask_fraction + random_fraction > 1 + 1e-9:
        raise ValueError(f"mask_fraction {mask_fraction} + random_fraction {random_fraction} must be within [0, 1]")
    base = mask_text(text, tokenizer, whole_word=whole_word, seed=seed, language=language)  # tokens, word ids
    ids = torch.tensor([tokenizer.token_to_id(t) for t in base["tokens"]])  # (T,)
    word_ids = torch.tensor(base["word_ids"])
    special = word_ids < 0
    generator = torch.Generator().manual_seed(seed)
    chosen = choose_positions(special[None], mlm_probability, word_ids[None] if whole_word else None,
                              generator)[0]  # (T,)
    draw = torch.rand(ids.shape, generator=generator)
    to_mask = chosen & (draw < mask_fraction)
    to_random = chosen & (draw >= mask_fraction) & (draw < mask_fraction + random_fraction)
    random_ids = torch.randint(NUM_SPECIAL_TOKENS, tokenizer.get_vocab_size(), ids.shape, generator=generator)
    shown = torch.where(to_mask, MASK_ID, torch.where(to_random, random_ids, ids))
    labels = torch.where(chosen, ids, IGNORE_INDEX)
    action = [None if not c else "mask" if m else "random" if r else "keep"
              for c, m, r in zip(chosen.tolist(), to_mask.tolist(), to_random.tolist())]
    return {**base, "masked_tokens": [tokenizer.id_to_token(int(i)) for i in shown],
            "labels": [None if int(t) == IGNORE_INDEX else tokenizer.id_to_token(int(t)) for t in labels],
            "action": action, "whole_word": whole_word}


_ACTION_STYLE = {"mask": ("#fde2e1", "#c0392b", "replaced by [MASK]"),
                 "random": ("#fff1d6", "#d35400", "replaced by a random token"),
                 "keep": ("#e3f4e1", "#27ae60", "unchanged, but still predicted")}


def masked_html(example: dict, title: str | None = None) -> str:
    """The masked input as coloured token boxes; a chosen token shows its target underneath."""
    boxes = []
    for token, shown, action in zip(example["tokens"], example["masked_tokens"], example.get("action") or
                                    [None if lab is None else "mask" for lab in example["labels"]]):
        if action is None:
            color = "#888" if token in ("[CLS]", "[SEP]") else "#222"
            boxes.append(f'<span style="display:inline-block;margin:2px;padding:2px 5px;border:1px solid #ddd;'
                         f'border-radius:3px;color:{color}">{html.escape(shown)}</span>')
        else:
            bg, fg, _ = _ACTION_STYLE[action]
            boxes.append(f'<span style="display:inline-block;margin:2px;padding:2px 5px;border:2px solid {fg};'
                         f'border-radius:3px;background:{bg};text-align:center"><b>{html.escape(shown)}</b>'
                         f'<br><small style="color:{fg}">target: {html.escape(token)}</small></span>')
    chosen = sum(a is not None for a in example.get("action") or [])
    real = sum(w >= 0 for w in example["word_ids"])
    legend = " ".join(f'<span style="background:{bg};border:1px solid {fg};padding:0 4px">{label}</span>'
                      for bg, fg, label in _ACTION_STYLE.values())
    head = f"<b>{html.escape(title)}</b><br>" if title else ""
    return (f'<div style="font-family:monospace;line-height:2.2">{head}{"".join(boxes)}<br>'
            f'<small>{chosen} of {real} real tokens chosen for prediction. {legend}</small></div>')


# --- sentence pairs ------------------------------------------------------------------------------------------

PAIR_LABELS = {"nsp": ("IsNext", "NotNext"), "sop": ("in order", "swapped")}


def pair_html(example: dict, tokenizer, objective: str = "nsp", max_tokens: int = 40) -> str:
    """One pre-training input as a table: token, segment (token_type_id) and position of every token."""
    ids = [int(i) for i in example["input_ids"]]
    types = [int(t) for t in example["token_type_ids"]]
    cut = len(ids) > max_tokens
    if cut:  # keep the first and last tokens, and the [SEP] between the segments
        sep = ids.index(SEP_ID)
        keep = sorted(i for i in set(range(0, max_tokens // 2)) | set(range(sep - 2, sep + 3))
                      | set(range(len(ids) - max_tokens // 4, len(ids))) if 0 <= i < len(ids))
    else:
        keep = list(range(len(ids)))
    cells_tok, cells_seg, cells_pos, previous = [], [], [], -1
    for i in keep:
        if i != previous + 1:
            for row in (cells_tok, cells_seg, cells_pos):
                row.append('<td style="text-align:center">…</td>')
        previous = i
        special = ids[i] in (CLS_ID, SEP_ID)
        bg = "#eeeeee" if special else ("#dbe9f6" if types[i] == 0 else "#fde5cf")
        weight = "bold" if special else "normal"
        td = "text-align:center;padding:1px 5px;border-right:1px solid #fff"
        cells_tok.append(f'<td style="{td};background:{bg};font-weight:{weight}">'
                         f'{html.escape(tokenizer.id_to_token(ids[i]))}</td>')
        cells_seg.append(f'<td style="{td};background:{bg}">{types[i]}</td>')
        cells_pos.append(f'<td style="{td};color:#777">{i}</td>')
    label = example.get("next_sentence_label")
    names = PAIR_LABELS[objective]
    caption = f"label {label} = {names[label]}" if label is not None else "no pair label"
    style = "border-collapse:collapse;font-family:monospace;font-size:12px"
    return (f'<div style="overflow-x:auto"><table style="{style}">'
            f'<caption style="text-align:left">{html.escape(caption)} · blue = segment A (token_type 0), '
            f'orange = segment B (token_type 1), grey = special tokens</caption>'
            f'<tr><th style="text-align:right">token</th>{"".join(cells_tok)}</tr>'
            f'<tr><th style="text-align:right">segment</th>{"".join(cells_seg)}</tr>'
            f'<tr><th style="text-align:right">position</th>{"".join(cells_pos)}</tr></table></div>')


def segment_tokens(example: dict) -> tuple[np.ndarray, np.ndarray]:
    """The token ids of segment A and of segment B of an example (special tokens left out)."""
    ids = np.asarray(example["input_ids"])
    types = np.asarray(example["token_type_ids"])
    real = ids >= NUM_SPECIAL_TOKENS
    return ids[real & (types == 0)], ids[real & (types == 1)]


def pair_overlaps(dataset, num_examples: int = 2000, ignore_most_frequent: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Jaccard overlap |A ∩ B| / |A ∪ B| of the word pieces of each pair's two segments, and the labels.

    The ``ignore_most_frequent`` commonest tokens of the corpus (the, of, a, …) are left out, so what is
    left is roughly the content words, i.e. the topic. Uses the dataset's first epoch, unmasked ids.
    """
    examples = dataset.examples(0)
    counts = np.bincount(dataset.tokens.ids, minlength=dataset.collator.vocab_size)
    counts[:NUM_SPECIAL_TOKENS] = 0
    common = set(np.argsort(counts)[::-1][:ignore_most_frequent].tolist())
    n = min(num_examples, len(examples))
    overlaps, labels = np.zeros(n), np.zeros(n, dtype=np.int64)
    for k in range(n):
        example = examples[k]
        a, b = (set(x.tolist()) - common for x in segment_tokens(example))
        overlaps[k] = len(a & b) / max(1, len(a | b))
        labels[k] = example["next_sentence_label"]
    return overlaps, labels


def threshold_accuracy(overlaps: np.ndarray, labels: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """Held-out accuracy of the rule "label 0 (IsNext / in order) when overlap > threshold", and the threshold.

    The threshold is chosen on a random half of the pairs and the accuracy measured on the other half:
    choosing and scoring on the same pairs would flatter the rule (with a few hundred pairs, the best of
    many thresholds beats 50 % even when the overlap carries no signal).
    """
    order = np.random.default_rng(seed).permutation(len(labels))
    fit, test = order[: len(order) // 2], order[len(order) // 2:]
    best, best_t = -1.0, 0.0
    for t in np.unique(np.concatenate([[-1.0], overlaps[fit]])):
        acc = float((np.where(overlaps[fit] > t, 0, 1) == labels[fit]).mean())
        if acc > best:
            best, best_t = acc, float(t)
    return float((np.where(overlaps[test] > best_t, 0, 1) == labels[test]).mean()), best_t


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for ``labels == 1`` (Mann-Whitney U; tied scores share a rank):
    the chance that a random positive pair scores above a random negative one. 0.5 = no signal, whatever
    the threshold; accuracy at one threshold can sit at chance while the ranking already carries signal."""
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts + 1) / 2)[inverse]  # 0-based ranks, ties averaged
    positive = np.asarray(labels) == 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if not n_pos or not n_neg:
        raise ValueError(f"roc_auc needs both labels; got {n_pos} positive and {n_neg} negative")
    return float((ranks[positive].sum() - n_pos * (n_pos - 1) / 2) / (n_pos * n_neg))


@torch.no_grad()
def pair_probabilities(model, tokenizer, pairs) -> list[float]:
    """P(label 1) of the sentence-pair head — NotNext for an NSP model, swapped for an SOP model — for each
    ``(text_a, text_b)`` of ``pairs``, each input built as ``[CLS] A [SEP] B [SEP]`` with segment ids 0 / 1."""
    was_training = model.training
    model.eval()
    out = []
    for text_a, text_b in pairs:
        encoding = tokenizer.encode(text_a, text_b)  # the template adds [CLS] and [SEP]s and the segment ids
        ids = torch.tensor([encoding.ids])  # (1, T)
        logits = model(input_ids=ids, attention_mask=torch.ones_like(ids),
                       token_type_ids=torch.tensor([encoding.type_ids])).seq_relationship_logits.float()  # (1, 2)
        out.append(float(logits.softmax(-1)[0, 1]))
    model.train(was_training)
    return out


def nsp_scores(model, batches) -> tuple[np.ndarray, np.ndarray]:
    """(NotNext logit minus IsNext logit, next_sentence_label) of every pair in ``batches``: > 0 = NotNext."""
    scores, labels = [], []
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for batch in batches:
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                           token_type_ids=batch["token_type_ids"]).seq_relationship_logits.float()  # (B, 2)
            scores.append((logits[:, 1] - logits[:, 0]).numpy())
            labels.append(batch["next_sentence_label"].numpy())
    model.train(was_training)
    return np.concatenate(scores), np.concatenate(labels)


# --- speed -----------------------------------------------------------------------------------------------------


def time_alternately(models: dict, batch: dict, repeats: int = 5, backward: bool = True) -> dict[str, float]:
    """Median seconds per forward (+ backward) step of each model on ``batch``, measured in alternation.

    On a shared machine the load changes from second to second; timing the models one after another in
    the same loop lets every model see the same conditions, so their ratio is meaningful.
    """
    inputs = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids", "labels",
                                                      "next_sentence_label")}
    times: dict[str, list[float]] = {name: [] for name in models}
    for round_ in range(repeats + 1):  # round 0 warms up (allocations, kernels) and is not counted
        for name, model in models.items():
            model.train()
            start = time.perf_counter()
            out = model(**inputs)
            if backward:
                out.loss.backward()
                model.zero_grad(set_to_none=True)
            if round_:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


# --- static vs dynamic masking -----------------------------------------------------------------------------


def mask_coverage(dataset, epochs: int = 10, num_examples: int = 200) -> list[float]:
    """Share of real tokens chosen for prediction at least once after 1, 2, …, ``epochs`` epochs.

    ``dataset`` is a full-sentence ``PretrainingDataset`` (``objective="mlm"``: the same examples every epoch).
    Static masking reuses the ``dupe_factor`` masks fixed when the data was built (copy ``epoch %
    dupe_factor``); dynamic masking draws a new mask each time an example is served, as the collator does.
    """
    if dataset.objective != "mlm":
        raise ValueError("mask_coverage compares masks of the same examples: use objective='mlm' (full sentences)")
    n = min(num_examples, len(dataset))
    seen = None
    coverage = []
    for epoch in range(epochs):
        rows = dataset.examples(epoch).rows(np.arange(n))  # static: copy epoch % dupe_factor, masks included
        if dataset.masking == "static":
            labels = torch.as_tensor(rows["labels"])
        else:  # what the collator does for every batch: a fresh mask
            generator = torch.Generator().manual_seed(1000 + epoch)
            labels = dataset.collator.collate_arrays(**rows, generator=generator)["labels"]
        chosen = labels != IGNORE_INDEX
        real = ~torch.as_tensor(rows["special_tokens_mask"])
        seen = chosen if seen is None else seen | chosen
        coverage.append(float(seen[real].float().mean()))
    return coverage


@torch.no_grad()
def held_out_guesses(model, tokenizer, batch: dict, rows: int = 12, top_k: int = 3, context: int = 4) -> list[dict]:
    """The model's guesses at the masked positions of a held-out batch: context, target, top guesses, right?

    ``batch`` is one of ``build_data(...).eval_batches`` (masked once, when it was built, so the table is the
    same every time). Returns up to ``rows`` dicts, one per masked position, in reading order.
    """
    was_training = model.training
    model.eval()
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    logits = model(**inputs).prediction_logits  # (B, T, V)
    model.train(was_training)
    out = []
    for b, t in (batch["labels"] != IGNORE_INDEX).nonzero().tolist():
        ids = batch["input_ids"][b].tolist()
        left = " ".join(tokenizer.id_to_token(i) for i in ids[max(1, t - context):t])
        right = " ".join(tokenizer.id_to_token(i) for i in ids[t + 1:t + 1 + context] if i != 0)
        probs = logits[b, t].float().softmax(-1)
        top = probs.topk(top_k)
        target = tokenizer.id_to_token(int(batch["labels"][b, t]))
        guesses = [tokenizer.id_to_token(int(i)) for i in top.indices]
        out.append({"context": f"{left} ___ {right}", "target": target,
                    "model sees": tokenizer.id_to_token(ids[t]),
                    "guesses": ", ".join(f"{g} {p:.0%}" for g, p in zip(guesses, top.values.tolist())),
                    "right": "✔" if guesses[0] == target else ""})
        if len(out) >= rows:
            break
    return out


@torch.no_grad()
def accuracy_by_case(model, batches, unigram_token_id: int | None = None) -> dict[str, dict]:
    """Masked-LM accuracy split by what the model saw at the chosen position (BERT's 80/10/10 cases).

    "[MASK]": the token was hidden; "random": replaced by another token; "unchanged": the model sees the very
    token it must predict, so copying it is enough. A small model's overall accuracy can come mostly from the
    unchanged 10 %: this split shows how much comes from context. With ``unigram_token_id`` each case also gets
    ``"unigram"``: the accuracy of always guessing that token (the most frequent one) at the same positions.
    """
    was_training = model.training
    model.eval()
    sums: dict[str, float] = {}
    for batch in batches:
        out = model(**{k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids", "labels")})
        labels, cases = chosen_cases(batch)  # (N,) each, in the order of masked_lm_labels
        counts = correct_by_case(out.masked_lm_logits.argmax(-1), labels, cases)
        if unigram_token_id is not None:
            counts.update(correct_by_case(torch.full_like(labels, unigram_token_id), labels, cases, "unigram"))
        for k, v in counts.items():
            sums[k] = sums.get(k, 0.0) + v
    model.train(was_training)
    table = {}
    for shown, name in zip(("[MASK]", "random", "unchanged"), CASE_NAMES):
        n = sums.get(f"mlm_count_{name}", 0.0)
        table[shown] = {"positions": int(n), "accuracy": sums.get(f"mlm_correct_{name}", 0.0) / max(n, 1.0)}
        if unigram_token_id is not None:
            table[shown]["unigram"] = sums.get(f"unigram_correct_{name}", 0.0) / max(n, 1.0)
    return table
