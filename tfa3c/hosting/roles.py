"""A role and its host: one interface, whatever carries the messages.

A role (an A3C worker, a GA3C agent) is one class, written once. It is built in its
host by a factory the host imports by name, from picklable arguments (a config, an
index). The learner's process then calls its methods with plain arrays and gets plain
results back, one request and one reply at a time, through `Role.call`, the same
whether the role lives in the learner's process or elsewhere. A thread of the
learner's process drives each role, so the supervision of threads
(`tfa3c.hosting.threads`) covers every role: a role that fails or dies makes its
driving thread raise, which stops the run and names the role.

Hosts: `tfa3c.hosting.threads` (`LocalRole`, the learner's own process),
`tfa3c.hosting.processes` (`multiprocessing`, this machine) and
`tfa3c.hosting.ray_cluster` (Ray actors, any number of machines).
"""

from __future__ import annotations

import importlib
import os
import threading
import traceback
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np

_Shared = TypeVar("_Shared")
_shared: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_shared_lock = threading.Lock()


def shared_in_process(owner: Any, build: Callable[[], _Shared]) -> _Shared:
    """`build()` once per process for `owner` (a run's config): what its roles there share.

    Roles in one process (threads) share what is costly to make and safe to share,
    such as a traced function; a role in a process of its own builds its own. The
    result lives as long as a role holds it, and must keep `owner` alive (so that its
    id is not reused meanwhile).
    """
    with _shared_lock:
        value = _shared.get(id(owner))
        if value is None:
            value = build()
            _shared[id(owner)] = value
        return value


class RoleFailed(RuntimeError):
    """A hosted role raised an error; the message names the role and the error."""


class RoleDied(RuntimeError):
    """A hosted role's process or actor ended without being asked to (killed, crashed)."""


@dataclass(frozen=True)
class RoleSpec:
    """What to build in a host: `factory(*args)`, known by `name` in errors and logs.

    The factory is named (`"package.module:Name"`), not passed, so that the host
    imports it (and TensorFlow) only once it has quieted TensorFlow's start-up chatter.
    `tf_threads` sizes TensorFlow's intra-op threads in a process of the role's own
    (a role in the learner's process uses the learner's setting).
    """

    name: str
    factory: str
    args: tuple = ()
    tf_threads: int | None = None

    def build(self) -> Any:
        """Imports the factory and calls it."""
        module, _, attribute = self.factory.partition(":")
        return getattr(importlib.import_module(module), attribute)(*self.args)


class Role(Protocol):
    """A role, wherever it lives: called by method name with plain arguments."""

    name: str

    def call(self, method: str, *args: Any) -> Any:
        """Runs `role.method(*args)` there and returns its result.

        Raises:
            RoleFailed: the method raised (its type and first line are in the message).
            RoleDied: the host of the role ended.
        """

    def pid(self) -> int:
        """The process id of the role's host (for tests and diagnostics)."""

    def close(self) -> None:
        """Asks the role to close; ends its host if it does not, within seconds."""


class RoleServer:
    """Builds one role and runs its methods; what a process or a Ray actor hosts."""

    def __init__(self, spec: RoleSpec):
        from tfa3c.tf_runtime import configure_threads, quiet_tensorflow

        quiet_tensorflow(inherited=True)  # its start-up chatter, once per role
        configure_threads(spec.tf_threads or 1)
        self.name = spec.name
        self.role = spec.build()

    def pid(self) -> int:
        """This host's process id."""
        return os.getpid()

    def call(self, method: str, args: Sequence[Any]) -> tuple[str, Any]:
        """`("ok", result)`, or `("error", "Type: first line")` with the traceback printed.

        Errors travel as text: exception objects of arbitrary libraries do not always
        survive pickling, and the first line is what the run's error reports.
        """
        try:
            return "ok", getattr(self.role, method)(*args)
        except Exception as error:
            traceback.print_exc()
            lines = str(error).strip().splitlines()
            return "error", f"{type(error).__name__}: {lines[0] if lines else ''}".rstrip(": ")

    def close(self) -> None:
        """Closes the role (its environments)."""
        close = getattr(self.role, "close", None)
        if close is not None:
            close()


class Echo:
    """A role that only answers: what `benchmarks/hosting.py` times messages with."""

    def __init__(self):
        self._replies: dict[int, np.ndarray] = {}

    def exchange(self, payload: Any, reply_bytes: int) -> np.ndarray:
        """Takes `payload` (sent here) and returns `reply_bytes` bytes (sent back)."""
        if reply_bytes not in self._replies:
            self._replies[reply_bytes] = np.ones(reply_bytes, np.uint8)
        return self._replies[reply_bytes]


def unwrap(name: str, reply: tuple[str, Any]) -> Any:
    """The result of a `RoleServer.call` reply, or `RoleFailed` naming the role."""
    status, value = reply
    if status != "ok":
        raise RoleFailed(f"{name} failed: {value}")
    return value
