"""The course models: small encoders trained once, before class, that the lessons, the dashboard and the
experiments read instead of training their own.

    bertlab course prepare              # all of them (resumable: Ctrl-C, or a killed process, then again)
    bertlab course status               # which are ready
    from bertlab.course import course_model
    course_model("en")                  # Path of the finished run folder, or None

Every model is an ordinary ``bertlab pretrain`` run folder trained with the ``fast-cpu`` recipe
(``bertlab/recipes.py``, docs/recipe.md) for 6,000 steps; its specification is the ``PretrainOptions`` it is
trained with, so a folder counts as ready only when its ``config.json`` holds exactly those options and its
``status.json`` says finished. The folder is ``$BERTLAB_COURSE_DIR``, else ``<cache>/course-models``
(``bertlab.paths.cache_dir``).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from bertlab.paths import cache_dir
from bertlab.pretrain import PretrainOptions, pretrain
from bertlab.recipes import FAST_CPU_AS_MEASURED_IN_LESSONS, recipe_options
from bertlab.train.checkpoint import latest_checkpoint
from bertlab.train.run import read_run_config, read_status

# what every course model shares: `bertlab pretrain --preset tiny --recipe fast-cpu --objective mlm+nsp
# --steps 6000 --eval-every 500 --checkpoint-every 250 --seed 0 --mlm-probability 0.15
# --warmup-mlm-probability 0.15 --warmup-seq-steps 0.5`. The last three keep fast-cpu as it was when the course
# models were trained (and the executed lessons measured), before it began masking more (docs/recipe.md, "Masking
# more"): a prepared course folder stays valid and its numbers reproducible.
COMMON = dict(preset="tiny", recipe="fast-cpu", objective="mlm+nsp", steps=6000, eval_every=500,
              checkpoint_every=250, seed=0, **FAST_CPU_AS_MEASURED_IN_LESSONS)
IGNORED = ("out", "resume", "progress")  # options that say where and how a run is shown, not what it is
RUNNING_SECONDS = 120  # a status.json written this recently belongs to a training that is still going


@dataclass(frozen=True)
class CourseModel:
    """One model of the course: a name the lessons ask for, its folder, and what it is trained with."""

    name: str  # what lessons ask for: course_model("en")
    folder: str  # its run folder inside the course folder
    description: str
    settings: dict = field(default_factory=dict)  # PretrainOptions fields (and "recipe") on top of COMMON

    def options(self, directory: str | Path | None = None) -> PretrainOptions:
        """The ``PretrainOptions`` this model is trained with, writing into ``directory / folder``."""
        values = {**COMMON, **self.settings}
        recipe = recipe_options(values.pop("recipe")) if values.get("recipe") else {}
        values.pop("recipe", None)
        overrides = {**recipe.pop("model_overrides", {}), **values.pop("model_overrides", {})}
        out = Path(directory if directory is not None else course_dir()) / self.folder
        return PretrainOptions(**{**recipe, **values, "model_overrides": overrides, "out": str(out),
                                  "progress": False})


COURSE_MODELS: dict[str, CourseModel] = {m.name: m for m in (
    CourseModel("en", "en-wiki", "English encoder: tiny (L2 H128) on wiki-en, MLM + NSP (lessons 1, 2, 4-7; "
                "lesson 4's distillation teacher)", dict(corpus="wiki-en")),
    CourseModel("zh", "zh-peoples-daily", "Chinese encoder: tiny (L2 H128) on peoples-daily-zh, whole-word "
                "masking, MLM + NSP (lessons 1, 6, 7)", dict(corpus="peoples-daily-zh", masking_unit="word")),
)}
# Other names lessons ask for. The distillation teacher is the English encoder: a separate 4-layer teacher
# (L4 H128, the same recipe and steps) took about 1.6× the English model's CPU time, which an instructor's
# 2-core machine pays before class for a lesson that a 2-layer teacher and a 1-layer student teach as well
# (TinyBERT's map g = [0, 2]; docs/course.md).
ALIASES = {"teacher": "en"}


def course_dir() -> Path:
    """``$BERTLAB_COURSE_DIR``, else ``<cache_dir()>/course-models``."""
    if os.environ.get("BERTLAB_COURSE_DIR"):
        return Path(os.environ["BERTLAB_COURSE_DIR"])
    return cache_dir() / "course-models"


def resolve(names, models: dict[str, CourseModel] | None = None) -> list[CourseModel]:
    """The course models called ``names`` (all of them for None / empty); an unknown name is an error."""
    models = COURSE_MODELS if models is None else models
    names = [ALIASES.get(n, n) if n not in models else n for n in names or ()]
    unknown = [n for n in names if n not in models]
    if unknown:
        raise ValueError(f"no course model named {', '.join(map(repr, unknown))}; choose from: {', '.join(models)}")
    return [models[n] for n in names] if names else list(models.values())


def _comparable(options: dict) -> dict:
    return {k: v for k, v in options.items() if k not in IGNORED}


def differences(model: CourseModel, directory: str | Path | None = None) -> list[str]:
    """The settings in which the folder's run differs from the model's specification ([] when it matches)."""
    expected = _comparable(dataclasses.asdict(model.options(directory)))
    saved = read_run_config(model.options(directory).out).get("options") or {}
    saved = _comparable(dataclasses.asdict(PretrainOptions(**saved))) if saved else {}
    return [f"{k}: {saved.get(k)!r} (expected {v!r})" for k, v in expected.items() if saved.get(k) != v]


def state(model: CourseModel, directory: str | Path | None = None) -> dict:
    """Where a course model stands: ``{"state": ready | training | partial | missing | different, "step",
    "total_steps", ...}``. "training": another process is training it right now (status written recently)."""
    out = Path(model.options(directory).out)
    total = model.options(directory).steps
    if not (out / "config.json").exists():
        return {"state": "missing", "step": 0, "total_steps": total, "path": out}
    diff = differences(model, directory)
    if diff:
        return {"state": "different", "step": 0, "total_steps": total, "path": out, "differences": diff}
    status = read_status(out)
    step = int(status.get("step", 0))
    if status.get("status") == "finished" and step >= total and (out / "model.safetensors").exists():
        return {"state": "ready", "step": step, "total_steps": total, "path": out}
    if status.get("status") == "running" and time.time() - float(status.get("updated", 0)) < RUNNING_SECONDS:
        return {"state": "training", "step": step, "total_steps": total, "path": out}
    checkpoint = latest_checkpoint(out)
    done = int(checkpoint.name.split("-")[-1]) if checkpoint is not None else 0
    return {"state": "partial" if checkpoint is not None else "missing", "step": done, "total_steps": total,
            "path": out}


def course_model(name: str, directory: str | Path | None = None) -> Path | None:
    """The run folder of course model ``name`` when it is ready (finished, with its specified settings), else
    None. ``load_run(course_model("en"))`` gives its model and tokenizer."""
    model = resolve([name])[0]
    found = state(model, directory)
    return found["path"] if found["state"] == "ready" else None


def train_one(model: CourseModel, directory: str | Path | None = None, callbacks=()) -> str:
    """Train (or continue, from its latest checkpoint) one course model; returns the loop's status."""
    found = state(model, directory)
    if found["state"] == "different":
        raise ValueError(f"{found['path']} holds a run with other settings ({'; '.join(found['differences'][:3])}); "
                         f"move it away or prepare into another folder (--dir or BERTLAB_COURSE_DIR)")
    if found["state"] == "ready":
        return "finished"
    options = model.options(directory)
    options.resume = found["state"] == "partial"
    if not options.resume and Path(options.out).exists():  # killed before its first checkpoint: start over
        shutil.rmtree(Path(options.out) / "checkpoints", ignore_errors=True)
        for name in ("config.json", "metrics.jsonl", "status.json", "tokenizer.json"):
            (Path(options.out) / name).unlink(missing_ok=True)
    return pretrain(options, callbacks=callbacks).status


def prepare(names=(), directory: str | Path | None = None, models: dict[str, CourseModel] | None = None,
            progress: bool = True, poll_seconds: float = 10.0) -> dict[str, str]:
    """Make the course models ``names`` (all for none) ready, one after another, with one progress bar over
    all their steps (and its ETA). A model that another process is training is waited for, not trained twice.
    Returns {name: "finished" | "interrupted"}; stops at the first interrupted one (Ctrl-C), whose latest
    checkpoint the next call continues from."""
    from tqdm.auto import tqdm

    chosen = resolve(names, models)
    states = {m.name: state(m, directory) for m in chosen}
    for m in chosen:
        if states[m.name]["state"] == "different":
            raise ValueError(f"{states[m.name]['path']} holds a run with other settings "
                             f"({'; '.join(states[m.name]['differences'][:3])}); move it away or prepare into "
                             f"another folder (--dir or BERTLAB_COURSE_DIR)")
    bar = tqdm(total=sum(s["total_steps"] for s in states.values()), initial=sum(s["step"] for s in states.values()),
               desc="course models", unit="step", dynamic_ncols=True, disable=not progress)
    done = {}
    offset = 0  # steps of the models before the current one
    try:
        for m in chosen:
            found = states[m.name]
            bar.set_description(f"course: {m.name}")
            if found["state"] == "training":
                bar.write(f"{m.name}: another process is training {found['path']}; waiting for it")
                while found["state"] == "training":
                    time.sleep(poll_seconds)
                    found = state(m, directory)
                    bar.update(offset + found["step"] - bar.n)  # update(), not n =: tqdm's rate and ETA follow
            if found["state"] != "ready":
                def follow(record, base=offset):
                    if record.get("split") == "train":
                        bar.update(base + record["step"] - bar.n)
                done[m.name] = train_one(m, directory, callbacks=[follow])
                if done[m.name] != "finished":
                    bar.write(f"{m.name}: interrupted; run the same command again to continue from its last checkpoint")
                    break
            done[m.name] = "finished"
            offset += found["total_steps"]
            bar.update(offset - bar.n)
    finally:
        bar.close()
    return done


__all__ = ["ALIASES", "COMMON", "COURSE_MODELS", "CourseModel", "course_dir", "course_model", "differences", "resolve",
           "prepare", "state", "train_one"]
