"""Grade a class: every hand-in of a submissions folder, N at a time, into a grade sheet and feedback.

    result = grade_class(Path("submissions"), Path("grades"), Setup(), jobs=2)
    # grades/grades.csv, grades/feedback/<student>_lesson<N>.md, grades/summary.md, grades/scores.png,
    # grades/executed/<student>_lesson<N>.ipynb (what ran, outputs capped)

Each hand-in runs in its own sandboxed kernel (:mod:`bertlab.homework.runner`); the grader's process only
drives kernels and reads signed results, so nothing a student wrote runs in it.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bertlab.homework.report import (ClassReport, build_rows, load_points, summary_markdown, totals, write_csv,
                                     write_feedback, write_histogram)
from bertlab.homework.runner import Outcome, Setup, grade_one
from bertlab.homework.submissions import collect, read_roster


@dataclass
class Graded:
    report: ClassReport
    out: Path
    csv: Path
    summary: Path
    feedback: list[Path]


def describe(setup: Setup) -> str:
    limits = setup.limits
    jail = "bubblewrap: the machine read-only, only the scratch folder writable" if setup.jail else \
        "no bubblewrap: limits only, files reachable by absolute path are not protected (see docs/grading.md)"
    return (f"Each notebook ran {'in FAST mode ' if setup.fast else ''}with {limits.seconds:g} s, "
            f"{limits.memory_mb} MB, {limits.threads} thread(s); sandbox: {jail}. Hidden inputs: salt {setup.salt}.")


def grade_class(submissions: Path, out: Path, setup: Setup, jobs: int = 2, lesson: int | None = None,
                roster: Path | None = None, points: Path | None = None,
                on_done: Callable[[Outcome], None] | None = None) -> Graded:
    """Grade every hand-in under ``submissions`` into ``out``; bad flags raise ValueError before anything runs."""
    import nbformat

    if jobs < 1:
        raise ValueError(f"--jobs {jobs}: give at least 1")
    submissions, out = Path(submissions), Path(out)
    if out.resolve().is_relative_to(submissions.resolve()):
        raise ValueError(f"--out {out} is inside the submissions folder {submissions}: write grades elsewhere")
    point_table = load_points(points)
    collection = collect(submissions, lesson, read_roster(roster) if roster else None)
    out.mkdir(parents=True, exist_ok=True)

    def run(sub) -> Outcome:
        outcome = grade_one(sub, setup)
        if on_done:
            on_done(outcome)
        return outcome

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        outcomes = list(pool.map(run, collection.submissions))
    report = build_rows(collection, outcomes, point_table, submissions)
    executed = out / "executed"
    executed.mkdir(exist_ok=True)
    for o in outcomes:
        if o.executed is not None:
            nbformat.write(o.executed, executed / f"{o.submission.student}_lesson{o.submission.lesson}.ipynb")
    csv_path, summary_path = out / "grades.csv", out / "summary.md"
    write_csv(report, csv_path)
    feedback = write_feedback(report, out / "feedback")
    histogram = write_histogram(report, out / "scores.png")
    summary_path.write_text(summary_markdown(report, describe(setup), histogram.name if histogram else None),
                            encoding="utf-8")
    return Graded(report, out, csv_path, summary_path, feedback)


def score_line(graded: Graded) -> str:
    scores = totals(graded.report)
    return ", ".join(f"{student} {got:g}/{top:g}" for (student, _), (got, top) in sorted(scores.items()))
