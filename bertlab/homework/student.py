"""Build the students' notebooks from the instructors' ones: solutions out, ``# YOUR CODE HERE`` in.

The instructors' notebooks are the jupytext files ``notebooks/NN_name.py``; each exercise's solution sits
between two marker lines, indented like the code it replaces::

    def my_mask_tokens(input_ids, ...):
        \"\"\"docstring the student keeps\"\"\"
        # BEGIN SOLUTION
        ...
        # END SOLUTION

becomes ``# YOUR CODE HERE`` and ``raise NotImplementedError`` at the marker's indentation. The output is
a ``.py`` (jupytext percent) and an ``.ipynb`` with the python3 kernel, per lesson, with no outputs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION[ \t]*$")
END = re.compile(r"^[ \t]*# END SOLUTION[ \t]*$")
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
LESSON_GLOB = "[0-9][0-9]_*.py"


class SolutionMarkerError(ValueError):
    """Unbalanced or nested solution markers, reported with file and line."""


def strip_solutions(text: str, source: str = "<text>") -> tuple[str, int]:
    """``text`` with every solution region replaced; returns (student text, number of regions)."""
    out: list[str] = []
    opened_at: int | None = None
    regions = 0
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        begin = BEGIN.match(line.rstrip("\r\n"))
        if begin:
            if opened_at is not None:
                raise SolutionMarkerError(f"{source}:{number}: '# BEGIN SOLUTION' inside the solution opened at "
                                          f"line {opened_at}; close it with '# END SOLUTION' first")
            opened_at = number
            indent = begin.group("indent")
            out.append(f"{indent}# YOUR CODE HERE\n{indent}raise NotImplementedError\n")
            regions += 1
        elif END.match(line.rstrip("\r\n")):
            if opened_at is None:
                raise SolutionMarkerError(f"{source}:{number}: '# END SOLUTION' without a '# BEGIN SOLUTION' before it")
            opened_at = None
        elif opened_at is None:
            out.append(line)
    if opened_at is not None:
        raise SolutionMarkerError(f"{source}:{opened_at}: '# BEGIN SOLUTION' is never closed by '# END SOLUTION'")
    return "".join(out), regions


@dataclass
class BuiltNotebook:
    source: Path
    py: Path
    ipynb: Path
    regions: int


def lesson_sources(notebooks_dir: str | Path) -> list[Path]:
    """The lesson files ``NN_name.py`` of a notebooks folder, in order."""
    notebooks_dir = Path(notebooks_dir)
    if not notebooks_dir.is_dir():
        raise FileNotFoundError(f"notebooks folder {notebooks_dir} does not exist")
    sources = sorted(notebooks_dir.glob(LESSON_GLOB))
    if not sources:
        raise FileNotFoundError(f"{notebooks_dir} holds no lesson files named like 01_name.py")
    return sources


def to_notebook(text: str):
    """A jupytext percent script as an nbformat notebook with the python3 kernel and no outputs."""
    import jupytext

    nb = jupytext.reads(text, fmt="py:percent")
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata.setdefault("language_info", {"name": "python"})
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def build_student(notebooks_dir: str | Path, out_dir: str | Path) -> list[BuiltNotebook]:
    """Write the student version of every lesson of ``notebooks_dir`` into ``out_dir`` (.py and .ipynb)."""
    import jupytext

    out_dir = Path(out_dir)
    sources = lesson_sources(notebooks_dir)
    if out_dir.resolve() == Path(notebooks_dir).resolve():
        raise ValueError("the student version must go to another folder than the instructors' notebooks")
    out_dir.mkdir(parents=True, exist_ok=True)
    built = []
    for source in sources:
        text, regions = strip_solutions(source.read_text(encoding="utf-8"), str(source))
        py, ipynb = out_dir / source.name, out_dir / source.with_suffix(".ipynb").name
        py.write_text(text, encoding="utf-8")
        jupytext.write(to_notebook(text), str(ipynb), fmt="ipynb")
        built.append(BuiltNotebook(source, py, ipynb, regions))
    return built
