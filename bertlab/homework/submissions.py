"""A class's hand-ins: which files, whose, for which lesson — and which names are doubled or unknown.

A submission is a notebook (``.ipynb``) or its jupytext twin (``.py``) anywhere under the submissions folder.
Its student is, in this order:

1. ``metadata.bertlab.student`` of the notebook (the jupytext header of a ``.py`` holds it too), or a line
   ``# student: NAME`` in the first code cell;
2. the folder right under the submissions folder (``SUBMISSIONS/alice/01_masked_lm.ipynb``);
3. the file name without the lesson part (``alice_01_masked_lm.ipynb``, ``alice.ipynb``).

Names are lower-cased; spaces, dashes and other punctuation become underscores. The lesson is ``--lesson N``, else the ``NN_``
in the file name, else the lesson whose ``check("…")`` calls the notebook makes.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from bertlab.homework.grading import list_checks

STUDENT_LINE = re.compile(r"^\s*#\s*student\s*:\s*(?P<name>\S.*?)\s*$", re.I | re.M)
LESSON_PART = re.compile(r"(?:^|[_\-. ])(?P<lesson>\d\d)_[a-z0-9_]+$", re.I)
CHECK_CALL = re.compile(r"""check\(\s*["'](?P<name>\w+)["']""")


class SubmissionError(ValueError):
    """The submissions folder or the roster cannot be used; the message says which file and what to do."""


@dataclass
class Submission:
    path: Path
    student: str
    lesson: int | None
    notebook: object | None = None  # the parsed nbformat notebook, None when it does not parse
    problem: str | None = None  # why it cannot be run (does not parse, unknown lesson…)
    duplicates: list[Path] = field(default_factory=list)  # other files of the same student and lesson


@dataclass
class Collection:
    """What ``collect`` found: the submissions to grade, and what the instructor should look at."""

    submissions: list[Submission]
    duplicates: dict[tuple[str, int | None], list[Path]]  # (student, lesson) -> every file; the newest is graded
    unknown: list[str]  # students not in the roster
    missing: list[str]  # roster names without a submission


def normalize(name: str) -> str:
    """A student name fit for a file name: lower case, every run of other characters one underscore
    (a name taken from a notebook's metadata must not reach outside the output folder: ``../x`` -> ``x``)."""
    return re.sub(r"[^\w]+", "_", name.strip().lower()).strip("_") or "unnamed"


def read_notebook(path: Path):
    """The notebook at ``path`` (``.ipynb`` or jupytext ``.py``); raises ValueError saying why it does not parse."""
    import jupytext
    import nbformat

    try:
        if path.suffix == ".py":
            nb = jupytext.read(path, fmt="py:percent")
        else:
            nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception as err:  # noqa: BLE001 - any parse failure of a hand-in is a finding, not a crash
        raise ValueError(f"does not parse as a notebook: {type(err).__name__}: {str(err).splitlines()[0][:200]}")
    return nb


def student_of(path: Path, root: Path, nb) -> str:
    if nb is not None:
        meta = nb.metadata.get("bertlab", {})
        if isinstance(meta, dict) and meta.get("student"):
            return normalize(str(meta["student"]))
        code = [c for c in nb.cells if c.cell_type == "code"]
        match = STUDENT_LINE.search(code[0].source) if code else None
        if match:
            return normalize(match.group("name"))
    relative = path.relative_to(root)
    if len(relative.parts) > 1:
        return normalize(relative.parts[0])
    stem = LESSON_PART.sub("", path.stem) or path.stem
    return normalize(stem.strip("_-. ") or path.stem)


def lesson_of(path: Path, nb, forced: int | None) -> int | None:
    if forced is not None:
        return forced
    match = LESSON_PART.search(path.stem)
    if match:
        return int(match.group("lesson"))
    if nb is not None:
        by_check = {spec.name: spec.lesson for spec in list_checks()}
        lessons = {by_check[m.group("name")] for c in nb.cells if c.cell_type == "code"
                   for m in CHECK_CALL.finditer(c.source) if m.group("name") in by_check}
        if len(lessons) == 1:
            return lessons.pop()
    return None


def read_roster(path: Path) -> list[str]:
    """One student name per line (``#`` comments and blank lines skipped), or a CSV whose first column is it."""
    if not path.is_file():
        raise SubmissionError(f"--roster {path}: no such file; give a text file with one student name per line")
    names = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].split(",", 1)[0].strip()
        if line and line.lower() not in ("student", "name"):
            names.append(normalize(line))
    if not names:
        raise SubmissionError(f"--roster {path} names no student; write one name per line")
    return names


def collect(root: Path, lesson: int | None = None, roster: list[str] | None = None) -> Collection:
    """Every submission under ``root``, identified; of duplicates only the newest file is graded."""
    root = Path(root)
    if not root.is_dir():
        raise SubmissionError(f"submissions folder {root} does not exist; put the students' notebooks there")
    known_lessons = {spec.lesson for spec in list_checks()}
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".ipynb", ".py")
                   and not any(part.startswith(".") for part in p.relative_to(root).parts))
    found = []
    for path in files:
        try:
            nb, problem = read_notebook(path), None
        except ValueError as err:
            nb, problem = None, str(err)
        student, number = student_of(path, root, nb), lesson_of(path, nb, lesson)
        if problem is None and number is None:
            problem = ("cannot tell which lesson this is: name the file like 01_masked_lm.ipynb or pass "
                       "--lesson N")
        elif problem is None and number not in known_lessons:
            problem = f"lesson {number} has no graded checks (lessons with checks: {sorted(known_lessons)})"
        found.append(Submission(path, student, number, nb, problem))
    groups: dict[tuple[str, int | None], list[Submission]] = defaultdict(list)
    for sub in found:
        groups[(sub.student, sub.lesson)].append(sub)
    chosen, duplicates = [], {}
    for key, subs in groups.items():
        subs.sort(key=lambda s: (s.path.stat().st_mtime, str(s.path)))
        newest = subs[-1]
        if len(subs) > 1:
            duplicates[key] = [s.path for s in subs]
            newest.duplicates = [s.path for s in subs[:-1]]
        chosen.append(newest)
    chosen.sort(key=lambda s: (s.student, s.lesson or 0))
    students = {s.student for s in chosen}
    unknown = sorted(students - set(roster)) if roster else []
    missing = sorted(set(roster) - students) if roster else []
    return Collection(chosen, duplicates, unknown, missing)
