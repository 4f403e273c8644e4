"""Distil a student from a teacher's run folder: the glue between teacher, data, student and training loop.

    from bertlab.distill.run import DistillOptions, distill
    result = distill(DistillOptions(teacher="runs/small", student_preset="tiny", steps=500, out="runs/student"))

General distillation (TinyBERT §3.2) reads the teacher's pre-training corpus, split and tokenizer from its
run folder: the student's held-out documents are the teacher's, and both models read the same tokens.
``bertlab distill`` is a thin command-line wrapper around ``distill``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict
from pathlib import Path

import torch

from bertlab.data import most_frequent_token
from bertlab.distill.objectives import loss_weights
from bertlab.distill.options import (FROM_TEACHER, INITS, METHODS, STAGES, DistillOptions, parse_layers, parse_weights,
                                     student_config)
from bertlab.distill.task_stage import distill_task
from bertlab.distill.teacher import Teacher, check_same_tokenizer, load_teacher
from bertlab.distill.trainer import DistillationTask, make_student
from bertlab.model.params import count_parameters
from bertlab.pretrain import PretrainOptions, build_data
from bertlab.train.loop import TrainResult, train
from bertlab.train.run import open_run, resumed_options, start_run


def resolve_weights(options: DistillOptions, teacher: Teacher) -> dict[str, float]:
    """The method's default weights, with pred_nsp on when the teacher learnt NSP/SOP (else the student's
    sentence-pair head is never trained and stays at chance), then the user's weights."""
    weights = {}
    if teacher.sentence_pairs and options.stage == "general":
        weights["pred_nsp"] = 1.0
    weights.update(options.weights)
    return loss_weights(options.method, weights)


def _init(options: DistillOptions):
    return None if options.init == "random" else options.init


# --- general distillation ----------------------------------------------------------------------------------------

def data_options(options: DistillOptions, teacher: Teacher):
    """PretrainOptions for the distillation data: the teacher's corpus, split, objective and sequence length,
    the student's seed (batch order, masks) and batch size."""
    known = {f.name for f in dataclasses.fields(PretrainOptions)}
    base = {k: v for k, v in teacher.data_options.items() if k in known}
    if not base and options.corpus is None:
        raise ValueError(f"--teacher {teacher.path} records no pre-training data options (it is a "
                         f"{teacher.config.get('kind')!r} run); name the corpus with --corpus")
    split_seed = base.get("split_seed")
    split_seed = base.get("seed", 0) if split_seed is None else split_seed
    base.update(vocab_size=teacher.tokenizer.get_vocab_size(), seed=options.seed, split_seed=split_seed,
                eval_examples=options.eval_examples, out=None, resume=False, progress=False, steps=options.steps)
    for name in FROM_TEACHER:
        if getattr(options, name) is not None:
            base[name] = getattr(options, name)
    return PretrainOptions(**base)


def resolved_options(options: DistillOptions, teacher: Teacher) -> DistillOptions:
    """``options`` with every None that means "the teacher's" filled in (what config.json records)."""
    data = data_options(options, teacher)
    return dataclasses.replace(options, **{name: getattr(data, name) for name in FROM_TEACHER})


def options_for_resume(out: str | Path, steps: int | None = None, changes: dict | None = None) -> DistillOptions:
    """The options a distillation run was started with (from its config.json), to continue it; ``changes`` as in
    ``bertlab.pretrain.options_for_resume``."""
    changes = {**(changes or {}), **({"steps": steps} if steps is not None else {})}
    return resumed_options(DistillOptions, out, "distill", changes)


def distill(options: DistillOptions, callbacks=()) -> TrainResult:
    """Load the teacher, build data and student, write the run folder, train. Returns the ``TrainResult``.

    The run folder is locked from the start (one writer per run: ``bertlab.train.runlock``)."""
    with open_run(options.out, options.resume) as run_dir:
        if options.stage == "task":
            return distill_task(options, run_dir, callbacks)
        return _distill(options, run_dir, callbacks)


def _distill(options: DistillOptions, run_dir: Path | None, callbacks) -> TrainResult:
    if options.student_run or options.augment or options.task:
        raise ValueError("--student, --task and --augment belong to --stage task (general distillation starts a "
                         "new student from the shape options)")
    teacher = load_teacher(options.teacher)
    check_same_tokenizer(teacher, options.tokenizer)
    if teacher.config.get("kind") == "finetune" or not hasattr(teacher.model, "mlm"):
        raise ValueError(f"--teacher {teacher.path} is a {teacher.config.get('kind')!r} run without a masked-LM "
                         f"head; general distillation needs a pre-trained teacher (bertlab pretrain); for a "
                         f"fine-tuned teacher use --stage task")
    data_opts = data_options(options, teacher)
    options = resolved_options(options, teacher)
    data = build_data(data_opts, tokenizer=teacher.tokenizer)
    config = student_config(options, teacher.model.config, data_opts.max_seq_length)
    weights = resolve_weights(options, teacher)
    torch.manual_seed(options.seed)  # the student's initial weights depend on --seed
    student = make_student(config, teacher.model, options.method, init=_init(options))
    task = DistillationTask(teacher.model, student, options.method, layer_map=options.layer_map, weights=weights,
                            attention_on=options.attention_on, temperature=options.temperature,
                            pred_loss=options.pred_loss, eval_batches=data.eval_batches,
                            unigram_token_id=most_frequent_token(data.train))
    teacher_params = count_parameters(teacher.model).unique
    student_params = count_parameters(config).unique  # without the projections W_e, W_h (thrown away after)
    summary = (f"{data.train!r}\nteacher {teacher.path}: {teacher_params:,} parameters; student: {student_params:,} "
               f"({student_params / teacher_params:.0%}); {options.method} weights {task.weights}") \
        if options.progress else None
    start_run(
        run_dir, "distill", config, teacher.tokenizer, options.resume, summary,
        model_class="BertForDistillation", model_kwargs=student.model_kwargs,
        teacher=str(options.teacher),
        distill={"method": options.method, "stage": options.stage, "layer_map": task.layer_map,
                 "weights": task.weights, "temperature": task.temperature, "attention_on": options.attention_on,
                 "pred_loss": options.pred_loss, "init": options.init, "frozen": task.frozen},
        options=asdict(options), data_options=asdict(data_opts),
        data={"corpus": data_opts.corpus, "train_examples": len(data.train),
              "held_out_examples": sum(int(b["input_ids"].shape[0]) for b in data.eval_batches),
              "vocab_size": config.vocab_size},
        parameters={"teacher": teacher_params, "student": student_params,
                    "ratio": round(student_params / teacher_params, 4)})
    return train(student, task, lambda step: data.train.batch(step, options.batch_size), options.train_settings(),
                 run_dir, resume=options.resume, callbacks=callbacks)


def summary_line(result: TrainResult) -> str:
    e = result.last_eval
    parts = [f"{result.status} at step {result.step} in {result.seconds:.0f} s"]
    if e:
        if "mlm_acc_mask" in e:  # [MASK] accuracy first: the unchanged case rewards copying
            parts.append(f"held-out [MASK] acc {e['mlm_acc_mask']:.1%} (teacher "
                         f"{e.get('teacher_mlm_acc_mask', float('nan')):.1%}; overall {e['mlm_acc']:.1%}, teacher "
                         f"{e.get('teacher_mlm_acc', float('nan')):.1%})")
        elif "mlm_acc" in e:
            parts.append(f"held-out MLM acc {e['mlm_acc']:.1%} (teacher {e.get('teacher_mlm_acc', float('nan')):.1%})")
        if "nsp_acc" in e:
            parts.append(f"NSP/SOP acc {e['nsp_acc']:.1%} (teacher {e.get('teacher_nsp_acc', float('nan')):.1%})")
        if "accuracy" in e:
            parts.append(f"accuracy {e['accuracy']:.1%}" + (f" (teacher {e['teacher_accuracy']:.1%})"
                                                           if "teacher_accuracy" in e else ""))
    return ", ".join(parts)


__all__ = ["DistillOptions", "METHODS", "STAGES", "INITS", "FROM_TEACHER", "Teacher", "distill", "load_teacher",
           "check_same_tokenizer", "student_config", "parse_weights", "parse_layers", "options_for_resume",
           "summary_line"]
