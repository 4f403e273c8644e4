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
# # Lesson 2 — Next sentence prediction, and sentence order prediction
#
# Masked LM teaches a model about words in context. BERT's second pre-training task, **next sentence
# prediction** (NSP, Devlin et al. 2019, §3.1), is about the relation between two pieces of text — what
# question answering and natural-language inference need. ALBERT (Lan et al. 2020, §4.2) replaced it with
# **sentence order prediction** (SOP), arguing that NSP is too easy for the wrong reason. In this lesson you will
#
# 1. see how a pair input is built: `[CLS] A [SEP] B [SEP]`, segment ids, positions;
# 2. see where IsNext / NotNext and in-order / swapped pairs come from;
# 3. measure why NSP can be solved from *topic* alone while SOP cannot;
# 4. train NSP and SOP models at equal steps and compare;
# 5. build pairs yourself in the exercises.

# %%
from IPython.display import HTML, display

from bertlab.lessons import fresh_run, pick, setup_notebook

print(setup_notebook())

# %% [markdown]
# ## 1. One input, two segments
#
# ```
# [CLS] the man went to [MASK] store [SEP] he bought a gallon [MASK] milk [SEP]      → IsNext
# [CLS] the man [MASK] to the store [SEP] penguin [MASK] are flight ##less birds [SEP]  → NotNext
# ```
#
# Every token's input vector is the sum of three embeddings: the **token**, its **position** (0, 1, 2, …) and
# its **segment** (`token_type_id`: 0 for `[CLS]`, A and the first `[SEP]`; 1 for B and the last `[SEP]`). The
# NSP classifier reads only the final vector of `[CLS]` (through the *pooler*, a tanh layer), so `[CLS]` must
# gather, through attention, whatever it needs from both segments.
#
# The tokenizer itself knows this template:

# %%
from bertlab.lessons.setups import lesson1_options
from bertlab.pretrain import build_data

# lesson 1's set-up: the 2-layer tiny BERT on wiki-en, sequences of 64 tokens, batches of 64
options = lesson1_options(steps=pick(400, 8), eval_every=pick(100, 4), out=None)
data = build_data(options)
tokenizer = data.tokenizer
encoding = tokenizer.encode("The man went to the store.", "He bought a gallon of milk.")
print("tokens:        ", encoding.tokens)
print("token_type_ids:", encoding.type_ids)

# %% [markdown]
# ## 2. Where pairs come from
#
# `PretrainingDataset` builds pairs the way BERT's `create_pretraining_data.py` does: take consecutive sentences
# of a document up to the target length, cut them at a random sentence boundary into A and B. Half of the time B
# is replaced by text from a **different document** (NotNext, label 1); otherwise B is A's true continuation
# (IsNext, label 0). Here are the first pairs of the training data (blue = A, orange = B):

# %%
from bertlab.lessons.inspect import pair_html

nsp_data = data.train
examples = nsp_data.examples(0)
shown = {0: 0, 1: 0}
for k in range(len(examples)):
    example = examples[k]
    label = example["next_sentence_label"]
    if shown[label] < 2:
        shown[label] += 1
        display(HTML(pair_html(example, tokenizer, "nsp")))
    if min(shown.values()) >= 2:
        break

# %% [markdown]
# **SOP** (ALBERT §4.2) always takes two *consecutive* segments of one document and swaps them half of the time
# (label 1 = swapped). Both segments are always on the same topic; only their order differs.

# %%
from bertlab.data import PretrainingDataset

train_corpus = nsp_data.corpus
sop_data = PretrainingDataset(train_corpus, tokenizer, max_seq_length=64, objective="mlm+sop")
sop_examples = sop_data.examples(0)
for k in range(4):
    display(HTML(pair_html(sop_examples[k], tokenizer, "sop")))

# %% [markdown]
# ## 3. Why NSP can be solved from topic, and SOP cannot
#
# A NotNext B comes from another article — usually about something else. So a model can score well on NSP by
# asking "do A and B share vocabulary?" without learning anything about how sentences follow each other. Let us
# measure that signal directly: the **Jaccard overlap** of the word pieces of A and B (leaving out the 100 most
# frequent tokens such as *the*, *of*, *a*), and the accuracy of the rule "IsNext when the overlap is above a
# threshold" (the threshold is chosen on half of the pairs and scored on the other half).
#
# For SOP the two segments are the same two pieces of text in either order, so their overlap is *identical* for
# both labels: no threshold can do better than chance.

# %%
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from bertlab.lessons.inspect import pair_overlaps, threshold_accuracy

fig = make_subplots(rows=1, cols=2, subplot_titles=["NSP: overlap of A and B", "SOP: overlap of A and B"])
accuracies = {}
for col, (name, dataset, labels) in enumerate([("NSP", nsp_data, ("IsNext", "NotNext")),
                                               ("SOP", sop_data, ("in order", "swapped"))], start=1):
    overlaps, y = pair_overlaps(dataset, num_examples=pick(3000, 300))
    accuracies[name], threshold = threshold_accuracy(overlaps, y)
    for label, color in ((0, "#1f77b4"), (1, "#d62728")):
        fig.add_trace(go.Histogram(x=overlaps[y == label], name=f"{name}: {labels[label]}", opacity=0.6,
                                   marker_color=color, nbinsx=30), row=1, col=col)
    fig.add_vline(x=threshold, line_dash="dot", row=1, col=col)
fig.update_layout(barmode="overlay", height=360, template="plotly_white",
                  title="Jaccard overlap of content tokens between the two segments")
fig.show()
for name, acc in accuracies.items():
    print(f"{name}: the overlap threshold classifies {acc:.1%} of held-out pairs correctly (chance: 50%)")

# %% [markdown]
# The NSP histogram shows two humps: NotNext pairs share almost no content words. A rule that looks only at the
# topic already beats chance by a wide margin, so NSP rewards topic detection — which masked LM teaches anyway.
# SOP's two histograms lie exactly on top of each other: to solve it, a model has to learn *discourse coherence*
# (what comes first), which is why ALBERT found SOP more useful for downstream tasks.
#
# ## 4. Train and compare
#
# Two small models, identical except for the second objective, trained for the same number of steps on the same
# data. Watch the NSP/SOP accuracy (right). The plot shows the held-out accuracy as diamonds.

# %%
from dataclasses import replace

from bertlab.lessons import LiveCurves
from bertlab.pretrain import pretrain, summary_line

curves = LiveCurves(["mlm_acc", "nsp_loss", "nsp_acc"], title="MLM + NSP vs MLM + SOP at equal steps",
                    titles=["masked-LM accuracy", "NSP / SOP loss", "NSP / SOP accuracy"])
curves.show()
curves.reference("nsp_acc", 0.5, "chance")
curves.reference("nsp_acc", accuracies["NSP"], "NSP by topic overlap alone")
results = {}
for objective in ("mlm+nsp", "mlm+sop"):
    run_options = replace(options, objective=objective, out=fresh_run(f"lesson2-{objective.replace('+', '-')}"))
    results[objective] = pretrain(run_options, callbacks=[curves.series(objective)])
    print(objective, summary_line(results[objective]))

# %% [markdown]
# What to look for:
#
# - masked-LM accuracy: both runs read the same text; after a few hundred steps a gap between them mostly
#   reflects how soon each run leaves the unigram stage (lesson 1, section 5), not what the second task teaches;
# - a small model trained for a few minutes stays close to chance on *both* sentence tasks: learning to route
#   information from both segments into `[CLS]` takes far longer than learning word statistics (BERT reached
#   97–98 % NSP accuracy after a million steps of a 110 M-parameter model). The topic-overlap line shows how much
#   of NSP is reachable without understanding order at all;
# - if NSP does leave chance in your run, compare it with the overlap line: that much needs no sense of order.
#   SOP cannot be helped by topic, so any gain there is order being learned;
# - whether what NSP learnt *transfers*: `python benchmarks/nsp_probe.py --run RUN` scores the head on pairs from
#   the training articles and from the held-out ones. A model can learn "both segments come from training
#   article 17" — useless on new articles — before "A and B share rare words". The vocabulary decides which comes
#   first: with 2048 word pieces rare words are cut into common pieces and a 5-minute model learnt only the
#   training articles (held-out NSP at chance), with BERT's 8192 (this lesson's) the shared words stay whole and
#   held-out NSP left chance (`docs/recipe.md`, "The vocabulary decides NSP");
# - what NSP needs first: `bertlab pretrain --recipe fast-cpu` trains its first half on 16-token inputs as MLM
#   only, because NSP on two ~6-token segments taught nothing that transferred and held MLM back. With the
#   sentence pairs only on 128-token inputs, held-out NSP reaches ~70 % in 5 CPU minutes instead of staying at
#   chance (`docs/recipe.md`, "An MLM-only warm-up and a late decay").
#
# ---
# ## Exercises
#
# ### Exercise 2.1 — Build a pair input
#
# `my_pair_input(tokens_a, tokens_b)` gets two lists of token strings and returns `(tokens, token_type_ids)`:
# `[CLS] A [SEP] B [SEP]` and the segment id of every token (0 for `[CLS]`, A and the first `[SEP]`; 1 for B and
# the final `[SEP]`). Do not modify the lists you are given.

# %%
def my_pair_input(tokens_a, tokens_b):
    # BEGIN SOLUTION
    tokens = ["[CLS]", *tokens_a, "[SEP]", *tokens_b, "[SEP]"]
    token_type_ids = [0] * (len(tokens_a) + 2) + [1] * (len(tokens_b) + 1)
    return tokens, token_type_ids
    # END SOLUTION


# %%
from bertlab.homework import check

check("pair_input", my_pair_input)

# %% [markdown]
# ### Exercise 2.2 — An NSP example
#
# `my_nsp_example(document, index, other_documents, rng)`: `document` is a list of sentences, `index` points at
# sentence A (it always has a next sentence), `other_documents` is a list of *other* documents (lists of
# sentences), `rng` a `random.Random`. Return `(sentence_a, sentence_b, label)`:
# with probability ½ B is the next sentence and the label is 0 (IsNext); otherwise B is a random sentence of a
# random other document and the label is 1 (NotNext). Use only `rng` for randomness.

# %%
def my_nsp_example(document, index, other_documents, rng):
    # BEGIN SOLUTION
    if rng.random() < 0.5:
        return document[index], document[index + 1], 0
    other = rng.choice(other_documents)
    return document[index], rng.choice(other), 1
    # END SOLUTION


# %%
check("nsp_example", my_nsp_example)

# %% [markdown]
# ### Exercise 2.3 — An SOP example
#
# `my_sop_example(segment_a, segment_b, rng)`: A and B are consecutive segments of one document. Return
# `(first, second, label)`: with probability ½ `(A, B, 0)` (in order), otherwise `(B, A, 1)` (swapped).

# %%
def my_sop_example(segment_a, segment_b, rng):
    # BEGIN SOLUTION
    if rng.random() < 0.5:
        return segment_b, segment_a, 1
    return segment_a, segment_b, 0
    # END SOLUTION


# %%
check("sop_example", my_sop_example)
