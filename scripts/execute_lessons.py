"""Execute lessons in normal mode and keep the executed copies in reports/lessons/ (what a class sees).

    OMP_NUM_THREADS=1 BERTLAB_THREADS=1 .venv/bin/python scripts/execute_lessons.py 01 04

The lessons use the course models when `bertlab course prepare` has made them. The committed
notebooks/NN_*.ipynb stay without outputs (tests/test_notebooks.py checks it); the executed copy goes to
reports/lessons/NN_name.ipynb without the inlined plotly.js (JupyterLab draws the figures from their JSON), and
reports/lessons/NN_name.txt holds its printed output, the numbers the lesson text refers to.
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
    """Drop the text/html copy of every plotly figure (it inlines plotly.js, ~3.5 MB); keep its JSON."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "application/vnd.plotly.v1+json" in data:
                data.pop("text/html", None)


def printed(nb) -> str:
    """The stream output of every code cell, with the cell's first line as a heading."""
    parts = []
    for cell in nb.cells:
        text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
        if cell.cell_type == "code" and text.strip():
            parts.append(f"### {cell.source.splitlines()[0] if cell.source else ''}\n{text.rstrip()}\n")
    return "\n".join(parts)


def execute(prefix: str, timeout: int) -> Path:
    import nbformat
    from nbclient import NotebookClient

    matches = sorted(NOTEBOOKS.glob(f"{prefix}*.ipynb"))
    if len(matches) != 1:
        raise SystemExit(f"execute_lessons: {prefix!r} names {len(matches)} lessons in {NOTEBOOKS}; give one prefix "
                         f"such as 01")
    source = matches[0]
    nb = nbformat.read(source, as_version=4)
    start = time.monotonic()
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    seconds = time.monotonic() - start
    slim(nb)
    OUT.mkdir(parents=True, exist_ok=True)
    target = OUT / source.name
    nbformat.write(nb, target)
    target.with_suffix(".txt").write_text(f"# {source.name}, executed in normal mode in {seconds:.0f} s\n\n"
                                          + printed(nb), encoding="utf-8")
    return target


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lessons", nargs="+", help="lesson prefixes, e.g. 01 04")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell (default 3600)")
    args = parser.parse_args(argv)
    for prefix in args.lessons:
        start = time.monotonic()
        print(f"{prefix}: executing ...", flush=True)
        target = execute(prefix, args.timeout)
        print(f"{prefix}: {target.relative_to(ROOT)} in {time.monotonic() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
