"""How graded results leave a student's kernel: the checks run inside the kernel, after the student's cells, and
each result is one JSON line signed with a key the kernel first sees in the grader's own last cell.

Why inside the kernel: a check needs the student's function, and the function lives in the kernel; taking it
out would mean loading the student's code into another process (the grader's, which must never run it).
Why signed: the student's cells ran first in that same process, so anything they print or write — a fake
"✔ all rules passed", a forged results file — must not count. The grader makes a fresh random key per
submission, sends it only in the grading cell, and accepts a line only if its HMAC-SHA256 matches and it names
this run and this student. (Code that hooks the kernel to read that cell can still forge: see docs/grading.md.)

    line = sign(key, {"run": run_id, "student": "alice", "check": "mlm_loss", ...})
    verify(key, line) -> the payload, or None when forged or garbled
"""

from __future__ import annotations

import difflib
import hashlib
import hmac
import json
import signal
import sys
from pathlib import Path

from bertlab.homework.grading import CheckResult, fresh_inputs, list_checks, run_check


def sign(key: str, payload: dict) -> str:
    body = json.dumps(payload, sort_keys=True, ensure_ascii=True)
    mac = hmac.new(key.encode(), body.encode(), hashlib.sha256).hexdigest()
    return f"{body}\t{mac}"


def verify(key: str, line: str) -> dict | None:
    body, _, mac = line.rstrip("\n").rpartition("\t")
    expected = hmac.new(key.encode(), body.encode(), hashlib.sha256).hexdigest()
    if not body or not hmac.compare_digest(mac, expected):
        return None
    try:
        payload = json.loads(body)
    except json.JSONDecodeError:
        return None
    return payload if isinstance(payload, dict) else None


def grading_cell(key: str, run_id: str, student: str, lesson: int, salt: str, results: str,
                 check_seconds: float, checks: list[str] | None = None) -> str:
    """The source of the cell the grader appends to a submission (run after every student cell)."""
    args = dict(key=key, run_id=run_id, student=student, lesson=lesson, salt=salt, results=results,
                check_seconds=check_seconds, checks=checks)
    return ("from bertlab.homework.channel import grade_in_kernel as _bertlab_grade\n"
            f"_bertlab_grade(**{args!r})\n")


def preamble_cell(output_kb: int, threads: int) -> str:
    """The source of the cell the grader runs before the student's first cell."""
    return ("from bertlab.homework.channel import prepare_kernel as _bertlab_prepare\n"
            f"_bertlab_prepare(output_kb={output_kb!r}, threads={threads!r})\n")


class _CappedStream:
    """A stdout/stderr that passes on at most ``limit`` characters per cell, so that a notebook printing
    megabytes costs neither the grader's memory nor its time (the grader caps what arrives as well)."""

    def __init__(self, stream, limit: int):
        self.stream, self.limit, self.used = stream, limit, 0

    def write(self, text: str) -> int:
        room = self.limit - self.used
        self.used += len(text)
        if room > 0:
            self.stream.write(text[:room])
            if len(text) > room:
                self.stream.write(f"\n[bertlab grade: output beyond {self.limit // 1024} kB of this cell dropped]\n")
        return len(text)

    def __getattr__(self, name):
        return getattr(self.stream, name)


def prepare_kernel(output_kb: int, threads: int) -> None:
    """Cap each cell's printed output and pin torch's thread count (the environment already pins OpenMP's)."""
    import torch

    torch.set_num_threads(threads)
    streams = [_CappedStream(sys.stdout, output_kb * 1024), _CappedStream(sys.stderr, output_kb * 1024)]
    sys.stdout, sys.stderr = streams

    def reset(*_):
        for stream in streams:
            stream.used = 0

    try:
        get_ipython().events.register("pre_run_cell", reset)  # type: ignore[name-defined]  # noqa: F821
    except NameError:
        pass


class CheckTimeout(BaseException):
    """The student's function ran past the per-check limit (a BaseException: ``except Exception`` in the
    student's code cannot swallow it)."""


def _on_alarm(signum, frame):
    raise CheckTimeout


def _namespace() -> dict:
    """The kernel's user namespace: where the student's functions live."""
    try:
        return get_ipython().user_ns  # type: ignore[name-defined]  # noqa: F821 - inside an IPython kernel
    except NameError:
        return vars(sys.modules["__main__"])


def missing_function(name: str, namespace: dict) -> str:
    """Feedback for a function the notebook does not define, naming the likely rename."""
    defined = [k for k, v in namespace.items() if callable(v) and not k.startswith("_")]
    close = difflib.get_close_matches(name, defined, n=1, cutoff=0.6)
    hint = (f" A function `{close[0]}` is defined: the grader calls the exercise by its given name, so rename "
            f"it back to `{name}`." if close else
            f" Define `{name}` in its exercise cell (and do not rename it).")
    return f"the notebook defines no function `{name}` after running all its cells.{hint}"


def grade_in_kernel(key: str, run_id: str, student: str, lesson: int, salt: str, results: str,
                    check_seconds: float, checks: list[str] | None = None) -> None:
    """Run the lesson's checks on the student's functions with fresh hidden inputs; append one signed line per
    check to ``results``. Called by the grading cell inside the student's kernel."""
    namespace = _namespace()
    specs = [s for s in list_checks(lesson) if checks is None or s.name in checks]
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    try:
        for spec in specs:
            fn = namespace.get(spec.function)
            if fn is None:
                result = CheckResult(spec.name, spec.title, error=missing_function(spec.function, namespace))
                reason = f"`{spec.function}` is not defined"
            else:
                result, reason = _timed_check(spec.name, fn, check_seconds, salt)
            payload = {"run": run_id, "student": student, "check": spec.name, "passed": result.passed,
                       "rules": len(result.rules), "rules_passed": sum(r.status == "pass" for r in result.rules),
                       "failed_rules": [r.rule for r in result.failures], "reason": reason,
                       "crashed": result.error is not None,
                       "feedback": result.feedback}
            with Path(results).open("a", encoding="utf-8") as f:
                f.write(sign(key, payload) + "\n")
            print(result.feedback)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _timed_check(name: str, fn, seconds: float, salt: str) -> tuple[CheckResult, str]:
    spec = {s.name: s for s in list_checks()}[name]
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        with fresh_inputs(salt):
            result = run_check(name, fn)
    except CheckTimeout:
        return CheckResult(name, spec.title, error=f"{spec.function} did not finish within {seconds:g} s on the "
                                                   f"hidden inputs (an endless loop?)"), "time limit"
    except BaseException as err:  # noqa: BLE001 - e.g. SystemExit or KeyboardInterrupt raised by student code
        return CheckResult(name, spec.title, error=f"{spec.function} raised {type(err).__name__}: {err}"), \
            type(err).__name__
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    if result.passed:
        return result, ""
    if result.error:
        first = result.error.splitlines()[0]
        return result, "not written yet" if "NotImplementedError" in first else first[:160]
    return result, f"{len(result.failures)} of {len(result.rules)} rules failed"
