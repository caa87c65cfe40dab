"""Ctrl-C and SIGTERM as a request to stop cleanly; a second one forces the exit.

A run's main thread installs `StopSignals` around its loop. The first SIGINT or
SIGTERM is only recorded (`pending`): the loop, which wakes every few milliseconds,
then asks every thread to stop, and the run ends with its final checkpoint. A second
signal goes to the handler that was there before (Ctrl-C: KeyboardInterrupt; SIGTERM:
the default, which ends the process).
"""

from __future__ import annotations

import signal
import threading
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """Records the first SIGINT or SIGTERM while installed (a context manager).

    Outside the main thread (where Python allows no handlers) it installs nothing.
    """

    def __init__(self):
        self.pending: str | None = None  # the first signal's name, set by the handler only
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, _frame) -> None:
        # Python runs this in the main thread between two bytecodes, possibly while
        # that thread holds a lock (inside `Event.wait`): setting an event here could
        # deadlock on it. So the handler only records the signal.
        if self.pending is None:
            self.pending = signal.Signals(signum).name
            return
        signal.signal(signum, self._previous[signum])
        signal.raise_signal(signum)

    def install(self) -> StopSignals:
        """Installs the handler for SIGINT and SIGTERM (in the main thread only)."""
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
            for sig in SIGNALS:
                signal.signal(sig, self._handle)
        return self

    def restore(self) -> None:
        """Puts the previous handlers back."""
        previous, self._previous = self._previous, {}
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    def __enter__(self) -> StopSignals:
        return self.install()

    def __exit__(self, *_exc) -> None:
        self.restore()
