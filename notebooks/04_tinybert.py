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
# # Lesson 4 — TinyBERT: distilling a teacher layer by layer
#
# Knowledge distillation trains a small **student** to imitate a big **teacher**. DistilBERT (Sanh et al. 2019)
# copies the teacher's *outputs*; TinyBERT (Jiao et al. 2020, §3.1) also copies what happens *inside*: the
# embeddings, every mapped layer's hidden states and attention maps, and finally the predictions. In this lesson
# you will
#
# 1. draw the **layer mapping** g(m) — which teacher layer each student layer learns from;
# 2. compute the four losses on one batch;
# 3. run **general distillation** of a student from lesson 1's model, with live teacher-vs-student curves, next
#    to the same student trained from scratch;
# 4. look at the teacher's and the student's attention maps side by side;
# 5. write each loss yourself and check it against the library on the same batch.

# %%
import torch
from IPython.display import HTML, display

from bertlab.lessons import fresh_run, pick, setup_notebook

print(setup_notebook())

# %% [markdown]
# ## 1. The layer mapping
#
# The teacher has N Transformer layers, the student M < N. TinyBERT numbers the embedding layer 0 and lets
# student layer m learn from teacher layer n = g(m); the *uniform* strategy takes every (N/M)-th layer,
# g(m) = m·N/M. TinyBERT4 (M = 4) learns from BERT-base (N = 12) through layers 3, 6, 9, 12:

# %%
from bertlab.distill.mapping import uniform_layer_map
from bertlab.lessons.widgets import layer_mapping_figure

layer_mapping_figure(4, 12, uniform_layer_map(4, 12), title="TinyBERT4 from BERT-base: g(m) = 3m").show()

# %% [markdown]
# ## 2. The teacher and the student
#
# The teacher is lesson 1's model (2 layers, H = 128). If you have not run lesson 1, the next cell trains it
# now, with the same settings (a few minutes). The student is smaller in both directions, like TinyBERT: **1
# layer of width 64** (FFN 256, 2 heads). The uniform map is g = [0, 2] — the student's only layer learns from
# the teacher's last — and the learned projections W_e, W_h map the student's width 64 to the teacher's 128.

# %%
from bertlab import load_run
from bertlab.lessons.setups import lesson1_options, teacher_path, teacher_ready
from bertlab.pretrain import pretrain, summary_line

if not teacher_ready():
    print(f"no finished lesson-1 run in {teacher_path()}: training it now")
    options = lesson1_options(out=fresh_run("lesson1-teacher"))
    print(summary_line(pretrain(options)))
teacher = load_run(teacher_path())
print(f"teacher: {teacher.path}, {teacher.model.num_parameters():,} parameters, "
      f"{teacher.model_config.num_hidden_layers} layers × H {teacher.model_config.hidden_size}")

# %%
from bertlab.analysis.params import count_parameters
from bertlab.distill.trainer import make_student
from bertlab.pretrain import build_data

teacher_config = teacher.model_config
student_config = teacher_config.replace(num_hidden_layers=1, hidden_size=64, intermediate_size=256,
                                        num_attention_heads=2)
layer_map = uniform_layer_map(student_config.num_hidden_layers, teacher_config.num_hidden_layers)
torch.manual_seed(0)
student = make_student(student_config, teacher.model, method="tinybert")  # random init: general distillation
s_count, t_count = count_parameters(student_config).unique, count_parameters(teacher.model).unique
print(f"student: {s_count:,} parameters ({s_count / t_count:.0%} of the teacher); layer map g = {layer_map}")
print(f"projections learned with it (thrown away afterwards): {student.projections}")
layer_mapping_figure(student_config.num_hidden_layers, teacher_config.num_hidden_layers, layer_map,
                     title="this lesson: student M = 1 from teacher N = 2").show()

# %% [markdown]
# ## 3. The four losses on one batch
#
# For student layer m and teacher layer g(m), on the real (non-padding) tokens:
#
# - **embeddings** `L_emb = MSE(E_S · W_e, E_T)` on the embedding layers' outputs;
# - **attention** `L_attn = (1/h) Σ_i MSE(A_i^S, A_i^T)` over the h heads, on the **scores before softmax**
#   (QKᵀ/√d) — the paper found them to converge faster than the probabilities;
# - **hidden states** `L_hidn = MSE(H_S · W_h, H_T)`;
# - **prediction** `L_pred = −Σ_v softmax(z_T / t)[v] · log softmax(z_S / t)[v]`, the soft cross-entropy against
#   the teacher's distribution over the vocabulary at the masked positions (t = 1).
#
# Attention and hidden losses are summed over the M mapped layers. Here they are on one batch of the teacher's
# data, from the library (`bertlab.distill.tinybert_losses`) — in the exercises you compute them yourself.

# %%
from bertlab.distill import tinybert_losses

data = build_data(lesson1_options(batch_size=pick(32, 8)), tokenizer=teacher.tokenizer)
batch = data.train.batch(0, pick(32, 8))
inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids", "labels")}
teacher.model.eval()
student.eval()
with torch.no_grad():
    t_out = teacher.model(**inputs, output_hidden_states=True, output_attentions=True)
s_out = student(**inputs, output_hidden_states=True, output_attentions=True)
library = tinybert_losses(s_out, t_out, batch["attention_mask"], layer_map, student.projections, pred_loss="ce")
library = {name: float(value.detach()) for name, value in library.items()}
for name, value in library.items():
    print(f"{name:10s} {value:10.4f}")

# %% [markdown]
# The attention loss is large at the start: the teacher's scores have grown during its training while the
# random student's are near zero. The prediction loss starts near log V ≈ 9: a random student spreads its guesses
# over the whole vocabulary.
#
# ## 4. General distillation, live
#
# `bertlab.distill.run.distill` trains the student on the teacher's pre-training data (the same corpus, split
# and tokenizer) with all four losses — the same code as `bertlab distill --teacher …`. Left: the losses;
# middle and right: the student's held-out masked-LM accuracy and loss, next to the teacher's (dotted) and a
# student of the same shape trained from scratch on masked LM for the same number of steps.

# %%
from bertlab.distill.run import DistillOptions, distill
from bertlab.distill.run import summary_line as distill_summary
from bertlab.lessons import LiveCurves

steps = pick(300, 8)
curves = LiveCurves(["loss", "mlm_acc", "mlm_loss"], title="general distillation: student vs teacher",
                    titles=["distillation objective (emb + attn + hidn + pred)", "held-out masked-LM accuracy",
                            "masked-LM loss"])
curves.show()


def teacher_line(record):
    """Draw the frozen teacher's held-out numbers (logged on every evaluation) as a series of their own."""
    if record.get("split") == "eval" and "teacher_mlm_acc" in record:
        curves.add("teacher (frozen)", {"split": "eval", "step": record["step"],
                                        "mlm_acc": record["teacher_mlm_acc"], "mlm_loss": record["teacher_mlm_loss"]})


distill_options = DistillOptions(
    teacher=str(teacher.path), student_layers=1, student_hidden=64, student_heads=2, method="tinybert",
    layer_map="uniform", steps=steps, batch_size=pick(64, 8), learning_rate=2e-3, eval_every=pick(60, 4),
    log_every=pick(10, 2), eval_examples=pick(512, 64), checkpoint_every=0, progress=False,
    out=fresh_run("lesson4-student"))
distilled = distill(distill_options, callbacks=[curves.series("student (TinyBERT)"), teacher_line])
print(distill_summary(distilled))

scratch_options = lesson1_options(model_overrides=dict(num_hidden_layers=1, hidden_size=64, intermediate_size=256,
                                                       num_attention_heads=2),
                                  steps=steps, eval_every=pick(60, 4), log_every=pick(10, 2),
                                  eval_examples=pick(512, 64), out=fresh_run("lesson4-scratch"))
from_scratch = curves.series("same student from scratch")
# its "loss" is masked LM + NSP, not the distillation objective of the left panel: leave it out there
scratch = pretrain(scratch_options, callbacks=[lambda r: from_scratch({k: v for k, v in r.items() if k != "loss"})])
print("from scratch:", summary_line(scratch))

# %% [markdown]
# What to look for:
#
# - every loss component falls; the attention loss falls fastest at first (scores are easy to match in scale);
# - the distilled student's accuracy climbs toward the teacher's line. TinyBERT's claim is that a distilled
#   student beats the same student trained from scratch for the same budget — *if the teacher knows more than
#   the student could learn alone*. In our runs the distilled student was ahead after 300 steps, but lesson 1's
#   teacher is young (section 6 of lesson 1: much of its accuracy is copying unchanged tokens), and a student can
#   only learn what its teacher knows; a longer-trained teacher makes the comparison more telling.
#
# ## 5. Attention maps: teacher vs student
#
# Student layer m next to teacher layer g(m), for one sentence pair. The student's 2 heads pair one-to-one with
# the teacher's 2. Switch between the probabilities (what the model uses) and the scores (what the loss
# compares); the colour scale is shared, so equal values look equal.

# %%
from bertlab.analysis.attention import attention_maps, match_layers
from bertlab.lessons.widgets import attention_panel

trained_student = load_run(distill_options.out).model
text_a, text_b = "the man went to the store .", "he bought a gallon of milk ."
t_maps = attention_maps(teacher.model, teacher.tokenizer, text_a, text_b)
s_maps = attention_maps(trained_student, teacher.tokenizer, text_a, text_b)
matched = {"probabilities": match_layers(t_maps, s_maps, layer_map, use="probs"),
           "scores": match_layers(t_maps, s_maps, layer_map, use="scores")}
display(attention_panel(matched, t_maps.tokens))

# %% [markdown]
# The same maps in bertviz's head view (drawn offline: bertlab inlines the JavaScript bertviz would load from a
# CDN). Hover over a token to see where it attends; double-click a colour to see one head.

# %%
from bertlab.analysis.bertviz_offline import head_view_html

for who, maps in (("teacher", t_maps), ("student", s_maps)):
    display(HTML(f"<h4>{who}</h4>"))
    display(HTML(head_view_html(maps.bertviz_attention(), maps.tokens, sentence_b_start=maps.sentence_b_start)))

# %% [markdown]
# ---
# ## Exercises
#
# ### Exercise 4.1 — The uniform layer map
#
# `my_uniform_layer_map(M, N)` returns `[g(0), g(1), …, g(M)]` with g(0) = 0 (embeddings) and g(m) = m·N/M.
# Raise `ValueError` when M does not divide N or M > N.

# %%
def my_uniform_layer_map(M, N):
    # BEGIN SOLUTION
    if M > N or N % M:
        raise ValueError(f"cannot map {N} teacher layers uniformly onto {M} student layers")
    return [m * N // M for m in range(M + 1)]
    # END SOLUTION


# %%
from bertlab.homework import check

check("layer_map", my_uniform_layer_map)

# %% [markdown]
# ### Exercise 4.2 — The attention loss
#
# `my_attention_loss(scores_s, scores_t, attention_mask)`: scores (B, A, T, T) of one student layer and its
# teacher layer (same number of heads), `attention_mask` (B, T) with 1 for real tokens. Return the mean over heads
# of the mean squared difference over the (query, key) pairs where **both** tokens are real:
# Σ (S − T)² over real pairs / (A × number of real pairs). Compare the **scores**, not probabilities, and do not
# let gradient flow into the teacher.

# %%
def my_attention_loss(scores_s, scores_t, attention_mask):
    # BEGIN SOLUTION
    real = attention_mask.to(scores_s.dtype)  # (B, T)
    pairs = real[:, :, None] * real[:, None, :]  # (B, T, T): query and key both real
    squared = (scores_s - scores_t.detach()).pow(2) * pairs[:, None]  # (B, A, T, T)
    return squared.sum() / (scores_s.shape[1] * pairs.sum())
    # END SOLUTION


# %%
check("attention_loss", my_attention_loss)

# %% [markdown]
# ### Exercise 4.3 — The hidden-state loss
#
# `my_hidden_loss(h_s, h_t, W_h, attention_mask)`: student states (B, T, H_S), teacher states (B, T, H_T), the
# projection matrix `W_h` (H_S, H_T). Return MSE(h_s @ W_h, h_t) averaged over the real tokens and the H_T
# features. (The embedding loss is the same function applied to layer 0 with W_e.)

# %%
def my_hidden_loss(h_s, h_t, W_h, attention_mask):
    # BEGIN SOLUTION
    real = attention_mask.bool()  # (B, T)
    return (h_s @ W_h - h_t.detach())[real].pow(2).mean()
    # END SOLUTION


# %%
check("hidden_loss", my_hidden_loss)

# %% [markdown]
# ### Exercise 4.4 — The prediction loss
#
# `my_soft_cross_entropy(student_logits, teacher_logits, temperature)`: logits (N, V). Return the mean over the
# N rows of −Σ_v softmax(z_T / t)[v] · log softmax(z_S / t)[v].

# %%
import torch.nn.functional as F


def my_soft_cross_entropy(student_logits, teacher_logits, temperature):
    # BEGIN SOLUTION
    p_teacher = F.softmax(teacher_logits.detach() / temperature, dim=-1)
    log_p_student = F.log_softmax(student_logits / temperature, dim=-1)
    return -(p_teacher * log_p_student).sum(-1).mean()
    # END SOLUTION


# %%
check("soft_cross_entropy", my_soft_cross_entropy)

# %% [markdown]
# ### Your losses on the real batch
#
# The same batch as in section 3: your functions next to the library's `tinybert_losses`. (A row shows
# "not written yet" until you have written that function.)

# %%
import pandas as pd

from bertlab.homework import attempt

M = student_config.num_hidden_layers
mask = batch["attention_mask"]
W_e = student.projections.W_e.weight.T  # nn.Linear(64, 128) keeps W as (128, 64): transpose to (H_S, H_T)
W_h = student.projections.hidden_projection(1).weight.T
yours = {
    "loss_emb": attempt(my_hidden_loss, s_out.hidden_states[0], t_out.hidden_states[0], W_e, mask),
    "loss_attn": attempt(lambda: sum(my_attention_loss(s_out.attention_scores[m - 1],
                                                       t_out.attention_scores[layer_map[m] - 1], mask)
                                     for m in range(1, M + 1))),
    "loss_hidn": attempt(lambda: sum(my_hidden_loss(s_out.hidden_states[m], t_out.hidden_states[layer_map[m]],
                                                    W_h, mask) for m in range(1, M + 1))),
    "loss_pred": attempt(my_soft_cross_entropy, s_out.masked_lm_logits, t_out.masked_lm_logits, 1.0),
}
rows = []
for name, value in yours.items():
    mine = None if value is None else float(value.detach())
    rows.append({"loss": name, "yours": "not written yet" if mine is None else round(mine, 5),
                 "library": round(library[name], 5),
                 "match": "" if mine is None else "✔" if abs(mine - library[name]) <= 1e-4 * max(1, library[name]) else "✘"})
pd.DataFrame(rows)
