"""The student version: built from the instructors' notebooks, solutions stripped; the solutions pass every
check, the stripped exercises fail every check with a helpful message, and the notebooks' other cells never
depend on exercise code (so a student's notebook runs to the end before any exercise is solved)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import bertlab.homework
from bertlab.homework import list_checks, run_check
from bertlab.homework.student import SolutionMarkerError, build_student, lesson_sources, strip_solutions

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
CHECK_CALL = re.compile(r"""check\(\s*["'](\w+)["']\s*,\s*(\w+)\s*\)""")


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    built = build_student(NOTEBOOKS, out)
    assert [b.source.name for b in built] == [p.name for p in lesson_sources(NOTEBOOKS)]
    return out


def test_strip_solutions_keeps_indentation_and_counts_regions():
    text = ("def f(x):\n    \"\"\"doc\"\"\"\n    # BEGIN SOLUTION\n    return x + 1\n    # END SOLUTION\n\n"
            "# BEGIN SOLUTION\ny = 2\n# END SOLUTION\n")
    student, regions = strip_solutions(text)
    assert regions == 2
    assert student == ("def f(x):\n    \"\"\"doc\"\"\"\n    # YOUR CODE HERE\n    raise NotImplementedError\n\n"
                       "# YOUR CODE HERE\nraise NotImplementedError\n")


@pytest.mark.parametrize("text, where", [
    ("# BEGIN SOLUTION\nx = 1\n", "never closed"),
    ("x = 1\n# END SOLUTION\n", "without a '# BEGIN SOLUTION'"),
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION\n", "inside the solution opened at line 1"),
])
def test_unbalanced_markers_are_reported_with_their_line(text, where):
    with pytest.raises(SolutionMarkerError, match=re.escape(where)):
        strip_solutions(text, "lesson.py")


def test_every_lesson_has_two_to_four_graded_exercises():
    for source in lesson_sources(NOTEBOOKS):
        lesson = int(source.name[:2])
        _, regions = strip_solutions(source.read_text(encoding="utf-8"))
        names = CHECK_CALL.findall(source.read_text(encoding="utf-8"))
        assert 2 <= len(names) <= 4, f"{source.name}: {len(names)} checks"
        assert regions == len(names), f"{source.name}: {regions} solutions for {len(names)} checks"
        registered = {c.name for c in list_checks(lesson)}
        assert {n for n, _ in names} == registered, f"{source.name} does not use exactly lesson {lesson}'s checks"


def test_student_notebooks_have_no_solutions_and_open_with_python3(student_dir):
    for ipynb in sorted(student_dir.glob("*.ipynb")):
        nb = json.loads(ipynb.read_text(encoding="utf-8"))
        assert nb["metadata"]["kernelspec"]["name"] == "python3"
        code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
        assert "BEGIN SOLUTION" not in code and "END SOLUTION" not in code
        assert code.count("# YOUR CODE HERE") >= 2
        assert all(c.get("outputs", []) == [] for c in nb["cells"] if c["cell_type"] == "code")
    assert sorted(p.stem for p in student_dir.glob("*.py")) == sorted(p.stem for p in student_dir.glob("*.ipynb"))


def exercise_cells(notebook_py: Path) -> list[str]:
    """The code cells of a lesson from its first exercise on: exercise definitions and their checks."""
    import jupytext

    nb = jupytext.read(notebook_py)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    first = next(i for i, src in enumerate(code) if "# BEGIN SOLUTION" in src or "# YOUR CODE HERE" in src)
    return code[first:]


def run_exercises(notebook_py: Path, monkeypatch) -> dict:
    """Execute the exercise and check cells of a lesson; return {check name: CheckResult}.

    The cells after the last check (lesson 4 compares the answers with the library on a real batch) need the
    lesson's model, so only the cells up to the last check run here; the notebook tests run the rest."""
    results = {}

    def recording_check(name, fn, quiet=False):
        results[name] = run_check(name, fn)
        return results[name]

    monkeypatch.setattr(bertlab.homework, "check", recording_check)
    cells = exercise_cells(notebook_py)
    last_check = max(i for i, src in enumerate(cells) if CHECK_CALL.search(src))
    namespace = {"__name__": "__main__"}
    for src in cells[:last_check + 1]:
        exec(compile(src, str(notebook_py), "exec"), namespace)  # noqa: S102 - our own notebooks
    return results


@pytest.mark.parametrize("source", lesson_sources(NOTEBOOKS), ids=lambda p: p.stem)
def test_solutions_pass_every_check(source, monkeypatch):
    results = run_exercises(source, monkeypatch)
    assert results, f"{source.name} ran no check"
    for name, result in results.items():
        assert result.passed, f"{source.name}: the solution of {name} fails:\n{result.feedback}"


@pytest.mark.parametrize("source", lesson_sources(NOTEBOOKS), ids=lambda p: p.stem)
def test_student_version_fails_every_check_helpfully(source, student_dir, monkeypatch):
    results = run_exercises(student_dir / source.name, monkeypatch)
    assert set(results) == {n for n, _ in CHECK_CALL.findall(source.read_text(encoding="utf-8"))}
    for name, result in results.items():
        assert not result.passed
        assert "not written yet" in result.feedback and "raise NotImplementedError" in result.feedback, \
            result.feedback


@pytest.mark.parametrize("source", lesson_sources(NOTEBOOKS), ids=lambda p: p.stem)
def test_lesson_cells_do_not_depend_on_exercise_functions(source):
    """Only exercise cells, check cells and (lesson 4) attempt(...) calls may name the students' functions."""
    import jupytext

    text = source.read_text(encoding="utf-8")
    names = set(re.findall(r"^def (my_\w+)", text, re.M))
    nb = jupytext.read(source)
    cells = [c.source for c in nb.cells if c.cell_type == "code"]
    for src in cells:
        if "# BEGIN SOLUTION" in src or CHECK_CALL.search(src):
            continue
        used = {n for n in names if re.search(rf"\b{n}\b", src)}
        if used:
            assert "attempt(" in src, f"{source.name}: a lesson cell uses {used} without attempt():\n{src[:300]}"


def test_cli_builds_the_student_version(tmp_path, capsys):
    from bertlab.cli import main

    assert main(["homework", "build-student", "--out", str(tmp_path / "students")]) == 0
    out = capsys.readouterr().out
    assert "01_masked_lm.ipynb" in out and "student notebooks in" in out
    assert (tmp_path / "students" / "04_tinybert.ipynb").exists()
    assert main(["homework", "list", "--lesson", "3"]) == 0
    assert "encoder_params" in capsys.readouterr().out
    assert main(["homework", "build-student", "--notebooks", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
