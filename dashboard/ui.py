"""What every page shares: the runs root, cached readers and model loaders, run pickers, the no-runs message.

Caching: run discovery and metrics are ``st.cache_data`` with a short ttl and the file's mtime in the key
(a running run's new lines appear at the next refresh); models are ``st.cache_resource`` keyed by run,
checkpoint and the weights' mtime, so each is read once and a newer checkpoint replaces it.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

import streamlit as st

from dashboard import run_folders as rf

ENV_RUNS = "BERTLAB_RUNS"  # tests and scripts pass the runs folder this way; the CLI passes `-- --runs DIR`


def runs_root() -> Path:
    """The runs folder: ``--runs DIR`` after ``streamlit run app.py --``, else $BERTLAB_RUNS, else ./runs."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--runs")
    given, _ = parser.parse_known_args(sys.argv[1:])
    return Path(given.runs or os.environ.get(ENV_RUNS) or "runs").resolve()


@st.cache_data(ttl=3, show_spinner=False)
def _discover(root: str, _stamp: float) -> list[rf.RunInfo]:
    return rf.discover_runs(root)


def discover(root: Path) -> list[rf.RunInfo]:
    """The runs, re-read at most every 3 s (or at once when the root folder itself changed)."""
    try:
        stamp = root.stat().st_mtime
    except OSError:
        stamp = 0.0
    return _discover(str(root), stamp)


@st.cache_data(ttl=2, show_spinner=False, max_entries=64)
def _metrics(path: str, mtime_ns: int, size: int) -> tuple[list[dict], list[str]]:
    return rf.load_metrics(Path(path))


def metrics(run: rf.RunInfo) -> tuple[list[dict], list[str]]:
    """(records, errors) of a run's metrics.jsonl, re-read when the file grows."""
    file = run.path / "metrics.jsonl"
    try:
        stat = rf.inside(run.path, file).stat()
        key = (stat.st_mtime_ns, stat.st_size)
    except (OSError, rf.UnsafePath):
        key = (0, 0)
    return _metrics(str(run.path), *key)


@st.cache_resource(max_entries=8, show_spinner="loading the model …")
def _load(root: str, name: str, checkpoint: str, mtime_ns: int):
    return rf.load_run_safely(root, name, checkpoint)


def load_model(root: Path, run: rf.RunInfo, checkpoint: str):
    """The run's model (eval mode) and tokenizer, loaded once per (run, checkpoint, weights mtime); from the folder
    the run was found in (``run.root``: a course model serving as a teacher), else from ``root``."""
    root = run.root or root
    weights = rf.weights_path(root, run.name, checkpoint)
    return _load(str(root), run.name, checkpoint, weights.stat().st_mtime_ns)


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&])")


def plain(text) -> str:
    """``text`` (a run name, a path, an error that names them) escaped for Streamlit's Markdown, so it shows as
    written: a folder named ``[x](javascript:...)`` is text, not a link (and ``$`` is not LaTeX)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text))


def code(text) -> str:
    """``text`` as an inline code span that no backtick in it can close early (CommonMark: a longer fence)."""
    text = str(text).replace("\n", " ")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def no_runs_message(root: Path) -> None:
    """What to do when the runs folder holds no run yet."""
    if not root.is_dir():
        st.error(f"The runs folder {code(root)} does not exist.")
    st.info(f"No runs in {code(root)} yet. Train a first model (a few minutes on a CPU) with:")
    st.code(rf.make_one_command(root), language="bash")
    st.caption("Then reload this page. Runs are the folders of `--runs` (default `runs/`) that hold a config.json.")


def run_label(run: rf.RunInfo) -> str:
    flag = " ⚠" if run.errors else ""
    return f"{run.name}  ({run.kind}, {run.state}){flag}"


def pick_model_run(root: Path, runs: list[rf.RunInfo], key: str, label: str = "run"):
    """A run picker and a checkpoint picker; returns (RunInfo, checkpoint) or (RunInfo, None) for a run
    that cannot be loaded (after showing why), or (None, None) without runs."""
    if not runs:
        no_runs_message(root)
        return None, None
    names = [r.name for r in runs]
    preferred = next((r.name for r in runs if r.usable), names[0])
    if st.session_state.get(key) not in names:
        st.session_state[key] = preferred
    by_name = {r.name: r for r in runs}
    name = st.selectbox(label, names, key=key, format_func=lambda n: run_label(by_name[n]))
    run = by_name[name]
    if not run.usable:
        st.error(f"Run {code(run.name)} cannot be loaded: " + plain("; ".join(run.errors)))
        return run, None
    ckpt_key = f"{key}_checkpoint"
    if st.session_state.get(ckpt_key) not in run.checkpoints:
        st.session_state[ckpt_key] = run.checkpoints[0]
    checkpoint = st.selectbox("checkpoint", run.checkpoints, key=ckpt_key,
                              help="final = the run's model.safetensors; step-N = a checkpoint saved during training")
    return run, checkpoint


def sidebar(root: Path) -> None:
    runs = discover(root)
    st.sidebar.caption(f"Runs folder: {code(root)}  \n{len(runs)} run(s) found")
    if st.sidebar.button("Re-scan runs", key="rescan"):
        st.cache_data.clear()
