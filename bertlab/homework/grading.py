"""The check registry: ``check(name, fn)`` runs hidden tests on a student's function and explains the result.

A check is a function ``(fn, report) -> None`` registered under a name. It calls the student's function
through ``report.call`` (which turns an exception into feedback instead of a crash) and states each rule
in a function decorated with ``@report.rule("…")``; a rule fails with ``report.fail("expected …, got …, because …")``.
Every rule is reported — passed, failed, or not run because an earlier requirement failed — so the
student sees exactly which property of the answer is wrong, never just "wrong".

    result = check("mlm_masking", my_mask_tokens)   # prints the feedback
    result.passed, result.failures                   # for tests and graders
"""

from __future__ import annotations

import hashlib
import random
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

PASS, FAIL, SKIP = "pass", "fail", "skip"
_MARK = {PASS: "✔", FAIL: "✘", SKIP: "·"}


class RuleFailed(Exception):
    """Raised by ``report.fail``: the rule being checked is broken; the message says how."""


class Stop(Exception):
    """Ends a check early: the answer cannot be examined further (it crashed or has the wrong form)."""


@dataclass
class RuleResult:
    rule: str
    status: str  # pass | fail | skip
    message: str = ""


@dataclass
class CheckResult:
    """What ``check`` found. ``passed`` is True when every rule passed."""

    name: str
    title: str
    rules: list[RuleResult] = field(default_factory=list)
    error: str | None = None  # the student's function raised, or the check could not run

    @property
    def passed(self) -> bool:
        return self.error is None and bool(self.rules) and all(r.status == PASS for r in self.rules)

    @property
    def failures(self) -> list[RuleResult]:
        return [r for r in self.rules if r.status == FAIL]

    def __bool__(self) -> bool:
        return self.passed

    @property
    def feedback(self) -> str:
        ok = sum(r.status == PASS for r in self.rules)
        if self.passed:
            head = f"✔ {self.name} ({self.title}): all {ok} rules passed. Well done!"
        elif self.error and not self.rules:
            head = f"✘ {self.name} ({self.title}): could not be checked:"
        else:
            head = f"✘ {self.name} ({self.title}): {ok} of {len(self.rules)} rules passed."
        lines = [head]
        if self.error:
            lines.append(_indent(self.error, "    "))
        for r in self.rules:
            lines.append(f"  {_MARK[r.status]} {r.rule}")
            if r.message and r.status != PASS:
                lines.append(_indent(r.message, "      "))
        return "\n".join(lines)

    def __repr__(self) -> str:
        state = "passed" if self.passed else f"{len(self.failures)} rule(s) failed" + (", crashed" if self.error else "")
        return f"<CheckResult {self.name}: {state}>"

    def _ipython_display_(self) -> None:
        """``check`` already printed the feedback; showing the result object again would repeat it."""


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())


class Report:
    """Collects rule results while a check runs."""

    def __init__(self, name: str, title: str, fn_name: str):
        self.result = CheckResult(name, title)
        self.fn_name = fn_name
        self._blocked: str | None = None  # set after a failed requirement: later rules are skipped

    def call(self, fn: Callable, *args, **kwargs):
        """Call the student's function; an exception ends the check with an explanation."""
        try:
            return fn(*args, **kwargs)
        except NotImplementedError:
            self.result.error = (f"{self.fn_name} raised NotImplementedError: it is not written yet. Replace the "
                                 f"`raise NotImplementedError` line in its cell with your code, run that cell, "
                                 f"then run this check again.")
            raise Stop from None
        except Exception as err:  # noqa: BLE001 - any crash of student code is feedback, not a failure of ours
            frames = traceback.extract_tb(err.__traceback__)[1:]  # drop this frame
            where = ""
            if frames:
                last = frames[-1]
                where = f" (line {last.lineno}: {last.line})" if last.line else f" (line {last.lineno})"
            self.result.error = (f"{self.fn_name} raised {type(err).__name__}: {err}{where}.\n"
                                 f"Called as {self.fn_name}({_describe_args(args, kwargs)}).")
            raise Stop from None

    def rule(self, description: str, required: bool = False):
        """Decorator that runs a rule at once and records its result::

            @report.rule("special tokens are never chosen")
            def _():
                if bad.any():
                    report.fail("…")

        ``required=True``: when this rule fails, the rules after it are reported as not run.
        """

        def run(body: Callable[[], None]) -> None:
            if self._blocked is not None:
                self.result.rules.append(RuleResult(description, SKIP, f"not checked: {self._blocked}"))
                return
            try:
                body()
            except RuleFailed as failure:
                self.result.rules.append(RuleResult(description, FAIL, str(failure)))
            except Stop:
                raise
            except Exception as err:  # noqa: BLE001 - e.g. the answer has a shape the rule cannot index
                self.result.rules.append(RuleResult(
                    description, FAIL, f"could not check this rule on what {self.fn_name} returned: "
                                       f"{type(err).__name__}: {err}"))
            else:
                self.result.rules.append(RuleResult(description, PASS))
                return
            if required:
                self._blocked = f'fix "{description}" first'

        return run

    @property
    def blocked(self) -> bool:
        return self._blocked is not None

    @staticmethod
    def fail(message: str):
        raise RuleFailed(message)


def _describe_args(args, kwargs) -> str:
    def short(x) -> str:
        shape = getattr(x, "shape", None)
        if shape is not None:
            return f"<{type(x).__name__} {tuple(shape)} {getattr(x, 'dtype', '')}>".replace(" >", ">")
        text = repr(x)
        return text if len(text) <= 60 else text[:57] + "..."

    parts = [short(a) for a in args] + [f"{k}={short(v)}" for k, v in kwargs.items()]
    return ", ".join(parts)


# --- the registry ---------------------------------------------------------------------------------------------


DEFAULT_POINTS = 10.0


@dataclass
class CheckSpec:
    name: str
    lesson: int
    title: str
    run: Callable  # (fn, report) -> None
    expects: str  # the signature the student writes, for messages and listings
    points: float = DEFAULT_POINTS  # what the check is worth in a grade sheet (``bertlab homework grade``)

    @property
    def function(self) -> str:
        """The name of the function the student writes, e.g. ``my_mask_tokens``."""
        return self.expects.split("(")[0].strip()


CHECKS: dict[str, CheckSpec] = {}


def register(name: str, lesson: int, title: str, expects: str, points: float = DEFAULT_POINTS):
    """Decorator: ``@register("mlm_masking", 1, "BERT's 80/10/10 masking", "my_mask_tokens(...)")``."""

    def decorate(run: Callable) -> Callable:
        if name in CHECKS:
            raise ValueError(f"check {name!r} is registered twice")
        CHECKS[name] = CheckSpec(name, lesson, title, run, expects, points)
        return run

    return decorate


def list_checks(lesson: int | None = None) -> list[CheckSpec]:
    _load_all()
    return [c for c in CHECKS.values() if lesson is None or c.lesson == lesson]


LESSON_MODULES = ("lesson1_mlm", "lesson1_embedding", "lesson2_pairs", "lesson3_albert", "lesson4_tinybert",
                  "lesson5_roberta", "lesson6_finetuning", "lesson7_family",
                  "lesson8_crosslingual")


def _load_all() -> None:
    """Import every lesson's module: importing registers its checks."""
    import importlib

    for module in LESSON_MODULES:
        importlib.import_module(f"bertlab.homework.{module}")


# --- hidden inputs: fixed for the self-check, fresh when graded ---------------------------------------------

_salt: str | None = None  # set by ``fresh_inputs`` while a grader runs the checks


@contextmanager
def fresh_inputs(salt: str) -> Iterator[None]:
    """Within this block every hidden input is drawn from seeds derived from ``salt``, so a student who tuned an
    answer to the self-check's fixed inputs (or printed them) meets inputs never seen before."""
    global _salt
    previous, _salt = _salt, salt
    try:
        yield
    finally:
        _salt = previous


def hidden_seed(public: int) -> int:
    """The seed of a hidden test input: ``public`` in the notebook's self-check, a fresh one while grading.
    The same ``public`` seed maps to the same fresh seed within one grading, so "same seed, same result"
    rules keep working."""
    if _salt is None:
        return public
    digest = hashlib.blake2b(f"{_salt}:{public}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "little") & 0x7FFFFFFF


def hidden_generator(public: int) -> torch.Generator:
    """``torch.Generator().manual_seed(hidden_seed(public))``."""
    return torch.Generator().manual_seed(hidden_seed(public))


def hidden_random(public: int) -> random.Random:
    """``random.Random(hidden_seed(public))``."""
    return random.Random(hidden_seed(public))


def hidden_cases(fixed: list, draw: Callable[[random.Random], tuple], extra: int = 4) -> list:
    """The self-check's ``fixed`` cases, plus ``extra`` drawn by ``draw(rng)`` while grading (none otherwise)."""
    if _salt is None:
        return list(fixed)
    rng = hidden_random(len(fixed))
    return list(fixed) + [draw(rng) for _ in range(extra)]


def run_check(name: str, fn: Callable) -> CheckResult:
    """Run check ``name`` on ``fn`` and return the result without printing."""
    _load_all()
    if name not in CHECKS:
        close = [c for c in CHECKS if c.split("_")[0] == name.split("_")[0]] or list(CHECKS)
        raise KeyError(f"no check called {name!r}; available: {', '.join(sorted(close))}")
    spec = CHECKS[name]
    fn_name = getattr(fn, "__name__", "your function")
    report = Report(name, spec.title, fn_name)
    if not callable(fn):
        report.result.error = (f"check({name!r}, …) needs your function itself, e.g. check({name!r}, "
                               f"{spec.expects.split('(')[0]}), not {type(fn).__name__} {fn!r:.60}")
        return report.result
    try:
        spec.run(fn, report)
    except Stop:
        pass
    return report.result


def check(name: str, fn: Callable, quiet: bool = False) -> CheckResult:
    """Run the hidden tests of exercise ``name`` on ``fn``, print precise feedback, return the result."""
    result = run_check(name, fn)
    if not quiet:
        print(result.feedback)
    return result


def attempt(fn: Callable, *args, **kwargs):
    """``fn(*args, **kwargs)``, or None while ``fn`` still raises NotImplementedError (an unwritten exercise).

    Lets a notebook use a student's function after its exercise without failing when it is not written yet.
    """
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        return None
