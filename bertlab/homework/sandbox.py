"""The sandbox a submitted notebook runs in: a kernel with memory, file-size and thread limits, cwd and HOME in a
scratch folder, and (where bubblewrap is installed) a read-only view of the machine with only that folder
writable.

The grader never runs a student's code itself: it writes a kernelspec whose command is this module, which sets
the limits on its own process and then ``exec``s the real kernel (``python -m ipykernel_launcher``), so the
limits hold for the kernel and everything it starts::

    python -m bertlab.homework.sandbox --memory-mb 4096 --file-mb 512 --work DIR --kernel-dir DIR [--jail] \\
        -- python -m ipykernel_launcher -f conn.json

``RLIMIT_AS`` caps the address space: a 20 GB ``torch.empty`` fails at once with an allocation error in the
student's cell instead of swapping the machine to death. ``RLIMIT_FSIZE`` caps each file the kernel writes.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS")
KERNEL_NAME = "bertlab-grade"


@dataclass(frozen=True)
class Limits:
    """What one submission may use. ``seconds`` is wall-clock for the whole notebook (the grader enforces it);
    the others are set on the kernel's process by :func:`main`."""

    seconds: float = 600.0
    memory_mb: int = 4096
    threads: int = 1
    file_mb: int = 512  # the largest file the kernel may write
    output_kb: int = 256  # the most text kept per cell; the rest is dropped with a note

    def __post_init__(self):
        for name in ("seconds", "memory_mb", "threads", "file_mb", "output_kb"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.memory_mb < 1024:
            raise ValueError(f"--memory {self.memory_mb} MB is too small: importing torch alone needs ~800 MB of "
                             f"address space; give at least 1024")


@functools.cache
def bubblewrap() -> str | None:
    """The ``bwrap`` executable if installed and working here (it needs user namespaces or setuid): with it the
    kernel sees the machine read-only."""
    path = shutil.which("bwrap")
    if path is None:
        return None
    try:
        probe = subprocess.run([path, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "true"],
                               capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return path if probe.returncode == 0 else None


def jail_command(work: Path, kernel_dir: Path, command: list[str]) -> list[str]:
    """``command`` under bubblewrap: everything read-only, a private /tmp, only ``work`` writable.
    The network stays shared: the kernel talks to the grader over localhost (ZeroMQ)."""
    keep = [arg for path in hidden_by_private_tmp() for arg in ("--ro-bind", path, path)]
    return ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", *keep,
            "--ro-bind", str(kernel_dir), str(kernel_dir), "--bind", str(work), str(work),
            "--chdir", str(work), "--die-with-parent", "--new-session", "--", *command]


def hidden_by_private_tmp() -> list[str]:
    """What the kernel needs that a private /tmp would hide: the Python environment and the bertlab checkout when
    they live under /tmp (a checkout cloned there, as CI may do), shown again read-only."""
    needed = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), Path(_package_root())}
    return sorted(str(path) for path in needed if path.is_relative_to("/tmp") and path != Path("/tmp"))


def kernel_environment(work: Path, limits: Limits, fast: bool) -> dict[str, str]:
    """Variables the kernel gets on top of the grader's: scratch HOME and caches, FAST mode, thread counts."""
    env = {"HOME": str(work), "TMPDIR": str(work / ".tmp"), "IPYTHONDIR": str(work / ".ipython"),
           "MPLCONFIGDIR": str(work / ".matplotlib"), "BERTLAB_RUNS": str(work / "runs"),
           "BERTLAB_CACHE": str(work / "data"), "BERTLAB_FAST": "1" if fast else "0",
           "PYTHONDONTWRITEBYTECODE": "1", "JUPYTER_PLATFORM_DIRS": "1"}
    if (work / "data" / "course-models").is_dir():  # prepared course models: lessons load them, even in FAST mode
        env["BERTLAB_COURSE_DIR"] = str(work / "data" / "course-models")
    env.update({name: str(limits.threads) for name in THREAD_VARIABLES})
    return env


def write_kernelspec(kernel_dir: Path, work: Path, limits: Limits, fast: bool, jail: bool) -> Path:
    """A kernelspec ``bertlab-grade`` under ``kernel_dir/kernels`` that starts the kernel through :func:`main`.
    Returns the folder to give ``KernelSpecManager(kernel_dirs=[...])``."""
    spec_dir = kernel_dir / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "bertlab.homework.sandbox", "--memory-mb", str(limits.memory_mb),
            "--file-mb", str(limits.file_mb), "--work", str(work), "--kernel-dir", str(kernel_dir)]
    if jail:
        argv.append("--jail")
    argv += ["--", sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    env = kernel_environment(work, limits, fast)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_package_root(), os.environ.get("PYTHONPATH")) if p)
    spec = {"argv": argv, "display_name": "bertlab grading sandbox", "language": "python", "env": env,
            "interrupt_mode": "message"}  # a signal to the wrapper would not reach a jailed kernel
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
    return kernel_dir / "kernels"


def _package_root() -> str:
    """The folder holding the ``bertlab`` package the grader runs, so the kernel imports the same checks."""
    return str(Path(__file__).resolve().parents[2])


def set_limits(memory_mb: int, file_mb: int) -> None:
    """Address-space, file-size and core-dump limits on this process (inherited by what it ``exec``s)."""
    for limit, value in ((resource.RLIMIT_AS, memory_mb * 2**20), (resource.RLIMIT_FSIZE, file_mb * 2**20),
                         (resource.RLIMIT_CORE, 0)):
        _, hard = resource.getrlimit(limit)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(limit, (value, value))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bertlab.homework.sandbox",
                                     description="start a command with the grading limits (used by kernelspecs)")
    parser.add_argument("--memory-mb", type=int, required=True)
    parser.add_argument("--file-mb", type=int, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--kernel-dir", type=Path, required=True)
    parser.add_argument("--jail", action="store_true", help="run the command under bubblewrap")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command to run after --")
    (args.work / ".tmp").mkdir(parents=True, exist_ok=True)
    os.chdir(args.work)
    if args.jail:
        command = jail_command(args.work, args.kernel_dir, command)
    set_limits(args.memory_mb, args.file_mb)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
