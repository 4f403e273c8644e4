"""``bertlab homework grade`` on a made-up class: honest hand-ins and one hostile hand-in per way a notebook can
misbehave, each run in its own sandboxed kernel (tiny notebooks: lesson 3's exercise cells only).

The class comes from ``bertlab homework sample-class --tiny`` (``bertlab/homework/sample_class.py`` says what each
hand-in does). One grading of the class (about a minute: a kernel start and a torch import per hand-in, two at
a time) feeds every assertion of ``test_grades_*``.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest

from bertlab.cli import main
from bertlab.homework import sandbox
from bertlab.homework.channel import sign, verify
from bertlab.homework.grader import grade_class
from bertlab.homework.report import load_points
from bertlab.homework.runner import Setup
from bertlab.homework.sample_class import write_sample_class
from bertlab.homework.sandbox import Limits, bubblewrap, jail_command
from bertlab.homework.submissions import collect, read_roster

GRADED = ("perfect", "partly_wrong", "stub", "unparsable", "raises_first", "loops_forever", "memory_hog", "vandal",
          "flood", "renamed", "forger")
CHECKS = ("embedding_params", "encoder_params", "encoder_macs")


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def sample_class(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("class") / "submissions"
    write_sample_class(folder, lesson=3, tiny=True)
    return folder


@pytest.fixture(scope="module")
def graded(sample_class, tmp_path_factory):
    """Grade the honest and the hostile hand-ins (the identity cases are covered by test_collect_*)."""
    hand_ins = tmp_path_factory.mktemp("hand-ins")
    for path in sample_class.glob("*_03_albert.ipynb"):
        if path.name.split("_03_")[0] in GRADED:
            (hand_ins / path.name).write_bytes(path.read_bytes())
    before = _snapshot(hand_ins)
    data = tmp_path_factory.mktemp("course-data")
    (data / "course.txt").write_text("course data\n")
    out = tmp_path_factory.mktemp("grades")
    setup = Setup(limits=Limits(seconds=20), check_seconds=10, data=data, salt="test-salt")
    result = grade_class(hand_ins, out, setup, jobs=2)
    if not setup.jail:  # without bubblewrap the vandal's write to /tmp succeeds (docs/grading.md): tidy up
        Path("/tmp/bertlab-vandal.txt").unlink(missing_ok=True)
    rows = list(csv.DictReader((out / "grades.csv").open(encoding="utf-8")))
    return {"result": result, "rows": rows, "out": out, "hand_ins": hand_ins, "before": before, "setup": setup,
            "data": data}


def _rows(graded, student) -> dict[str, dict]:
    return {r["check"]: r for r in graded["rows"] if r["student"] == student}


def _feedback(graded, student) -> str:
    return (graded["out"] / "feedback" / f"{student}_lesson3.md").read_text(encoding="utf-8")


def test_grades_one_row_per_student_and_check(graded):
    assert set(graded["rows"][0]) >= {"student", "lesson", "check", "points", "max_points", "passed", "feedback"}
    assert {r["student"] for r in graded["rows"]} == set(GRADED)
    for student in GRADED:
        assert set(_rows(graded, student)) == set(CHECKS), student
    assert all(r["max_points"] == "10" and r["lesson"] == "3" for r in graded["rows"])


def test_grades_honest_hand_ins(graded):
    assert all(r["passed"] == "yes" and r["points"] == "10" for r in _rows(graded, "perfect").values())
    wrong = _rows(graded, "partly_wrong")
    assert wrong["embedding_params"]["passed"] == "no" and 0 < float(wrong["embedding_params"]["points"]) < 10
    assert wrong["encoder_params"]["passed"] == wrong["encoder_macs"]["passed"] == "yes"
    assert "projection" in _feedback(graded, "partly_wrong")  # the check's hint reaches the student
    assert all(r["points"] == "0" and r["feedback"] == "not written yet" for r in _rows(graded, "stub").values())


def test_grades_hostile_hand_ins(graded):
    def only_first_lost(student):
        rows = _rows(graded, student)
        assert rows["embedding_params"]["points"] == "0", student
        assert rows["encoder_params"]["passed"] == rows["encoder_macs"]["passed"] == "yes", student
        return rows["embedding_params"]

    assert all("does not parse" in r["feedback"] for r in _rows(graded, "unparsable").values())
    assert all(r["points"] == "0" and "time limit" in r["feedback"] for r in _rows(graded, "loops_forever").values())
    raised = _rows(graded, "raises_first")
    assert all(r["passed"] == "yes" for r in raised.values())  # the cells after the failing one still ran
    assert "code cell 1: RuntimeError" in raised["encoder_macs"]["notes"]
    hog = only_first_lost("memory_hog")
    assert "not defined" in hog["feedback"] and "allocate" in hog["notes"]
    renamed = only_first_lost("renamed")
    assert "not defined" in renamed["feedback"]
    assert "my_embedding_params_v2" in _feedback(graded, "renamed") and "rename it back" in _feedback(graded, "renamed")
    flood = _rows(graded, "flood")
    assert all(r["passed"] == "yes" for r in flood.values())
    assert "output of 1 cell(s) cut" in flood["encoder_macs"]["notes"]
    executed = graded["out"] / "executed" / "flood_lesson3.ipynb"
    assert executed.stat().st_size < 1_000_000  # 50 MB were printed
    assert all(r["points"] == "0" for r in _rows(graded, "forger").values())  # fake ✔ lines and results files
    assert all(r["passed"] == "yes" for r in _rows(graded, "vandal").values())


def test_grades_nothing_outside_the_scratch_copy_changes(graded):
    assert _snapshot(graded["hand_ins"]) == graded["before"]
    assert (graded["data"] / "course.txt").read_text() == "course data\n"  # the vandal deleted its copy only
    if graded["setup"].jail:  # without bubblewrap an absolute path is not protected (docs/grading.md)
        assert not Path("/tmp/bertlab-vandal.txt").exists()


def test_grades_summary_and_histogram(graded):
    summary = (graded["out"] / "summary.md").read_text(encoding="utf-8")
    assert "The idea the class missed most:** `embedding_params`" in summary
    assert "| 3 | encoder_macs |" in summary and "does not parse" in summary
    assert (graded["out"] / "scores.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(graded["result"].feedback) == len(GRADED)


def test_collect_names_students_and_reports_duplicates(sample_class):
    roster = read_roster(sample_class / "roster.txt")
    found = collect(sample_class, roster=roster)
    by_student = {s.student: s for s in found.submissions}
    assert by_student["grace"].path.parent.name == "grace"  # a folder per student
    assert by_student["hopper"].path.name == "notebook_from_hopper.ipynb"  # metadata names her
    assert by_student["hopper"].lesson == 3  # from its check("…") calls: the file name has no lesson
    assert by_student["py_student"].path.suffix == ".py"
    assert by_student["dup"].path.name == "dup-03_albert.ipynb" and len(found.duplicates[("dup", 3)]) == 2
    assert found.unknown == ["flood"] and found.missing == ["absent"]
    assert by_student["unparsable"].problem.startswith("does not parse")


def test_collect_reads_a_student_line(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("# student: Ada Lovelace\nx = 1")])
    nbformat.write(nb, tmp_path / "03_albert.ipynb")
    assert [s.student for s in collect(tmp_path).submissions] == ["ada_lovelace"]
    nb.metadata["bertlab"] = {"student": "../../etc/Grace"}  # a name must not lead outside the output folder
    nbformat.write(nb, tmp_path / "03_albert.ipynb")
    assert [s.student for s in collect(tmp_path).submissions] == ["etc_grace"]


def test_points_file_overrides_the_defaults(tmp_path):
    (tmp_path / "points.toml").write_text("[points]\nembedding_params = 4\n")
    points = load_points(tmp_path / "points.toml")
    assert points["embedding_params"] == 4 and points["encoder_params"] == 10
    (tmp_path / "bad.json").write_text('{"embedding_param": 4}')
    with pytest.raises(ValueError, match="no check called 'embedding_param'"):
        load_points(tmp_path / "bad.json")


def test_signed_lines_cannot_be_forged():
    line = sign("key", {"check": "mlm_loss", "passed": False})
    assert verify("key", line) == {"check": "mlm_loss", "passed": False}
    assert verify("other key", line) is None
    assert verify("key", line.replace("false", "true")) is None


def test_bubblewrap_is_optional():
    assert Setup().jail == (bubblewrap() is not None)


@pytest.mark.parametrize("flags, message", [
    (["--points", "missing.toml"], "--points missing.toml: no such file"),
    (["--memory", "100"], "--memory 100 MB is too small"),
    (["--jobs", "0"], "--jobs 0: give at least 1"),
])
def test_grade_command_names_the_bad_flag(tmp_path, capsys, monkeypatch, flags, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "submissions").mkdir()
    assert main(["homework", "grade", "submissions", "--out", "grades", "--data", ".", *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_a_missing_submissions_folder_is_refused_before_anything_starts(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["homework", "grade", "nosuch", "--out", "grades", "--data", "."]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "submissions folder nosuch does not exist" in err and not (tmp_path / "grades").exists()


@pytest.mark.parametrize("salt", ["fresh-1", "fresh-2"])
def test_solutions_pass_on_fresh_hidden_inputs(salt):
    """The instructors' solutions (the lesson notebooks' exercise cells) pass every check on inputs the
    self-check never uses, so grading with fresh inputs marks no right answer wrong."""
    import re

    import jupytext

    from bertlab.homework import list_checks, run_check
    from bertlab.homework.grading import fresh_inputs

    namespace: dict = {}
    for path in sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.py")):
        for cell in jupytext.read(path).cells:
            if cell.cell_type == "code" and re.search(r"^def my_", cell.source, re.M):
                exec(cell.source, namespace)  # noqa: S102 - our own solution cells
    with fresh_inputs(salt):
        failed = [run_check(spec.name, namespace[spec.function]) for spec in list_checks()]
    failed = [result.feedback for result in failed if not result.passed]
    assert not failed, "\n".join(failed)


def test_an_answer_tuned_to_the_self_check_fails_when_graded():
    from bertlab.homework import run_check
    from bertlab.homework.grading import fresh_inputs, hidden_seed

    public = [(30000, 128, 768), (8192, 64, 128), (30000, 128, 4096), (21128, 312, 1024), (30000, 768, 768),
              (8192, 128, 128)]
    table = {(V, E, H): V * H if E == H else V * E + E * H for V, E, H in public}

    def my_embedding_params(V, E, H):  # the self-check's answers, looked up
        return table.get((V, E, H), 0)

    assert run_check("embedding_params", my_embedding_params).passed
    with fresh_inputs("grading"):
        assert hidden_seed(0) != 0 and hidden_seed(0) == hidden_seed(0) != hidden_seed(1)
        assert not run_check("embedding_params", my_embedding_params).passed


def test_the_jail_shows_a_python_environment_or_checkout_that_lives_under_tmp(monkeypatch, tmp_path):
    """The jail mounts a private /tmp; a checkout cloned under /tmp (its .venv with it) must stay visible, read-only,
    or every kernel dies before it starts."""
    monkeypatch.setattr(sandbox.sys, "prefix", "/tmp/clone/.venv")
    monkeypatch.setattr(sandbox, "_package_root", lambda: "/tmp/clone")
    command = jail_command(tmp_path / "work", tmp_path / "kernel", ["python"])
    private = command.index("/tmp")  # after --tmpfs
    for path in ("/tmp/clone", "/tmp/clone/.venv"):
        at = command.index(path)
        assert command[at - 1] == "--ro-bind" and at > private, command
    monkeypatch.setattr(sandbox.sys, "prefix", "/opt/venv")
    monkeypatch.setattr(sandbox, "_package_root", lambda: "/work/bertlab")
    assert not [a for a in jail_command(tmp_path / "w", tmp_path / "k", ["python"]) if a.startswith("/tmp/clone")]
