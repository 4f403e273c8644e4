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
    out.mkdir(parents=True, exist_ok=True)
    target = out / source.name
    nbformat.write(nb, target)
    target.with_suffix(".txt").write_text(f"# {source.name}, executed in normal mode in {seconds:.0f} s\n\n"
                                          + printed(nb), encoding="utf-8")
    return target


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lessons", nargs="+", help="lesson prefixes, e.g. 01 04")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell (default 3600)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"where the executed copies go (default {OUT})")
    args = parser.parse_args(argv)
    for prefix in args.lessons:
        start = time.monotonic()
        print(f"{prefix}: executing ...", flush=True)
        target = execute(prefix, args.timeout, args.out)
        print(f"{prefix}: {target} in {time.monotonic() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
