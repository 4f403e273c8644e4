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
# # Lesson 6 — Using a pre-trained encoder: fine-tuning vs feature extraction
#
# Pre-training gives an encoder; a labelled task needs a classifier on top. BERT (Devlin et al. 2019) names two
# ways to join them: **fine-tuning** (§3.2) trains every weight, the encoder's and the new head's, on the task;
# the **feature-based approach** (§5.3, as ELMo did) freezes the encoder and trains only the head on the vectors it
# produces. The head reads one vector per sentence or per token; which vector is a choice of its own: the `[CLS]`
# token, the mean of the tokens, or — ELMo's idea (Peters et al. 2018, Eq. 1) — a learned mix of all the layers.
# In this lesson you will
#
# 1. count what each mode trains, on a real model;
# 2. build the three sentence vectors on real sentences, and see why padding must stay out of a mean;
# 3. fine-tune and extract features from lesson 1's encoder on a real task, with live curves, and read the layer
#    weights the mix learned;
# 4. read learning curves of pre-trained vs random encoders on four tasks: where pre-training pays, and when
#    frozen features are enough;
# 5. write mean pooling, the scalar mix and the freezing yourself.

# %%
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch
from IPython.display import display

from bertlab.lessons import fresh_run, pick, setup_notebook

print(setup_notebook())

# %% [markdown]
# ## 1. What each mode trains
#
# The encoder is the course's English model, lesson 1's (BERT, 2 layers, H = 128, a WordPiece vocabulary of
# 8,192 learned on English Wikipedia, trained with the fast-cpu recipe). If `bertlab course prepare` has not made
# it and no earlier lesson trained its live stand-in, the next cell trains that stand-in now (2,000 steps of the
# same recipe, several minutes).

# %%
from bertlab import load_run
from bertlab.lessons.setups import ensure_model

# the course's English model (lesson 1): 2-layer tiny BERT on wiki-en, MLM + NSP on 128-token pairs
model_dir, _ = ensure_model("en", live_run="lesson1-en")
encoder_run = load_run(model_dir)
config = encoder_run.model_config
print(f"encoder: {encoder_run.path}, {config.num_hidden_layers} layers × H {config.hidden_size}, "
      f"vocabulary {config.vocab_size:,}")

# %% [markdown]
# `BertForClassification` is the encoder (`model.bert`) + a pooling + dropout + one linear layer. Its
# `freeze_encoder()` is all that feature extraction changes: `requires_grad=False` on every encoder weight (so the
# optimiser skips them) and eval mode (no dropout, so a sentence gives the same features at every step). The
# `[CLS]` pooling also carries BERT's pooler, tanh(W h_[CLS] + b), which belongs to the encoder: NSP trained it.
# A scalar mix adds one weight per layer and γ — they belong to the task, and train in both modes.

# %%
from bertlab.analysis.params import count_parameters
from bertlab.finetune import BertForClassification

rows, components = [], {}
for pooling in ("cls", "mean", "scalar-mix"):
    model = BertForClassification(config, num_labels=2, pooling=pooling)
    total = model.num_parameters()
    for mode in ("finetune", "features"):
        if mode == "features":
            model.freeze_encoder()
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        rows.append({"pooling": pooling, "mode": mode, "trainable": f"{trainable:,}", "of": f"{total:,}",
                     "share": f"{trainable / total:.3%}"})
    components[pooling] = count_parameters(model).by_component
display(pd.DataFrame(rows))

parts = {name: n for name, n in components["cls"].items() if n}
fig = go.Figure(go.Bar(x=list(parts.values()), y=list(parts), orientation="h",
                       marker_color=["#2ca02c" if name == "classifier" else "#1f77b4" for name in parts],
                       text=[f"{n:,}" for n in parts.values()], textposition="outside"))
fig.update_layout(title="[CLS] classifier by component: green trains in both modes, blue only when fine-tuning",
                  xaxis_type="log", xaxis_title="parameters (log scale)", height=340, template="plotly_white",
                  margin=dict(l=160))
fig.show()
print(f"word embeddings (V × H): {parts['word_embeddings']:,} = {parts['word_embeddings'] / sum(parts.values()):.0%} "
      f"of the model")

# %% [markdown]
# Feature extraction trains a few hundred weights out of 1.5 million (two thirds of which are word embeddings).
# That is its appeal — one frozen encoder can serve many tasks, its features can be computed once, and nothing
# the encoder knows can be forgotten. Fine-tuning can reshape every layer for the task, at the price of a full
# copy of the model per task.
#
# ## 2. Three sentence vectors
#
# The encoder returns L + 1 hidden states per token: the embeddings, then one per layer (3 in all here). For a
# sentence-level head they become one vector:
#
# - **[CLS]**: the top layer at position 0, through the pooler (BERT §4.1);
# - **mean**: the top layer averaged over the sentence's **real** tokens;
# - **scalar mix**: γ Σⱼ softmax(w)ⱼ hⱼ over the L + 1 layers, then averaged over the real tokens. w starts at 0
#   (every layer weighs 1/3) and γ at 1; the task learns both.
#
# Below, two real sentences of this lesson's task, padded into one batch as the training loop does:

# %%
from bertlab.finetune import ScalarMix, masked_mean
from bertlab.finetune.data import encode_task
from bertlab.finetune.tasks import load_task

# the task of section 3, built from the documents lesson 1's pre-training held out
task = load_task("capitalization", pretrained_options=encoder_run.config.get("options"))
encoded = encode_task(task, encoder_run.tokenizer, max_seq_length=64)
lengths = encoded.dev.lengths
short = int(np.argmin(np.where(lengths > 6, lengths, lengths.max())))  # the shortest of more than 6 tokens
batch = encoded.dev.rows(np.array([short, int(np.argmax(lengths))]))  # padded to the longest sentence
alone = encoded.dev.rows(np.array([short]))
for row in (0, 1):
    n = int(batch["attention_mask"][row].sum())
    print(f"row {row}: {n} real tokens + {batch['input_ids'].shape[1] - n} [PAD]:",
          " ".join(encoder_run.tokenizer.id_to_token(int(i)) for i in batch["input_ids"][row, :n]))

encoder = encoder_run.model.bert.eval()


def encode(inputs):
    with torch.no_grad():
        return encoder(inputs["input_ids"], inputs["attention_mask"], inputs["token_type_ids"],
                       output_hidden_states=True)


out, out_alone = encode(batch), encode(alone)
print(f"\nhidden states: {len(out.hidden_states)} tensors of shape {tuple(out.hidden_states[0].shape)} (B, T, H); "
      f"[CLS] pooled: {tuple(out.pooler_output.shape)}")

mix = ScalarMix(len(out.hidden_states))
vectors = {
    "[CLS] pooled": (out.pooler_output[0], out_alone.pooler_output[0]),
    "mean over real tokens": (masked_mean(out.last_hidden_state, batch["attention_mask"])[0],
                              masked_mean(out_alone.last_hidden_state, alone["attention_mask"])[0]),
    "mean over all positions (padding too)": (out.last_hidden_state.mean(1)[0], out_alone.last_hidden_state.mean(1)[0]),
    "scalar mix (w = 0, γ = 1), real tokens": (
        masked_mean(mix(out.hidden_states), batch["attention_mask"])[0].detach(),
        masked_mean(mix(out_alone.hidden_states), alone["attention_mask"])[0].detach()),
}
pd.DataFrame([{"sentence vector": name, "norm": round(float(in_batch.norm()), 2),
               "change when the sentence is padded in a batch": f"{float((in_batch - by_itself).norm()):.2e}"}
              for name, (in_batch, by_itself) in vectors.items()])

# %% [markdown]
# The short sentence gets the same vector alone and padded next to a long one — except when the mean includes the
# padding: the encoder computes vectors at `[PAD]` positions too (nothing stops it), and averaging them makes a
# sentence's features depend on its neighbours in the batch. (The tiny change of the others, below 1e-6, is
# floating-point rounding.) Exercise 6.1 writes this mean.
#
# The task of section 3 labels every **token**, so its head reads one vector per token — the top layer (`top`)
# or the scalar mix per token, no averaging — and the same questions remain: *which layers* does the task
# need, and does it need the encoder to change?
#
# ## 3. Fine-tuning vs features, live
#
# Lesson 1's vocabulary is English, so the task must be English. bertlab's English tasks are built from the
# documents lesson 1 held out of pre-training (no sentence below was seen by the encoder):
#
# - `capitalization` (ERNIE 2.0 §4.2.1): the text is lower-cased, and the model tags each word *capitalized* or
#   *lower* — names, places, sentence starts. Our tokenizer lower-cases anyway, so only the context can tell.
#   One label per word (its first word piece); most words are lower-case, so we score **macro-F1**, the mean of
#   both labels' F1: always answering "lower" gets ~0.47.
# - `sentence-distance` (pairs): in bertlab's application-modes experiment no tiny encoder learned it beyond
#   chance (docs/application-modes.md), so it would teach nothing here.
#
# Choose what to train, then run the next cell. The defaults run both modes with the scalar mix; a third run —
# the same encoder shape with **random** weights — shows what pre-training bought.

# %%
import ipywidgets as widgets

print(task)
modes = widgets.SelectMultiple(options=[("fine-tuning (all weights)", "finetune"),
                                        ("feature extraction (frozen encoder)", "features")],
                               value=("finetune", "features"), description="modes", rows=2,
                               layout=widgets.Layout(width="480px"))
pooling = widgets.ToggleButtons(options=[("scalar mix of the layers", "scalar-mix"), ("top layer", "top")],
                                value="scalar-mix", description="token vector")
random_too = widgets.Checkbox(value=True, description="also feature extraction from a random encoder (same shape)",
                              layout=widgets.Layout(width="480px"))
display(widgets.VBox([modes, pooling, random_too]))

# %% [markdown]
# Each run: 300 steps of 32 sentences, peak learning rate 1e-3 for fine-tuning and 1e-2 for a head alone (chosen
# on reviews-zh dev accuracy, docs/application-modes.md), the dev set scored every 30 steps and the best weights
# by dev macro-F1 kept. It is the same code as
# `bertlab finetune --from .cache/course-models/en-wiki --task capitalization --mode features --pooling scalar-mix
# --max-seq-length 64 --steps 300 --eval-every 30`.

# %%
from bertlab.finetune.loop import FinetuneOptions, finetune, resolve_source
from bertlab.finetune.loop import summary_line as finetune_summary
from bertlab.lessons import LiveCurves

source = resolve_source(FinetuneOptions(from_run=str(encoder_run.path)))
runs = [(mode, source) for mode in modes.value] + ([("features", source.random())] if random_too.value else [])
names = {"finetune": "fine-tuning", "features": "feature extraction"}
if not modes.value:
    print("no mode chosen: select at least one above and run this cell again")
curves = LiveCurves(["loss", "accuracy", "macro_f1"], title=f"capitalization, {pooling.value} token vectors",
                    titles=["cross-entropy", "accuracy (train lines, held-out dots)", "dev macro-F1"])
majority = task.label_counts("train")["lower"] / sum(task.label_counts("train").values())
curves.reference("accuracy", majority, "always 'lower'")
curves.show()
results = {}
for mode, encoder_source in runs:
    name = names[mode] + (" (random encoder)" if encoder_source.weights is None else "")
    options = FinetuneOptions(task="capitalization", mode=mode, pooling=pooling.value, max_seq_length=64,
                              steps=pick(300, 6), batch_size=pick(32, 8), eval_every=pick(30, 3),
                              log_every=pick(10, 2), progress=False, seed=0,
                              out=fresh_run(f"lesson6-{mode}-{'pretrained' if encoder_source.weights else 'random'}"))
    results[name] = finetune(options, task=task, source=encoder_source, encoded=encoded,
                             callbacks=[curves.series(name)])
    print(f"{name}: {finetune_summary(results[name])}")

# %%
pd.DataFrame([{"run": name, "trainable weights": f"{sum(p.numel() for p in r.model.parameters() if p.requires_grad):,}",
               "test accuracy": f"{r.test['accuracy']:.1%}", "test macro-F1": round(r.test["macro_f1"], 3),
               "F1 capitalized": round(r.test["f1_per_label"][task.labels.index("capitalized")], 3),
               "seconds": round(r.seconds)} for name, r in results.items()])

# %% [markdown]
# What to look for. The source article (docs/algorithms.md, "Using a pre-trained encoder") reports fine-tuning ahead of feature extraction —
# clearly on sentence pairs, slightly on single sentences — and, for sequence labelling, a learned mix of layers
# ahead of the top layer alone. In our run (`python scripts/execute_lessons.py 06`, printed in
# `reports/lessons/06_finetuning.txt`: the course model, seed 0, scalar mix, test macro-F1; one seed, so
# differences of a point or two are noise):
#
# - **fine-tuning 0.80 vs frozen features 0.78**: the frozen encoder's features must already say "this word is
#   a name"; fine-tuning teaches the encoder to say it. The gap is the price of keeping the encoder fixed — here
#   small, on one seed.
# - **frozen random encoder 0.76**, reached after 30 steps — within two points of the frozen *pre-trained* one.
#   A random encoder still passes each word's identity through (its embedding, mixed by random layers), and a
#   word's identity decides most of its case ("paris" vs "the"). One seed and one label budget cannot say what
#   pre-training buys; section 4 asks it properly.
#
# Try the top layer instead of the mix, or feature extraction alone, and compare.
#
# ### The layers the mix chose
#
# With the scalar mix, each run learned softmax(w): how much of the embeddings, layer 1 and layer 2 the head
# reads. The dotted line is where they started (1/3 each).

# %%
mixed = {name: r.mix_weights for name, r in results.items() if r.mix_weights}
if mixed:
    layer_names = ["embeddings"] + [f"layer {j}" for j in range(1, config.num_hidden_layers + 1)]
    fig = go.Figure([go.Bar(name=f"{name} (γ = {results[name].mix_gamma:.2f})", x=layer_names, y=w)
                     for name, w in mixed.items()])
    fig.add_hline(y=1 / len(layer_names), line_dash="dot", line_color="gray", annotation_text="start: uniform")
    fig.update_layout(title="learned layer weights softmax(w)", yaxis_title="weight", barmode="group",
                      height=360, template="plotly_white")
    fig.show()
else:
    print("these runs read the top layer only: choose 'scalar mix of the layers' above to see learned weights")

# %% [markdown]
# In our run the fine-tuned and the random encoder's mixes hardly left 1/3 ([0.32, 0.34, 0.34] and [0.33, 0.34,
# 0.33]); the head on the frozen pre-trained encoder moved furthest, to [0.50, 0.20, 0.30] — toward the
# embeddings, where a word's identity is, and away from layer 1. (w and γ are four numbers learned at the head's
# learning rate; 300 steps move them only as far as the task insists. Fine-tuning can change the layers
# themselves instead.) In the application-modes experiment (1,500 pre-training steps, Chinese reviews) the
# frozen encoder's mix leaned the same way, to [0.41, 0.30, 0.29]. Which layers help depends on the task and on
# what pre-training put in each layer, which is why ELMo learns the weights per task.
#
# ## 4. What pre-training buys: learning curves
#
# One run per mode on one seed cannot say whether pre-training helped — section 3's differences are within a
# seed's noise. `bertlab experiment transfer` asks the question properly. For each task it trains a classifier
# from a **course model** (the 6,000-step tiny models of this course: English Wikipedia; People's Daily with
# whole-word masking) and from **the same shape and tokenizer with random weights**, in both modes, with
# about 50, 200 and 1,000 labelled examples (a sample stratified by label) and with all of them, three seeds
# each. Every cell is scored on the same test set, built — for the corpus tasks — from documents pre-training
# never saw:
#
# - `entities-zh`: People's Daily names of people, places and organisations, tagged per character (B-PER I-PER
#   …) from the annotators' own tags, scored by **span F1** — an entity counts only if all its characters and
#   its type are right;
# - `reviews-zh`: review sentiment (macro-F1); `capitalization:wiki-en`: section 3's task (macro-F1);
# - `next-sentence:peoples-daily-zh`: does sentence B follow sentence A, or come from another article?
# - `word-order:wiki-en` and `word-order:peoples-daily-zh`: is a sentence as written, or are its words
#   shuffled? The same words either way, so only knowledge of word order tells them apart.
#
# FAST mode (and a checkout without the experiment's runs) shows the committed results of
# `bertlab experiment transfer` (docs/transfer.md gives the exact command); after you run it, this cell reads
# your own `runs/transfer`.

# %%
from plotly.subplots import make_subplots

from bertlab.experiments.transfer import curves, load_results
from bertlab.lessons import FAST

transfer, where = load_results(None if FAST else "runs/transfer")
print(f"results: {where}")
by_curve = curves(transfer["cells"])
specs = list(transfer["tasks"])
fig = make_subplots(rows=(len(specs) + 1) // 2, cols=2, subplot_titles=specs, horizontal_spacing=0.08,
                    vertical_spacing=0.14)
colors = {"pre-trained": "#1f77b4", "random": "#ff7f0e"}
for k, spec in enumerate(specs):
    row, col = k // 2 + 1, k % 2 + 1
    for (task_name, encoder_name, mode, pool), by_size in by_curve.items():
        if task_name != spec:
            continue
        n = sorted(by_size)
        lo, hi = [100 * min(by_size[x]) for x in n], [100 * max(by_size[x]) for x in n]
        name = f"{encoder_name}, {mode}"
        fig.add_trace(go.Scatter(x=n + n[::-1], y=hi + lo[::-1], fill="toself", fillcolor=colors[encoder_name],
                                 opacity=0.12, line_width=0, hoverinfo="skip", showlegend=False), row, col)
        fig.add_trace(go.Scatter(x=n, y=[100 * sum(by_size[x]) / len(by_size[x]) for x in n], name=name,
                                 legendgroup=name, showlegend=k == 0, mode="lines+markers",
                                 line=dict(color=colors[encoder_name], dash="solid" if mode == "finetune" else "dash")),
                      row, col)
    fig.add_hline(y=100 * transfer["tasks"][spec]["chance"], line_dash="dot", line_color="gray", row=row, col=col)
    metric = "span F1" if transfer["tasks"][spec]["metric"] == "span_f1" else "macro-F1"
    fig.update_xaxes(type="log", title_text="labelled examples", row=row, col=col)
    fig.update_yaxes(title_text=f"test {metric}", row=row, col=col)
fig.update_layout(height=330 * ((len(specs) + 1) // 2), template="plotly_white",
                  title="test score vs labelled examples: seeds' mean, band = worst to best seed; dotted = majority")
fig.show()


def gap(spec, mode, size):
    """(mean test points the pre-trained encoder is ahead of random weights, worst pre-trained seed minus best
    random seed), or None where a cell is missing."""
    scores = {k[1]: v.get(size) for k, v in by_curve.items() if k[0] == spec and k[2] == mode}
    pre, rnd = scores.get("pre-trained"), scores.get("random")
    if not pre or not rnd:
        return None, None
    return round(100 * (sum(pre) / len(pre) - sum(rnd) / len(rnd)), 1), round(100 * (min(pre) - max(rnd)), 1)


rows = []
for spec in specs:
    for size in sorted({n for k, v in by_curve.items() if k[0] == spec for n in v}):
        (ft, ft_worst), (fx, fx_worst) = gap(spec, "finetune", size), gap(spec, "features", size)
        rows.append({"task": spec, "labelled": size, "fine-tune: pre-trained − random": ft,
                     "worst vs best seed": ft_worst, "features: pre-trained − random": fx,
                     "worst vs best seed ": fx_worst})
pd.DataFrame(rows)

# %% [markdown]
# What the committed curves say (docs/transfer.md has the tables and the commands):
#
# - **Pre-training pays where knowledge of the text helps.** On People's Daily names the pre-trained encoder is
#   far ahead at every size: fine-tuned on 1,000 sentences 49.5 span F1 against 11.9 from random weights (its
#   worst seed beats random's best by 35 points), and already 17.2 against 3.8 with 50 sentences. Finding a name
#   needs to know which characters belong together and what surrounds a name — what masked LM on the same
#   newspaper teaches.
# - **Pre-training pays most where the task asks what masked LM learns.** Telling a written English sentence from
#   the same words shuffled, a head on the pre-trained model's frozen features scores 81.6 macro-F1 with 50
#   labels and 94.0 with 608; random weights stay at 48–53 in either mode. In Chinese only fine-tuning gets
#   there (70.5 against 52.3 at 1,000 labels): the frozen features stay near chance (53.7).
# - **Not everywhere.** On review sentiment random weights are *ahead* when fine-tuned (75.8 vs 72.2 at 1,000
#   labels): sentiment sits in a few words whose embeddings the labels alone teach, and 1998 newspapers say
#   little about hotels and phones. Transfer needs pre-training text that knows the task's world — the same
#   grid half-way through pre-training was closer (77.2 vs 75.8): more news made the encoder no better at reviews.
#   With all 13,891 labelled reviews the two meet (78.7 vs 79.5): enough labels teach what pre-training did not.
# - **Frozen features are enough with few labels; fine-tuning wins with more.** With 50 labels a head on frozen
#   pre-trained features matches fine-tuning (entities 16.3 vs 17.2, reviews 59.2 vs 57.3) or beats it (English
#   word order 81.6 vs 63.9); with 1,000 fine-tuning is far ahead (entities 49.5 vs 25.1, reviews 72.2 vs 66.4). Features are only as good as pre-training made
#   them: from random weights they find almost no entities (≤ 1.4 span F1).
# - **Pairs:** fine-tuned on 50 pairs, the pre-trained encoder already tells the next sentence from another
#   article's 71–73 % of the time, on 1,000 pairs 76 % (chance: 50 %; random weights 50–54 %) — but not from
#   frozen token means (54 %): NSP put the answer in `[CLS]`, so for pairs the pooling matters.
# - **Read the largest sizes with care.** With all 5,222 pairs (and all 2,371 Chinese word-order sentences)
#   every fine-tuned random seed predicts one class, the majority guess (33.3 macro-F1). At 1,000 labels it
#   scored chance (about 52) by guessing at random. Either way it learned nothing, so the table's +44.8 for
#   next-sentence at 5,222 measures that collapse as much as pre-training.
#
# ---
# ## Exercises
#
# ### Exercise 6.1 — Mean pooling
#
# `my_mean_pool(hidden, attention_mask)`: hidden states (B, T, H), `attention_mask` (B, T) with 1 for real tokens
# (`[CLS]` and `[SEP]` included) and 0 for padding. Return (B, H): each sentence's mean over its real tokens.
# Keep it differentiable (fine-tuning sends gradients through it).

# %%
def my_mean_pool(hidden, attention_mask):
    # BEGIN SOLUTION
    real = attention_mask.to(hidden.dtype).unsqueeze(-1)  # (B, T, 1)
    return (hidden * real).sum(dim=1) / real.sum(dim=1)  # (B, H)
    # END SOLUTION


# %%
from bertlab.homework import check

check("mean_pool", my_mean_pool)

# %% [markdown]
# ### Exercise 6.2 — The scalar mix
#
# `my_scalar_mix(layers, weights, gamma)`: `layers` is a list of the L + 1 hidden states, each (B, T, H);
# `weights` the raw learned w (L + 1,); `gamma` a scalar tensor. Return γ Σⱼ softmax(w)ⱼ · layers[j], shaped like
# one layer, so that gradients reach w and γ.

# %%
import torch


def my_scalar_mix(layers, weights, gamma):
    # BEGIN SOLUTION
    s = torch.softmax(weights, dim=0)  # (L+1,): positive, sums to one
    return gamma * sum(s[j] * h for j, h in enumerate(layers))  # (B, T, H)
    # END SOLUTION


# %%
check("scalar_mix", my_scalar_mix)

# %% [markdown]
# ### Exercise 6.3 — Freeze for feature extraction
#
# `my_set_mode(model, mode)` for a `BertForClassification`: with `mode="features"` only the head trains — every
# weight under `model.bert` (embeddings, layers, pooler) gets `requires_grad=False`, the classifier and the
# scalar mix (if any) keep training; with `mode="finetune"` every weight trains, even if the model was frozen
# before. Return the number of trainable weights (elements, not tensors). Raise `ValueError` for any other mode.

# %%
def my_set_mode(model, mode):
    # BEGIN SOLUTION
    if mode not in ("features", "finetune"):
        raise ValueError(f"mode must be 'features' or 'finetune', got {mode!r}")
    model.requires_grad_(True)
    if mode == "features":
        model.bert.requires_grad_(False)  # embeddings, Transformer layers and the pooler
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
    # END SOLUTION


# %%
check("freeze", my_set_mode)

# %% [markdown]
# ### Your functions on the real model
#
# Section 2's batch and a model of section 3, your functions next to the library's. (A row shows "not written
# yet" until you have written that function.)

# %%
from bertlab.homework import attempt

trained = next(iter(results.values())).model if results else BertForClassification(config, 2, "scalar-mix", "token")
weights = (trained.scalar_mix.scalar_parameters.detach() if trained.scalar_mix is not None
           else torch.tensor([0.5, -0.2, 1.0]))
gamma = trained.scalar_mix.gamma.detach()[0] if trained.scalar_mix is not None else torch.tensor(1.3)
reference_mix = gamma * sum(torch.softmax(weights, 0)[j] * h for j, h in enumerate(out.hidden_states))
fresh = BertForClassification(config, 2, "cls")
checks = {
    "mean pooling of section 2's batch": (attempt(my_mean_pool, out.last_hidden_state, batch["attention_mask"]),
                                          masked_mean(out.last_hidden_state, batch["attention_mask"])),
    "the mix of section 2's layers with the trained w, γ": (attempt(my_scalar_mix, list(out.hidden_states), weights,
                                                                    gamma), reference_mix),
    "trainable weights of a [CLS] classifier, features": (
        attempt(my_set_mode, fresh, "features"),
        sum(p.numel() for p in BertForClassification(config, 2, "cls").freeze_encoder().parameters()
            if p.requires_grad)),
}
rows = []
for what, (yours, library) in checks.items():
    if yours is None:
        rows.append({"what": what, "match": "not written yet"})
        continue
    same = torch.allclose(torch.as_tensor(yours, dtype=torch.float), torch.as_tensor(library, dtype=torch.float),
                          atol=1e-5)
    rows.append({"what": what, "match": "✔" if same else "✘"})
pd.DataFrame(rows)
