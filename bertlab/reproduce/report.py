"""The report of ``bertlab reproduce``: ``report.md`` (summary table first, then one section per claim),
``results.json`` (every number) and ``NAME.png`` figures, all in one folder, written atomically."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

from bertlab.io import atomic_write_json, atomic_write_text
from bertlab.reproduce.figures import write_pngs

README_BEGIN, README_END = "<!-- bertlab reproduce: begin -->", "<!-- bertlab reproduce: end -->"


def machine() -> dict:
    """What ran the report: CPU model and cores, torch threads, device."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "python": platform.python_version(), "platform": platform.platform(), "device": "cpu"}
    if torch.cuda.is_available():
        info["device"] = f"cuda ({torch.cuda.get_device_name(0)})"
    try:
        info["load_average_at_start"] = os.getloadavg()
    except OSError:
        pass
    return info


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def summary_table(claims: list) -> str:
    lines = ["| # | claim | verdict | ours (small scale) | paper |", "|---|---|---|---|---|"]
    for c in claims:
        verdict = {True: "**held**", False: "**did not hold**", None: c.verdict}[c.held]
        lines.append(f"| {c.id} | {_cell(c.title)} | {verdict} | {_cell(c.ours)} | {_cell(c.theirs)} |")
    return "\n".join(lines)


def markdown(results: dict, claims: list, figure_status: dict) -> str:
    m, p = results["machine"], results["plan"]
    s = p["scale"]
    minutes = results["seconds"] / 60
    lines = ["# bertlab reproduce: the source claims at small scale", "",
             f"Command: `{results['command']}`  ", f"Started {results['started']}; wall time **{minutes:.1f} min** "
             f"(budget {p['minutes']:g} min{', --quick' if p['quick'] else ''}; estimated "
             f"{sum(v for v in p['estimated_minutes'].values() if v is not None):.0f} min at start) on {m['cpu']} ({m['cores']} cores, "
             f"{m['torch_threads']} torch threads, device {m['device']}, torch {m['torch']}"
             + (f"; load average {m['load_average_at_start'][0]:.1f} at start" if m.get('load_average_at_start') else "")
             + ").", "",
             summary_table(claims), "",
             "\"Held\" means the measured difference points the claim's way by more than the spread (max − min) "
             f"between seeds {', '.join(map(str, p['seeds']))}; with one seed only the direction is checked. "
             "\"Inconclusive\": the reference model did not learn beyond word frequencies, so losses cannot rank "
             "the variants (exact parameter counts and timings still decide against a claim). "
             "Absolute numbers are far from the papers' (a few minutes of CPU instead of days of TPU): compare "
             "directions, not values.", "",
             pretraining_line(p), ""]
    for c in claims:
        lines += [f"## Claim {c.id}: {c.title}", "", f"**{c.verdict}.** {c.verdict_text}", ""]
        if c.paper:
            lines += ["| paper | value |", "|---|---|"] + [f"| {_cell(k)} | {_cell(v)} |" for k, v in c.paper.items()]
            lines.append("")
        for name in sorted(c.figures):
            error = figure_status.get(name)
            lines.append(f"![{name}]({name}.png)" if error is None else f"_(figure {name} not written: {error})_")
            lines.append("")
        lines.append(f"_{c.seconds / 60:.1f} min._")
        lines.append("")
    errors = {k: v for k, v in results.get("errors", {}).items()}
    if errors:
        lines += ["## Errors", ""] + [f"- claim {k}: `{_cell(v.splitlines()[-1])}` (traceback in results.json)"
                                      for k, v in errors.items()] + [""]
    lines.append(f"Every number: `results.json`. Run folders (metrics.jsonl, weights): `{results.get('runs', 'runs/')}`.")
    return "\n".join(lines) + "\n"


def pretraining_line(p: dict) -> str:
    """How claims 1-4's runs were trained, in one paragraph."""
    s = p["scale"]
    if not p["runs"]:
        return "No pre-training runs (claims 1–4 not selected)."
    recipe = ", ".join(f"{k} {v}" for k, v in s["recipe_changes"].items())
    speeds = ", ".join(f"{phase} {1000 * v:.0f} ms" for phase, v in p["step_seconds"].items())
    long = (f"; claim 1's own runs (the same shape, for NSP, which is learnt after MLM) {s['long_steps']} steps"
            if s["long_steps"] > s["steps"] else "; claim 1 reads the same reference runs")
    return (f"Pre-training runs of claims 1–4: preset `{s['preset']}` {s['overrides'] or ''} on `{s['corpus']}`, "
            f"recipe `{s['recipe']}`{' with ' + recipe if recipe else ''} ({s['short_share']:.0%} of the steps on short "
            f"MLM-only inputs, then {s['max_seq_length']}-token inputs, batch {s['batch_size']}; docs/recipe.md); claims 2–4: "
            f"{s['steps']} steps per run{long}. The same held-out documents and masks for every run; measured step "
            f"time before training: {speeds} per step.")


def readme_section(results: dict, claims: list, report_path: str) -> str:
    m, p = results["machine"], results["plan"]
    return "\n".join([README_BEGIN, "", f"Latest `bertlab reproduce` ({report_path}): {results['seconds'] / 60:.1f} min "
                      f"on {m['cpu']} ({m['cores']} cores, device {m['device']}), budget {p['minutes']:g} min"
                      f"{' (--quick)' if p['quick'] else ''}, seeds {', '.join(map(str, p['seeds']))}.", "",
                      summary_table(claims), "", README_END])


def update_readme(readme: Path, section: str) -> bool:
    """Replace the text between the markers in ``readme`` (appending the section when there are none)."""
    text = readme.read_text(encoding="utf-8") if readme.exists() else ""
    if README_BEGIN in text and README_END in text:
        head, rest = text.split(README_BEGIN, 1)
        tail = rest.split(README_END, 1)[1]
        text = head + section + tail
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + "## Reproducing the source claims\n\n" + section + "\n"
    atomic_write_text(readme, text)
    return True


def write_report(out: Path, results: dict, claims: list) -> Path:
    """Figures first (a failure is noted, not fatal), then results.json and report.md."""
    figures = {name: f for c in claims for name, f in c.figures.items()}
    status = write_pngs(figures, out) if figures else {}
    results["figures"] = {n: ("written" if e is None else f"not written: {e}") for n, e in status.items()}
    atomic_write_json(out / "results.json", results)
    atomic_write_text(out / "report.md", markdown(results, claims, status))
    return out / "report.md"


def command_line() -> str:
    return " ".join(["bertlab", *sys.argv[1:]]) if Path(sys.argv[0]).name in ("bertlab", "__main__.py") \
        else " ".join(sys.argv)


__all__ = ["machine", "summary_table", "markdown", "pretraining_line", "write_report", "readme_section", "update_readme"]
