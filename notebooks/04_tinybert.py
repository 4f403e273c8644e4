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
# # Lesson 4 — Distillation: DistilBERT and TinyBERT
#
# Knowledge distillation trains a small **student** to imitate a big **teacher**. DistilBERT (Sanh et al. 2019)
# copies the teacher's *outputs* (and the direction of its last hidden states); TinyBERT (Jiao et al. 2020, §3.1)
# also copies what happens *inside*: the embeddings, every mapped layer's hidden states and attention maps, and
# finally the predictions. In this lesson you will
#
# 1. draw the **layer mapping** g(m) — which teacher layer each student layer learns from;
# 2. meet the teacher — the course's English model — and check that it knows something worth copying;
# 3. compute TinyBERT's four losses on one batch;
# 4. run **general distillation** of a student, two seeds, next to the same student trained from scratch with
#    two seeds, and see whether the difference is larger than the seed spread;
# 5. look at the teacher's and the student's attention maps side by side;
# 6. take DistilBERT's **triple loss** apart (soft targets at temperature T with the T² factor, masked LM,
#    cosine of hidden states) and its every-other-layer initialisation;
# 7. see TinyBERT's second stage (task-specific distillation with data augmentation) and where bertlab differs
#    from the paper;
# 8. write each loss yourself and check it against the library on the same batch.

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
# The teacher is the course's English model from lesson 1: the `tiny` BERT (L2 H128, 2 heads) trained on wiki-en
# with MLM + NSP and the fast-cpu recipe for 6,000 steps (`bertlab course prepare`; without it the next cell
# trains a 2,000-step stand-in, several minutes). A teacher is only worth copying if it knows
# something: its held-out accuracy at `[MASK]` positions (lesson 1, section 6) is printed below, next to the
# unigram guess.
#
# The student is smaller in both directions, like TinyBERT: **1 layer of width 64** (FFN 256, 2 heads). The
# uniform map is g = [0, 2] — the student's embeddings learn from the teacher's, its only layer from the
# teacher's last — and the learned projections W_e, W_h map the student's width 64 to the teacher's 128.

# %%
from bertlab import load_run
from bertlab.data import unigram_baseline
from bertlab.lessons.inspect import accuracy_by_case
from bertlab.lessons.setups import ensure_model
from bertlab.pretrain import build_data

teacher_dir, teacher_options = ensure_model("en", live_run="lesson1-en")
teacher = load_run(teacher_dir)
data = build_data(teacher_options, tokenizer=teacher.tokenizer)  # the teacher's corpus, split and held-out masks
eval_batches = data.eval_batches[:pick(16, 2)]
unigram = unigram_baseline(data.train).token_id
teacher_cases = accuracy_by_case(teacher.model, eval_batches, unigram_token_id=unigram)
print(f"teacher: {teacher.path}, {teacher.model.num_parameters():,} parameters, "
      f"{teacher.model_config.num_hidden_layers} layers × H {teacher.model_config.hidden_size}")
print(f"teacher's held-out accuracy at [MASK]: {teacher_cases['[MASK]']['accuracy']:.1%} "
      f"(the unigram guess: {teacher_cases['[MASK]']['unigram']:.1%}), "
      f"at unchanged positions {teacher_cases['unchanged']['accuracy']:.1%}")

# %%
from bertlab.analysis.params import count_parameters
from bertlab.distill.trainer import make_student

STUDENT = dict(num_hidden_layers=1, hidden_size=64, intermediate_size=256, num_attention_heads=2)
teacher_config = teacher.model_config
student_config = teacher_config.replace(**STUDENT)
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
# ## 4. General distillation vs the same student alone
#
# `bertlab.distill.run.distill` trains the student on the teacher's pre-training data (the same corpus, split
# and tokenizer) with all four losses — the same code as `bertlab distill --teacher …`. Its **twin** is the same
# shape trained from scratch on MLM + NSP with the same steps, batch, learning rate and schedule, 128-token pairs
# and the teacher's document split. Each is trained with **two seeds** (initial weights, batch order, masks): a
# difference counts only if the worse distilled seed beats the better seed from scratch. The curves show the
# held-out accuracy at `[MASK]` positions; the teacher's and the unigram guess are the dotted lines.

# %%
from bertlab.distill.run import DistillOptions, distill
from bertlab.distill.run import summary_line as distill_summary
from bertlab.lessons import LiveCurves
from bertlab.lessons.setups import fast_options
from bertlab.lessons.settings import lesson_precision
from bertlab.pretrain import pretrain, summary_line

steps, seeds = pick(600, 8), (0, 1)
curves = LiveCurves(["loss", "mlm_acc_mask"], title="general distillation vs from scratch (2 seeds each)",
                    titles=["distillation objective (emb + attn + hidn + pred)", "held-out accuracy at [MASK]"])
curves.show()
curves.reference("mlm_acc_mask", teacher_cases["[MASK]"]["accuracy"],
                 f"teacher {teacher_cases['[MASK]']['accuracy']:.1%}")
curves.reference("mlm_acc_mask", teacher_cases["[MASK]"]["unigram"], "unigram guess")
common = dict(steps=steps, batch_size=pick(32, 8), learning_rate=2e-3, warmup=0.05, eval_every=pick(100, 4),
              log_every=pick(10, 2), eval_examples=pick(512, 64), checkpoint_every=0, precision=lesson_precision())
students = {}
for seed in seeds:
    options = DistillOptions(teacher=str(teacher.path), student_layers=1, student_hidden=64, student_heads=2,
                             student_intermediate=256, method="tinybert", layer_map="uniform", seed=seed,
                             progress=False, out=fresh_run(f"lesson4-student-seed{seed}"), **common)
    result = distill(options, callbacks=[curves.series(f"distilled, seed {seed}")])
    students[f"distilled, seed {seed}"] = options.out
    print(f"distilled, seed {seed}:", distill_summary(result))
for seed in seeds:
    # the twin: no sequence-length warm-up (distillation has none) and the same linear decay as distill()
    options = fast_options(model_overrides=STUDENT, warmup_seq_length=0, warmup_seq_steps=0.0,
                           warmup_seq_objective=None, lr_decay=1.0, max_seq_length=teacher_options.max_seq_length,
                           seed=seed, split_seed=teacher_options.seed, out=fresh_run(f"lesson4-scratch-seed{seed}"),
                           **common)
    twin = curves.series(f"from scratch, seed {seed}")
    # its "loss" is masked LM + NSP, not the distillation objective of the left panel: leave it out there
    result = pretrain(options, callbacks=[lambda r, twin=twin: twin({k: v for k, v in r.items() if k != "loss"})])
    students[f"from scratch, seed {seed}"] = options.out
    print(f"from scratch, seed {seed}:", summary_line(result))

# %% [markdown]
# The held-out accuracy of every model on the **same** held-out batches (the teacher's held-out articles, the
# same masks), split as in lesson 1: only the `[MASK]` column measures what the context taught.

# %%
import pandas as pd

rows = {"teacher (L2 H128)": teacher_cases}
for name, path in students.items():
    rows[name] = accuracy_by_case(load_run(path).model, eval_batches, unigram_token_id=unigram)
table = pd.DataFrame({name: {"[MASK]": c["[MASK]"]["accuracy"], "random": c["random"]["accuracy"],
                             "unchanged": c["unchanged"]["accuracy"]} for name, c in rows.items()}).T
display(table.style.format("{:.1%}").set_caption(f"held-out accuracy by case; unigram guess at [MASK]: "
                                                 f"{teacher_cases['[MASK]']['unigram']:.1%}"))
distilled = [table.loc[f"distilled, seed {s}", "[MASK]"] for s in seeds]
scratch = [table.loc[f"from scratch, seed {s}", "[MASK]"] for s in seeds]
print(f"[MASK] accuracy after {steps} steps: distilled {min(distilled):.1%}–{max(distilled):.1%}, "
      f"from scratch {min(scratch):.1%}–{max(scratch):.1%}; worst distilled minus best from scratch: "
      f"{(min(distilled) - max(scratch)) * 100:+.1f} points "
      f"({'beyond' if min(distilled) > max(scratch) else 'NOT beyond'} the seed spread)")

# %% [markdown]
# What to look for (the executed lesson's numbers are in `reports/lessons/04_tinybert.txt`):
#
# - where the curves leave the unigram line. Alone, a student on 128-token pairs starts on the plateau where it
#   guesses frequent words (the plateau that the fast-cpu recipe's 16-token first half exists to shorten,
#   docs/recipe.md); distilled, it is handed the teacher's attention maps — *where to look* — and its soft
#   predictions over the whole vocabulary at every masked position, far more signal per example than one correct
#   token;
# - the last line above: the claim holds only if the worse distilled seed beats the better seed from scratch;
# - a student can only learn what its teacher knows: the distilled students end below the teacher's line, the
#   price of a model at a fraction of the size (printed in section 2);
# - `bertlab experiment distill-vs-scratch` runs the same comparison longer (1,000 student steps, a 4-layer
#   teacher) and adds a downstream task; docs/distill.md has its table.
#
# ## 5. Attention maps: teacher vs student
#
# Student layer m next to teacher layer g(m), for one sentence pair. The student's 2 heads pair one-to-one with
# the teacher's 2. Switch between the probabilities (what the model uses) and the scores (what the loss
# compares); the colour scale is shared, so equal values look equal.

# %%
from bertlab.analysis.attention import attention_maps, match_layers
from bertlab.lessons.widgets import attention_panel

trained_student = load_run(students["distilled, seed 0"]).model
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
# ## 6. DistilBERT: the triple loss and every-other-layer initialisation
#
# DistilBERT (Sanh et al. 2019, §2–3) keeps the teacher's **width** and halves its **depth**, and starts the
# student from the teacher itself: the embeddings and **one layer out of two** are copied (here teacher layers
# 0 of 0–1: a 1-layer student from a 2-layer teacher; from BERT-base's 12 layers it would be 0, 2, …, 10). It then trains on a sum of three losses, with the official weights 5 / 2 / 1:
#
# - `L_ce` — soft cross-entropy against the teacher's distribution, both softened by a **temperature** T = 2:
#   `−Σ_v softmax(z_T/T)[v] · log softmax(z_S/T)[v]`, multiplied by **T²**;
# - `L_mlm` — the student's own masked-LM loss on the true tokens;
# - `L_cos` — `1 − cos(h_S, h_T)` between the student's and the teacher's last hidden states, averaged over the
#   real tokens (it aligns their directions; the widths are equal, so no projection is needed).
#
# Here is such a student made from the teacher, and the three losses on the batch of section 3, from the library
# (`make_student(..., method="distilbert")`, `bertlab.distill.distilbert_losses`):

# %%
from bertlab.distill import distilbert_losses

distil_config = teacher_config.replace(num_hidden_layers=teacher_config.num_hidden_layers // 2)
distil_student = make_student(distil_config, teacher.model, method="distilbert")  # init="auto": every other layer


def same_weights(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


s_blocks, t_blocks = distil_student.bert.encoder.attention_blocks, teacher.model.bert.encoder.attention_blocks
copied = [[j for j in range(len(t_blocks)) if same_weights(s_blocks[i], t_blocks[j])] for i in range(len(s_blocks))]
print(f"DistilBERT student: L{distil_config.num_hidden_layers} H{distil_config.hidden_size}; its attention blocks "
      f"equal the teacher's blocks {copied} (one list per student layer)")
distil_student.eval()
d_out = distil_student(**inputs, output_hidden_states=True)
triple = distilbert_losses(d_out, t_out, batch["attention_mask"], temperature=2.0, pred_loss="ce")
triple = {name: float(value.detach()) for name, value in triple.items()}
print({name: round(value, 4) for name, value in triple.items()})

# %% [markdown]
# **Why T².** Softening with T spreads the teacher's probability over more words (its "dark knowledge": which
# wrong answers are almost right). But the gradient of the soft cross-entropy with respect to the student's
# logits is `(softmax(z_S/T) − softmax(z_T/T)) / T`, and for large T the two distributions' difference itself
# shrinks like 1/T: the gradient falls like **1/T²** (Hinton et al. 2015, §2.1). Multiplying the loss by T² keeps
# its gradient at the same size whatever T is, so the weights 5 / 2 / 1 keep their meaning. Measured on the
# student's logits at the masked positions of the batch:

# %%
from bertlab.distill.losses import soft_cross_entropy

s_logits = d_out.masked_lm_logits.detach().float()
t_logits = t_out.masked_lm_logits.float()
rows = []
for T in (1.0, 2.0, 4.0, 8.0):
    norms = {}
    for scaled in (False, True):
        z = s_logits.clone().requires_grad_(True)
        soft_cross_entropy(z, t_logits, temperature=T, scale_by_t2=scaled).backward()
        norms[scaled] = float(z.grad.norm())
    rows.append({"T": int(T), "gradient norm, no factor": norms[False], "with × T²": norms[True]})
display(pd.DataFrame(rows).set_index("T").style.format("{:.4f}"))

# %% [markdown]
# Read the two columns against each other: without the factor the gradient collapses as T grows; the factor
# gives back T², and what shrinks in the right column is what the 1/T² rule leaves out — it holds exactly only when
# the logits are small compared with T, and a trained teacher's are not (measured on the course teacher:
# 0.0109, 0.0017, 0.0001, 0.0000 without the factor for T = 1, 2, 4, 8; 0.0109, 0.0068, 0.0012, 0.0008 with it).
# DistilBERT's T = 2 sits where the factor keeps the soft loss comparable with the hard MLM loss. `bertlab distill --method distilbert --teacher RUN` trains such a student (half the teacher's layers by
# default); exercise 4.5 asks you to write the triple loss yourself.
#
# ## 7. TinyBERT's two stages, and where bertlab differs
#
# TinyBERT (§3.2) distils twice. **General distillation** on the pre-training corpus teaches a general student
# from the pre-trained teacher — the paper's code (`general_distill.py`) uses only the *intermediate* layers
# there: attention and hidden-state (with embedding) losses. **Task-specific distillation** then starts from that
# student and a teacher fine-tuned on the task, on the task's training set **augmented** about 20-fold (§3.3:
# each word, with probability 0.4, replaced by one of the top-15 masked-LM predictions of BERT for it masked, or
# by a GloVe neighbour when it is split into several pieces); it distils the intermediate layers first, then the
# **prediction layer** (soft cross-entropy against the fine-tuned teacher's logits, Eq. 10), as two trainings.
#
# bertlab has both stages (`bertlab distill --stage general`, `--stage task --augment N`, docs/distill.md). It
# differs in four places, each on purpose:
#
# | | TinyBERT (paper and code) | bertlab |
# |---|---|---|
# | general stage | intermediate layers only | intermediate layers **and** the soft masked-LM prediction (`pred`, weight 1): the lessons read a general student's masked-LM accuracy and fill-mask, which needs a trained MLM head; `--weights pred=0` gives the paper's stage |
# | task stage | intermediate, then prediction, as two runs with their own schedules | the same two phases inside one run (`--intermediate-fraction`, default ½) under one learning-rate schedule |
# | augmentation of multi-piece words | GloVe nearest neighbours | left unchanged (no word vectors here); one-piece words as the paper, with the top 15 of the course teacher's MLM |
# | amount of augmentation | ~20 copies (N_a = 20) | `--augment N`, a few copies, because CPU minutes |
#
# Augmentation in action: two copies of three sentences, each one-piece word replaced with probability 0.4 by one
# of the teacher's 15 best guesses for it (`bertlab.distill.task_stage.augment_task`, the function
# `--augment` uses). Judge the copies yourself: the replacements are only as good as the masked-LM that proposes
# them. TinyBERT used BERT-base; a 1.5 M-parameter teacher that is right at `[MASK]` about one time in four
# proposes many words that do not fit — one reason bertlab makes few copies.

# %%
from bertlab.distill.task_stage import augment_task
from bertlab.finetune.tasks import Example, TaskData

sentences = ["the film was a great success and won several awards .",
             "the city is located on the north bank of the river .",
             "he studied law at the university before he joined the army ."]
examples = [Example(t, "any") for t in sentences]  # a task of three sentences (dev and test only to be valid)
demo = TaskData("demo", train=examples, dev=examples, test=examples, labels=["any", "other"], kind="single",
                language="en")
augmented = augment_task(demo, teacher.model, teacher.tokenizer, copies=2, seed=0)
with pd.option_context("display.max_colwidth", None):
    display(pd.DataFrame({"original": [e.text for e in augmented.train[:3] for _ in range(2)],
                          "augmented copy": [e.text for e in augmented.train[3:]]}))

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
# ### Exercise 4.5 — DistilBERT's triple loss
#
# `your_triple_loss(student_out, teacher_out, attention_mask, temperature=2.0, weights=(5.0, 2.0, 1.0))` gets the
# outputs of a DistilBERT student and its teacher on the same batch (called with `labels`): each has
# `masked_lm_logits` (N, V) at the N masked positions and `last_hidden_state` (B, T, H); the student also has
# `mlm_loss`. Return a dict with
#
# - `"loss_ce"`: the mean over the N rows of −Σ_v softmax(z_T / T)[v] · log softmax(z_S / T)[v], times T²;
# - `"loss_mlm"`: the student's masked-LM loss;
# - `"loss_cos"`: the mean over the real tokens (`attention_mask` == 1) of 1 − cos(h_S, h_T);
# - `"loss"`: w_ce · loss_ce + w_mlm · loss_mlm + w_cos · loss_cos.
#
# No gradient may flow into the teacher. This exercise has no hidden tests: the table below checks your
# numbers against the library's `distilbert_losses` on the batch of section 3 (its rows say "not written yet"
# until you write the function; `bertlab/distill/losses.py` and `objectives.py` hold the library's answer).

# %%
def your_triple_loss(student_out, teacher_out, attention_mask, temperature=2.0, weights=(5.0, 2.0, 1.0)):
    # your code here: the DistilBERT rows of the table below compare it with the library's distilbert_losses
    raise NotImplementedError("exercise 4.5: write DistilBERT's triple loss")


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
expected = dict(library)
mine_triple = attempt(your_triple_loss, d_out, t_out, mask, 2.0)
for name in ("loss_ce", "loss_mlm", "loss_cos", "loss"):
    yours[f"DistilBERT {name}"] = None if mine_triple is None else mine_triple[name]
    expected[f"DistilBERT {name}"] = triple[name]
rows = []
for name, value in yours.items():
    mine = None if value is None else float(value.detach())
    rows.append({"loss": name, "yours": "not written yet" if mine is None else round(mine, 5),
                 "library": round(expected[name], 5),
                 "match": "" if mine is None else "✔" if abs(mine - expected[name]) <= 1e-4 * max(1, expected[name]) else "✘"})
pd.DataFrame(rows)
