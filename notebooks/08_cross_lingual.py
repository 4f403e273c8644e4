# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 8 — Across languages: XLM's translation LM and LASER-style sentence embeddings
#
# BERT learns one language at a time. Two relatives make a model work *across* languages:
#
# 1. **XLM** (Lample & Conneau 2019) shares one sub-word vocabulary between languages (§3.1), adds a
#    **language embedding** to every token's token + position embedding, and trains with masked LM on
#    monolingual text (§3.2) and with the **translation language model** (TLM, §3.3): a sentence and its
#    translation are concatenated, words are masked in *both* halves, and the positions restart in the second
#    half. A masked Chinese character can then be recovered from the English next to it, and back: the model is
#    pushed to line the two languages up.
# 2. **LASER** (Artetxe & Schwenk 2019) wants *sentence embeddings* in which a sentence and its translation lie
#    close together. It trains one encoder (a BiLSTM, max-pooled) for 93 languages through a decoder that
#    translates. bertlab's LASER-style encoder keeps the aim and trains the closeness directly: a *translation
#    ranking* loss picks each pair's right translation among the other pairs of the batch.
#
# Our parallel text is the CC-CEDICT dictionary (Chinese headword ↔ English glosses, CC BY-SA 4.0). We train
# three tiny models — MLM only, MLM + TLM, LASER-style — and ask each to find the English gloss of a Chinese
# word it has never seen in training, by cosine similarity of pooled embeddings.

# %%
import pandas as pd
import plotly.graph_objects as go
import torch
from IPython.display import display

from bertlab.lessons import fresh_run, pick, setup_notebook

print(setup_notebook())

# %% [markdown]
# ## 1. The dictionary as parallel text
#
# `bertlab corpus stats cedict-zh-en` tells the same story. The cleaning rule keeps entries whose headword is
# 1–8 Chinese characters and drops the glosses that describe a word instead of translating it: "surname Wang",
# "variant of 桿", "see 葡萄", "CL:个", "classifier for …". Entries with nothing left go. The held-out split is by
# a hash of the headword, so a held-out word never appears in a training pair.

# %%
from bertlab.data.parallel import load_parallel

dictionary = load_parallel("cedict-zh-en")
report = dictionary.report
print(f"{report.entries:,} entries in the file → {len(dictionary.pairs):,} pairs "
      f"({report.bad_headword:,} headwords not Chinese characters, {report.no_gloss_left:,} with only notes); "
      f"{len(dictionary.train):,} train, {len(dictionary.held_out):,} held out")
pd.DataFrame(dictionary.held_out_pairs()[100:108], columns=["Chinese (held out)", "English"])

# %% [markdown]
# ## 2. One vocabulary, one TLM input
#
# The WordPiece vocabulary is learnt on English Wikipedia, People's Daily and both sides of the training pairs.
# Chinese is cut into characters, so its share of the vocabulary is its ~9,500 characters; English gets the
# rest of the 16,384 entries. Below, one TLM input of the training data: `[CLS] 中文 [SEP] english [SEP]` (or
# English first), its positions restarting at the translation, its language ids (en = 0, zh = 1), and the masked
# tokens with their targets — in both halves.

# %%
from bertlab.data.crosslingual import LANGUAGES, crosslingual_data

data = crosslingual_data("tlm")
tokenizer = data.tokenizer
batch = data.train.batch(step=1, batch_size=16)
row = int(((batch["labels"] != -100).sum(1) >= 2).int().argmax())  # an input with at least two masks
length = int(batch["attention_mask"][row].sum())
pd.DataFrame({
    "token": [tokenizer.id_to_token(int(i)) for i in batch["input_ids"][row, :length]],
    "position": batch["position_ids"][row, :length].tolist(),
    "language": [LANGUAGES[int(i)] for i in batch["language_ids"][row, :length]],
    "target": ["" if t == -100 else tokenizer.id_to_token(int(t)) for t in batch["labels"][row, :length]],
}).T

# %% [markdown]
# ## 3. Three models, the same budget
#
# The settings of `bertlab experiment cross-lingual` (preset `tiny`, pre-LN, no dropout), with fewer steps:
#
# - **MLM only**: XLM's masked LM on English and Chinese text, each batch in one language, with language
#   embeddings — it never sees a translation;
# - **MLM + TLM**: the same, alternating with TLM batches of dictionary pairs;
# - **LASER-style**: translation ranking on the pairs, no language embeddings (like LASER's encoder).

# %%
from dataclasses import replace
from pathlib import Path

from bertlab.experiments import cross_lingual
from bertlab.lessons import LiveCurves
from bertlab.lessons.settings import lesson_precision
from bertlab.pretrain import pretrain, summary_line
from bertlab.train.run import load_run

plan = replace(cross_lingual.Plan(), steps=pick(600, 4), batch_size=pick(32, 8), eval_examples=pick(256, 64),
               precision=lesson_precision())
curves = LiveCurves(["loss"], title="Cross-lingual pre-training (MLM loss; ranking loss for LASER-style)")
curves.show()
models = {}
for name in cross_lingual.MODELS:
    options = replace(cross_lingual.run_options(plan, name, 0, Path(fresh_run(f"lesson8-{name.replace('+', '-')}"))),
                      eval_every=pick(200, 4), log_every=pick(10, 2), checkpoint_every=0)
    print(f"{cross_lingual.LABELS[name]}: {summary_line(pretrain(options, callbacks=[curves.series(name)]))}")
    models[name] = load_run(options.out).model
models["random"] = cross_lingual.random_model(plan, 0, tokenizer.get_vocab_size())

# %% [markdown]
# ## 4. Retrieval on held-out words
#
# Each held-out Chinese headword and each English side is embedded on its own — the mean of the last layer over
# its tokens — and every headword retrieves the English side with the highest cosine among all N (and back).
# Chance is k / N.

# %%
pairs = cross_lingual.retrieval_pairs(pick(500, 50))
scores = {name: cross_lingual.retrieval_scores(model, tokenizer, pairs) for name, model in models.items()}
table = pd.DataFrame([{"model": cross_lingual.LABELS[name],
                       **{f"{d} top-{k}": f"{100 * s[d][k]:.1f} %" for d in cross_lingual.DIRECTIONS for k in (1, 10)}}
                      for name, s in scores.items()])
print(f"N = {len(pairs)} held-out entries; chance: top-1 {100 / len(pairs):.1f} %, top-10 {1000 / len(pairs):.1f} %")
display(table)
fig = go.Figure([go.Bar(name=cross_lingual.LABELS[name], x=["zh→en top-1", "zh→en top-10"],
                        y=[100 * s["zh→en"][1], 100 * s["zh→en"][10]]) for name, s in scores.items()])
fig.add_hline(y=1000 / len(pairs), line_dash="dot", annotation_text="chance top-10")
fig.update_layout(title="Which model finds the English gloss of an unseen Chinese word?", yaxis_title="%",
                  template="plotly_white", height=380)
fig.show()

# %% [markdown]
# ### Where does a Chinese character look?
#
# TLM's point is that a masked word can be recovered from its translation. Below, the MLM + TLM model reads one
# held-out pair laid out as in training (positions restarting, language ids per half), and the heat map shows
# its last layer's attention, averaged over heads: row = the token attending, column = the token attended. Rows
# of Chinese characters that put weight on the English half (right of the first `[SEP]`) use the translation.

# %%
from bertlab.data.crosslingual import LANGUAGE_IDS, pad_examples, tlm_example

zh_word, en_gloss = pairs[0]
example = tlm_example(tokenizer.encode(zh_word, add_special_tokens=False).ids,
                      tokenizer.encode(en_gloss, add_special_tokens=False).ids,
                      LANGUAGE_IDS["zh"], LANGUAGE_IDS["en"])
inputs = pad_examples([example])
inputs.pop("special_tokens_mask")
with torch.no_grad():
    attention = models["mlm+tlm"](**inputs, output_attentions=True).attentions[-1][0].mean(0)  # (T, T)
labels = [f"{i}:{tokenizer.id_to_token(int(t))}" for i, t in enumerate(inputs["input_ids"][0])]
heat = go.Figure(go.Heatmap(z=attention.numpy(), x=labels, y=labels, colorscale="Blues"))
heat.update_layout(title=f"MLM + TLM, last layer: {zh_word} = {en_gloss}", yaxis_autorange="reversed",
                   height=460, width=560, template="plotly_white")
heat.show()

# %% [markdown]
# The full experiment — 1,200 steps per model, two seeds, N = 1,000 — is `bertlab experiment cross-lingual
# --threads 1`; `docs/cross-lingual.md` has its table and what it does and does not show.
#
# ## 5. Type a Chinese word
#
# Each model ranks the English sides of the held-out entries by cosine to the word you type (a word from the
# dictionary's training part, or any other, works too: the pool is the same for all models).

# %%
import ipywidgets as widgets

from bertlab.train.ranking import sentence_embeddings

pool = [en for _, en in dictionary.held_out_pairs()[:pick(3000, 200)]]
pool_embeddings = {name: sentence_embeddings(model, tokenizer, pool, "en") for name, model in models.items()}
word_box = widgets.Text(value="猫", description="中文")
answers = widgets.Output()


def show_neighbours(*_):
    answers.clear_output()
    word = word_box.value.strip()
    if not word:
        return
    columns = {}
    for name, model in models.items():
        query = sentence_embeddings(model, tokenizer, [word], "zh")[0]
        values, index = (pool_embeddings[name] @ query).topk(5)
        columns[cross_lingual.LABELS[name]] = [f"{pool[i]}  ({v:.2f})" for v, i in zip(values.tolist(), index.tolist())]
    with answers:
        display(pd.DataFrame(columns))


word_box.observe(show_neighbours, names="value")
show_neighbours()
display(widgets.VBox([word_box, answers]))

# %% [markdown]
# ---
# ## Exercise
#
# ### Exercise 8.1 — One TLM input
#
# `my_tlm_example(first, second, first_language, second_language, chosen)`: `first` and `second` are lists of
# token ids (a sentence and its translation, without special tokens); `chosen` lists positions of the full input
# `[CLS] first [SEP] second [SEP]` (counting [CLS] as 0) to mask. Return four (T,) integer tensors:
#
# - `input_ids`: `[CLS] first [SEP] second [SEP]` with `MASK_ID` at every chosen position;
# - `position_ids`: 0 … n + 1 on `[CLS] first [SEP]`, then **restarting** at 1 on `second [SEP]` (XLM §3.3);
# - `language_ids`: `first_language` on `[CLS] first [SEP]`, `second_language` on `second [SEP]`;
# - `labels`: the original token at each chosen position, -100 elsewhere.
#
# A chosen `[CLS]` or `[SEP]` raises `ValueError`: special tokens are never masked.

# %%
import torch

from bertlab.data.tokenizer import CLS_ID, MASK_ID, SEP_ID


def my_tlm_example(first, second, first_language, second_language, chosen):
    # BEGIN SOLUTION
    n, m = len(first), len(second)
    if any(p in (0, n + 1, n + m + 2) for p in chosen):
        raise ValueError("a chosen position is [CLS] or [SEP]; special tokens are never masked")
    ids = torch.tensor([CLS_ID, *first, SEP_ID, *second, SEP_ID])
    positions = torch.cat([torch.arange(n + 2), torch.arange(1, m + 2)])  # the translation restarts at 1
    languages = torch.tensor([first_language] * (n + 2) + [second_language] * (m + 1))
    chosen = torch.tensor(chosen, dtype=torch.long)
    labels = torch.full_like(ids, -100)
    labels[chosen] = ids[chosen]
    masked = ids.clone()
    masked[chosen] = MASK_ID
    return masked, positions, languages, labels
    # END SOLUTION


# %%
from bertlab.homework import check

check("tlm_example", my_tlm_example)

# %% [markdown]
# ### Exercise 8.2 — The translation-ranking loss
#
# `my_ranking_loss(u, v, scale)`: `u` and `v` are (B, H) pooled embeddings, row i of `u` (a Chinese word) the
# translation of row i of `v` (its English gloss). With S = scale · cos(u_i, v_j) (a (B, B) matrix), return
# ½ [CE(S, targets) + CE(Sᵀ, targets)], targets 0, 1, …, B − 1: each Chinese side must pick its own English side
# among the B of the batch, and each English side its Chinese side. Return a tensor, not a Python number.

# %%
import torch
import torch.nn.functional as F


def my_ranking_loss(u, v, scale):
    # BEGIN SOLUTION
    scores = scale * F.normalize(u, dim=-1) @ F.normalize(v, dim=-1).T  # (B, B) scaled cosines
    targets = torch.arange(len(u))  # pair i belongs on the diagonal
    return 0.5 * (F.cross_entropy(scores, targets) + F.cross_entropy(scores.T, targets))
    # END SOLUTION


# %%
check("ranking_loss", my_ranking_loss)
