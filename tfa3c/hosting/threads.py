"""Hosting work on threads: every thread stops through one event, and the first error wins.

An exception in any thread sets the stop event, so the others finish their current
step and return, and the main thread re-raises it; no thread waits forever on a
queue (they use timeouts and check the event), so nothing hangs on exit.
"""

from __future__ import annotations

import faulthandler
import threading
import time
from collections.abc import Callable


class ThreadSupervisor:
    """Starts named threads, collects the first failure and joins them all."""

    def __init__(self, stop_event: threading.Event):
        self.stop_event = stop_event
        self.threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.failure: tuple[str, BaseException] | None = None

    def start(self, name: str, target: Callable[[], None]) -> threading.Thread:
        """Runs `target()` on a new daemon thread named `name`."""

        def run() -> None:
            try:
                target()
            except BaseException as error:
                self.fail(name, error)

        thread = threading.Thread(target=run, name=name, daemon=True)
        self.threads.append(thread)
        thread.start()
        return thread

    def fail(self, name: str, error: BaseException) -> None:
        """Records `error` as the run's failure (unless one came first) and stops the threads."""
        with self._lock:
            if self.failure is None:
                self.failure = (name, error)
        self.stop_event.set()

    def join(self, timeout: float = 30.0) -> list[str]:
        """Sets the stop event and joins every thread; returns names of any still alive."""
        self.stop_event.set()
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [thread.name for thread in self.threads if thread.is_alive()]
        if alive:  # say where they are stuck: a hang should be diagnosable from the log
            faulthandler.dump_traceback(all_threads=True)
        return alive
