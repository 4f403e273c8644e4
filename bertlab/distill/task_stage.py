"""TinyBERT's task-specific distillation (§3.2): a fine-tuned teacher teaches a (generally distilled) student.

    bertlab finetune --from runs/small --task sentence-distance --out runs/small-sd        # the teacher
    bertlab distill --stage task --teacher runs/small-sd --student runs/tinybert --steps 600 --out runs/tiny-sd

Two phases inside ``--steps``: first the intermediate layers (embeddings, attention scores, hidden states:
``intermediate_fraction`` of the steps), then the prediction layer (soft cross-entropy against the teacher's
task logits, Eq. 10). One learning-rate schedule spans both (TinyBERT ran them as two trainings). Data
augmentation (§3.3, ``augment`` > 0): each training example gets that many copies in which every word that
is one WordPiece is, with probability 0.4, replaced by one of the top 15 predictions of a masked-LM
teacher (the pre-trained model the fine-tuned teacher came from) for that word masked. TinyBERT also
replaces multi-piece words by GloVe neighbours; with no word vectors here, those words are kept.
"""

from __future__ import annotations

import dataclasses
import json
import random
import sys
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn

from bertlab.config import IGNORE_INDEX
from bertlab.data.tokenizer import MASK_ID, NUM_SPECIAL_TOKENS
from bertlab.distill.losses import check_head_counts, soft_cross_entropy
from bertlab.distill.mapping import validate_layer_map
from bertlab.distill.models import BertForClassificationDistillation
from bertlab.distill.objectives import TINYBERT_WEIGHTS, tinybert_losses
from bertlab.distill.options import student_config
from bertlab.distill.teacher import check_same_tokenizer, load_teacher
from bertlab.finetune.data import encode_task
from bertlab.finetune.loop import DEFAULT_LR, evaluate_split, options_from_dict
from bertlab.finetune.tasks import Example, load_task
from bertlab.io import atomic_write_json
from bertlab.model.classifier import BertForClassification, load_encoder_weights
from bertlab.train.loop import train
from bertlab.train.run import load_run, read_run_config, start_run

INTERMEDIATE, PREDICTION = 0, 1  # the two phases; each batch carries its phase (a pure function of the step)
DENOMINATORS = {"emb": "real_tokens", "attn": "attn_pairs", "hidn": "real_tokens", "pred": "scored"}
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "labels")


def _as_encoder_output(out) -> SimpleNamespace:
    """The fields ``tinybert_losses`` reads, from a ClassifierOutput (no MLM / NSP logits here)."""
    return SimpleNamespace(hidden_states=out.hidden_states, attentions=out.attentions,
                           attention_scores=out.attention_scores, prediction_logits=None, masked_lm_logits=None,
                           seq_relationship_logits=None,
                           last_hidden_state=out.hidden_states[-1] if out.hidden_states else None)


class TaskDistillationTask:
    """The training-loop task of the task-specific stage: intermediate layers on batches whose
    ``distill_phase`` is 0, the prediction layer (teacher's soft task labels) on phase 1."""

    def __init__(self, teacher: BertForClassification, student: BertForClassificationDistillation,
                 layer_map="uniform", weights: dict | None = None, attention_on: str = "scores",
                 temperature: float = 1.0, dev=None, num_labels: int = 2):
        self.teacher = teacher.eval().requires_grad_(False)
        self.weights = {k: float(v) for k, v in (weights or {}).items() if k in DENOMINATORS}
        s_cfg, t_cfg = student.config, teacher.config
        if s_cfg.vocab_size != t_cfg.vocab_size:
            raise ValueError(f"student vocabulary {s_cfg.vocab_size} differs from the teacher's {t_cfg.vocab_size}")
        if student.num_labels != teacher.num_labels or student.task_kind != teacher.task_kind:
            raise ValueError("the student must have the teacher's labels and task kind")
        self.layer_map = validate_layer_map(layer_map, s_cfg.num_hidden_layers, t_cfg.num_hidden_layers)
        if self.weights.get("attn", 0) > 0:
            check_head_counts(s_cfg.num_attention_heads, t_cfg.num_attention_heads)
        self.attention_on, self.temperature = attention_on, float(temperature)
        self.dev, self.num_labels = dev, num_labels
        self._teacher_dev: dict | None = None

    def counts(self, batch) -> dict[str, float]:
        real = batch["attention_mask"].sum(1).double()
        return {"real_tokens": float(real.sum()), "attn_pairs": float((real * real).sum()),
                "scored": float((batch["labels"] != IGNORE_INDEX).sum())}

    def _rows(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Logit rows that are scored: every example (sequence tasks) or the labelled tokens."""
        return logits if logits.dim() == 2 else logits[labels != IGNORE_INDEX]

    def step(self, model: nn.Module, batch, totals: dict[str, float]):
        phase = int(batch["distill_phase"][0])
        intermediate = phase == INTERMEDIATE
        inputs = {k: batch[k] for k in MODEL_INPUTS}
        flags = dict(output_hidden_states=intermediate,
                     output_attentions=intermediate and self.weights.get("attn", 0) > 0)
        with torch.no_grad():
            t_out = self.teacher.to(batch["input_ids"].device)(**inputs, **flags)

        def objective(s_out, projections):
            if intermediate:
                w = {k: self.weights.get(k, 0.0) if k in ("emb", "attn", "hidn") else 0.0 for k in TINYBERT_WEIGHTS}
                return tinybert_losses(_as_encoder_output(s_out), _as_encoder_output(t_out), batch["attention_mask"],
                                       self.layer_map, projections, w, self.attention_on)
            labels = batch["labels"]
            return {"loss_pred": soft_cross_entropy(self._rows(s_out.logits, labels), self._rows(t_out.logits, labels),
                                                    self.temperature, subtract_teacher_entropy=True)}

        out, components = model(**inputs, **flags, distill=objective)
        local = self.counts(batch)
        loss = out.logits.sum() * 0.0
        names = ("emb", "attn", "hidn") if intermediate else ("pred",)
        stats = {"tokens": local["real_tokens"], **{k: v for k, v in local.items()}}
        for name in names:
            weight, value = self.weights.get(name, 0.0), components.get(f"loss_{name}")
            if value is None:
                continue
            den = DENOMINATORS[name]
            if weight > 0:
                loss = loss + weight * value * (local[den] / max(totals[den], 1.0))
            stats[f"loss_{name}_sum"] = float(value.detach()) * local[den]
            stats[f"{den}_{name}"] = local[den]
        labels = batch["labels"]
        predictions = out.logits.argmax(-1)
        stats["correct"] = float(((predictions == labels) & (labels != IGNORE_INDEX)).sum())
        stats["phase_sum"] = float(phase)
        stats["micro_batches"] = 1.0
        return loss, stats

    def summarize(self, sums: dict[str, float]) -> dict[str, float]:
        metrics = {"accuracy": sums.get("correct", 0.0) / max(sums.get("scored", 0.0), 1.0),
                   "phase": sums.get("phase_sum", 0.0) / max(sums.get("micro_batches", 0.0), 1.0)}  # 0 / 1
        total = 0.0
        for name, den in DENOMINATORS.items():
            if f"loss_{name}_sum" in sums:
                metrics[f"loss_{name}"] = sums[f"loss_{name}_sum"] / max(sums.get(f"{den}_{name}", 0.0), 1.0)
                total += self.weights.get(name, 0.0) * metrics[f"loss_{name}"]
        metrics["loss"] = total
        return metrics

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        if self.dev is None:
            return {}
        metrics = evaluate_split(model, self.dev, self.num_labels)
        if self._teacher_dev is None:
            self.teacher.to(next(model.parameters()).device)
            teacher = evaluate_split(self.teacher, self.dev, self.num_labels)
            self._teacher_dev = {f"teacher_{k}": teacher[k] for k in ("loss", "accuracy", "macro_f1")}
        return {**{k: v for k, v in metrics.items() if isinstance(v, (int, float))}, **self._teacher_dev}


# --- data augmentation (TinyBERT §3.3) ------------------------------------------------------------------------

def _words(tokenizer, text: str) -> list[str]:
    """The tokenizer's own words of ``text`` (normalised: lower-cased, accents stripped, CJK split)."""
    normalized = tokenizer.normalizer.normalize_str(text) if tokenizer.normalizer else text
    return [w for w, _ in tokenizer.pre_tokenizer.pre_tokenize_str(normalized)]


@torch.no_grad()
def _candidates(mlm_model, tokenizer, segments: list[list[str]], top_k: int, max_seq_length: int,
                batch_size: int = 64) -> dict[tuple[int, int], list[str]]:
    """For every one-piece word (segment s, word i; not punctuation): the MLM's top-k whole-word predictions
    for that position masked. One forward pass per word, batched."""
    tok = _truncating(tokenizer, max_seq_length)
    enc = tok.encode(segments[0], segments[1] if len(segments) > 1 else None, is_pretokenized=True)
    ids = torch.tensor(enc.ids)
    jobs = []  # (segment, word, token position)
    pieces: dict[tuple[int, int], list[int]] = {}
    for t, (word, seq) in enumerate(zip(enc.word_ids, enc.sequence_ids)):
        if word is not None and seq is not None:
            pieces.setdefault((seq, word), []).append(t)
    for (seq, word), positions in pieces.items():
        if len(positions) == 1 and any(c.isalnum() for c in segments[seq][word]):  # punctuation stays
            jobs.append((seq, word, positions[0]))
    vocab = tokenizer.get_vocab_size()
    allowed = torch.ones(vocab, dtype=torch.bool)
    allowed[:NUM_SPECIAL_TOKENS] = False
    for piece, i in tokenizer.get_vocab().items():
        if piece.startswith("##") or not any(c.isalnum() for c in piece):
            allowed[i] = False  # continuation pieces and punctuation are no replacement words
    result = {}
    device = next(mlm_model.parameters()).device
    types = torch.tensor(enc.type_ids)
    for start in range(0, len(jobs), batch_size):
        chunk = jobs[start:start + batch_size]
        inputs = ids.repeat(len(chunk), 1)
        labels = torch.full_like(inputs, IGNORE_INDEX)
        for row, (_, _, t) in enumerate(chunk):
            labels[row, t] = inputs[row, t]
            inputs[row, t] = MASK_ID
        out = mlm_model(input_ids=inputs.to(device), token_type_ids=types.repeat(len(chunk), 1).to(device),
                        attention_mask=torch.ones_like(inputs).to(device), labels=labels.to(device))
        logits = out.masked_lm_logits.float().masked_fill(~allowed.to(device), float("-inf"))  # (rows, V)
        best = logits.topk(top_k, dim=-1).indices.cpu()
        for row, (seq, word, _) in enumerate(chunk):
            result[(seq, word)] = [tokenizer.id_to_token(int(i)) for i in best[row]]
    return result


def _truncating(tokenizer, max_seq_length: int):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(tokenizer.to_str())
    tok.no_padding()
    tok.enable_truncation(max_length=max_seq_length, strategy="longest_first")
    return tok


def augment_task(task, mlm_model, tokenizer, copies: int, seed: int = 0, probability: float = 0.4,
                 top_k: int = 15, max_seq_length: int = 128):
    """``task`` with ``copies`` augmented versions of each training example added (dev and test unchanged).

    Labels are kept (TinyBERT's task distillation learns the teacher's soft labels on augmented text, so
    the gold label only feeds the logged training accuracy)."""
    if copies <= 0:
        return task
    mlm_model = mlm_model.eval()
    rng = random.Random(seed)
    added = []
    for example in task.train:
        if task.kind == "token":
            segments = [[w.lower() if getattr(tokenizer.normalizer, "lowercase", True) else w for w in example.text]]
        else:
            segments = [_words(tokenizer, example.text)] + ([_words(tokenizer, example.text_pair)]
                                                            if example.text_pair is not None else [])
        candidates = _candidates(mlm_model, tokenizer, segments, top_k, max_seq_length)
        for _ in range(copies):
            new = [[rng.choice(candidates[(s, i)]) if (s, i) in candidates and rng.random() < probability else w
                    for i, w in enumerate(words)] for s, words in enumerate(segments)]
            if task.kind == "token":
                added.append(Example(new[0], example.label, source=f"{example.source} (augmented)"))
            else:
                added.append(Example(" ".join(new[0]), example.label, " ".join(new[1]) if len(new) > 1 else None,
                                     f"{example.source} (augmented)"))
    info = {**task.info, "augmented": {"copies": copies, "added": len(added), "probability": probability,
                                       "top_k": top_k}}
    return dataclasses.replace(task, train=task.train + added, info=info)


# --- the stage ---------------------------------------------------------------------------------------------------

def _finetune_teacher(options):
    """The fine-tuned teacher: its run, FinetuneOptions, and the task data it was trained on."""
    teacher = load_teacher(options.teacher)
    if teacher.config.get("kind") != "finetune":
        raise ValueError(f"--stage task distils from a fine-tuned teacher (made with `bertlab finetune --from RUN "
                         f"--task TASK --out T`); {teacher.path} is a {teacher.config.get('kind')!r} run. For a "
                         f"pre-trained teacher use --stage general")
    check_same_tokenizer(teacher, options.tokenizer)
    ft = options_from_dict(teacher.config["options"])
    if options.task is not None and options.task != ft.task:
        raise ValueError(f"--task {options.task!r} differs from the task the teacher was fine-tuned on ({ft.task!r}); "
                         f"leave --task out or fine-tune a teacher on {options.task!r}")
    pretrained = read_run_config(ft.from_run).get("options") if ft.from_run else None
    task = load_task(ft.task, seed=ft.seed, pretrained_options=pretrained, **ft.user_options())
    task = task.limit(ft.max_train_examples, ft.max_eval_examples, ft.seed)
    return teacher, ft, task


def _student(options, teacher, task, max_seq_length: int) -> BertForClassificationDistillation:
    t_model = teacher.model
    kwargs = dict(num_labels=len(task.labels), pooling=t_model.pooling, task_kind=task.kind, labels=task.labels,
                  teacher_hidden_size=t_model.config.hidden_size)
    torch.manual_seed(options.seed)
    if options.student_run is None:
        return BertForClassificationDistillation(student_config(options, t_model.config, max_seq_length), **kwargs)
    general = load_run(options.student_run)
    if general.tokenizer.get_vocab() != teacher.tokenizer.get_vocab():
        raise ValueError(f"--student {options.student_run} uses another tokenizer than the teacher {teacher.path}: "
                         f"task distillation continues from a student of the same teacher family")
    student = BertForClassificationDistillation(general.model_config, **kwargs)
    load_encoder_weights(student, general.model)
    projections = getattr(general.model, "projections", None)
    if projections is not None and projections.teacher_hidden == t_model.config.hidden_size \
            and projections.share_hidden == student.projections.share_hidden:
        student.projections.load_state_dict(projections.state_dict())  # W_e, W_h learnt in general distillation
    return student


def distill_task(options, run_dir: Path | None = None, callbacks=()):
    """Task-specific distillation into ``run_dir``, the folder ``distill`` opened (and locked) for ``options.out``;
    returns the loop's TrainResult (``.test`` added)."""
    if options.method != "tinybert":
        raise ValueError("--stage task is TinyBERT's task-specific distillation: use --method tinybert")
    if options.weights.get("pred_nsp", 0):
        raise ValueError("pred_nsp has no meaning in the task stage (the prediction layer is the task's classifier)")
    teacher, ft, task = _finetune_teacher(options)
    options = dataclasses.replace(
        options, task=ft.task,
        max_seq_length=options.max_seq_length or ft.max_seq_length,
        batch_size=options.batch_size or ft.batch_size,
        learning_rate=options.learning_rate or ft.learning_rate or DEFAULT_LR["finetune"],
        warmup=ft.warmup if options.warmup is None else options.warmup)
    if options.augment:
        mlm_from = options.augment_with or ft.from_run
        if not mlm_from:
            raise ValueError("--augment needs a masked-LM teacher: the teacher was fine-tuned from a random encoder, "
                             "so name a pre-trained run with --augment-with")
        mlm = load_run(mlm_from)
        if not hasattr(mlm.model, "mlm") or mlm.tokenizer.get_vocab() != teacher.tokenizer.get_vocab():
            raise ValueError(f"--augment: {mlm_from} must be a pre-trained run (with a masked-LM head) using the "
                             f"teacher's tokenizer")
        if options.progress:
            print(f"augmenting {len(task.train)} training examples ×{options.augment} with {mlm_from}'s MLM",
                  file=sys.stderr)
        task = augment_task(task, mlm.model, teacher.tokenizer, options.augment, options.seed,
                            max_seq_length=options.max_seq_length)
    encoded = encode_task(task, teacher.tokenizer, options.max_seq_length)
    student = _student(options, teacher, task, options.max_seq_length)
    weights = {**{k: v for k, v in TINYBERT_WEIGHTS.items() if k in DENOMINATORS}, **options.weights}
    dtask = TaskDistillationTask(teacher.model, student, options.layer_map, weights, options.attention_on,
                                 options.temperature or 1.0, encoded.dev, len(task.labels))
    boundary = round(options.steps * options.intermediate_fraction)

    def batch_fn(step: int):
        batch = encoded.train.batch(step, options.batch_size, options.seed)
        phase = INTERMEDIATE if step < boundary else PREDICTION
        batch["distill_phase"] = torch.full((batch["input_ids"].shape[0],), phase, dtype=torch.long)
        return batch

    summary = (f"{task!r}\nteacher {teacher.path} → student ({student.num_parameters():,} parameters): intermediate "
               f"layers for {boundary} steps, then the prediction layer for {options.steps - boundary}") \
        if options.progress else None
    start_run(run_dir, "distill", student.config, teacher.tokenizer, options.resume, summary,
              model_class=type(student).__name__, model_kwargs=student.model_kwargs, teacher=str(options.teacher),
              distill={"method": "tinybert", "stage": "task", "layer_map": dtask.layer_map,
                       "weights": dtask.weights, "temperature": dtask.temperature,
                       "attention_on": options.attention_on, "intermediate_steps": boundary,
                       "augment": options.augment, "student_run": options.student_run},
              task=task.summary(), options=asdict(options), encoded=encoded.stats())
    result = train(student, dtask, batch_fn, options.train_settings(), run_dir, resume=options.resume,
                   callbacks=callbacks)
    test = evaluate_split(student, encoded.test, len(task.labels))
    teacher_test = evaluate_split(teacher.model, encoded.test, len(task.labels))
    record = {"split": "test", "step": result.step,
              **{k: test[k] for k in ("loss", "accuracy", "macro_f1", "examples")},
              **{f"teacher_{k}": teacher_test[k] for k in ("loss", "accuracy", "macro_f1")}}
    if run_dir is not None:
        with open(run_dir / "metrics.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        atomic_write_json(run_dir / "results.json", {"test": record, "task": task.summary()})
    result.test = record
    return result


__all__ = ["BertForClassificationDistillation", "TaskDistillationTask", "augment_task", "distill_task"]
