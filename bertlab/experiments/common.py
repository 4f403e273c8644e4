"""What every experiment command shares: its threads, its output folder, its progress lines, its last words."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Callable, Iterable


def set_threads(threads: int | None) -> None:
    """``--threads``: torch's CPU threads (1 is often fastest on a busy shared machine)."""
    if threads is None:
        return
    if threads < 1:
        raise ValueError(f"--threads must be at least 1, got {threads}")
    import torch

    torch.set_num_threads(threads)


def prepare_out(out: Path, run_names: Iterable[str] = (), fresh: bool = False) -> Path:
    """Create ``out``; with ``fresh`` first delete the named run folders in it (``--fresh``)."""
    if fresh:
        for name in run_names:
            shutil.rmtree(out / name, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    return out


def stage_logger(name: str) -> Callable[[str], None]:
    """``say(text)``: one progress line on stderr, stamped with the seconds since this call."""
    began = time.time()

    def say(text: str) -> None:
        print(f"[{name} {time.time() - began:6.0f} s] {text}", file=sys.stderr, flush=True)

    return say


def print_results(results: dict, out: Path) -> int:
    """Print the experiment's markdown table and where its files are; the command's exit status."""
    print(results["markdown"])
    print(f"results: {out / 'results.md'} and results.json")
    return 0
