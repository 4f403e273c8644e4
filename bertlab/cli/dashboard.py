"""``bertlab dashboard``: the Streamlit dashboard over a runs folder, on 127.0.0.1 by default."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from bertlab.cli.errors import CliError
from bertlab.paths import REPO_ROOT

APP = REPO_ROOT / "dashboard" / "app.py"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "dashboard", help="explore runs in a browser: curves, attention, parameters, fill-mask",
        description="Start the Streamlit dashboard on the run folders in --runs (read only).",
        epilog="example: bertlab dashboard --runs runs --port 8501, then open http://127.0.0.1:8501")
    p.add_argument("--runs", default="runs", help="folder of run folders (default runs)")
    p.add_argument("--port", type=int, default=8501, help="port (default 8501)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 exposes it to the network)")
    p.set_defaults(handler=run)


def streamlit_command(runs: Path, port: int, host: str) -> list[str]:
    """The ``streamlit run`` command line (the app reads ``--runs`` after ``--``)."""
    return [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true",
            "--server.address", host, "--server.port", str(port), "--browser.gatherUsageStats", "false",
            "--", "--runs", str(runs)]


def run(args) -> int:
    runs = Path(args.runs)
    if not runs.is_dir():
        raise CliError(f"the runs folder {runs} does not exist. Train a first model into it with:\n"
                       f"    bertlab pretrain --preset tiny --corpus wiki-en --steps 2000 --out {runs / 'tiny'}\n"
                       f"or point --runs at a folder of runs")
    if not 0 < args.port < 65536:
        raise CliError(f"--port must be between 1 and 65535, got {args.port}")
    if importlib.util.find_spec("streamlit") is None:
        raise CliError("the dashboard needs Streamlit: pip install 'bertlab[dashboard]'")
    if not APP.is_file():
        raise CliError(f"{APP} is missing: the dashboard ships with the bertlab source checkout")
    print(f"bertlab dashboard: runs in {runs.resolve()}; open http://{args.host}:{args.port}  (Ctrl-C stops it)",
          flush=True)
    try:
        return subprocess.call(streamlit_command(runs.resolve(), args.port, args.host))
    except KeyboardInterrupt:
        return 130
