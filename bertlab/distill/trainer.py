"""Distillation as a task for the shared training loop (``bertlab.train.loop.train``).

    teacher = load_run("runs/teacher").model
    student = make_student(get_preset("tiny", num_hidden_layers=2), teacher, method="tinybert")
    task = DistillationTask(teacher, student, method="tinybert", eval_batches=held_out)
    train(student, task, batch_fn, TrainSettings(...), run_dir="runs/student")

The model the loop trains is ``BertForDistillation``: a ``BertForPreTraining`` that also owns TinyBERT's
projections W_e / W_h, so the optimizer, checkpoints and DDP see them, and a run folder loads back as an
ordinary pre-training model (the projections are simply unused). The teacher lives in the task, frozen.

Every step the task runs the teacher (no gradient) and then the student on the same batch; the losses are
computed inside the student's forward (``distill=`` hook), so that under DDP all trainable work happens in
the wrapped call. Each loss component is a mean over its own denominator (real tokens, real attention
pairs, masked tokens, examples); the task rescales each by this micro-batch's share of the step's global
count, so gradient accumulation and several processes give the same gradient as one big batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial

import torch
from torch import nn

from bertlab.config import IGNORE_INDEX, BertConfig
from bertlab.distill.losses import check_head_counts
from bertlab.distill.mapping import init_student_from_teacher, validate_layer_map
from bertlab.distill.models import DISTILL_MODEL_CLASSES, BertForDistillation
from bertlab.distill.objectives import distilbert_losses, loss_weights, tinybert_losses
from bertlab.model import BertForPreTraining
from bertlab.train.pretraining import MODEL_INPUTS, PretrainingTask

# the teacher's held-out metrics logged beside the student's, as teacher_<name>
TEACHER_METRICS = ("mlm_loss", "mlm_acc", "mlm_acc_mask", "mlm_acc_random", "mlm_acc_unchanged", "nsp_loss", "nsp_acc")

Batch = dict[str, torch.Tensor]

# what each component is averaged over (see losses.py); the task weights micro-batches by these counts
DENOMINATORS = {"emb": "real_tokens", "hidn": "real_tokens", "cos": "real_tokens", "attn": "attn_pairs",
                "pred": "masked", "ce": "masked", "mlm": "masked", "pred_nsp": "examples"}
DEFAULT_TEMPERATURE = {"tinybert": 1.0, "distilbert": 2.0}  # TinyBERT §4.2 (t = 1); DistilBERT's code (T = 2)


def make_student(config: BertConfig, teacher: BertForPreTraining, method: str = "tinybert",
                 init: str | Sequence[int] | None = "auto", **projection_kwargs) -> BertForDistillation:
    """A student of shape ``config`` for ``teacher``.

    ``init="auto"``: DistilBERT copies the teacher's embeddings and every other layer (§3) when the shapes
    allow it, TinyBERT starts from random weights (general distillation, §3.2); ``None`` = random;
    ``"every-other"`` or a list of teacher layers (counted from 0) = copy those.
    """
    student = BertForDistillation(config, teacher_hidden_size=teacher.config.hidden_size, **projection_kwargs)
    if init == "auto":
        init = "every-other" if method == "distilbert" else None
    if init is not None:
        init_student_from_teacher(student, teacher, init)
    return student


class DistillationTask:
    """TinyBERT or DistilBERT distillation for ``train``; logs each loss component, the student's MLM/NSP
    metrics, and on eval lines the teacher's (``teacher_mlm_acc``, ``teacher_nsp_acc``).

    ``layer_map``, ``attention_on``, ``temperature``, ``pred_loss`` and ``weights`` are those of
    ``tinybert_losses`` / ``distilbert_losses`` (temperature None = 1 for TinyBERT, 2 for DistilBERT).
    Components with weight 0 are not trained; TinyBERT's attention maps and hidden states are only
    computed when a weight needs them (asking for attention maps switches to the slower eager attention).
    Student parts no weighted loss reaches are frozen (``requires_grad=False``, listed in ``task.frozen``):
    with the default weights that is the NSP head and pooler (set ``pred_nsp`` > 0 to distil them too).
    Other weight choices that leave a layer unused (e.g. TinyBERT with hidn = pred = 0) train on one
    process but need DDP's ``find_unused_parameters``.
    """

    def __init__(self, teacher: BertForPreTraining, student: BertForDistillation, method: str = "tinybert",
                 layer_map: Sequence[int] | str = "uniform", weights: Mapping[str, float] | None = None,
                 attention_on: str = "scores", temperature: float | None = None, pred_loss: str = "kl",
                 eval_batches: Sequence[Batch] = (), unigram_token_id: int | None = None):
        self.method = method
        self.weights = loss_weights(method, weights)
        if not any(w > 0 for w in self.weights.values()):
            raise ValueError(f"every {method} loss weight is 0: nothing to train ({self.weights})")
        self.teacher = teacher.eval().requires_grad_(False)
        self.attention_on, self.pred_loss = attention_on, pred_loss
        self.temperature = DEFAULT_TEMPERATURE[method] if temperature is None else float(temperature)
        s_cfg, t_cfg = student.config, teacher.config
        if s_cfg.vocab_size != t_cfg.vocab_size:
            raise ValueError(f"student vocabulary {s_cfg.vocab_size} differs from the teacher's {t_cfg.vocab_size}: "
                             f"distillation compares token by token, so both must use the teacher's tokenizer")
        if not isinstance(student, BertForDistillation):
            raise TypeError(f"the student must be a BertForDistillation (see make_student), "
                            f"got {type(student).__name__}")
        self.layer_map = validate_layer_map(layer_map, s_cfg.num_hidden_layers, t_cfg.num_hidden_layers) \
            if method == "tinybert" else None
        w = self.weights
        self.need_hidden = method == "tinybert" and (w["emb"] > 0 or w["hidn"] > 0)
        self.need_attentions = method == "tinybert" and w["attn"] > 0
        if self.need_attentions:
            check_head_counts(s_cfg.num_attention_heads, t_cfg.num_attention_heads)
        if student.projections.teacher_hidden != t_cfg.hidden_size and self.need_hidden:
            raise ValueError(f"the student's projections map to width {student.projections.teacher_hidden} but the "
                             f"teacher's width is {t_cfg.hidden_size}: build the student with make_student(config, "
                             f"teacher)")
        # Parts of the student that no weighted loss reaches would get no gradient; freeze them, so that the
        # optimizer leaves them alone and DDP does not wait for their gradients (it raises otherwise).
        uses = {"projections.W_e": method == "tinybert" and w["emb"] > 0,
                "projections.W_h": method == "tinybert" and w["hidn"] > 0,
                "mlm": w["pred"] > 0 if method == "tinybert" else (w["ce"] > 0 or w["mlm"] > 0),
                "nsp": w["pred_nsp"] > 0, "bert.pooler": w["pred_nsp"] > 0}
        self.frozen = [name for name, used in uses.items() if not used]  # e.g. the NSP head without pred_nsp
        for name, used in uses.items():
            student.get_submodule(name).requires_grad_(used)
        self.eval_batches = list(eval_batches)
        # the student's own MLM / NSP statistics; with unigram_token_id, eval lines carry the unigram baseline
        self._student_metrics = PretrainingTask(self.eval_batches, unigram_token_id=unigram_token_id)
        self._teacher_eval: dict[str, float] | None = None

    # --- the Task protocol ------------------------------------------------------------------------------

    def counts(self, batch: Batch) -> dict[str, float]:
        real = batch["attention_mask"].sum(1).double()  # (B,) real tokens per row
        return {"real_tokens": float(real.sum()), "attn_pairs": float((real * real).sum()),
                "masked": float((batch["labels"] != IGNORE_INDEX).sum()),
                "examples": float(batch["input_ids"].shape[0])}

    def step(self, model: nn.Module, batch: Batch, totals: dict[str, float]):
        out, components, _ = self._forward(model, batch)
        local = self.counts(batch)
        loss = None
        for name, weight in self.weights.items():
            if weight > 0:
                den = DENOMINATORS[name]
                term = weight * components[f"loss_{name}"] * (local[den] / max(totals[den], 1.0))
                loss = term if loss is None else loss + term
        return loss, self._stats(out, components, batch, local)

    def summarize(self, sums: dict[str, float]) -> dict[str, float]:
        metrics = self._student_metrics.summarize(sums)  # mlm_loss, mlm_acc, nsp_loss, nsp_acc of the student
        total = 0.0
        for name, weight in self.weights.items():
            key = f"loss_{name}_sum"
            if key in sums:
                metrics[f"loss_{name}"] = sums[key] / max(sums[DENOMINATORS[name]], 1.0)
                total += weight * metrics[f"loss_{name}"]
        metrics["loss"] = total  # the distillation objective (the student's own MLM loss is "mlm_loss")
        return metrics

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        if not self.eval_batches:
            return {}
        device = next(model.parameters()).device
        sums: dict[str, float] = {}
        teacher_sums: dict[str, float] = {}
        for batch in self.eval_batches:
            batch = {k: v.to(device) for k, v in batch.items()}
            out, components, t_out = self._forward(model, batch)
            for k, v in self._stats(out, components, batch, self.counts(batch)).items():
                sums[k] = sums.get(k, 0.0) + v
            if self._teacher_eval is None:
                for k, v in self._student_metrics.batch_stats(t_out, batch).items():
                    teacher_sums[k] = teacher_sums.get(k, 0.0) + v
        if self._teacher_eval is None:  # the teacher is frozen: its metrics are computed once
            teacher = self._student_metrics.summarize(teacher_sums)
            self._teacher_eval = {f"teacher_{k}": v for k, v in teacher.items()
                                  if k in TEACHER_METRICS}
        metrics = self.summarize(sums)
        metrics["examples"] = sum(int(b["input_ids"].shape[0]) for b in self.eval_batches)
        return {**metrics, **self._student_metrics.unigram, **self._teacher_eval}

    # --- helpers ---------------------------------------------------------------------------------------

    def _forward(self, model: nn.Module, batch: Batch):
        inputs = {k: batch[k] for k in MODEL_INPUTS if k in batch}
        if "labels" not in inputs:
            raise ValueError("distillation batches need 'labels' (the masked positions both models predict)")
        flags = dict(output_hidden_states=self.need_hidden, output_attentions=self.need_attentions)
        teacher = self._teacher_on(batch["input_ids"].device)
        with torch.no_grad():
            t_out = teacher(**inputs, **flags)
        objective = partial(self._objective, t_out, batch["attention_mask"])
        out, components = model(**inputs, **flags, distill=objective)
        return out, components, t_out

    def _objective(self, t_out, attention_mask, s_out, projections) -> dict[str, torch.Tensor]:
        if self.method == "tinybert":
            return tinybert_losses(s_out, t_out, attention_mask, self.layer_map, projections, self.weights,
                                   self.attention_on, self.temperature, self.pred_loss)
        return distilbert_losses(s_out, t_out, attention_mask, self.weights, self.temperature, self.pred_loss)

    def _stats(self, out, components, batch: Batch, local: dict[str, float]) -> dict[str, float]:
        stats = {**self._student_metrics.batch_stats(out, batch), **local}
        for name in self.weights:
            value = components.get(f"loss_{name}")
            if value is not None:
                stats[f"loss_{name}_sum"] = float(value.detach()) * local[DENOMINATORS[name]]
        return stats

    def _teacher_on(self, device: torch.device) -> nn.Module:
        if next(self.teacher.parameters()).device != device:
            self.teacher.to(device)
        return self.teacher


__all__ = ["BertForDistillation", "DistillationTask", "make_student", "DISTILL_MODEL_CLASSES", "DENOMINATORS"]
