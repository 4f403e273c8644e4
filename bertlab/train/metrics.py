"""``metrics.jsonl``: one JSON object per logged step, flushed line by line.

This file is the only contract between training and its readers (dashboard, notebooks, experiments):
they may read it while a run is still writing it.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path


class MetricsLogger:
    """Writes ``metrics.jsonl``: a new run starts an empty file; ``resume_step`` keeps the lines up to a
    resumed checkpoint and drops the ones logged after it (they will be logged again)."""

    def __init__(self, path: str | Path, resume_step: int | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kept = []
        if resume_step is not None and self.path.exists():
            kept = [r for r in read_metrics(self.path).records if r.get("step", 0) <= resume_step]
        self._handle = open(self.path, "w", encoding="utf-8")
        self._handle.writelines(json.dumps(r) + "\n" for r in kept)
        self._handle.flush()

    def log(self, record: dict) -> None:
        clean = {k: _jsonable(v) for k, v in record.items()}
        clean.setdefault("time", round(time.time(), 3))
        self._handle.write(json.dumps(clean) + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


def _jsonable(value):
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float):
        return None if not math.isfinite(value) else round(value, 6)
    return value


@dataclass
class Metrics:
    records: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # "metrics.jsonl:17: not valid JSON (...)"

    def split(self, name: str) -> list[dict]:
        return [r for r in self.records if r.get("split", "train") == name]


def read_metrics(path: str | Path) -> Metrics:
    """Every valid line of a metrics file; bad lines are reported with their line number, not fatal.
    A last line without its newline (a writer mid-flush) is skipped silently."""
    path = Path(path)
    out = Metrics()
    if not path.exists():
        out.errors.append(f"{path}: missing")
        return out
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.split("\n")
    complete = lines[:-1] if not text.endswith("\n") else lines
    for number, line in enumerate(complete, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            out.errors.append(f"{path}:{number}: not valid JSON ({err.msg})")
            continue
        if not isinstance(record, dict):
            out.errors.append(f"{path}:{number}: expected a JSON object")
            continue
        out.records.append(record)
    return out
