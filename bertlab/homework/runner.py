"""Grade one submission: run it in a fresh kernel inside a scratch copy, then run the lesson's checks after it.

    outcome = grade_one(submission, Setup(limits=Limits(seconds=120)))

The steps, each of which may fail without stopping the class:
1. copy the notebook (and the course data, the course runs) into a new scratch folder ``…/work``;
2. start the sandboxed kernel there (:mod:`bertlab.homework.sandbox`), FAST mode unless told otherwise;
3. run the student's code cells in order until the wall-clock budget is spent (errors do not stop it; a cell
   still running at the deadline is interrupted and no further cell runs); each cell keeps at most
   ``limits.output_kb`` of output;
4. run the grading cell (:mod:`bertlab.homework.channel`) and keep the result lines whose signature holds;
5. delete the scratch folder.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bertlab.homework.channel import grading_cell, preamble_cell, verify
from bertlab.homework.grading import list_checks
from bertlab.homework.sandbox import KERNEL_NAME, Limits, bubblewrap, write_kernelspec
from bertlab.homework.submissions import Submission


@dataclass
class Setup:
    """How the whole class is run (the ``bertlab homework grade`` flags)."""

    limits: Limits = field(default_factory=Limits)
    check_seconds: float = 60.0  # per check, on the hidden inputs
    fast: bool = True
    data: Path | None = None  # the course data copied into each scratch folder as BERTLAB_CACHE
    runs: Path | None = None  # course runs (e.g. lesson 1's model) copied in as BERTLAB_RUNS
    salt: str = field(default_factory=lambda: secrets.token_hex(8))  # the hidden inputs of this grading
    jail: bool = field(default_factory=lambda: bubblewrap() is not None)


@dataclass
class CheckOutcome:
    check: str
    passed: bool
    fraction: float  # of the check's rules that passed (partial credit)
    reason: str  # short: "", "not written yet", "3 of 7 rules failed", "`my_x` is not defined", …
    feedback: str  # the full rule-by-rule text the student sees
    failed_rules: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    submission: Submission
    checks: list[CheckOutcome]
    problem: str | None = None  # notebook-level: does not parse, ran out of time, kernel died, …
    cell_errors: list[str] = field(default_factory=list)  # "cell 3: ZeroDivisionError: division by zero"
    truncated_cells: set[int] = field(default_factory=set)
    seconds: float = 0.0
    executed: object | None = None  # the executed notebook (outputs capped)


RICH_FACTOR = 64  # rich outputs (figures, widgets) may be this many times the text limit


def _limited_client_class():
    from nbclient import NotebookClient

    class LimitedClient(NotebookClient):
        """A NotebookClient that keeps at most ``output_limit`` characters of printed text per cell, and
        ``RICH_FACTOR`` times that of figures, widgets and HTML (a lesson's plotly figure is a few hundred kB)."""

        output_limit = 256 * 1024

        def output(self, outs, msg, display_id, cell_index):
            kind = "text" if msg["msg_type"] == "stream" else "rich"
            limit = self.output_limit * (1 if kind == "text" else RICH_FACTOR)
            used = self.used.get((cell_index, kind), 0)
            size = len(str(msg.get("content", "")))
            if used + size > limit:
                if cell_index not in self.truncated:
                    self.truncated.add(cell_index)
                    outs.append(_note(f"[bertlab grade: {kind} output beyond {limit // 1024} kB of this cell "
                                      f"was dropped]"))
                return None
            self.used[(cell_index, kind)] = used + size
            return super().output(outs, msg, display_id, cell_index)

    return LimitedClient


def _note(text: str):
    import nbformat

    return nbformat.v4.new_output("stream", name="stderr", text=text + "\n")


def _zero(lesson: int, reason: str, checks: list[str] | None = None) -> list[CheckOutcome]:
    return [CheckOutcome(s.name, False, 0.0, reason, f"✘ {s.name} ({s.title}): not graded: {reason}")
            for s in list_checks(lesson) if checks is None or s.name in checks]


def grade_one(submission: Submission, setup: Setup, checks: list[str] | None = None) -> Outcome:
    """Run ``submission`` in its sandbox and grade it; never raises for anything the submission does."""
    start = time.monotonic()
    if submission.problem:
        return Outcome(submission, _zero(submission.lesson, submission.problem, checks) if submission.lesson
                       else [], submission.problem)
    base = Path(tempfile.mkdtemp(prefix="bertlab-grade-"))
    try:
        outcome = _run(submission, setup, base, checks)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    outcome.seconds = time.monotonic() - start
    return outcome


def _prepare(submission: Submission, setup: Setup, base: Path) -> tuple[Path, Path]:
    work, kernel_dir = base / "work", base / "kernel"
    work.mkdir()
    kernel_dir.mkdir()
    if setup.data is not None:
        shutil.copytree(setup.data, work / "data", symlinks=False)
    else:
        (work / "data").mkdir()
    if setup.runs is not None:
        shutil.copytree(setup.runs, work / "runs", symlinks=False)
    else:
        (work / "runs").mkdir()
    return work, kernel_dir


def _run(submission: Submission, setup: Setup, base: Path, checks: list[str] | None) -> Outcome:
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    limits, lesson = setup.limits, submission.lesson
    work, kernel_dir = _prepare(submission, setup, base)
    nb = nbformat.from_dict(submission.notebook)
    nbformat.write(nb, work / f"{submission.student}.ipynb")
    spec_dirs = write_kernelspec(kernel_dir, work, limits, setup.fast, setup.jail)
    km = AsyncKernelManager(kernel_name=KERNEL_NAME, connection_file=str(kernel_dir / "connection.json"),
                            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(spec_dirs)]))
    deadline = [time.monotonic() + limits.seconds]  # reset once the kernel is up: start-up is not the student's
    client = _limited_client_class()(
        nb, km=km, kernel_name=KERNEL_NAME, allow_errors=True, interrupt_on_timeout=True,
        timeout_func=lambda cell: max(1, int(deadline[0] - time.monotonic()) + 1), record_timing=False,
        resources={"metadata": {"path": str(work)}}, startup_timeout=max(60, int(limits.seconds)))
    client.output_limit, client.used, client.truncated = limits.output_kb * 1024, {}, set()
    outcome = Outcome(submission, [], executed=nb)
    key, run_id = secrets.token_hex(32), secrets.token_hex(8)
    results = work / f".grade-{secrets.token_hex(6)}.jsonl"
    n_checks = len([s for s in list_checks(lesson) if checks is None or s.name in checks])
    # the last resort against a kernel that ignores interrupts: kill it (the client then sees it die)
    watchdog = threading.Timer(limits.seconds + setup.check_seconds * n_checks + 60, _kill, (km,))
    watchdog.daemon = True
    try:
        with client.setup_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
            deadline[0] = time.monotonic() + limits.seconds
            watchdog.start()
            nb.cells.insert(0, nbformat.v4.new_code_cell(preamble_cell(limits.output_kb, limits.threads)))
            client.execute_cell(nb.cells[0], 0, store_history=False)
            stopped = _run_cells(client, nb, deadline[0], outcome, CellTimeoutError)
            if stopped:
                outcome.problem = stopped
            cell = nbformat.v4.new_code_cell(grading_cell(key, run_id, submission.student, lesson, setup.salt,
                                                          str(results), setup.check_seconds, checks))
            nb.cells.append(cell)
            client.timeout_func = lambda c: int(setup.check_seconds * n_checks + 30)
            try:
                client.execute_cell(cell, len(nb.cells) - 1)
            except CellTimeoutError:
                outcome.problem = (outcome.problem or "") + " The grading cell ran out of time."
            run_sync(km.shutdown_kernel)(now=True)  # no graceful wait: nothing of the kernel is kept
    except DeadKernelError:
        outcome.problem = _died(outcome, nb)
    except Exception as err:  # noqa: BLE001 - kernel start failures etc.: the class goes on
        first_line = str(err).splitlines()[0][:200] if str(err) else ""
        outcome.problem = f"could not be run: {type(err).__name__}: {first_line}"
    finally:
        watchdog.cancel()
    nb.cells = [c for c in nb.cells if "_bertlab_prepare(" not in c.source]
    for c in nb.cells:
        if "_bertlab_grade(" in c.source:
            c.source = "# bertlab homework grade ran the lesson's checks here (the signing key is removed)"
    outcome.truncated_cells |= client.truncated
    outcome.checks = _read_results(results, key, run_id, submission, lesson, checks, outcome.problem)
    return outcome


def _kill(km) -> None:
    """SIGKILL the kernel's whole process group (the kernel is a session leader: its children go too)."""
    process = getattr(km.provisioner, "process", None)
    if process is not None and process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except OSError:
            process.kill()


def _run_cells(client, nb, deadline: float, outcome: Outcome, timeout_error) -> str | None:
    """Run the student's code cells; returns why execution stopped early, or None."""
    code_number = 0
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or index == 0:  # cell 0: the grader's preamble
            continue
        code_number += 1
        if time.monotonic() >= deadline:
            return f"the notebook ran out of time before code cell {code_number}; the cells from there on did not run"
        try:
            client.execute_cell(cell, index)
        except timeout_error:
            return f"code cell {code_number} was still running at the time limit; later cells did not run"
        for out in cell.get("outputs", []):
            if "output beyond" in str(out.get("text", "")):
                outcome.truncated_cells.add(index)
            if out.get("output_type") == "error":
                if out.get("ename") == "CellTimeoutError" or time.monotonic() >= deadline:
                    return (f"code cell {code_number} was still running at the time limit and was interrupted; "
                            f"later cells did not run")
                error = f"{out.get('ename')}: {out.get('evalue', '')[:200]}"
                outcome.cell_errors.append(f"code cell {code_number}: {error}")
    return None


def _died(outcome: Outcome, nb) -> str:
    ran = sum(1 for c in nb.cells if c.cell_type == "code" and c.get("execution_count"))
    return (f"the kernel died after {ran} code cells (it ran out of memory, or the code ended its own process); "
            f"nothing after that could be graded")


def _read_results(results: Path, key: str, run_id: str, submission: Submission, lesson: int,
                  checks: list[str] | None, problem: str | None) -> list[CheckOutcome]:
    signed = {}
    if results.is_file():
        for line in results.read_text(encoding="utf-8", errors="replace").splitlines():
            payload = verify(key, line)
            if payload and payload.get("run") == run_id and payload.get("student") == submission.student:
                signed[payload["check"]] = payload
    outcomes = []
    for spec in list_checks(lesson):
        if checks is not None and spec.name not in checks:
            continue
        p = signed.get(spec.name)
        if p is None:
            reason = problem or "the grading cell reported no result for this check"
            outcomes.append(CheckOutcome(spec.name, False, 0.0, reason,
                                         f"✘ {spec.name} ({spec.title}): not graded: {reason}"))
            continue
        # partial credit: the share of rules kept, unless the function crashed (later rules then never ran)
        fraction = 1.0 if p["passed"] else 0.0 if p["crashed"] or not p["rules"] else p["rules_passed"] / p["rules"]
        reason = p["reason"]
        if not p["passed"] and problem and "not defined" in reason:
            reason = f"{reason} ({problem})"
        outcomes.append(CheckOutcome(spec.name, bool(p["passed"]), fraction, reason, p["feedback"],
                                     list(p["failed_rules"])))
    return outcomes
