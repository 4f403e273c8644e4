"""What the grader writes: ``grades.csv`` (one row per student × check), ``feedback/<student>.md`` (each check,
what failed, the hint) and the class summary (``summary.md``: pass rate per check, the rule most students broke,
the hand-ins that could not be graded; ``scores.png``: the score histogram).

Points: each check is worth its spec's ``points`` (10 unless registered otherwise), overridden by a small TOML
or JSON file ``{"mlm_masking": 5}`` (or under a ``[points]`` table). A check that fails earns the share of its
rules that hold, unless the function crashed or is missing (then 0).
"""

from __future__ import annotations

import csv
import json
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bertlab.homework.grading import list_checks
from bertlab.homework.runner import CheckOutcome, Outcome
from bertlab.homework.submissions import Collection

COLUMNS = ("student", "lesson", "check", "points", "max_points", "passed", "feedback", "notes", "file")


def load_points(path: Path | None) -> dict[str, float]:
    """Points per check: the specs' defaults, overridden by ``path`` (``.toml`` or ``.json``)."""
    points = {spec.name: spec.points for spec in list_checks()}
    if path is None:
        return points
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--points {path}: no such file; write e.g. {{\"mlm_masking\": 5}} into a .json file")
    try:
        text = path.read_text(encoding="utf-8")
        table = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"--points {path} does not parse: {err}") from None
    table = table.get("points", table) if isinstance(table, dict) else table
    if not isinstance(table, dict):
        raise ValueError(f"--points {path} must map check names to numbers, e.g. {{\"mlm_masking\": 5}}")
    for name, value in table.items():
        if name not in points:
            raise ValueError(f"--points {path}: no check called {name!r}; checks: {', '.join(sorted(points))}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"--points {path}: {name} = {value!r} must be a number ≥ 0")
        points[name] = float(value)
    return points


@dataclass
class Row:
    student: str
    lesson: int | None
    check: str
    points: float
    max_points: float
    passed: bool
    feedback: str
    notes: str
    file: str

    def as_csv(self) -> dict:
        return {**self.__dict__, "points": f"{self.points:g}", "max_points": f"{self.max_points:g}",
                "lesson": "" if self.lesson is None else self.lesson, "passed": "yes" if self.passed else "no"}


@dataclass
class ClassReport:
    rows: list[Row] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # for the instructor: duplicates, unknown names, …


def notes_of(outcome: Outcome, unknown: set[str]) -> str:
    notes = []
    if outcome.problem:
        notes.append(outcome.problem)
    notes += outcome.cell_errors[:3]
    if outcome.truncated_cells:
        notes.append(f"output of {len(outcome.truncated_cells)} cell(s) cut")
    if outcome.submission.duplicates:
        notes.append("older hand-ins not graded: " + ", ".join(p.name for p in outcome.submission.duplicates))
    if outcome.submission.student in unknown:
        notes.append("not on the roster")
    return "; ".join(notes)


def build_rows(collection: Collection, outcomes: list[Outcome], points: dict[str, float], root: Path) -> ClassReport:
    report = ClassReport(outcomes=outcomes)
    unknown = set(collection.unknown)
    for outcome in outcomes:
        sub, notes = outcome.submission, notes_of(outcome, unknown)
        file = str(sub.path.relative_to(root))
        if not outcome.checks:
            report.rows.append(Row(sub.student, sub.lesson, "", 0.0, 0.0, False, outcome.problem or "", notes, file))
        for c in outcome.checks:
            top = points[c.check]
            report.rows.append(Row(sub.student, sub.lesson, c.check, round(top * c.fraction, 2), top, c.passed,
                                   c.reason, notes, file))
    lessons = sorted({o.submission.lesson for o in outcomes if o.submission.lesson})
    for student in collection.missing:
        for lesson in lessons:
            for spec in list_checks(lesson):
                report.rows.append(Row(student, lesson, spec.name, 0.0, points[spec.name], False, "no submission",
                                       "on the roster, handed nothing in", ""))
    for (student, lesson), paths in sorted(collection.duplicates.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        report.problems.append(f"{student} handed in lesson {lesson} {len(paths)} times: graded the newest, "
                               f"{paths[-1].relative_to(root)}")
    report.problems += [f"{name} is not on the roster (graded anyway)" for name in collection.unknown]
    report.problems += [f"{name} is on the roster but handed nothing in" for name in collection.missing]
    report.problems += [f"{o.submission.student} ({o.submission.path.relative_to(root)}): {o.problem}"
                        for o in outcomes if o.problem]
    return report


def write_csv(report: ClassReport, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        for row in report.rows:
            writer.writerow(row.as_csv())


def feedback_markdown(outcome: Outcome, rows: list[Row]) -> str:
    sub = outcome.submission
    got, top = sum(r.points for r in rows), sum(r.max_points for r in rows)
    lines = [f"# Feedback for {sub.student}: lesson {sub.lesson}", "",
             f"File: `{sub.path.name}` · score **{got:g} / {top:g}**", ""]
    notes = rows[0].notes if rows else ""
    if notes:
        lines += ["**About the notebook:** " + notes, ""]
    by_check = {c.check: c for c in outcome.checks}
    for row in rows:
        if not row.check:
            continue
        c: CheckOutcome = by_check[row.check]
        mark = "✔" if c.passed else "✘"
        lines += [f"## {mark} {row.check}: {row.points:g} / {row.max_points:g}", ""]
        if c.reason:
            lines += [f"*{c.reason}*", ""]
        lines += ["```text", c.feedback.strip(), "```", ""]
    if not outcome.checks:
        lines += [f"Nothing could be graded: {outcome.problem}", ""]
    lines += ["The checks ran on fresh hidden inputs, not the ones of the self-check in your notebook.", ""]
    return "\n".join(lines)


def write_feedback(report: ClassReport, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for outcome in report.outcomes:
        sub = outcome.submission
        rows = [r for r in report.rows if r.student == sub.student and r.lesson == sub.lesson]
        name = f"{sub.student}.md" if sub.lesson is None else f"{sub.student}_lesson{sub.lesson}.md"
        path = folder / name
        path.write_text(feedback_markdown(outcome, rows), encoding="utf-8")
        written.append(path)
    return written


def check_summary(report: ClassReport) -> list[dict]:
    """Per check: how many passed, the mean points, and the rule most students broke."""
    summary = []
    graded = [r for r in report.rows if r.check and r.feedback != "no submission"]
    for check in dict.fromkeys(r.check for r in graded):
        rows = [r for r in graded if r.check == check]
        broken = Counter(rule for o in report.outcomes for c in o.checks if c.check == check
                         for rule in c.failed_rules)
        rule, count = broken.most_common(1)[0] if broken else ("", 0)
        summary.append({"check": check, "lesson": rows[0].lesson, "students": len(rows),
                        "passed": sum(r.passed for r in rows), "mean_points": sum(r.points for r in rows) / len(rows),
                        "max_points": rows[0].max_points, "most_broken_rule": rule, "broken_by": count})
    return summary


def summary_markdown(report: ClassReport, setup_line: str, histogram: str | None) -> str:
    stats = check_summary(report)
    lines = ["# Class summary", "", setup_line, "",
             "| lesson | check | passed | mean points | the rule most students broke |", "|---|---|---|---|---|"]
    for s in stats:
        rule = f"{s['most_broken_rule']} ({s['broken_by']} students)" if s["broken_by"] else ""
        lines.append(f"| {s['lesson']} | {s['check']} | {s['passed']} / {s['students']} "
                     f"({100 * s['passed'] / s['students']:.0f} %) | {s['mean_points']:.1f} / {s['max_points']:g} "
                     f"| {rule} |")
    if stats:
        worst = min(stats, key=lambda s: (s["passed"] / s["students"], s["mean_points"] / (s["max_points"] or 1)))
        lines += ["", f"**The idea the class missed most:** `{worst['check']}` — {worst['passed']} of "
                      f"{worst['students']} passed" + (f"; the rule broken most often: *{worst['most_broken_rule']}*"
                                                       if worst["broken_by"] else "") + "."]
    if histogram:
        lines += ["", f"![score histogram]({histogram})"]
    if report.problems:
        lines += ["", "## To look at", ""] + [f"- {p}" for p in report.problems]
    return "\n".join(lines) + "\n"


def totals(report: ClassReport) -> dict[tuple[str, int | None], tuple[float, float]]:
    out: dict[tuple[str, int | None], tuple[float, float]] = {}
    for r in report.rows:
        got, top = out.get((r.student, r.lesson), (0.0, 0.0))
        out[(r.student, r.lesson)] = (got + r.points, top + r.max_points)
    return out


def write_histogram(report: ClassReport, path: Path) -> Path | None:
    """Percent scores of the class as a histogram PNG (matplotlib, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores = [100 * got / top for (got, top) in totals(report).values() if top > 0]
    if not scores:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(scores, bins=[0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100.001], color="#4C72B0", edgecolor="white")
    ax.set_xlabel("score (% of the points)")
    ax.set_ylabel("students")
    ax.set_title(f"{len(scores)} graded hand-ins")
    ax.yaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
