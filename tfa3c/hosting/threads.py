"""Hosting work on threads: every thread stops through one event, and the first error wins.

An exception in any thread sets the stop event, so the others finish their current
step and return, and the main thread re-raises it; no thread waits forever on a
queue (they use timeouts and check the event), so nothing hangs on exit.

`LocalRole` hosts a role in the learner's own process (`--hosting threads`): the
thread that drives it runs its methods directly.
"""

from __future__ import annotations

import faulthandler
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from tfa3c.hosting.roles import RoleSpec


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


class LocalRole:
    """A role built in this process (see `tfa3c.hosting.roles.Role`): calls are direct.

    Errors propagate as they are, with their tracebacks, to the thread driving the
    role, which the supervisor names.
    """

    def __init__(self, spec: RoleSpec):
        self.name = spec.name
        self.role = spec.build()

    def call(self, method: str, *args: Any) -> Any:  # noqa: D102
        return getattr(self.role, method)(*args)

    def pid(self) -> int:  # noqa: D102
        return os.getpid()

    def close(self) -> None:  # noqa: D102
        close = getattr(self.role, "close", None)
        if close is not None:
            close()


def start_local(specs: Sequence[RoleSpec]) -> list[LocalRole]:
    """Builds every role of `specs` in this process, one after another.

    If one fails to build, those built are closed and the error is raised.
    """
    roles: list[LocalRole] = []
    try:
        for spec in specs:
            roles.append(LocalRole(spec))
    except BaseException:
        for role in roles:
            role.close()
        raise
    return roles
