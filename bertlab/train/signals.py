"""Stopping a run cleanly: Ctrl-C (SIGINT) and SIGTERM end the step in progress, then the loop saves and exits.

A signal that raised ``KeyboardInterrupt`` at once would land inside a step: the weights are still those of
the last finished step, but the random-number generator has already drawn that step's dropout masks, so a
checkpoint written then would not resume exactly. Here the first signal only sets a flag, which the loop reads
between steps; a second signal aborts at once without saving (the last checkpoint stays as it was).
"""

from __future__ import annotations

import signal
import sys
import threading

STOP_SIGNALS = ("SIGINT", "SIGTERM")


class StopRequests:
    """While entered (in the main thread), SIGINT / SIGTERM set ``requested`` to the signal's name; a second
    one raises ``KeyboardInterrupt``. Elsewhere (another thread, where Python cannot catch signals) it does
    nothing and ``KeyboardInterrupt`` keeps its usual meaning."""

    def __init__(self, message: str = "stopping after the step in progress, then saving a checkpoint "
                                      "(press Ctrl-C again to abort without saving)"):
        self.message = message
        self.requested: str | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame) -> None:
        if self.requested is not None:
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name
        print(f"\n{self.requested}: {self.message}", file=sys.stderr, flush=True)

    def __enter__(self) -> "StopRequests":
        if threading.current_thread() is threading.main_thread():
            for name in STOP_SIGNALS:
                number = getattr(signal, name, None)
                if number is not None:
                    self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for number, previous in self._previous.items():
            signal.signal(number, previous)
        self._previous.clear()
