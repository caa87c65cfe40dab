"""Roles in local processes (`--hosting processes`): `multiprocessing` with a pipe per role.

Each role gets a process of its own, started with `spawn` (forking a process that has
started TensorFlow's threads is unsafe), so it has its own interpreter lock. Messages
are `(method, args)` requests and `RoleServer.call` replies, pickled by
`multiprocessing` between our own processes only.

No process outlives the run: a role process ignores Ctrl-C (the learner's process
stops it after the final checkpoint), ends when its pipe closes, and on Linux is
killed by the kernel if the learner's process dies (even by SIGKILL). A role process
that dies is noticed by the thread driving it at its next reply, as `RoleDied`.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import traceback
from collections.abc import Sequence
from typing import Any

from tfa3c.hosting.roles import RoleDied, RoleServer, RoleSpec, unwrap

_POLL_SECONDS = 0.1
_CLOSE_SECONDS = 5.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> None:
    """Asks Linux to SIGKILL this process when its parent ends; elsewhere, nothing."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent ended before the request took effect
        os._exit(1)


def _serve(connection, spec: RoleSpec, parent_pid: int) -> None:
    """A role process's main: build the role, then answer requests until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group
    _die_with_parent(parent_pid)
    try:
        server = RoleServer(spec)
    except Exception as error:
        traceback.print_exc()
        lines = str(error).strip().splitlines()
        connection.send(("error", f"{type(error).__name__}: {lines[0] if lines else ''}"))
        return
    connection.send(("ok", os.getpid()))
    try:
        while True:
            try:
                message = connection.recv()
            except (EOFError, OSError):  # the learner's process is gone
                return
            if message is None:
                return
            method, args = message
            connection.send(server.call(method, args))
    finally:
        server.close()


class ProcessRole:
    """One role in its own process, driven through a pipe (see `tfa3c.hosting.roles.Role`)."""

    def __init__(self, spec: RoleSpec, context):
        self.name = spec.name
        self._connection, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, spec, os.getpid()),
                                       name=spec.name, daemon=True)
        self.process.start()
        child.close()  # ours is the only other end: its EOF means the process ended
        self._lock = threading.Lock()

    def pid(self) -> int:  # noqa: D102
        return int(self.process.pid)

    def _died(self) -> RoleDied:
        self.process.join(1.0)
        code = self.process.exitcode
        how = ("is still running but its pipe closed" if code is None else
               f"was killed by {signal.Signals(-code).name}" if code < 0 else
               f"exited with status {code}")
        return RoleDied(f"{self.name} (process {self.process.pid}) {how}")

    def receive(self) -> Any:
        """The reply to the last request (the build, at first)."""
        connection = self._connection
        while not connection.poll(_POLL_SECONDS):
            if not self.process.is_alive():
                raise self._died()
        try:
            reply = connection.recv()
        except (EOFError, OSError):
            raise self._died() from None
        return unwrap(self.name, reply)

    def call(self, method: str, *args: Any) -> Any:  # noqa: D102
        with self._lock:
            try:
                self._connection.send((method, args))
            except OSError:  # BrokenPipeError: the process has ended
                raise self._died() from None
            return self.receive()

    def close(self) -> None:  # noqa: D102
        with contextlib.suppress(OSError):
            self._connection.send(None)
        self.process.join(_CLOSE_SECONDS)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(_CLOSE_SECONDS)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self._connection.close()


def start_processes(specs: Sequence[RoleSpec]) -> list[ProcessRole]:
    """Starts one process per spec and waits until every role is built.

    Raises:
        RoleFailed, RoleDied: a role could not be built (the others are closed).
    """
    context = multiprocessing.get_context("spawn")
    roles: list[ProcessRole] = []
    try:
        for spec in specs:
            roles.append(ProcessRole(spec, context))
        for role in roles:
            role.receive()  # its build: they run in parallel
    except BaseException:
        for role in roles:
            role.close()
        raise
    return roles
