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
# # Lesson 1 — Masked language modelling
#
# BERT (Devlin et al., 2019, §3.1) learns to read by filling in blanks: hide some tokens of a real sentence,
# ask the model for them. In this lesson you will
#
# 1. see how a real sentence becomes WordPiece tokens;
# 2. play with the masking rule — how many tokens are chosen, and the **80 / 10 / 10** split of what the
#    model sees in their place;
# 3. compare **static** and **dynamic** masking, and **whole-word masking** in English and Chinese (今天我玩DOTA);
# 4. look at a small BERT trained on Wikipedia text: its loss and accuracy while it learned;
# 5. find out where its accuracy comes from, and ask it to fill in your own sentences;
# 6. write the masking rule and the loss yourself, checked by hidden tests.
#
# Everything here runs on a laptop CPU. The model is the course's English model, which an instructor prepares
# once before class (`bertlab course prepare`, see the README); if it is missing, the lesson trains a shorter
# one live with the same recipe (a few minutes). With `BERTLAB_FAST=1` every training is cut to a few steps (for
# automated tests — the numbers are then meaningless).

# %%
import torch

from bertlab.lessons import fresh_run, setup_notebook

print(setup_notebook())

# %% [markdown]
# ## 1. From a sentence to tokens
#
# The built-in `wiki-en` corpus is ~100 real Wikipedia articles that ship with the `gensim` package. A corpus is
# documents → sentences → words. The tokenizer is a **WordPiece** vocabulary of 8,192 pieces learned from the
# training part of the corpus: frequent words are one token, rare ones are split into pieces marked `##`.

# %%
from bertlab.data import load_tokenizer
from bertlab.lessons.setups import lesson_model, model_line
from bertlab.pretrain import build_data

model_dir, options = lesson_model("en", live_run="lesson1-en")  # the prepared course model, or a live stand-in
print(model_line("en", model_dir, options))
print({k: getattr(options, k) for k in ("preset", "model_overrides", "corpus", "objective", "max_seq_length",
                                        "batch_size", "learning_rate", "steps")})
data = build_data(options, tokenizer=load_tokenizer(model_dir) if model_dir else None)
tokenizer = data.tokenizer
print(data.train)
print("a sentence of the corpus:", " ".join(data.train.corpus.documents[3][0]))

# %%
sentence = "The man went to the store. He bought a gallon of milk and a philharmonic ticket."
encoding = tokenizer.encode(sentence)
for token, token_id, word in zip(encoding.tokens, encoding.ids, encoding.word_ids):
    print(f"{token:>12s}  id {token_id:5d}  word {word}")

# %% [markdown]
# `[CLS]` and `[SEP]` are added around every input (lesson 2 explains why). Note how *philharmonic* is cut into
# several pieces that share one **word id** — whole-word masking will use that.
#
# ## 2. The masking rule
#
# BERT chooses **15 %** of the real (non-special) tokens. The loss is computed only at those positions. Of the
# chosen tokens:
#
# | share | what the model sees | example: `my dog is hairy` |
# |---|---|---|
# | 80 % | `[MASK]` | `my dog is [MASK]` |
# | 10 % | a random token | `my dog is apple` |
# | 10 % | the token itself | `my dog is hairy` |
#
# Why not always `[MASK]`? `[MASK]` never appears when the model is later fine-tuned, so a model that only
# learned "predict at `[MASK]`" would not know what to do with its representation of ordinary tokens. The
# random and unchanged cases force a good representation of *every* token; random replacement touches
# 15 % × 10 % = 1.5 % of tokens, too few to hurt.
#
# Move the sliders: the masking rate, the split, whole-word masking and the random seed. Each box shows what the
# model sees; the target it must predict is written underneath.

# %%
from IPython.display import HTML, display

from bertlab.data import get_tokenizer, load_corpus, mask_text
from bertlab.lessons.inspect import mask_with_split, masked_html
from bertlab.lessons.widgets import masking_panel

zh_tokenizer = get_tokenizer(load_corpus("peoples-daily-zh"))  # People's Daily 1998, characters are tokens
texts = {"English (wiki-en)": "my dog is hairy and he likes to chase the philharmonic orchestra's cats "
                              "around the garden every afternoon .",
         "Chinese (People's Daily)": "今天我玩DOTA，明天我们一起去北京大学图书馆看书。"}
panel = masking_panel({"English (wiki-en)": tokenizer, "Chinese (People's Daily)": zh_tokenizer},
                      texts=texts)
display(panel)

# %% [markdown]
# The same rule applied to one sentence with three seeds (a static picture, for when the widget is not live):

# %%
for seed in range(3):
    example = mask_with_split(texts["English (wiki-en)"], tokenizer, mlm_probability=0.25, seed=seed)
    display(HTML(masked_html(example, title=f"seed {seed}")))

# %% [markdown]
# ## 3. Static vs dynamic masking
#
# *When* is the mask drawn? Original BERT masked its data once, while building the training files (**static**;
# it made 10 copies with different masks). RoBERTa (Liu et al., 2019, §4.1) draws a new mask every time a
# sequence is fed to the model (**dynamic**), so over many epochs the model sees each sentence masked in many
# ways. In bertlab the difference is only *when* `mask_tokens` is called: `PretrainingDataset(masking="static")`
# masks when the dataset is built, `masking="dynamic"` masks in the collator, for every batch.

# %%
from bertlab.data import PretrainingDataset, format_masked

news = load_corpus("news-en")
news_tokenizer = get_tokenizer(news, vocab_size=4096)
static = PretrainingDataset(news, news_tokenizer, max_seq_length=32, objective="mlm", masking="static", dupe_factor=1)
dynamic = PretrainingDataset(news, news_tokenizer, max_seq_length=32, objective="mlm", masking="dynamic")


def show(ids, labels):
    """The tokens the model sees; «…» marks a position it must predict."""
    tokens = [news_tokenizer.id_to_token(int(i)) for i in ids]
    return " ".join(f"«{t}»" if int(lab) != -100 else t for t, lab in zip(tokens, labels))


print("static: example 0 was masked once, when the data was built; every epoch sees the same mask  (« » = predict)")
for epoch in range(3):
    ex = static.examples(epoch)[0]
    print(f"  epoch {epoch}: {show(ex['input_ids'], ex['labels'])}")
print("dynamic: the collator draws a new mask every time the example is served")
for step in range(3):
    batch = dynamic.collator([dynamic[0]], generator=torch.Generator().manual_seed(step))
    print(f"  epoch {step}: {show(batch['input_ids'][0], batch['labels'][0])}")

# %% [markdown]
# ## 4. Whole-word masking
#
# Choosing *tokens* often hides one piece of a word: `phil [MASK] ##rm ##onic` is easy to guess from the other
# pieces. **Whole-word masking** (BERT's 2019 release; BERT-wwm for Chinese, Cui et al. 2019) chooses *words*
# and masks all their pieces together. In Chinese every character is a token, so words come from a segmenter
# (jieba here): `今天我玩DOTA` → 今天 / 我 / 玩 / DOTA, and masking 今天 hides both characters:
# `今天我玩DOTA → [MASK][MASK]我玩DOTA`.

# %%
for whole_word in (False, True):  # seed 10 happens to choose 今 in both runs: compare what follows from it
    example = mask_text("今天我玩DOTA", zh_tokenizer, whole_word=whole_word, seed=10)
    print(f"whole_word={whole_word}\n{format_masked(example)}\n")
example = mask_text(texts["English (wiki-en)"], tokenizer, whole_word=True, seed=1, mlm_probability=0.3)
print(format_masked(example))

# %% [markdown]
# ## 5. A small BERT, trained
#
# The `tiny` preset: BERT with 2 layers of hidden size 128 and 2 attention heads (about 1.5 M parameters, most of
# them the 8,192 × 128 embedding table), trained on masked LM + next sentence prediction (lesson 2) with dynamic
# masking and the **fast-cpu recipe** as it was when the course models were trained (`bertlab/recipes.py`,
# docs/recipe.md; today's recipe also masks more of each input): BERT's model with the changes that make it learn
# in CPU minutes — pre-LN, no dropout, bf16, a learning rate of 2e-3 held until the last 30 % of
# the steps, and a first half on 16-token inputs (masked LM only) before the 128-token sentence pairs. The course
# model trained for 6,000 steps of 32 × 128 tokens; the live stand-in for 2,000. The plot shows its training:
# the solid line is the training batches, the diamonds the held-out articles (never trained on). (A live run
# draws it while it trains.)
#
# The dotted line is the **unigram baseline**: always guessing the most frequent token ("the") — the score of a
# model that has learned nothing about context. A trained model must beat it.

# %%
from pathlib import Path

from bertlab.data import unigram_baseline
from bertlab.lessons import LiveCurves
from bertlab.pretrain import pretrain, summary_line

from bertlab.train.metrics import read_metrics

baseline = unigram_baseline(data.held_out, token_id=unigram_baseline(data.train).token_id,
                            num_batches=len(data.eval_batches), batch_size=data.eval_batches[0]["labels"].shape[0])
curves = LiveCurves(["mlm_loss", "mlm_acc", "nsp_acc"], title="Lesson 1: masked LM (+ NSP) on wiki-en")
curves.show()
curves.reference("mlm_acc", baseline.accuracy, f"unigram baseline {baseline.accuracy:.1%}")
curves.reference("nsp_acc", 0.5, "chance")
if model_dir is not None:  # the prepared model: draw the curves it logged while it trained
    curves.replay("course model (en)", read_metrics(model_dir / "metrics.jsonl").records)
else:  # train the stand-in now (a new run each time the lesson runs)
    options.out = fresh_run("lesson1-en")
    print(summary_line(pretrain(options, callbacks=[curves.series("live model")])))
    model_dir = Path(options.out)
print("last held-out evaluation:", {k: round(v, 4) for k, v in curves.last(next(iter(curves.records))).items()
                                    if k in ("step", "mlm_acc", "mlm_loss", "nsp_acc")})

# %% [markdown]
# What to look for: in the first half the training line is on 16-token inputs (masked LM only), which is why
# the training accuracy jumps when the 128-token sentence pairs start half-way; the held-out diamonds are always
# measured on 128-token pairs, whose positions 16–127 the first half never trained — so the held-out accuracy
# creeps along at ~12 % for 3,000 steps and jumps once the long inputs start (the course model: 11.9 % at step
# 3,000, 25.6 % at 3,500, 29.3 % at 6,000). NSP (right) sits at chance until the sentence pairs start, then leaves
# it (52 % at step 3,000, 73 % at 6,000 on held-out articles; lesson 2 asks what it learnt). With BERT's own settings (post-LN, dropout, lr 1e-3, 128 tokens from the start) the same
# model stays on the baseline far longer: docs/recipe.md measures it. In FAST mode the curves are a few points.
#
# ## 6. Where does the accuracy come from?
#
# Remember the 80/10/10 rule: at 10 % of the chosen positions the model *sees the very token it must predict*.
# Copying it is the easiest thing to learn. Split the held-out accuracy by what the model saw:

# %%
import pandas as pd

from bertlab import load_run
from bertlab.lessons.inspect import accuracy_by_case, held_out_guesses

run = load_run(model_dir)
# the same held-out batches the plot evaluated; "unigram" = always guessing the most frequent training token
cases = accuracy_by_case(run.model, data.eval_batches, unigram_token_id=baseline.token_id)
display(pd.DataFrame(cases).T.style.format({"positions": "{:.0f}", "accuracy": "{:.1%}", "unigram": "{:.1%}"}))
above = cases["[MASK]"]["accuracy"] - cases["[MASK]"]["unigram"]
print(f"at [MASK]: {cases['[MASK]']['accuracy']:.1%} vs the unigram guess {cases['[MASK]']['unigram']:.1%} "
      f"({above * 100:+.1f} points); over all chosen positions the unigram guess scores {baseline.accuracy:.1%}")

# %% [markdown]
# Measured on the course model (`python scripts/execute_lessons.py 01`, the output in
# `reports/lessons/01_masked_lm.txt`): **23.3 % at `[MASK]` against 4.2 % for the unigram guess**, 19.6 % at
# random-replaced and 86.0 % at unchanged positions.
#
# Read the rows separately. At **unchanged** positions the model sees the very token it must predict: copying it
# scores high, and teaches nothing about context. At **random** positions it sees a wrong token and must not
# copy it. Only the **`[MASK]`** row measures what the context taught it — compare it with the unigram column,
# the score of always guessing "the". One overall accuracy mixes the three (80 / 10 / 10), so a model that only
# copies already looks ~10 points better than the baseline: that is why bertlab reports `[MASK]` accuracy where
# it shows one number. (BERT-base trained for a million steps of 256 × 512 tokens; this model saw 6,000 × 32 ×
# 128. Trained with BERT's plain settings for 1,000 steps — `lesson1_options()` in `bertlab/lessons/setups.py`,
# this lesson's earlier model — the same shape stayed on the baseline at `[MASK]`: all of its progress over the
# baseline was copying at the unchanged positions.)
#
# Here are its guesses on held-out text (the Wikipedia articles it never trained on):

# %%
display(pd.DataFrame(held_out_guesses(run.model, run.tokenizer, data.eval_batches[0], rows=12)))

# %% [markdown]
# ## 7. Fill in the blanks
#
# The run folder holds the weights, the tokenizer and the metrics; `load_run` read it back above. Type your own
# sentence with one or more `[MASK]` (lower case works best: the tokenizer lower-cases). The three prompts below
# call for different kinds of word — a preposition, a year, a verb — so a model that uses the context must give
# three different lists; one that learned only word frequencies gives "the , . of and" for all of them. (The
# course model: *of* 85 % for the first; five years — and *london* — for the second; *is, was, of, signed, has*
# for the third.)

# %%
from bertlab.analysis.fill_mask import fill_mask
from bertlab.lessons.inspect import format_fill_mask
from bertlab.lessons.widgets import fill_mask_panel

PROMPTS = ["paris is the capital [MASK] france .", "he was born in 1950 and died in [MASK] .",
           "the government [MASK] a new law in 2004 ."]
for text in PROMPTS:
    print(format_fill_mask(text, fill_mask(run.model, run.tokenizer, text)))
display(fill_mask_panel(run.model, run.tokenizer, "the river flows into the [MASK] sea ."))

# %% [markdown]
# ## 8. Inside the model: the input embedding, and BERT's sizes
#
# Before the first Transformer layer, every token becomes a vector of width H, the sum of three learned vectors
# (BERT §3, Figure 2):
#
# | table | looked up by | what it tells the model |
# |---|---|---|
# | token embeddings (V × H) | the token id | which token this is |
# | segment embeddings (2 × H) | `token_type_ids`, 0 for sentence A, 1 for B | which sentence it is in (lesson 2) |
# | position embeddings (512 × H) | the position 0 … T−1 | where it stands: attention itself ignores order |
#
# The sum then goes through a LayerNorm (and dropout while training). This is the library's code,
# `bertlab/model/embeddings.py` (ALBERT's projection E → H is lesson 3; for BERT E = H and it is skipped):

# %%
import inspect as source_code

import torch.nn.functional as F

from bertlab.config import get_preset
from bertlab.model.embeddings import BertEmbeddings

print(source_code.getsource(BertEmbeddings.forward))

# %% [markdown]
# The three lookups of one sentence pair, their shapes, and the sum checked against the module (a fresh `tiny`
# model: the shapes, not the values, are the point here):

# %%
pair = tokenizer.encode("the man went to the store .", "he bought a gallon of milk .")
input_ids = torch.tensor([pair.ids])  # (1, T)
token_type_ids = torch.tensor([pair.type_ids])  # (1, T): 0 up to the first [SEP], then 1
embeddings = BertEmbeddings(get_preset("tiny", vocab_size=tokenizer.get_vocab_size())).eval()  # eval: no dropout
T = input_ids.shape[1]
token = embeddings.word_embeddings(input_ids)  # (1, T, H)
position = embeddings.position_embeddings(torch.arange(T))  # (T, H), added to every row
segment = embeddings.token_type_embeddings(token_type_ids)  # (1, T, H)
summed = embeddings.norm(token + position + segment)  # (1, T, H)
print("tokens        ", pair.tokens)
print("token_type_ids", pair.type_ids)
print(f"token {tuple(token.shape)} + position {tuple(position.shape)} + segment {tuple(segment.shape)} "
      f"-> LayerNorm -> {tuple(summed.shape)}")
print("same as the module:", torch.allclose(summed, embeddings(input_ids, token_type_ids), atol=1e-6))

# %% [markdown]
# ### BERT-base and BERT-large
#
# BERT §3 gives two sizes: BERT-base (L = 12 layers, H = 768, A = 12 heads, 110M parameters) and BERT-large
# (L = 24, H = 1024, A = 16, 340M), both with a 30,522-token WordPiece vocabulary and 512 positions. The table
# builds each shape with `get_preset` and counts its parameters with `bertlab.analysis.params.count_parameters`,
# next to this lesson's model:

# %%
import pandas as pd

from bertlab.analysis.params import count_parameters
from bertlab.pretrain import model_config

shapes = {"BERT-base": (get_preset("bert-base"), "110M"), "BERT-large": (get_preset("bert-large"), "340M"),
          "this lesson's model": (model_config(options, tokenizer.get_vocab_size()), "—")}
tables = ("word_embeddings", "position_embeddings", "token_type_embeddings")
rows = {}
for name, (config, published) in shapes.items():
    count = count_parameters(config)
    rows[name] = {"L": config.num_hidden_layers, "H": config.hidden_size, "A": config.num_attention_heads,
                  "feed-forward": config.intermediate_size, "vocabulary": config.vocab_size,
                  "embedding tables": f"{sum(count.by_component[t] for t in tables) / 1e6:.1f}M",
                  "encoder + pooler": f"{(count.backbone + count.by_component['pooler']) / 1e6:.1f}M",
                  "with the MLM and NSP heads": f"{count.total / 1e6:.1f}M", "published (BERT §3)": published}
display(pd.DataFrame(rows).T)

# %% [markdown]
# BERT-base comes out at the published 110M; BERT-large at about 335M, which the paper rounds to 340M. In BERT-base
# most of the weights are in the layers; in this lesson's small model most are in the embedding tables (V × H).

# %% [markdown]
# ---
# ## Exercises
#
# Write each function in its cell, run the cell, then run the check below it. The checks run hidden tests and
# tell you precisely which rule your answer breaks. `bertlab.data.mask_tokens` is the library's version — try
# without looking!
#
# ### Exercise 1.1 — BERT's masking rule
#
# `my_mask_tokens(input_ids, special_tokens_mask, vocab_size, mask_token_id=4, mlm_probability=0.15, generator=None)`
# gets a batch `input_ids` (B, T) and a boolean `special_tokens_mask` (B, T) (True on `[CLS]`, `[SEP]`, `[PAD]`).
# Return `(masked_input_ids, labels)`:
#
# - choose each real token with probability `mlm_probability`; never a special token;
# - `labels` holds the original token at the chosen positions and **-100** everywhere else;
# - of the chosen positions 80 % become `mask_token_id`, 10 % a random token drawn from ids 5 … vocab_size − 1
#   (ids 0–4 are the special tokens), 10 % stay as they are;
# - do not change `input_ids` in place; draw all random numbers from `generator`
#   (`torch.rand(shape, generator=generator)`, `torch.randint(low, high, shape, generator=generator)`).

# %%
import torch


def my_mask_tokens(input_ids, special_tokens_mask, vocab_size, mask_token_id=4, mlm_probability=0.15,
                   generator=None):
    # BEGIN SOLUTION
    chosen = (torch.rand(input_ids.shape, generator=generator) < mlm_probability) & ~special_tokens_mask.bool()
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, -100))
    u = torch.rand(input_ids.shape, generator=generator)  # one draw decides what a chosen token becomes
    to_mask = chosen & (u < 0.8)
    to_random = chosen & (u >= 0.8) & (u < 0.9)
    random_tokens = torch.randint(5, vocab_size, input_ids.shape, generator=generator, dtype=input_ids.dtype)
    masked = torch.where(to_mask, torch.full_like(input_ids, mask_token_id), input_ids)
    masked = torch.where(to_random, random_tokens, masked)
    return masked, labels
    # END SOLUTION


# %%
from bertlab.homework import check

check("mlm_masking", my_mask_tokens)

# %% [markdown]
# ### Exercise 1.2 — Whole-word masking
#
# `my_whole_word_choice(word_ids, special_tokens_mask, mlm_probability=0.15, generator=None)` gets `word_ids`
# (B, T): the word each token belongs to (all pieces of a word share an id; -1 on special tokens), and returns a
# boolean (B, T) tensor of the chosen positions: every *word* is chosen with probability `mlm_probability`, and
# then all of its pieces are chosen. Specials are never chosen. Hint: draw one number per position and give every
# piece the number drawn for its word's first piece (`torch.cummax` finds "the last start position so far").

# %%
def my_whole_word_choice(word_ids, special_tokens_mask, mlm_probability=0.15, generator=None):
    # BEGIN SOLUTION
    B, T = word_ids.shape
    draws = torch.rand((B, T), generator=generator)
    starts = torch.ones((B, T), dtype=torch.bool)
    starts[:, 1:] = word_ids[:, 1:] != word_ids[:, :-1]  # a new word begins here
    first_piece = torch.where(starts, torch.arange(T).expand(B, T), 0)
    first_piece = torch.cummax(first_piece, dim=1).values  # index of each position's word start
    chosen = draws.gather(1, first_piece) < mlm_probability
    return chosen & ~special_tokens_mask.bool()
    # END SOLUTION


# %%
check("whole_word_masking", my_whole_word_choice)

# %% [markdown]
# ### Exercise 1.3 — The masked-LM loss
#
# `my_mlm_loss(logits, labels)`: `logits` (B, T, V), `labels` (B, T) with -100 where nothing is to be predicted.
# Return the mean cross-entropy over the labelled positions only (one scalar tensor): every labelled position of
# the batch counts the same, unlabelled ones not at all. If nothing is labelled, return 0 (not nan).

# %%
import torch.nn.functional as F


def my_mlm_loss(logits, labels):
    # BEGIN SOLUTION
    selected = labels != -100
    if not selected.any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits[selected], labels[selected])
    # END SOLUTION


# %%
check("mlm_loss", my_mlm_loss)

# %% [markdown]
# ### Exercise 1.4 — The input embedding
#
# `my_input_embedding(input_ids, token_type_ids, word_embeddings, position_embeddings, token_type_embeddings,
# norm_weight, norm_bias, eps=1e-12)`: `input_ids` and `token_type_ids` (B, T); the tables (V, H), (P, H) and
# (2, H); the LayerNorm's weight and bias (H,). Return the (B, T, H) input of the first layer: look up the three
# tables (positions 0 … T−1), add them, and apply `F.layer_norm(x, (H,), norm_weight, norm_bias, eps)`.

# %%
def my_input_embedding(input_ids, token_type_ids, word_embeddings, position_embeddings, token_type_embeddings,
                       norm_weight, norm_bias, eps=1e-12):
    # BEGIN SOLUTION
    T, H = input_ids.shape[1], word_embeddings.shape[1]
    x = word_embeddings[input_ids] + position_embeddings[torch.arange(T)] + token_type_embeddings[token_type_ids]
    return F.layer_norm(x, (H,), norm_weight, norm_bias, eps)  # (B, T, H)
    # END SOLUTION


# %%
check("input_embedding", my_input_embedding)
