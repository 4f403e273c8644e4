"""A made-up class to try the grader on: honest hand-ins (perfect, partly wrong, not started) and hostile ones.

    bertlab homework sample-class build/sample-class --lesson 3          # whole FAST lessons (minutes to grade)
    bertlab homework sample-class build/sample-class --lesson 3 --tiny   # exercise cells only (seconds; the tests)

Each hostile hand-in does one thing a grader must survive: ``unparsable`` is broken JSON, ``raises_first`` fails
in its first cell (the cells after it still run), ``loops_forever`` never ends its first cell,
``memory_hog`` asks for 20 GB, ``vandal`` deletes what it finds around its folder, ``flood`` prints 50 MB,
``renamed`` renamed one exercise's function, ``forger`` prints fake "all rules passed" lines and writes a fake
results file. The identity cases: ``grace`` hands in a folder, ``hopper`` names herself in the notebook's
metadata, ``dup`` hands in twice (the newer file is graded), ``py_student`` hands in the jupytext ``.py``;
``roster.txt`` misses ``flood`` and lists ``absent``, who handed nothing in.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from bertlab.homework.grading import list_checks
from bertlab.homework.student import lesson_sources, strip_solutions, to_notebook
from bertlab.paths import REPO_ROOT

# A typical mistake per lesson, appended as a last cell so it replaces the right answer (partly wrong).
WRONG = {
    1: "import torch.nn.functional as F\n\n\ndef my_mlm_loss(logits, labels):\n"
       "    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100,\n"
       "                           reduction=\"sum\")  # a sum where the paper averages\n",
    3: "def my_embedding_params(V, E, H):\n    return V * E  # forgot the E×H projection\n",
}
TINY_PRELUDE = ("import math\nimport random\n\nimport torch\nimport torch.nn.functional as F\n\n"
                "from bertlab.homework import check\n")
VANDAL = '''import os, pathlib, shutil
here = pathlib.Path.cwd()
for victim in list(here.parent.iterdir()) + [pathlib.Path.home() / "data", here / "runs"]:
    if victim != here:
        shutil.rmtree(victim, ignore_errors=True) if victim.is_dir() else victim.unlink(missing_ok=True)
for target in (here.parent.parent / "bertlab-vandal.txt", pathlib.Path("/tmp/bertlab-vandal.txt")):
    try:
        target.write_text("was here")
    except OSError as err:
        print("could not write", target, err)
'''
FORGER = '''import pathlib
print("✔ embedding_params (factorized embedding parameters): all 4 rules passed. Well done!")
for name in ("results.jsonl", ".grade-results.jsonl"):
    pathlib.Path(name).write_text('{"check": "embedding_params", "passed": true}\\t' + "0" * 64 + "\\n")
'''


def _exercise_notebook(source: Path, tiny: bool):
    """The instructors' notebook, or with ``tiny`` only its exercise and check cells (plus imports)."""
    text = source.read_text(encoding="utf-8")
    nb = to_notebook(text)
    if tiny:
        keep = [c for c in nb.cells if c.cell_type == "code" and re.search(r"^def my_", c.source, re.M)]
        nb.cells = [_code(TINY_PRELUDE)] + keep  # no self-check cells: the grader runs the checks anyway
    return nb


def _code(source: str):
    import nbformat

    return nbformat.v4.new_code_cell(source)


def _strip(nb):
    """The student version of ``nb``: every solution replaced by ``raise NotImplementedError``."""
    import copy

    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source, _ = strip_solutions(cell.source)
    return nb


def _variant(nb, first: str | None = None, last: str | None = None, replace: tuple[str, str] | None = None):
    import copy

    nb = copy.deepcopy(nb)
    if replace:
        for cell in nb.cells:
            cell.source = cell.source.replace(*replace)
    if first:
        code = [c for c in nb.cells if c.cell_type == "code"]
        code[0].source = first + code[0].source
    if last:
        nb.cells.append(_code(last))
    return nb


def write_sample_class(out: Path, lesson: int = 3, tiny: bool = False, notebooks: Path | None = None) -> list[Path]:
    """Write a sample class for ``lesson`` into ``out`` (plus ``roster.txt``); returns the files written."""
    import jupytext
    import nbformat

    sources = {int(p.name[:2]): p for p in lesson_sources(notebooks or REPO_ROOT / "notebooks")}
    if lesson not in sources:
        raise ValueError(f"--lesson {lesson}: no lesson file {lesson:02d}_*.py; lessons: {sorted(sources)}")
    if not list_checks(lesson):
        raise ValueError(f"--lesson {lesson} has no graded checks")
    stem = sources[lesson].stem
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    perfect = _exercise_notebook(sources[lesson], tiny)
    specs = list_checks(lesson)
    first_fn = specs[0].function
    wrong = WRONG.get(lesson, f"def {first_fn}(*args, **kwargs):\n    raise NotImplementedError\n")
    memory = "import torch\nbig = torch.empty(20 * 2**30, dtype=torch.uint8)  # 20 GB\n"
    notebooks_by_name = {
        "perfect": perfect,
        "partly_wrong": _variant(perfect, last=wrong),
        "stub": _strip(perfect),
        "raises_first": _variant(perfect, first="raise RuntimeError('this notebook fails in its first cell')\n"),
        "loops_forever": _variant(perfect, first="while True:\n    pass\n"),
        "memory_hog": _variant(perfect, replace=(f"def {first_fn}(", f"{memory}\n\ndef {first_fn}(")),
        "vandal": _variant(perfect, last=VANDAL),
        "flood": _variant(perfect, first="print('spam ' * 10_000_000)  # 50 MB of output\n"),
        "renamed": _variant(perfect, replace=(f"def {first_fn}(", f"def {first_fn}_v2(")),
        "forger": _variant(_strip(perfect), last=FORGER),
    }
    written = []
    for name, nb in notebooks_by_name.items():
        written.append(out / f"{name}_{stem}.ipynb")
        nbformat.write(nb, written[-1])
    written.append(out / f"unparsable_{stem}.ipynb")
    written[-1].write_text('{"cells": [{"cell_type": "code", "source": "def my_', encoding="utf-8")
    (out / "grace").mkdir(exist_ok=True)
    written.append(out / "grace" / f"{stem}.ipynb")
    nbformat.write(perfect, written[-1])
    hopper = _variant(perfect)
    hopper.metadata["bertlab"] = {"student": "Hopper"}
    if tiny:  # her file name has no lesson number: the grader finds the lesson from her check() calls
        hopper.cells.append(_code(f"check({specs[0].name!r}, {specs[0].function})\n"))
    written.append(out / "notebook_from_hopper.ipynb")
    nbformat.write(hopper, written[-1])
    written.append(out / f"dup_{stem}.ipynb")
    nbformat.write(_strip(perfect), written[-1])
    os.utime(written[-1], (1_000_000_000, 1_000_000_000))  # the older hand-in
    written.append(out / f"dup-{stem}.ipynb")
    nbformat.write(perfect, written[-1])
    written.append(out / f"py_student_{stem}.py")
    jupytext.write(_variant(perfect, last=wrong), str(written[-1]), fmt="py:percent")
    names = [n for n in notebooks_by_name if n != "flood"] + ["unparsable", "grace", "hopper", "dup", "py_student",
                                                              "absent"]
    (out / "roster.txt").write_text("# one student per line\n" + "\n".join(names) + "\n", encoding="utf-8")
    (out / "sample-class.json").write_text(json.dumps({"lesson": lesson, "tiny": tiny}) + "\n", encoding="utf-8")
    return written
