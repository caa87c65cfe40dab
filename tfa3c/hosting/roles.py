"""Roles hosted outside the learner's process: one interface whatever carries the messages.

A role (an A3C worker, a GA3C agent) is built in its host by a factory the host
imports by name, from picklable arguments (a config, an index). The
learner's process then calls its methods with plain arrays and gets plain results
back, one request and one reply at a time, through `RemoteRole.call`. A thread of the
learner's process drives each role, so the supervision of threads
(`tfa3c.hosting.threads`) covers remote roles too: a role that fails or dies makes
its driving thread raise, which stops the run and names the role.

Backends: `tfa3c.hosting.processes` (`multiprocessing`, this machine) and
`tfa3c.hosting.ray_cluster` (Ray actors, any number of machines).
"""

from __future__ import annotations

import importlib
import os
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


class RoleFailed(RuntimeError):
    """A hosted role raised an error; the message names the role and the error."""


class RoleDied(RuntimeError):
    """A hosted role's process or actor ended without being asked to (killed, crashed)."""


@dataclass(frozen=True)
class RoleSpec:
    """What to build in a host: `factory(*args)`, known by `name` in errors and logs.

    The factory is named (`"package.module:Name"`), not passed, so that the host
    imports it (and TensorFlow) only once it has quieted TensorFlow's start-up chatter.
    """

    name: str
    factory: str
    args: tuple = ()

    def build(self) -> Any:
        """Imports the factory and calls it."""
        module, _, attribute = self.factory.partition(":")
        return getattr(importlib.import_module(module), attribute)(*self.args)


class RemoteRole(Protocol):
    """A role living in another process or host."""

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
        from tfa3c.tf_runtime import quiet_tensorflow

        quiet_tensorflow(inherited=True)  # its start-up chatter, once per role
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
