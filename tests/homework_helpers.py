"""Assertions shared by the homework check tests: which rule failed, and does the message help."""

from __future__ import annotations

from bertlab.homework import run_check


def passes(name: str, fn) -> None:
    result = run_check(name, fn)
    assert result.passed, f"a correct solution failed {name}:\n{result.feedback}"


def fails(name: str, fn, rule: str, *message_words: str) -> str:
    """Assert that ``fn`` fails check ``name`` on a rule containing ``rule``, with a message mentioning each
    of ``message_words`` (case-insensitive); returns the feedback text."""
    result = run_check(name, fn)
    feedback = result.feedback
    assert not result.passed, f"a wrong solution passed {name}:\n{feedback}"
    failed = [r for r in result.failures if rule.lower() in r.rule.lower()]
    assert failed, f"expected rule containing {rule!r} to fail; feedback was:\n{feedback}"
    message = " ".join(r.message for r in failed).lower()
    for word in message_words:
        assert word.lower() in message, f"message for {rule!r} lacks {word!r}:\n{feedback}"
    assert "wrong" != feedback.strip().lower()
    return feedback


def crashes(name: str, fn, *message_words: str) -> str:
    """Assert that a crashing (or unfinished) ``fn`` gives an explanatory error, not an exception."""
    result = run_check(name, fn)
    assert not result.passed and result.error, f"expected an error report for {name}:\n{result.feedback}"
    for word in message_words:
        assert word.lower() in result.error.lower(), f"error report lacks {word!r}:\n{result.feedback}"
    return result.feedback
