"""Execute lessons in normal mode and keep the executed copies in reports/lessons/ (what a class sees).

    OMP_NUM_THREADS=1 BERTLAB_THREADS=1 .venv/bin/python scripts/execute_lessons.py 01 04

The lessons use the course models when `bertlab course prepare` has made them. The committed
notebooks/NN_*.ipynb stay without outputs (tests/test_notebooks.py checks it); the executed copy goes to
reports/lessons/NN_name.ipynb without the inlined plotly.js (JupyterLab draws the figures from their JSON), and
reports/lessons/NN_name.txt holds its printed output, the numbers the lesson text refers to.

    .venv/bin/python scripts/execute_lessons.py --prose-only 02

copies a lesson's current text (its markdown cells) into its executed copy without running anything, when no
code cell changed since the copy was executed (else it says which one did: execute the lesson again).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
OUT = ROOT / "reports" / "lessons"


def slim(nb) -> None:
    """Drop plotly.js, which the "notebook" renderer inlines (~5 MB: a loader output, and an HTML copy of each
    figure); JupyterLab draws every figure from its JSON, which stays."""
    for cell in nb.cells:
        kept = []
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "application/vnd.plotly.v1+json" in data:
                data.pop("text/html", None)
            elif set(data) == {"text/html"} and len(data["text/html"]) > 100_000 and "plotly" in data["text/html"]:
                continue  # the plotly.js loader
            kept.append(output)
        if cell.cell_type == "code":
            cell.outputs = kept


def table_text(html: str) -> str:
    """A pandas table's HTML as plain rows ("a | b | c"), for the text summary."""
    import re

    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", html, flags=re.S)
    cells = [re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, flags=re.S) for row in rows]
    caption = re.findall(r"<caption[^>]*>(.*?)</caption>", html, flags=re.S)
    lines = [f"({caption[0].strip()})"] if caption else []
    lines += [" | ".join(re.sub(r"<[^>]+>", "", c).strip() for c in row) for row in cells]
    return "\n".join(lines)


def printed(nb) -> str:
    """The stream output of every code cell, with the cell's first line as a heading."""
    parts = []
    for cell in nb.cells:
        text = ""
        for o in cell.get("outputs", []):
            html = o.get("data", {}).get("text/html", "")
            if o.get("output_type") == "stream":
                text += o.get("text", "")
            elif "<table" in html:
                text += table_text(html) + "\n"
        if cell.cell_type == "code" and text.strip():
            parts.append(f"### {cell.source.splitlines()[0] if cell.source else ''}\n{text.rstrip()}\n")
    return "\n".join(parts)


def execute(prefix: str, timeout: int, out: Path = OUT) -> Path:
    import nbformat
    from nbclient import NotebookClient

    source = lesson_notebook(prefix)
    nb = nbformat.read(source, as_version=4)
    start = time.monotonic()
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    seconds = time.monotonic() - start
    slim(nb)
    out.mkdir(parents=True, exist_ok=True)
    target = out / source.name
    nbformat.write(nb, target)
    target.with_suffix(".txt").write_text(f"# {source.name}, executed in normal mode in {seconds:.0f} s\n\n"
                                          + printed(nb), encoding="utf-8")
    return target


def lesson_notebook(prefix: str) -> Path:
    matches = sorted(NOTEBOOKS.glob(f"{prefix}*.ipynb"))
    if len(matches) != 1:
        raise SystemExit(f"execute_lessons: {prefix!r} names {len(matches)} lessons in {NOTEBOOKS}; give one prefix "
                         f"such as 01")
    return matches[0]


def update_prose(lesson: Path, executed: Path) -> int:
    """Copy ``lesson``'s markdown cells into ``executed`` (its executed copy), keeping the outputs; refused with the
    first code cell that differs, since the outputs would then no longer be what the code prints. Returns the
    number of markdown cells changed."""
    import nbformat

    if not executed.exists():
        raise SystemExit(f"execute_lessons: no executed copy {executed}; execute the lesson first")
    new, old = nbformat.read(lesson, as_version=4), nbformat.read(executed, as_version=4)
    kinds = lambda nb: [c.cell_type for c in nb.cells]  # noqa: E731
    if kinds(new) != kinds(old):
        raise SystemExit(f"execute_lessons: {lesson.name} has other cells than {executed} (added, removed or "
                         f"reordered); execute the lesson again")
    for i, (a, b) in enumerate(zip(new.cells, old.cells)):
        if a.cell_type == "code" and a.source != b.source:
            first = a.source.splitlines()[0] if a.source else ""
            raise SystemExit(f"execute_lessons: code cell {i} ({first!r}) changed since {executed} was executed; "
                             f"execute the lesson again")
    changed = 0
    for a, b in zip(new.cells, old.cells):
        if a.cell_type == "markdown" and a.source != b.source:
            b.source, changed = a.source, changed + 1
    nbformat.write(old, executed)
    return changed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lessons", nargs="+", help="lesson prefixes, e.g. 01 04")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell (default 3600)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"where the executed copies go (default {OUT})")
    parser.add_argument("--prose-only", action="store_true",
                        help="copy the lessons' text into their executed copies without running them (refused if a "
                             "code cell changed)")
    args = parser.parse_args(argv)
    if args.prose_only:
        for prefix in args.lessons:
            lesson = lesson_notebook(prefix)
            changed = update_prose(lesson, args.out / lesson.name)
            print(f"{prefix}: {changed} markdown cell(s) updated in {args.out / lesson.name}")
        return 0
    for prefix in args.lessons:
        start = time.monotonic()
        print(f"{prefix}: executing ...", flush=True)
        target = execute(prefix, args.timeout, args.out)
        print(f"{prefix}: {target} in {time.monotonic() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
