"""The models and training set-ups the lessons share.

- ``lesson_model(name)``: the prepared course model ``name`` (``bertlab course prepare``) when it is ready, else
  the options of a short live run with the same fast recipe that the lesson trains itself;
- ``fast_options``: the ``fast-cpu`` recipe at lesson sizes (what lessons train when they compare set-ups);
- ``lesson1_options``: BERT's plain settings (lessons whose cells are about them: lesson 3).

Sizes come from ``pick(normal, fast)``: normal runs train for real in a few minutes on a 2-core CPU,
``BERTLAB_FAST=1`` shrinks them to a handful of steps. In FAST mode the course models are used only when
``BERTLAB_COURSE_DIR`` names their folder, so that the tests exercise the live path by default.
"""

from __future__ import annotations

import os
from dataclasses import asdict, replace
from pathlib import Path

from bertlab.course import COURSE_MODELS, course_dir, course_model
from bertlab.lessons.settings import fast_mode, fresh_run, lesson_precision, pick, run_name, runs_dir
from bertlab.pretrain import PretrainOptions, pretrain, summary_line
from bertlab.recipes import FAST_CPU_AS_MEASURED_IN_LESSONS, recipe_options
from bertlab.train.run import read_run_config, read_status

LIVE_STEPS = {"en": 2000, "zh": 2000}  # a live stand-in's steps (the course models: 6,000)


def use_course_models() -> bool:
    """Normal mode: yes. FAST mode: only when ``BERTLAB_COURSE_DIR`` is set."""
    return not fast_mode() or bool(os.environ.get("BERTLAB_COURSE_DIR"))


def prepared_model(name: str) -> Path | None:
    """The ready course model ``name`` (None when absent, or in FAST mode without ``BERTLAB_COURSE_DIR``)."""
    return course_model(name) if use_course_models() else None


def fast_options(**changes):
    """The ``fast-cpu`` recipe (docs/recipe.md) as the lessons were measured with (BERT's 15 % masking, the first
    half of the steps on 16-token inputs: ``FAST_CPU_AS_MEASURED_IN_LESSONS``) at the ``tiny`` shape on wiki-en,
    MLM + NSP, 128-token pairs; ``pick`` sizes. ``changes`` are PretrainOptions fields."""
    values = {**recipe_options("fast-cpu"), **FAST_CPU_AS_MEASURED_IN_LESSONS}
    values["model_overrides"] = {**values["model_overrides"], **changes.pop("model_overrides", {})}
    values.update(preset="tiny", corpus="wiki-en", objective="mlm+nsp", precision=lesson_precision(),
                  steps=pick(2000, 12), batch_size=pick(32, 8), max_seq_length=pick(128, 32),
                  warmup_seq_length=16, eval_every=pick(250, 6), log_every=pick(10, 3),
                  eval_examples=pick(1024, 64), checkpoint_every=0, progress=False, out=None)
    values.update(changes)
    return PretrainOptions(**values)


def lesson_model(name: str, live_run: str) -> tuple[Path | None, object]:
    """``(path, options)``: the prepared course model ``name`` and the options it was trained with, or
    ``(None, options)`` of a live stand-in (the course model's settings, ``LIVE_STEPS`` steps, FAST sizes in
    FAST mode) that the lesson trains into ``runs_dir() / live_run``."""
    path = prepared_model(name)
    if path is not None:
        saved = dict(read_run_config(path)["options"], out=str(path), progress=False)
        return path, PretrainOptions(**saved)
    spec = COURSE_MODELS[name].options(runs_dir())
    live = fast_options(corpus=spec.corpus, masking_unit=spec.masking_unit, model_overrides=spec.model_overrides,
                        steps=pick(LIVE_STEPS[name], 12), out=str(runs_dir() / run_name(live_run)))
    return (Path(live.out) if _finished(live) else None), live


def _finished(options) -> bool:
    """True when ``options.out`` holds a finished run trained with exactly ``options`` (a lesson's live run)."""
    out = Path(options.out)
    if read_status(out).get("status") != "finished" or not (out / "model.safetensors").exists():
        return False
    ignored = ("out", "resume", "progress")
    saved = {k: v for k, v in (read_run_config(out).get("options") or {}).items() if k not in ignored}
    return saved == {k: v for k, v in asdict(options).items() if k not in ignored}


def ensure_model(name: str, live_run: str, callbacks=()) -> tuple[Path, object]:
    """``lesson_model`` that trains the live stand-in when neither the course model nor an earlier live run is
    there, after printing the one line that says which model the lesson uses. Returns ``(path, options)``."""
    path, options = lesson_model(name, live_run)
    print(model_line(name, path, options))
    if path is None:
        options.out = fresh_run(live_run)
        print(summary_line(pretrain(options, callbacks=callbacks)))
        path = Path(options.out)
    return path, options


def model_line(name: str, path: Path | None, options) -> str:
    """The one line a lesson prints about the model it uses."""
    if path is not None and Path(path).parent == course_dir():
        return (f"using the prepared course model {name!r}: {path} ({options.steps:,} steps of the fast-cpu recipe; "
                f"`bertlab course prepare` made it)")
    if path is not None:
        return (f"no prepared course model {name!r}: using the live stand-in an earlier lesson trained, {path} "
                f"({options.steps:,} steps of the fast-cpu recipe)")
    return (f"no prepared course model {name!r} (run `bertlab course prepare` before class): this lesson trains a "
            f"live one with the fast-cpu recipe, {options.steps:,} steps, into {options.out}")


def lesson1_options(**changes):
    """BERT's plain settings at lesson size (lesson 3's comparison starts from them; lesson 1 used them before
    the fast-cpu recipe): the ``tiny`` preset (post-LN, dropout 0.1) on wiki-en, MLM + NSP, dynamic masking,
    sequences of 64 tokens, batches of 64, peak learning rate 2e-3. ``changes`` are PretrainOptions fields; give
    ``out`` (the run folder) to train.

    Why 2 layers: on this data a 4-layer post-LN BERT at this learning rate stays at the unigram stage
    (always guessing "the", held-out MLM accuracy 4.1 %) for all of 700 steps, while the 2-layer one leaves
    it within ~200 steps (9.9 % at step 400). Lesson 3 uses 4 pre-LN layers for the same reason.
    """
    options = PretrainOptions(
        preset="tiny", corpus="wiki-en", objective="mlm+nsp", masking="dynamic", max_seq_length=64,
        batch_size=pick(64, 8), learning_rate=2e-3, warmup=0.06, precision=lesson_precision(),
        steps=pick(1000, 12), eval_every=pick(125, 6), log_every=pick(10, 3), eval_examples=pick(1024, 64),
        checkpoint_every=0, progress=False, out=None)
    return replace(options, **changes)
