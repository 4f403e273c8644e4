"""``bertlab course``: the course models are prepared, found, resumed after an interruption, and a folder
with other settings is refused. Tiny specifications on news-en, so that each test trains a few steps."""

from __future__ import annotations

import pytest

from bertlab.cli import main
from bertlab.course import (COURSE_MODELS, CourseModel, course_dir, course_model, prepare, resolve, state,
                            train_one)

TINY = dict(corpus="news-en", vocab_size=1024, max_seq_length=32, batch_size=8, eval_examples=16, steps=8,
            eval_every=4, checkpoint_every=2, log_every=1, warmup_seq_length=16, precision="fp32",
            model_overrides={"hidden_size": 32, "intermediate_size": 64})
MODELS = {"a": CourseModel("a", "model-a", "test model a", TINY),
          "b": CourseModel("b", "model-b", "test model b", {**TINY, "masking_unit": "word"})}


def test_course_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("BERTLAB_COURSE_DIR", str(tmp_path / "mine"))
    assert course_dir() == tmp_path / "mine"
    monkeypatch.delenv("BERTLAB_COURSE_DIR")
    assert course_dir().name == "course-models"


def test_the_specification_is_the_fast_recipe_on_top_of_the_common_settings(tmp_path):
    en = COURSE_MODELS["en"].options(tmp_path)
    assert en.steps == 6000 and en.warmup_seq_length == 16 and en.precision == "bf16" and en.seed == 0
    assert en.model_overrides == {"norm_placement": "pre", "hidden_dropout_prob": 0.0,
                                  "attention_probs_dropout_prob": 0.0}
    assert COURSE_MODELS["zh"].options(tmp_path).whole_word and en.out == str(tmp_path / "en-wiki")
    assert resolve(["teacher"]) == [COURSE_MODELS["en"]]  # the distillation teacher is the English model
    assert course_model("en", tmp_path) is None and state(COURSE_MODELS["en"], tmp_path)["state"] == "missing"


def test_prepare_trains_only_what_is_asked_and_finds_it(tmp_path):
    assert prepare(["a"], tmp_path, models=MODELS, progress=False) == {"a": "finished"}
    assert state(MODELS["a"], tmp_path)["state"] == "ready" and state(MODELS["b"], tmp_path)["state"] == "missing"
    assert prepare(["a"], tmp_path, models=MODELS, progress=False) == {"a": "finished"}  # reused, not retrained
    with pytest.raises(ValueError, match="no course model named 'c'"):
        prepare(["c"], tmp_path, models=MODELS)


def test_an_interrupted_model_continues_from_its_checkpoint(tmp_path):
    def stop_at_step_5(record):
        if record.get("step") == 5:
            raise KeyboardInterrupt  # what Ctrl-C does inside the training loop

    assert train_one(MODELS["a"], tmp_path, callbacks=[stop_at_step_5]) == "interrupted"
    found = state(MODELS["a"], tmp_path)
    assert found["state"] == "partial" and found["step"] == 5
    assert prepare(["a"], tmp_path, models=MODELS, progress=False) == {"a": "finished"}
    found = state(MODELS["a"], tmp_path)
    assert found["state"] == "ready" and found["step"] == 8


def test_a_folder_with_other_settings_is_refused_not_overwritten(tmp_path):
    prepare(["a"], tmp_path, models=MODELS, progress=False)
    changed = CourseModel("a", "model-a", "the same folder, other steps", {**TINY, "steps": 10})
    found = state(changed, tmp_path)
    assert found["state"] == "different" and any(d.startswith("steps: 8") for d in found["differences"])
    with pytest.raises(ValueError, match="holds a run with other settings"):
        prepare(["a"], tmp_path, models={"a": changed}, progress=False)
    assert state(MODELS["a"], tmp_path)["state"] == "ready"


def test_status_command_lists_every_model(tmp_path, capsys):
    assert main(["course", "status", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("en ", "zh ")) and out.count("missing") == 2


def test_bad_thread_count_is_a_one_line_error(tmp_path, capsys):
    assert main(["course", "prepare", "--dir", str(tmp_path), "--threads", "0"]) == 2
    assert "--threads must be at least 1" in capsys.readouterr().err
