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
# # Lesson 3 — ALBERT: fewer parameters, same work
#
# ALBERT (Lan et al., 2020, §3.1) shrinks BERT with two ideas:
#
# 1. **Factorized embedding parameterization.** BERT's token embedding has width H, so the vocabulary costs
#    V×H parameters. ALBERT embeds into a small width E and projects up: V×E + E×H.
# 2. **Cross-layer parameter sharing.** All L layers use the *same* weights (or only the attention, or only the
#    feed-forward blocks).
#
# Symbols: V vocabulary size, E embedding size, H hidden size, L layers. In this lesson you will
#
# 1. move V, E, H, L and the sharing mode with a widget and watch the parameter count;
# 2. check the formula against the parameters counted in real models, including the published sizes;
# 3. train E = H vs E < H and shared vs unshared models for the same number of steps and compare loss,
#    parameters and speed — and see that **sharing saves memory, not time**;
# 4. count parameters and compute yourself in the exercises.

# %%
from IPython.display import display

from bertlab.lessons import fresh_run, pick, setup_notebook

print(setup_notebook())

# %% [markdown]
# ## 1. The parameter breakdown
#
# The panel counts the parameters of a real bertlab model built with your settings (on PyTorch's "meta" device:
# no memory, no time), next to BERT with the same V, H and L. The table puts the formula beside the counted
# numbers: the counted projection has an extra H — its bias, which the paper's formula leaves out. Start from
# ALBERT-base (V = 30,000, E = 128, H = 768, L = 12, all layers shared) and try E = H, or sharing "none".

# %%
from bertlab.lessons.widgets import albert_panel

display(albert_panel(vocab_size=30000, hidden_size=768, embedding_size=128, num_hidden_layers=12,
                     share_layers="all"))

# %% [markdown]
# The same comparison as a static chart, for BERT-base-shaped models (V = 30,000 as in the ALBERT paper):

# %%
from bertlab.config import get_preset
from bertlab.lessons.widgets import parameter_figure

shapes = {
    "BERT-base (E=H=768, none)": get_preset("bert-base", vocab_size=30000),
    "E=128, none": get_preset("albert-base", share_layers="none"),
    "E=768, all": get_preset("albert-base", embedding_size=None),
    "ALBERT-base (E=128, all)": get_preset("albert-base"),
}
parameter_figure(shapes, title="BERT-base shape: factorization and sharing").show()

# %% [markdown]
# ## 2. Formula vs counted, and the published sizes
#
# V×H → V×E + E×H for ALBERT-base: 30,000 × 768 = 23.0 M becomes 30,000 × 128 + 128 × 768 = 3.9 M. The table
# below counts every model of the ALBERT paper's Table 1 (and two of its ablations) in bertlab. The "embeddings +
# encoder" column is what the paper counts; remaining gaps are explained in the notes.

# %%
import pandas as pd

from bertlab.analysis.params import count_parameters, embedding_formula
from bertlab.analysis.paper_sizes import paper_size_rows

albert_base = get_preset("albert-base")
formula = embedding_formula(albert_base)
counts = count_parameters(albert_base).by_component
print(f"ALBERT-base formula: V×H = {formula['V*H']:,}   V×E + E×H = {formula['V*E + E*H']:,}")
print(f"counted: word_embeddings {counts['word_embeddings']:,} + embedding_projection "
      f"{counts['embedding_projection']:,} (E×H + H bias) = {counts['word_embeddings'] + counts['embedding_projection']:,}")
pd.DataFrame(paper_size_rows()).drop(columns=["note"])

# %% [markdown]
# ## 3. Train four small models at equal steps
#
# Four models share everything (H = 128, L = 4, 4 heads, the `wiki-en` corpus, masked LM + SOP as in ALBERT,
# the same batches, the same number of steps) and differ only in E and sharing. They put the LayerNorm *before*
# each sub-layer ("pre-LN", `norm_placement="pre"`): with BERT's post-LN, 4 layers at this learning rate stay at
# the unigram stage for hundreds of steps on this data (lesson 1), and four flat curves would compare nothing.
#
# | model | E | sharing |
# |---|---|---|
# | BERT | 128 (= H) | none |
# | factorized | 32 | none |
# | shared | 128 (= H) | all |
# | ALBERT | 32 | all |
#
# The plot shows masked-LM loss and accuracy as they train, and the tokens per second.

# %%
from dataclasses import replace

from bertlab.lessons import LiveCurves
from bertlab.lessons.setups import lesson1_options
from bertlab.pretrain import model_config, pretrain

# lesson 1's set-up (wiki-en, sequences of 64, batches of 64) with 4 pre-LN layers and SOP, as ALBERT
base = lesson1_options(model_overrides=dict(num_hidden_layers=4, num_attention_heads=4, norm_placement="pre"),
                       objective="mlm+sop", steps=pick(250, 6), eval_every=pick(125, 6), log_every=pick(10, 2),
                       eval_examples=pick(512, 64), out=None)
variants = {"BERT (E=H, none)": dict(embedding_size=None, share_layers="none"),
            "factorized (E=32, none)": dict(embedding_size=32, share_layers="none"),
            "shared (E=H, all)": dict(embedding_size=None, share_layers="all"),
            "ALBERT (E=32, all)": dict(embedding_size=32, share_layers="all")}
curves = LiveCurves(["mlm_loss", "mlm_acc", "tokens_per_s"], title="E = H vs E < H, shared vs unshared")
curves.show()
results = {}
for k, (name, change) in enumerate(variants.items()):
    options = replace(base, **change, out=fresh_run(f"lesson3-variant{k}"))
    results[name] = (options, pretrain(options, callbacks=[curves.series(name)]))

# %%
import statistics

rows = []
for name, (options, result) in results.items():
    config = model_config(options, 8192)
    count = count_parameters(config)
    speeds = [r["tokens_per_s"] for r in curves.records[name] if r.get("split") == "train"]
    rows.append({"model": name, "parameters (stored)": count.unique, "parameters (as applied)": count.applied,
                 "held-out MLM loss": round(result.last_eval["mlm_loss"], 3),
                 "held-out MLM acc": f"{result.last_eval['mlm_acc']:.1%}",
                 "tokens/s (median of logs)": round(statistics.median(speeds))})
pd.DataFrame(rows)

# %% [markdown]
# ## 4. Sharing saves memory, not time
#
# The tokens per second above come from runs made one after another on a shared machine, so they are noisy. To
# compare speed fairly we time one training step (forward + backward) of each model *in alternation* on the same
# batch: every model sees the same machine load.

# %%
import plotly.graph_objects as go

from bertlab.lessons.inspect import time_alternately
from bertlab.model import BertForPreTraining
from bertlab.pretrain import build_data

sample = build_data(base).train.batch(0, pick(64, 8))  # a batch like the ones the models trained on
models = {name: BertForPreTraining(model_config(options, 8192)) for name, (options, _) in results.items()}
seconds = time_alternately(models, sample, repeats=pick(5, 1))
fig = go.Figure(go.Bar(x=list(seconds), y=[1000 * s for s in seconds.values()],
                       text=[f"{1000 * s:.0f} ms" for s in seconds.values()], textposition="outside"))
fig.update_layout(title="one training step (forward + backward), timed in alternation", yaxis_title="ms",
                  template="plotly_white", height=360)
fig.show()
unshared, shared = seconds["BERT (E=H, none)"], seconds["shared (E=H, all)"]
print(f"shared / unshared time per step: {shared / unshared:.2f} "
      f"(parameters: {count_parameters(models['shared (E=H, all)']).unique / count_parameters(models['BERT (E=H, none)']).unique:.2f})")

# %% [markdown]
# What to look for:
#
# - **parameters**: E = 32 cuts the 8,192 × 128 embedding table by 4×; sharing cuts the encoder by 4× (L = 4).
#   The "as applied" column is the same for shared and unshared models: every layer still runs;
# - **time**: the shared model is about as slow as the unshared one (the ratio is near 1), because a shared layer
#   is *applied* L times per token. ALBERT saves memory and communication (fewer weights to store and to
#   synchronise between GPUs), not computation — ALBERT-xxlarge is slower than BERT-large;
# - **loss**: at equal steps the smaller models pay a modest price, as in the paper (ALBERT §4.4–4.5: all-shared
#   E = 768 drops 2.5 points of average score vs not shared). At this tiny scale and short training the
#   differences may be within run-to-run noise; look at the direction, not the third decimal.
#
# ---
# ## Exercises
#
# ### Exercise 3.1 — The factorized embedding
#
# `my_embedding_params(V, E, H)`: the number of parameters of the token embedding of ALBERT (V×E table plus the
# E×H projection, no bias) — or of BERT when E = H (just the V×H table, no projection).

# %%
def my_embedding_params(V, E, H):
    # BEGIN SOLUTION
    if E == H:
        return V * H
    return V * E + E * H
    # END SOLUTION


# %%
from bertlab.homework import check

check("embedding_params", my_embedding_params)

# %% [markdown]
# ### Exercise 3.2 — Encoder parameters with sharing
#
# `my_encoder_params(H, I, L, share)`: the stored parameters of the encoder's L layers (not the embeddings, not
# the heads). One layer is an **attention block** — Q, K, V and output projections, each H×H plus a bias of H,
# then a LayerNorm (weight and bias, 2H) — and a **feed-forward block** — H×I + I, then I×H + H, then a
# LayerNorm (2H). `share` is `"none"` (L of each), `"all"` (one of each), `"attention"` (one attention block,
# L feed-forward blocks) or `"ffn"` (the other way round). A real bertlab model checks your count.

# %%
def my_encoder_params(H, I, L, share):
    # BEGIN SOLUTION
    attention = 4 * (H * H + H) + 2 * H
    feed_forward = (H * I + I) + (I * H + H) + 2 * H
    attention_blocks = 1 if share in ("all", "attention") else L
    ffn_blocks = 1 if share in ("all", "ffn") else L
    return attention_blocks * attention + ffn_blocks * feed_forward
    # END SOLUTION


# %%
check("encoder_params", my_encoder_params)

# %% [markdown]
# ### Exercise 3.3 — Sharing does not save compute
#
# `my_encoder_macs(H, I, L, T, share)`: the multiply-accumulate operations of the encoder's matrix products for
# one sequence of T tokens. Per layer: the four projections Q, K, V, O (4·T·H·H), the scores QKᵀ (T·T·H), the
# weighted sum of the values (T·T·H), and the feed-forward block (2·T·H·I). What does `share` change?

# %%
def my_encoder_macs(H, I, L, T, share):
    # BEGIN SOLUTION
    per_layer = 4 * T * H * H + 2 * T * T * H + 2 * T * H * I
    return L * per_layer  # a shared layer is still applied L times
    # END SOLUTION


# %%
check("encoder_macs", my_encoder_macs)
