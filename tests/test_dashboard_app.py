"""Every dashboard page under Streamlit's AppTest: with runs, without runs, with broken runs, with no folder."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from streamlit.testing.v1 import AppTest  # noqa: E402

from bertlab.analysis.bertviz_offline import js_available  # noqa: E402
from bertlab.analysis.params import count_parameters  # noqa: E402
from bertlab.config import PRESETS  # noqa: E402
from dashboard import run_folders as rf  # noqa: E402
from tests.dashboard_fixtures import mark_running, shared_runs  # noqa: E402

APP = REPO / "dashboard" / "app.py"
PAGES = {"runs": "views/runs.py", "attention": "views/attention.py", "parameters": "views/parameters.py",
         "fill_mask": "views/fill_mask.py"}


@pytest.fixture(scope="module")
def runs() -> Path:
    return shared_runs()


@pytest.fixture(scope="module", autouse=True)
def keep_torch_threads():
    """The app sets torch to one thread (dashboard.set_inference_threads); give later tests theirs back."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def open_app(monkeypatch, runs: Path, page: str = "runs") -> AppTest:
    monkeypatch.setenv("BERTLAB_RUNS", str(runs))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    if page != "runs":
        at.switch_page(PAGES[page]).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def traces(spec: dict, kind: str | None = None) -> list[dict]:
    return [t for t in spec["data"] if kind is None or t.get("type") == kind]


# --- no runs, no folder -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("page", PAGES)
def test_every_page_without_runs_says_how_to_make_one(monkeypatch, tmp_path, page):
    at = open_app(monkeypatch, tmp_path, page)
    if page == "parameters":  # needs no run: presets and sliders still work
        assert len(charts(at)) == 2
    else:
        assert "No runs" in texts(at.info)
        assert "bertlab pretrain --preset tiny --corpus wiki-en --steps 2000 --out" in texts(at.code)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_with_a_missing_runs_folder(monkeypatch, tmp_path, page):
    at = open_app(monkeypatch, tmp_path / "missing", page)
    if page != "parameters":
        assert "does not exist" in texts(at.error)


# --- runs and curves ------------------------------------------------------------------------------------------------

def test_runs_page_lists_runs_and_plots_their_curves(monkeypatch, runs):
    at = open_app(monkeypatch, runs)
    table = at.dataframe[0].value
    assert set(table["run"]) == {"teacher", "student", "broken", "experiment/albert", "experiment/corrupt"}
    assert dict(zip(table["run"], table["status"]))["broken"] == "interrupted"
    assert "experiment/corrupt" in texts(at.error) and "not valid JSON" in texts(at.error)  # that run only
    assert "broken" in texts(at.warning) and "not valid JSON" in texts(at.warning)  # bad line, rest plotted
    train, evaluation = charts(at)
    assert {t["name"] for t in traces(train)} == {"teacher", "student", "broken", "experiment/albert"}
    broken = [t for t in traces(train) if t["name"] == "broken" and t["xaxis"] == "x"][0]
    assert broken["x"] == [2, 4]  # the bad line 2 (step 3) is skipped
    dashed = [t for t in traces(evaluation) if t["line"].get("dash") == "dash"]
    assert dashed and all(t["name"] == "student · teacher" for t in dashed)
    assert "distilled student" in texts(at.caption)


def test_runs_page_metric_choice_and_run_choice(monkeypatch, runs):
    at = open_app(monkeypatch, runs)
    at.multiselect(key="curve_runs").set_value(["student"]).run()
    at.multiselect(key="train_metrics").set_value(["loss_attn", "loss_hidn", "loss_emb"]).run()
    assert not at.exception
    train = charts(at)[0]
    assert [a["text"] for a in train["layout"]["annotations"]] == ["loss_attn", "loss_hidn", "loss_emb"]
    assert {t["name"] for t in traces(train)} == {"student"} and len(traces(train)) == 3
    assert train["layout"]["yaxis"].get("type") != "log"
    at.checkbox(key="train_log_y").check().run()  # distillation losses span orders of magnitude
    assert charts(at)[0]["layout"]["yaxis"]["type"] == "log" and charts(at)[1]["layout"]["yaxis"].get("type") != "log"
    at.selectbox(key="config_run").set_value("experiment/corrupt").run()
    assert not at.exception


def test_runs_page_refreshes_while_a_run_is_training(monkeypatch, runs, tmp_path):
    live = tmp_path / "runs"
    shutil.copytree(runs / "teacher", live / "teacher")
    mark_running(live / "teacher")
    at = open_app(monkeypatch, live)
    assert "Auto-refreshing" in texts(at.caption)
    at.toggle(key="auto_refresh").set_value(False).run()
    assert "Auto-refreshing" not in texts(at.caption) and not at.exception


# --- attention ------------------------------------------------------------------------------------------------------

def test_attention_page_draws_heatmaps_and_bertviz(monkeypatch, runs):
    at = open_app(monkeypatch, runs, "attention")
    at.selectbox(key="att_run").set_value("teacher").run()
    at.text_input(key="text_a").set_value("the dog ran to the park").run()
    at.text_input(key="text_b").set_value("it was happy").run()
    at.slider(key="layer").set_value(3).run()
    at.slider(key="head").set_value(2).run()
    assert not at.exception
    spec = charts(at)[0]
    tokens = ["[CLS]", "the", "dog", "ran", "to", "the", "park", "[SEP]", "it", "was", "happy", "[SEP]"]
    (heatmap,) = traces(spec, "heatmap")
    assert spec["layout"]["xaxis"]["ticktext"] == tokens and len(heatmap["z"]) == len(tokens)
    assert all(abs(sum(row) - 1) < 1e-4 for row in heatmap["z"])  # probabilities: rows sum to 1
    assert "layer 3 · head 2" in spec["layout"]["title"]["text"]
    views = [e.proto.srcdoc for e in at.get("iframe")]
    assert len(views) == 2 and all("bertviz-" in v for v in views)
    if js_available():
        assert all("d3js.org v5.7.0" in v and "<script src" not in v for v in views)
    at.radio(key="att_view").set_value("all heads of this layer").run()
    assert len(traces(charts(at)[0], "heatmap")) == 4
    at.radio(key="att_values").set_value("scores (before softmax)").run()
    assert not at.exception and "scores" in charts(at)[0]["layout"]["title"]["text"]
    at.selectbox(key="att_run_checkpoint").set_value(at.selectbox(key="att_run_checkpoint").options[-1]).run()
    assert not at.exception and len(charts(at)) == 1


def test_attention_page_compares_a_student_with_its_teacher(monkeypatch, runs):
    at = open_app(monkeypatch, runs, "attention")
    at.selectbox(key="att_run").set_value("student").run()
    at.slider(key="layer").set_value(2).run()
    assert not at.exception
    student, pair = charts(at)
    assert len(traces(pair, "heatmap")) == 3
    titles = [a["text"] for a in pair["layout"]["annotations"]]
    assert titles == ["teacher · layer 4", "student · layer 2", "student − teacher"]
    assert "g = [0, 2, 4]" in texts(at.caption)
    t, s, d = (traces(pair, "heatmap")[i]["z"] for i in range(3))
    assert all(abs(d[i][j] - (s[i][j] - t[i][j])) < 1e-6 for i in range(len(d)) for j in range(len(d)))


def test_attention_page_reports_a_broken_run_and_keeps_working(monkeypatch, runs):
    at = open_app(monkeypatch, runs, "attention")
    for name in ("broken", "experiment/corrupt"):
        at.selectbox(key="att_run").set_value(name).run()
        assert not at.exception and "cannot be loaded" in texts(at.error) and not charts(at)
    at.selectbox(key="att_run").set_value("experiment/albert").run()
    assert not at.exception and not at.error and len(charts(at)) == 1


# --- parameters -----------------------------------------------------------------------------------------------------

def test_parameters_page_counts_presets_sliders_and_runs(monkeypatch, runs):
    at = open_app(monkeypatch, runs, "parameters")
    assert at.metric[0].value == f"{count_parameters(PRESETS['bert-base']).total:,}"
    at.selectbox(key="param_preset").set_value("albert-base").run()
    assert at.metric[0].value == f"{count_parameters(PRESETS['albert-base']).total:,}"
    assert at.slider(key="H").value == 768 and at.toggle(key="factorize").value and at.slider(key="E").value == 128
    bars = charts(at)[0]
    unique = sum(t["y"][0] for t in traces(bars, "bar"))
    assert unique == count_parameters(PRESETS["albert-base"]).total
    assert "V×E + E×H" in texts(at.info)
    table = at.dataframe[0].value
    assert {"bert-base", "albert-xxlarge", "distilbert", "tinybert-4", "tinybert-6", "teacher", "student",
            "experiment/albert", "your sliders"} <= set(table["name"])
    assert "experiment/corrupt" in texts(at.warning)
    at.slider(key="L").set_value(24).run()
    at.selectbox(key="share").set_value("none").run()
    expected = count_parameters(PRESETS["albert-base"].replace(num_hidden_layers=24, share_layers="none"))
    assert at.metric[0].value == f"{expected.total:,}"


def test_parameters_page_explains_an_invalid_shape(monkeypatch, tmp_path):
    at = open_app(monkeypatch, tmp_path, "parameters")
    at.slider(key="H").set_value(250).run()
    assert not at.exception and "not divisible" in texts(at.error)
    at.slider(key="H").set_value(384).run()  # 384 = 12 heads × 32
    assert not at.error and len(charts(at)) == 2


# --- fill-mask ------------------------------------------------------------------------------------------------------

def test_fill_mask_page_shows_top_k_per_mask_and_run(monkeypatch, runs):
    at = open_app(monkeypatch, runs, "fill_mask")
    at.multiselect(key="fm_runs").set_value(["teacher", "student", "broken"]).run()
    at.text_input(key="fm_text").set_value("the [MASK] sat on the [MASK] .").run()
    at.slider(key="fm_top_k").set_value(3).run()
    assert not at.exception
    tables = [d.value for d in at.dataframe]
    assert len(tables) == 4 and all(len(t) == 3 for t in tables)  # 2 runs × 2 masks, top 3
    assert all(list(t["probability"]) == sorted(t["probability"], reverse=True) for t in tables)
    assert "broken" in texts(at.error)  # the broken run's column only
    assert len(charts(at)) == 4
    at.text_input(key="fm_text").set_value("no blank here").run()
    assert not at.exception and "[MASK]" in texts(at.info)


def test_fill_mask_opens_on_runs_and_an_example_of_one_language(monkeypatch, runs, tmp_path):
    """The first usable run decides: the page opens with it, the next run of its language, and a sentence in it."""
    root = tmp_path / "runs"
    for name, corpus in (("a", "peoples-daily-zh"), ("b", "wiki-en"), ("c", "peoples-daily-zh")):
        shutil.copytree(runs / "teacher", root / name)
        config = json.loads((root / name / "config.json").read_text())
        config.setdefault("options", {})["corpus"] = corpus
        (root / name / "config.json").write_text(json.dumps(config))
    at = open_app(monkeypatch, root, "fill_mask")
    assert at.multiselect(key="fm_runs").value == ["a", "c"]
    assert at.text_input(key="fm_text").value == "中国的首都是北[MASK]。" and not at.exception
    assert rf.run_language(rf.RunInfo("x", root, {"options": {"corpus": "my-notes.txt"}})) is None


# --- runs that break later --------------------------------------------------------------------------------------------

def test_corrupt_weights_and_a_vanished_run_show_errors_not_tracebacks(monkeypatch, runs, tmp_path):
    root = tmp_path / "runs"
    for name in ("teacher", "student"):
        shutil.copytree(runs / name, root / name)
    (root / "teacher" / "model.safetensors").write_bytes(b"not a safetensors file")
    (root / "student" / "config.json").write_text(
        (root / "student" / "config.json").read_text().replace(str(runs / "teacher"), str(root / "teacher")))
    at = open_app(monkeypatch, root, "attention")
    at.selectbox(key="att_run").set_value("teacher").run()
    assert not at.exception and "could not be loaded" in texts(at.error)
    at.selectbox(key="att_run").set_value("student").run()  # the student works; its broken teacher says so
    assert not at.exception and len(charts(at)) == 1 and "Teacher `teacher`" in texts(at.error)
    at.switch_page(PAGES["fill_mask"]).run()
    at.multiselect(key="fm_runs").set_value(["teacher", "student"]).run()
    assert not at.exception and "teacher" in texts(at.error) and len(at.dataframe) == 1
    shutil.rmtree(root / "teacher")  # a run deleted while the page is open
    for page in ("fill_mask", "runs", "attention"):
        at.switch_page(PAGES[page]).run()
        assert not at.exception, page


def test_run_names_show_as_plain_text_never_as_markdown(monkeypatch, runs, tmp_path):
    """A folder named like a Markdown link (or LaTeX, or bold) is shown as its name on every page, not rendered."""
    root = tmp_path / "runs"
    link, maths = "[x](javascript:alert(1))", "$x$ *y* `z`"
    shutil.copytree(runs / "teacher", root / link)
    shutil.copytree(runs / "teacher", root / maths)
    (root / maths / "model.safetensors").write_bytes(b"damaged")  # its error message names it too
    at = open_app(monkeypatch, root, "fill_mask")
    at.multiselect(key="fm_runs").set_value([link, maths]).run()
    assert not at.exception
    shown = texts(at.markdown) + texts(at.error)
    assert r"**\[x\]\(javascript\:alert\(1\)\)**" in shown and r"**\$x\$ \*y\* \`z\`**" in shown
    assert "](javascript" not in shown  # never a link
    assert "`` $x$ *y* `z` ``" in texts(at.error)  # a code span that its own backticks cannot close
