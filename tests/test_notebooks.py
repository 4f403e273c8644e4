"""Every lesson notebook executes headless, top to bottom, in FAST mode (``BERTLAB_FAST=1``), and its
committed ``.ipynb`` matches its jupytext ``.py``.

Runs go to a temporary folder (``BERTLAB_RUNS``), shared by the lessons of one test session so that lesson 4
can reuse lesson 1's model as the course would (it trains one itself when run alone). Corpora and tokenizers
come from the normal cache (``bertlab.paths.cache_dir``): they are pure functions of the package data.
"""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
LESSONS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))


@pytest.fixture(scope="session")
def lesson_runs(tmp_path_factory):
    return tmp_path_factory.mktemp("lesson-runs")


def test_there_are_lessons():
    assert [p.stem[:2] for p in LESSONS][:6] == ["01", "02", "03", "04", "05", "06"]


@pytest.mark.parametrize("source", LESSONS, ids=lambda p: p.stem)
def test_ipynb_is_in_sync_with_its_py(source):
    ipynb = source.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb.name} is missing: run bash scripts/sync_notebooks.sh"
    paired = json.loads(ipynb.read_text(encoding="utf-8"))
    assert paired["metadata"]["kernelspec"]["name"] == "python3", "JupyterLab would ask for a kernel"
    code_cells = [c for c in paired["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code_cells), \
        f"{ipynb.name} has outputs: regenerate it with bash scripts/sync_notebooks.sh"
    expected = [(c.cell_type, c.source) for c in jupytext.read(source).cells]
    actual = [(c["cell_type"], "".join(c["source"])) for c in paired["cells"]]
    assert actual == expected, f"{ipynb.name} differs from {source.name}: run bash scripts/sync_notebooks.sh"


@pytest.mark.parametrize("source", LESSONS, ids=lambda p: p.stem)
def test_notebook_executes_in_fast_mode(source, lesson_runs, monkeypatch):
    monkeypatch.setenv("BERTLAB_FAST", "1")  # the kernel inherits this process's environment
    monkeypatch.setenv("BERTLAB_RUNS", str(lesson_runs))
    nb = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    start = time.monotonic()
    try:
        client.execute()
    except CellExecutionError as err:
        pytest.fail(f"{source.name}: a cell failed in FAST mode:\n{str(err)[-4000:]}")
    seconds = time.monotonic() - start
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert not errors, f"{source.name}: error outputs {[(e['ename'], e['evalue']) for e in errors]}"
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "FAST mode" in text, "the lesson did not report FAST mode: is it reading BERTLAB_FAST?"
    assert "Well done!" in text, "the solutions should pass their checks"
    assert any("application/vnd.plotly.v1+json" in o.get("data", {}) for o in outputs), "no plotly figure drawn"
    print(f"{source.name}: {seconds:.0f} s in FAST mode")


def _execute_lessons_script():
    path = NOTEBOOKS.parent / "scripts" / "execute_lessons.py"
    spec = importlib.util.spec_from_file_location("execute_lessons", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_prose_only_updates_the_text_of_an_executed_lesson_and_refuses_changed_code(tmp_path):
    """--prose-only copies new lesson text into the executed copy, outputs kept; a changed code cell is refused."""
    script = _execute_lessons_script()
    cells = lambda text, code: [nbformat.v4.new_markdown_cell(text), nbformat.v4.new_code_cell(code)]  # noqa: E731
    executed = nbformat.v4.new_notebook(cells=cells("measured: 12 %", "print(12)"))
    executed.cells[1].outputs = [nbformat.v4.new_output("stream", text="12\n")]
    nbformat.write(executed, tmp_path / "executed.ipynb")
    nbformat.write(nbformat.v4.new_notebook(cells=cells("measured: 12 %, the copying share", "print(12)")),
                   tmp_path / "lesson.ipynb")
    assert script.update_prose(tmp_path / "lesson.ipynb", tmp_path / "executed.ipynb") == 1
    kept = nbformat.read(tmp_path / "executed.ipynb", as_version=4)
    assert kept.cells[0].source == "measured: 12 %, the copying share" and kept.cells[1].outputs[0].text == "12\n"
    nbformat.write(nbformat.v4.new_notebook(cells=cells("measured: 13 %", "print(13)")), tmp_path / "lesson.ipynb")
    with pytest.raises(SystemExit, match="code cell 1 .'print.13.'. changed"):
        script.update_prose(tmp_path / "lesson.ipynb", tmp_path / "executed.ipynb")
    assert nbformat.read(tmp_path / "executed.ipynb", as_version=4).cells[0].source.endswith("copying share")
