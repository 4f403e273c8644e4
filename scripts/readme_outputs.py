"""Refresh the command outputs quoted in README.md and docs/*.md.

A quoted output is a fenced block right after a marker line:

    <!-- output: bertlab params --preset albert-base -->
    ```
    ...replaced by what the command prints...
    ```

Run ``.venv/bin/python scripts/readme_outputs.py`` (``--check`` only reports stale blocks and exits 1).
Commands run from the repository root with .venv/bin first on PATH. Long-running outputs (experiments,
benchmarks) are not refreshed here: they are quoted from files the experiment commands write, with the
command named beside them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(<!-- output: (?P<cmd>.+?) -->\n)```[a-z]*\n(?P<body>.*?)```", re.S)
MARKDOWN = re.compile(r"(<!-- markdown: (?P<cmd>.+?) -->\n)(?P<body>.*?)(<!-- end -->)", re.S)


def run(command: str) -> str:
    env = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}", "COLUMNS": "110"}
    proc = subprocess.run(command, shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"`{command}` failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return proc.stdout


def main() -> int:
    check = "--check" in sys.argv
    stale: list[str] = []
    refreshed = 0
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        refreshed += refresh_page(page, check, stale)
    if check:
        for command in stale:
            print(f"stale: {command}")
        return 1 if stale else 0
    print(f"refreshed {refreshed} blocks ({len(stale)} changed)")
    return 0


def refresh_page(readme: Path, check: bool, stale: list[str]) -> int:
    """Refresh the quoted outputs of one Markdown page (unless ``check``); return how many it has."""
    text = readme.read_text(encoding="utf-8")

    def refresh(match: re.Match) -> str:
        output = run(match["cmd"])
        if output != match["body"]:
            stale.append(match["cmd"])
        return f"{match.group(1)}```\n{output}```"

    def refresh_markdown(match: re.Match) -> str:
        output = run(match["cmd"])
        if output != match["body"]:
            stale.append(match["cmd"])
        return f"{match.group(1)}{output}{match.group(4)}"

    count = len(BLOCK.findall(text)) + len(MARKDOWN.findall(text))
    if not count:
        return 0
    new = MARKDOWN.sub(refresh_markdown, BLOCK.sub(refresh, text))
    if not check:
        readme.write_text(new, encoding="utf-8")
    return count


if __name__ == "__main__":
    sys.exit(main())
